//! The local Kafka event-source-mapping runtime: it reads the mappings from `template.yaml` and
//! replays AWS's ESM behaviour against a real broker. One consumer group per mapping, batches
//! of AWS's `KafkaEvent` in offset order per partition, offsets committed only after the
//! function succeeded, retries with backoff, bisection, partial batch responses, failed
//! records written to the mapping's on-failure topic, and `FilterCriteria` (records that no
//! filter matches are skipped and counted, their offsets committed). Nothing is dropped
//! silently.

mod delivery;
mod event;
mod filter;
mod invoke;
mod runtime;
mod template;
mod topics;

pub use event::{event_json, kafka_event, SourceRecord, LOCAL_MSK_ARN};
pub use filter::{FilterCriteria, FilterError, MAX_FILTERS, MAX_PATTERN_LENGTH};
pub use invoke::{HttpInvoker, InvokeError, Invoker};
pub use runtime::{
    status_router, Activity, LastError, MappingStatus, PartitionStatus, Runtime, RuntimeOptions,
    DOZE_OFF, RESUME_PICKUP,
};
pub use template::{
    all_topics, mappings_from_template, Mapping, SourceKind, StartingPosition, TemplateError,
    DEFAULT_FUNCTION_TIMEOUT, INVOCATIONS_PER_POLLER,
};
pub use topics::{ensure_topics, ensure_topics_with, TopicSettings};

/// Headers added to a record written to an on-failure topic (besides its own headers): the
/// one layout both dead-letter writers use.
pub use contract::headers::dead_letter as dlq_headers;

#[derive(Debug, thiserror::Error)]
pub enum EsmError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("cannot create topic {topic}: {code}")]
    CreateTopic {
        topic: String,
        code: rdkafka::error::RDKafkaErrorCode,
    },
    #[error("topics not in the broker's metadata: {0}")]
    TopicsMissing(String),
    #[error("no enabled mapping for function `{0}`")]
    UnknownFunction(String),
    #[error("the mappings of `{0}` must be paused first")]
    NotPaused(String),
    #[error("a runtime task failed: {0}")]
    Task(String),
}
