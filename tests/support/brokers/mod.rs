//! Real message brokers started by the tests on free ports of 127.0.0.1, each once
//! per test process (Mosquitto, RabbitMQ, nats-server, a Kafka-compatible broker),
//! and a WebSocket server of our own.

pub mod kafka;
pub mod mosquitto;
pub mod nats;
pub mod rabbitmq;
pub mod ws_server;
