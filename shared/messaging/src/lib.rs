//! What every Kafka-triggered function shares: the topic list, the one handler adapter (AWS
//! `KafkaEvent` → Glue-framed Avro → typed record → effect + outbox + marker in one
//! transaction), the outbox publisher that delivers committed rows, the Lambda bootstrap and
//! its configuration (`config`, `database`, `kafka`); and, until they move to an application
//! layer, two use cases the functions share: the appointment commands (`commands`) and the
//! booking saga's orchestrator (`saga`).

pub mod adapter;
pub mod commands;
pub mod config;
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
