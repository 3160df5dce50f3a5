//! (filled in by the nats work)
