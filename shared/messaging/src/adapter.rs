//! The one handler adapter for Kafka batches. Every Kafka-triggered function is a
//! `KafkaFunction` (decode + apply); this module does the rest, the same way for all:
//!
//! - records are taken per partition in offset order; base64 → Glue frame → typed record;
//! - each record's effect, its outbox rows and the `processed_messages` marker commit in ONE
//!   transaction (shared by the whole batch, see [`handle_batch`]); a redelivered record finds
//!   its marker and is skipped; an effect outside the database (an email) is made before that
//!   transaction, at most once by the function's own means ([`KafkaFunction::effect`]);
//! - a record that can never succeed (undecodable, unknown schema version, impossible values)
//!   is written to its dead-letter topic through the outbox, with the reason, at once, and the
//!   batch moves on;
//! - a transient failure (database or registry down) is reported as a batch item failure
//!   (`ReportBatchItemFailures`), and so is everything after it in that partition, so the
//!   event-source mapping retries from there. Mappings must enable ReportBatchItemFailures.

use crate::publisher::Publisher;
use crate::topics::dead_letter_topic;
use app::booking::BookingError;
use async_trait::async_trait;
use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use contract::headers::dead_letter;
use contract::lambda::{KafkaBatchItemFailure, KafkaBatchResponse};
use contract::{DecodeError, Record, SchemaRegistry};
use domain::EventId;
use futures::StreamExt;
use sqlx::Acquire;
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use store::outbox::{self, OutboxRecord};
use store::StoreError;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use uuid::Uuid;

/// Clients a function builds once per process (Lambda init), borrowed by every invocation.
#[derive(Debug, Clone)]
pub struct FunctionContext {
    pub pool: PgPool,
    pub registry: SchemaRegistry,
    /// Publishes the function's own outbox rows right after commit (low latency); the
    /// outbox-relay sweeps whatever this misses. None: leave everything to the relay.
    pub publisher: Option<Publisher>,
    /// Records of functions with [`KafkaFunction::EXTERNAL_EFFECTS`] applied at the same time, over
    /// every invocation sharing this context (in AWS one instance serves one invocation; locally
    /// every partition's batch shares the context): at most [`EFFECTS_AT_ONCE`].
    record_slots: Arc<Semaphore>,
}

impl FunctionContext {
    pub fn new(pool: PgPool, registry: SchemaRegistry, publisher: Option<Publisher>) -> Self {
        Self {
            pool,
            registry,
            publisher,
            record_slots: Arc::new(Semaphore::new(EFFECTS_AT_ONCE)),
        }
    }

    /// The outbox the use cases write through, encoding with this context's registry.
    pub fn outbox(&self) -> app::Outbox<'_> {
        app::Outbox::new(&self.registry)
    }
}

/// How many records of a function with external effects are applied at once. A record holds
/// no connection during its outside call (see [`KafkaFunction::effect`]) and at most one at any
/// time, so this bound does not depend on the pool's size: it bounds the calls in flight to the
/// outside service (SES answers a throttled call with a 4xx, which is retried like any other
/// transient failure).
const EFFECTS_AT_ONCE: usize = 32;

/// When the invocation times out: Lambda's context deadline in AWS, the start of the invocation
/// plus the function's timeout in the local runtime. A function with external effects starts a
/// record only while [`KafkaFunction::RECORD_TIME`] is left, and the publish after commit stops
/// at the deadline (the relay delivers what it leaves), so the invocation answers in time.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline: for tests of the adapter's other rules.
    pub const NONE: Deadline = Deadline(None);

    pub fn at(instant: Instant) -> Deadline {
        Deadline(Some(instant))
    }

    /// Lambda's context deadline: milliseconds since the Unix epoch.
    pub fn from_epoch_millis(millis: u64) -> Deadline {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let left = Duration::from_millis(millis).saturating_sub(now);
        Deadline::at(Instant::now() + left)
    }

    /// Time left, if there is a deadline.
    fn remaining(self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether `time` fits before the deadline.
    fn allows(self, time: Duration) -> bool {
        self.remaining().is_none_or(|left| left >= time)
    }
}

/// Why a record was not applied: a typed cause, from which [`HandlerError::is_retryable`]
/// decides what happens to the record. A retryable error hands it (and the rest of its
/// partition) back to the event-source mapping; any other sends it to the dead-letter topic,
/// with this error's message as the reason. Messages name the problem, never record contents
/// (PHI).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The database; retryable when the connection or a conflict caused it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The record's bytes; retryable when the schema registry could not answer.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("record is not base64 encoded")]
    NotBase64,
    /// The record came from a topic the function does not read.
    #[error("unexpected topic {0}")]
    UnexpectedTopic(String),
    /// A field the domain does not accept (`reason` says why, without the value).
    #[error("{field} {reason}")]
    InvalidField { field: &'static str, reason: String },
    /// A booking its rules refuse (unknown patient, a closed or taken slot...).
    #[error("cannot book: {0}")]
    Unbookable(BookingError),
    /// The use case failed; its own verdict says whether to retry.
    #[error(transparent)]
    App(#[from] app::Error),
    /// A service outside the database (SES) failed; `retryable` is its verdict.
    #[error("{detail}")]
    Service { detail: String, retryable: bool },
}

impl HandlerError {
    /// Whether the same record may succeed later (the cause is outside the record).
    pub fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Store(e) => e.is_retryable(),
            HandlerError::Decode(e) => e.is_retryable(),
            HandlerError::App(e) => e.is_retryable(),
            HandlerError::Service { retryable, .. } => *retryable,
            HandlerError::NotBase64
            | HandlerError::UnexpectedTopic(_)
            | HandlerError::InvalidField { .. }
            | HandlerError::Unbookable(_) => false,
        }
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
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
            return Err(HandlerError::UnexpectedTopic(topic.to_owned()));
        }
        Ok(registry.decode::<T>(value).await?)
    }

    fn event_id(&self) -> EventId {
        Record::event_id(self)
    }
}

/// Declares the input of a function that reads several topics: an enum with one variant per
/// contract record, each decoded from the record's own topic (any other topic is refused with
/// [`HandlerError::UnexpectedTopic`]), keyed for idempotency by the record's event id. For
/// example `input_from_topics! { pub enum CallEvent { Started(CallStarted), Ended(CallEnded) } }`;
/// attributes (derives) written before `enum` are kept.
#[macro_export]
macro_rules! input_from_topics {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident($record:ty)),+ $(,)? }) => {
        $(#[$meta])*
        $vis enum $name {
            $($variant($record)),+
        }

        #[$crate::adapter::macro_support::async_trait]
        impl $crate::FunctionInput for $name {
            async fn decode(
                registry: &$crate::adapter::macro_support::SchemaRegistry,
                topic: &str,
                value: &[u8],
            ) -> Result<Self, $crate::HandlerError> {
                $(
                    if topic == <$record as $crate::adapter::macro_support::Record>::TOPIC {
                        return Ok($name::$variant(registry.decode::<$record>(value).await?));
                    }
                )+
                Err($crate::HandlerError::UnexpectedTopic(topic.to_owned()))
            }

            fn event_id(&self) -> $crate::adapter::macro_support::EventId {
                match self {
                    $($name::$variant(record) => {
                        $crate::adapter::macro_support::Record::event_id(record)
                    })+
                }
            }
        }
    };
}

/// What [`input_from_topics!`] expands to refers to, so its callers need not depend on it.
#[doc(hidden)]
pub mod macro_support {
    pub use async_trait::async_trait;
    pub use contract::{Record, SchemaRegistry};
    pub use domain::EventId;
}

/// One Kafka-triggered function's domain step.
#[async_trait]
pub trait KafkaFunction: Send + Sync {
    /// The function's name: its consumer name in `processed_messages`.
    const NAME: &'static str;
    /// Whether the function has an effect outside the database (an email), made by
    /// [`KafkaFunction::effect`] for each record before the batch's transaction, where `apply`
    /// then records it. Should that transaction roll back, the effects stay made, and the
    /// records' next delivery finds them so.
    const EXTERNAL_EFFECTS: bool = false;
    /// With external effects: the longest one record may take (its outside calls' timeouts
    /// and its database work). A record starts only while this much is left before the
    /// invocation's [`Deadline`]; the records after it are handed back as batch item failures
    /// and come again in the next invocation, so the function never runs past its timeout.
    const RECORD_TIME: Duration = Duration::ZERO;
    type Input: FunctionInput;

    /// With external effects: makes the outside effect before the record's transaction begins,
    /// so no connection is held (and no transaction left open) across an outside call; its own
    /// database statements go through `ctx.pool`, each committed at once, and what `apply` needs
    /// of the outcome is written there. It is skipped for a record already applied, but runs
    /// again when a record comes back before its transaction committed (a crash, a retry after
    /// `apply` failed, a concurrent redelivery), so it must make its effect at most once by
    /// itself (send-confirmation: its claim on the saga's email). An error skips `apply`.
    async fn effect(
        &self,
        _ctx: &FunctionContext,
        _input: &Self::Input,
    ) -> Result<(), HandlerError> {
        Ok(())
    }

    /// Applies the input inside `tx` (state change + outbox rows). The adapter commits.
    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        input: Self::Input,
    ) -> Result<(), HandlerError>;
}

/// One record as delivered, with its coordinates.
#[derive(Clone)]
struct Delivery<'a> {
    topic: &'a str,
    record: &'a KafkaRecord,
    /// Why the record can never succeed, when its effect found out before the batch's
    /// transaction: the transaction dead-letters it.
    refused: Option<String>,
}

impl Delivery<'_> {
    fn bytes(&self, field: Option<&String>) -> Result<Vec<u8>, HandlerError> {
        let text = field.map(String::as_str).unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| HandlerError::NotBase64)
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

    async fn decode<I: FunctionInput>(&self, ctx: &FunctionContext) -> Result<I, HandlerError> {
        let value = self.bytes(self.record.value.as_ref())?;
        I::decode(&ctx.registry, self.topic, &value).await
    }

    fn failure(&self) -> KafkaBatchItemFailure {
        let partition = i32::try_from(self.record.partition).unwrap_or_default();
        KafkaBatchItemFailure::new(self.topic, partition, self.record.offset)
    }

    fn log_retry(&self, function: &str, reason: &HandlerError) {
        tracing::warn!(function, topic = self.topic, partition = self.record.partition, offset = self.record.offset,
            %reason, "record failed; it and the rest of its partition will be retried");
    }
}

/// The batch's records: per partition (in partition-key order), each in offset order.
fn partitions_in_order(event: &KafkaEvent) -> Vec<Vec<Delivery<'_>>> {
    let mut partitions: Vec<(&String, &Vec<KafkaRecord>)> = event.records.iter().collect();
    partitions.sort_by_key(|(name, _)| name.as_str());
    partitions
        .into_iter()
        .map(|(_, records)| {
            let mut records: Vec<Delivery<'_>> = records
                .iter()
                .map(|record| Delivery {
                    topic: record.topic.as_deref().unwrap_or_default(),
                    record,
                    refused: None,
                })
                .collect();
            records.sort_by_key(|d| d.record.offset);
            records
        })
        .collect()
}

/// How a batch was resolved: where each partition is retried from, and whether anything was
/// committed (so there may be outbox rows to publish).
#[derive(Default)]
struct Resolved {
    /// Per partition (its index in the batch), the offset from which its records are handed
    /// back: the first that failed or was not started.
    retry_from: HashMap<usize, i64>,
    committed_any: bool,
}

impl Resolved {
    /// Every record to retry (the batch's transaction did not commit).
    fn all_failed(partitions: &[Vec<Delivery<'_>>]) -> Resolved {
        let mut resolved = Resolved::default();
        for (partition, records) in partitions.iter().enumerate() {
            if let Some(first) = records.first() {
                resolved.retry(partition, first.record.offset);
            }
        }
        resolved
    }

    /// Hands back `partition` from `offset` on (or from an earlier offset already handed back).
    fn retry(&mut self, partition: usize, offset: i64) {
        let from = self.retry_from.entry(partition).or_insert(offset);
        *from = (*from).min(offset);
    }

    /// The batch item failures: every record of `partitions` at or after its partition's
    /// retry offset. A record after it that was applied comes back as a duplicate and is skipped.
    fn failures(&self, partitions: &[Vec<Delivery<'_>>]) -> Vec<KafkaBatchItemFailure> {
        let mut failures = Vec::new();
        for (partition, from) in &self.retry_from {
            failures.extend(
                partitions[*partition]
                    .iter()
                    .filter(|d| d.record.offset >= *from)
                    .map(Delivery::failure),
            );
        }
        failures
    }
}

/// Why a batch's transaction was given up.
enum Abandoned {
    /// A record failed with no savepoint to roll back to: run the batch again with savepoints.
    NeedsSavepoints,
    /// The database failed the transaction itself: retry the whole batch.
    Failed(String),
}

impl From<StoreError> for Abandoned {
    fn from(e: StoreError) -> Self {
        Abandoned::Failed(e.to_string())
    }
}

impl From<sqlx::Error> for Abandoned {
    fn from(e: sqlx::Error) -> Self {
        Abandoned::Failed(e.to_string())
    }
}

/// Handles one Lambda invocation's batch; returns the records to retry.
///
/// The batch commits in ONE transaction (one commit per batch instead of one per record):
/// first without savepoints; should any record fail, that attempt is rolled back and the batch
/// runs again with a savepoint per record, so the failed record alone is dead-lettered or
/// retried. A function with an effect outside the database ([`KafkaFunction::EXTERNAL_EFFECTS`])
/// first makes each record's effect, before and outside that transaction ([`make_effects`]).
pub async fn handle_batch<F: KafkaFunction>(
    ctx: &FunctionContext,
    function: &F,
    event: KafkaEvent,
    deadline: Deadline,
) -> KafkaBatchResponse {
    let partitions = partitions_in_order(&event);
    let (ready, held_back) = if F::EXTERNAL_EFFECTS {
        make_effects(ctx, function, &partitions, deadline).await
    } else {
        (partitions.clone(), Resolved::default())
    };
    let attempt = match in_one_transaction(ctx, function, &ready, false).await {
        Err(Abandoned::NeedsSavepoints) => in_one_transaction(ctx, function, &ready, true).await,
        attempt => attempt,
    };
    let mut resolved = match attempt {
        Ok(resolved) => resolved,
        Err(Abandoned::NeedsSavepoints) => Resolved::all_failed(&ready),
        Err(Abandoned::Failed(reason)) => {
            tracing::warn!(function = F::NAME, %reason, "the batch's transaction failed; every record will be retried");
            Resolved::all_failed(&ready)
        }
    };
    for (partition, from) in held_back.retry_from {
        resolved.retry(partition, from);
    }
    if resolved.committed_any {
        let publish = Publisher::publish_after_commit(ctx.publisher.as_ref());
        match deadline.remaining() {
            None => publish.await,
            Some(left) => {
                if tokio::time::timeout(left, publish).await.is_err() {
                    tracing::warn!(function = F::NAME, "publish after commit cut off by the invocation's deadline; the relay will deliver");
                }
            }
        }
    }
    KafkaBatchResponse::failed(resolved.failures(&partitions))
}

/// The whole batch in one transaction, with or without a savepoint per record.
async fn in_one_transaction<F: KafkaFunction>(
    ctx: &FunctionContext,
    function: &F,
    partitions: &[Vec<Delivery<'_>>],
    savepoints: bool,
) -> Result<Resolved, Abandoned> {
    let mut tx = ctx.pool.begin().await?;
    let mut resolved = Resolved::default();
    for (partition, records) in partitions.iter().enumerate() {
        for d in records {
            if resolved.retry_from.contains_key(&partition) {
                break;
            }
            if let Some(reason) = &d.refused {
                dead_letter::<F>(&mut tx, d, reason).await?;
                resolved.committed_any = true;
                continue;
            }
            let input = match d.decode::<F::Input>(ctx).await {
                Ok(input) => input,
                Err(error) if error.is_retryable() => {
                    d.log_retry(F::NAME, &error);
                    resolved.retry(partition, d.record.offset);
                    continue;
                }
                Err(error) => {
                    dead_letter::<F>(&mut tx, d, &error.to_string()).await?;
                    resolved.committed_any = true;
                    continue;
                }
            };
            let outcome = if savepoints {
                let mut savepoint = tx.begin().await?;
                let outcome = apply_marked(ctx, function, &mut savepoint, input).await;
                if outcome.is_ok() {
                    savepoint.commit().await?;
                } else {
                    savepoint.rollback().await?;
                }
                outcome
            } else {
                apply_marked(ctx, function, &mut tx, input).await
            };
            match outcome {
                Ok(Outcome::Applied) => resolved.committed_any = true,
                Ok(Outcome::Duplicate) => {}
                Err(_) if !savepoints => return Err(Abandoned::NeedsSavepoints),
                Err(error) if error.is_retryable() => {
                    d.log_retry(F::NAME, &error);
                    resolved.retry(partition, d.record.offset);
                }
                Err(error) => {
                    dead_letter::<F>(&mut tx, d, &error.to_string()).await?;
                    resolved.committed_any = true;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(resolved)
}

/// The records' effects (functions with external effects), before the batch's transaction.
/// Records of different keys are independent, so they run concurrently, [`EFFECTS_AT_ONCE`] at
/// a time; the records of one key run in offset order, and a key stops at its first transient
/// failure, or where too little time is left to finish a record before the deadline. Returns
/// the records whose effect is made (or which can never succeed, with the reason), per
/// partition in offset order, for the batch's transaction; and where each partition is handed
/// back.
async fn make_effects<'a, F: KafkaFunction>(
    ctx: &FunctionContext,
    function: &F,
    partitions: &[Vec<Delivery<'a>>],
    deadline: Deadline,
) -> (Vec<Vec<Delivery<'a>>>, Resolved) {
    // (partition, the key's records as indices into it), so the futures borrow nothing new.
    let mut keys: Vec<(usize, Vec<usize>)> = Vec::new();
    for (partition, records) in partitions.iter().enumerate() {
        let mut by_key: HashMap<Option<&String>, usize> = HashMap::new();
        for (i, d) in records.iter().enumerate() {
            let group = *by_key.entry(d.record.key.as_ref()).or_insert_with(|| {
                keys.push((partition, Vec::new()));
                keys.len() - 1
            });
            keys[group].1.push(i);
        }
    }
    let outcomes: Vec<(usize, Vec<Delivery<'a>>, Option<i64>)> = futures::stream::iter(keys)
        .map(|(partition, records)| async move {
            let mut made = Vec::new();
            for i in records {
                let d = &partitions[partition][i];
                let slot = ctx.record_slots.acquire().await;
                if !deadline.allows(F::RECORD_TIME) {
                    tracing::info!(
                        function = F::NAME,
                        partition = d.record.partition,
                        offset = d.record.offset,
                        "too little time left in this invocation: the record is handed back"
                    );
                    return (partition, made, Some(d.record.offset));
                }
                // A record already applied (a redelivery) needs no effect: its transaction
                // will find it a duplicate.
                let effect = async {
                    let input = d.decode::<F::Input>(ctx).await?;
                    if store::was_processed(&ctx.pool, F::NAME, input.event_id()).await? {
                        return Ok(());
                    }
                    function.effect(ctx, &input).await
                };
                let outcome = effect.await;
                drop(slot);
                match outcome {
                    Ok(()) => made.push(d.clone()),
                    Err(error) if error.is_retryable() => {
                        d.log_retry(F::NAME, &error);
                        return (partition, made, Some(d.record.offset));
                    }
                    Err(error) => made.push(Delivery {
                        refused: Some(error.to_string()),
                        ..d.clone()
                    }),
                }
            }
            (partition, made, None)
        })
        .buffer_unordered(EFFECTS_AT_ONCE)
        .collect()
        .await;
    let mut ready: Vec<Vec<Delivery<'a>>> = vec![Vec::new(); partitions.len()];
    let mut held_back = Resolved::default();
    for (partition, made, stopped_at) in outcomes {
        ready[partition].extend(made);
        if let Some(offset) = stopped_at {
            held_back.retry(partition, offset);
        }
    }
    for records in &mut ready {
        records.sort_by_key(|d| d.record.offset);
    }
    (ready, held_back)
}

enum Outcome {
    /// Applied, or dead-lettered: something was written.
    Applied,
    Duplicate,
}

/// Marks the input processed and applies it, in `tx`; a duplicate changes nothing.
async fn apply_marked<F: KafkaFunction>(
    ctx: &FunctionContext,
    function: &F,
    tx: &mut PgConnection,
    input: F::Input,
) -> Result<Outcome, HandlerError> {
    if !store::mark_processed(tx, F::NAME, input.event_id()).await? {
        return Ok(Outcome::Duplicate);
    }
    function.apply(ctx, tx, input).await?;
    Ok(Outcome::Applied)
}

/// Writes the original record to its dead-letter topic with the reason, through the outbox in
/// `tx`, together with a marker so a redelivery does not dead-letter it twice.
async fn dead_letter<F: KafkaFunction>(
    tx: &mut PgConnection,
    d: &Delivery<'_>,
    reason: &str,
) -> Result<(), StoreError> {
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
        (
            dead_letter::REASON.to_owned(),
            dead_letter::reason(reason).to_owned(),
        ),
        (dead_letter::FUNCTION.to_owned(), F::NAME.to_owned()),
        (dead_letter::SOURCE_TOPIC.to_owned(), d.topic.to_owned()),
        (
            dead_letter::SOURCE_PARTITION.to_owned(),
            d.record.partition.to_string(),
        ),
        (
            dead_letter::SOURCE_OFFSET.to_owned(),
            d.record.offset.to_string(),
        ),
        // No retry can fix a record the adapter dead-letters: it gives up at the first attempt.
        (dead_letter::ATTEMPTS.to_owned(), "1".to_owned()),
    ]);
    let record = OutboxRecord {
        event_id: id,
        topic: dead_letter_topic(d.topic),
        key,
        event_type: "DeadLetter".to_owned(),
        payload,
        headers,
    };
    if store::mark_processed(tx, F::NAME, id).await? {
        outbox::append(tx, &[record]).await?;
    }
    Ok(())
}
