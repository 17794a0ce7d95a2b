//! The one handler adapter for Kafka batches. Every Kafka-triggered function is a
//! `KafkaFunction` (decode + apply); this module does the rest, the same way for all:
//!
//! - records are taken per partition in offset order; base64 → Glue frame → typed record;
//! - each record's effect, its outbox rows and the `processed_messages` marker commit in ONE
//!   transaction; a redelivered record finds its marker and is skipped;
//! - a record that can never succeed (undecodable, unknown schema version, impossible values)
//!   is written to its dead-letter topic through the outbox, with the reason, at once, and the
//!   batch moves on;
//! - a transient failure (database or registry down) is reported as a batch item failure
//!   (`ReportBatchItemFailures`), and so is everything after it in that partition, so the
//!   event-source mapping retries from there. Mappings must enable ReportBatchItemFailures.

use crate::publisher::Publisher;
use crate::topics::dead_letter_topic;
use async_trait::async_trait;
use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use contract::lambda::{KafkaBatchItemFailure, KafkaBatchResponse};
use contract::{DecodeError, Record, SchemaRegistry};
use domain::EventId;
use sqlx::{PgConnection, PgPool};
use store::outbox::{self, OutboxRecord};
use store::StoreError;
use uuid::Uuid;

/// Clients a function builds once per process (Lambda init), borrowed by every invocation.
#[derive(Debug, Clone)]
pub struct FunctionContext {
    pub pool: PgPool,
    pub registry: SchemaRegistry,
    /// Publishes the function's own outbox rows right after commit (low latency); the
    /// outbox-relay sweeps whatever this misses. None: leave everything to the relay.
    pub publisher: Option<Publisher>,
}

/// Why a record was not applied. Messages name the problem, never record contents (PHI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Retrying cannot help: the record goes to the dead-letter topic now.
    #[error("{0}")]
    Permanent(String),
    /// Retrying may help (a dependency is down): the record is reported as failed.
    #[error("{0}")]
    Transient(String),
}

impl From<StoreError> for HandlerError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            HandlerError::Transient(e.to_string())
        } else {
            HandlerError::Permanent(e.to_string())
        }
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl From<DecodeError> for HandlerError {
    fn from(e: DecodeError) -> Self {
        if e.is_retryable() {
            HandlerError::Transient(e.to_string())
        } else {
            HandlerError::Permanent(e.to_string())
        }
    }
}

/// What a function consumes: decodes itself from a record on a topic and names its
/// idempotency key. Every contract record is one (on its own topic); a function reading several
/// topics implements it for its own enum.
#[async_trait]
pub trait FunctionInput: Sized + Send {
    async fn decode(
        registry: &SchemaRegistry,
        topic: &str,
        value: &[u8],
    ) -> Result<Self, HandlerError>;
    fn event_id(&self) -> EventId;
}

#[async_trait]
impl<T: Record> FunctionInput for T {
    async fn decode(
        registry: &SchemaRegistry,
        topic: &str,
        value: &[u8],
    ) -> Result<T, HandlerError> {
        if topic != T::TOPIC {
            return Err(HandlerError::Permanent(format!(
                "unexpected topic {topic} for {}",
                T::NAME
            )));
        }
        Ok(registry.decode::<T>(value).await?)
    }

    fn event_id(&self) -> EventId {
        Record::event_id(self)
    }
}

/// One Kafka-triggered function's domain step.
#[async_trait]
pub trait KafkaFunction: Send + Sync {
    /// The function's name: its consumer name in `processed_messages`.
    const NAME: &'static str;
    type Input: FunctionInput;

    /// Applies the input inside `tx` (state change + outbox rows). The adapter commits.
    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        input: Self::Input,
    ) -> Result<(), HandlerError>;
}

/// One record as delivered, with its coordinates.
struct Delivery<'a> {
    topic: &'a str,
    record: &'a KafkaRecord,
}

impl Delivery<'_> {
    fn bytes(&self, field: Option<&String>) -> Result<Vec<u8>, HandlerError> {
        let text = field.map(String::as_str).unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| HandlerError::Permanent("record is not base64 encoded".to_owned()))
    }

    fn headers(&self) -> Vec<(String, String)> {
        self.record
            .headers
            .iter()
            .flat_map(|h| h.iter())
            .map(|(name, bytes)| {
                let raw: Vec<u8> = bytes.iter().map(|b| *b as u8).collect();
                (name.clone(), String::from_utf8_lossy(&raw).into_owned())
            })
            .collect()
    }

    /// A stable id for this delivery, so dead-lettering it twice writes one row.
    fn dead_letter_id(&self, function: &str) -> EventId {
        let name = format!(
            "{function}/{}/{}/{}",
            self.topic, self.record.partition, self.record.offset
        );
        EventId(Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes()))
    }
}

enum Outcome {
    Applied,
    Duplicate,
    DeadLettered,
}

/// Handles one Lambda invocation's batch; returns the records to retry.
pub async fn handle_batch<F: KafkaFunction>(
    ctx: &FunctionContext,
    function: &F,
    event: KafkaEvent,
) -> KafkaBatchResponse {
    let mut failures = Vec::new();
    let mut partitions: Vec<(&String, &Vec<KafkaRecord>)> = event.records.iter().collect();
    partitions.sort_by_key(|(name, _)| name.as_str());
    let mut committed_any = false;
    for (_, records) in partitions {
        let mut records: Vec<&KafkaRecord> = records.iter().collect();
        records.sort_by_key(|r| r.offset);
        let mut failed = false;
        for record in records {
            let topic = record.topic.as_deref().unwrap_or_default();
            if !failed {
                let delivery = Delivery { topic, record };
                match handle_record(ctx, function, &delivery).await {
                    Ok(Outcome::Applied | Outcome::DeadLettered) => committed_any = true,
                    Ok(Outcome::Duplicate) => {}
                    Err(reason) => {
                        tracing::warn!(function = F::NAME, topic, partition = record.partition, offset = record.offset,
                            %reason, "record failed; it and the rest of its partition will be retried");
                        failed = true;
                    }
                }
            }
            if failed {
                let partition = i32::try_from(record.partition).unwrap_or_default();
                failures.push(KafkaBatchItemFailure::new(topic, partition, record.offset));
            }
        }
    }
    if committed_any {
        Publisher::publish_after_commit(ctx.publisher.as_ref()).await;
    }
    KafkaBatchResponse::failed(failures)
}

/// Applies one record; Err only for transient failures (the record must be retried).
async fn handle_record<F: KafkaFunction>(
    ctx: &FunctionContext,
    function: &F,
    d: &Delivery<'_>,
) -> Result<Outcome, String> {
    let decoded = match d.bytes(d.record.value.as_ref()) {
        Ok(value) => F::Input::decode(&ctx.registry, d.topic, &value).await,
        Err(e) => Err(e),
    };
    let input = match decoded {
        Ok(input) => input,
        Err(HandlerError::Transient(reason)) => return Err(reason),
        Err(HandlerError::Permanent(reason)) => return dead_letter::<F>(ctx, d, &reason).await,
    };
    let attempt = async {
        let mut tx = ctx.pool.begin().await?;
        if !store::mark_processed(&mut tx, F::NAME, input.event_id()).await? {
            return Ok(Outcome::Duplicate);
        }
        function.apply(ctx, &mut tx, input).await?;
        tx.commit().await?;
        Ok(Outcome::Applied)
    };
    match attempt.await {
        Ok(outcome) => Ok(outcome),
        Err(HandlerError::Transient(reason)) => Err(reason),
        Err(HandlerError::Permanent(reason)) => dead_letter::<F>(ctx, d, &reason).await,
    }
}

/// Writes the original record to its dead-letter topic with the reason, through the outbox,
/// together with a marker so a redelivery does not dead-letter it twice.
async fn dead_letter<F: KafkaFunction>(
    ctx: &FunctionContext,
    d: &Delivery<'_>,
    reason: &str,
) -> Result<Outcome, String> {
    tracing::error!(function = F::NAME, topic = d.topic, partition = d.record.partition, offset = d.record.offset,
        %reason, "record dead-lettered");
    let id = d.dead_letter_id(F::NAME);
    let payload = d
        .bytes(d.record.value.as_ref())
        .unwrap_or_else(|_| d.record.value.clone().unwrap_or_default().into_bytes());
    let key = d
        .bytes(d.record.key.as_ref())
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .unwrap_or_default();
    let mut headers = d.headers();
    headers.extend([
        ("dlq_reason".to_owned(), reason.chars().take(1024).collect()),
        ("dlq_function".to_owned(), F::NAME.to_owned()),
        ("dlq_source_topic".to_owned(), d.topic.to_owned()),
        (
            "dlq_source_partition".to_owned(),
            d.record.partition.to_string(),
        ),
        ("dlq_source_offset".to_owned(), d.record.offset.to_string()),
    ]);
    let record = OutboxRecord {
        event_id: id,
        topic: dead_letter_topic(d.topic),
        key,
        event_type: "DeadLetter".to_owned(),
        payload,
        headers,
    };
    let write = async {
        let mut tx = ctx.pool.begin().await?;
        if store::mark_processed(&mut tx, F::NAME, id).await? {
            outbox::append(&mut tx, &[record]).await?;
        }
        tx.commit().await?;
        Ok::<_, StoreError>(())
    };
    write
        .await
        .map(|()| Outcome::DeadLettered)
        .map_err(|e| format!("could not dead-letter: {e}"))
}
