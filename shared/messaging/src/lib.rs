//! The Kafka side shared by every Kafka-triggered function: the topic list, the one handler
//! adapter (AWS `KafkaEvent` → Glue-framed Avro → typed record → effect + outbox + marker in
//! one transaction), and the outbox publisher that delivers committed rows.

pub mod adapter;
pub mod commands;
pub mod database;
pub mod kafka;
pub mod lambda;
pub mod publisher;
pub mod saga;
pub mod topics;

pub use adapter::{
    handle_batch, Deadline, FunctionContext, FunctionInput, HandlerError, KafkaFunction,
};
pub use kafka::{KafkaAuth, KafkaConfig};
pub use publisher::Publisher;
