//! What every Kafka-triggered function shares, and nothing of the business: the topic list,
//! the one handler adapter (AWS `KafkaEvent` → Glue-framed Avro → typed record → effect +
//! outbox + marker in one transaction), the outbox publisher that delivers committed rows, the
//! Lambda bootstrap and its configuration (`config`, `database`, `kafka`). The use cases the
//! functions run are in the application layer (`app`).

pub mod adapter;
pub mod config;
pub mod database;
pub mod kafka;
pub mod lambda;
pub mod publisher;
pub mod topics;

pub use adapter::{
    handle_batch, Deadline, FunctionContext, FunctionInput, HandlerError, KafkaFunction,
};
pub use kafka::{KafkaAuth, KafkaConfig};
pub use publisher::Publisher;
