//! (filled in by the rabbitmq work)
