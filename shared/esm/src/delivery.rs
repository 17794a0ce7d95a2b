//! Resolves one batch as AWS does: invoke, then on failure retry with backoff (only the
//! reported records with `ReportBatchItemFailures`, in halves with `BisectBatchOnFunctionError`)
//! until MaximumRetryAttempts or MaximumRecordAgeInSeconds, then write what still fails to
//! the on-failure topic. When `deliver` returns, every record of the batch is resolved and its
//! offset may be committed.

use aws_lambda_events::event::kafka::KafkaEvent;
use chrono::{DateTime, Utc};
use contract::lambda::KafkaBatchResponse;
use futures::FutureExt;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::dlq_headers;
use crate::event::{kafka_event, SourceRecord};
use crate::invoke::{InvokeError, Invoker};
use crate::runtime::RuntimeOptions;
use crate::template::Mapping;

/// What happened to a mapping's records so far.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub processed: AtomicU64,
    pub invocations: AtomicU64,
    pub retries: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub discarded: AtomicU64,
    pub commits: AtomicU64,
    /// Partition assignments the consumer received (one per rebalance it took part in).
    pub assignments: AtomicU64,
    /// The last failed invocation: when, and why.
    pub last_error: Mutex<Option<(DateTime<Utc>, String)>>,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn note_error(&self, error: &InvokeError) {
        let text = dlq_headers::reason(&error.to_string()).to_owned();
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((Utc::now(), text));
    }
}

/// Part of a batch still to deliver, with the retries it has used.
struct Piece {
    records: Vec<SourceRecord>,
    retries: u32,
    /// Invocations that failed without reaching the function; they use no retries.
    stalls: u32,
}

pub(crate) struct Deliverer<'a> {
    pub mapping: &'a Mapping,
    pub bootstrap: &'a str,
    pub invoker: &'a dyn Invoker,
    pub producer: &'a FutureProducer,
    pub counters: &'a Counters,
    pub options: &'a RuntimeOptions,
}

impl Deliverer<'_> {
    /// Delivers `batch` until every record succeeded, went to the on-failure topic, or was
    /// discarded (and logged) for lack of one. Cancelling it leaves the batch uncommitted.
    pub async fn deliver(&self, batch: Vec<SourceRecord>) {
        let mapping = self.mapping;
        let mut pending = VecDeque::from([Piece {
            records: batch,
            retries: 0,
            stalls: 0,
        }]);
        while let Some(mut piece) = pending.pop_front() {
            if let Some(max_age) = mapping.maximum_record_age {
                let now = Utc::now();
                let (expired, fresh) = piece
                    .records
                    .into_iter()
                    .partition(|r| r.age(now).is_some_and(|age| age > max_age));
                piece.records = fresh;
                // Attempts so far: it was invoked `retries` times.
                self.fail(
                    &expired,
                    "record is older than MaximumRecordAgeInSeconds",
                    piece.retries,
                )
                .await;
            }
            if piece.records.is_empty() {
                continue;
            }
            let waits = piece.retries + piece.stalls;
            if waits > 0 {
                tokio::time::sleep(self.backoff(waits)).await;
            }
            Counters::add(&self.counters.invocations, 1);
            if piece.retries > 0 {
                Counters::add(&self.counters.retries, 1);
            }
            let event = kafka_event(mapping.source, self.bootstrap, &piece.records);
            let outcome = self.invoke(&event).await;
            if let Err(e) = &outcome {
                self.counters.note_error(e);
            }
            let (failed, error) = match outcome {
                Ok(response) => match self.reported_failures(&piece.records, &response) {
                    Ok(failed) => {
                        Counters::add(&self.counters.processed, piece.records.len() - failed.len());
                        if failed.is_empty() {
                            continue;
                        }
                        let error =
                            format!("the function reported {} failed records", failed.len());
                        (failed, error)
                    }
                    Err(error) => (piece.records, error),
                },
                Err(InvokeError::Transport(error)) => {
                    tracing::error!(
                        function = %mapping.function,
                        topic = %mapping.topic,
                        records = piece.records.len(),
                        stalls = piece.stalls + 1,
                        "cannot invoke the function, trying again: {error}"
                    );
                    piece.stalls += 1;
                    pending.push_front(piece);
                    continue;
                }
                Err(InvokeError::Function(error)) => {
                    if mapping.bisect_batch_on_function_error && piece.records.len() > 1 {
                        // Halves keep the retries used so far: bisecting is not a retry.
                        let right = piece.records.split_off(piece.records.len() / 2);
                        tracing::info!(
                            function = %mapping.function,
                            topic = %mapping.topic,
                            left = piece.records.len(),
                            right = right.len(),
                            "function error, bisecting the batch: {error}"
                        );
                        pending.push_front(Piece {
                            records: right,
                            ..piece
                        });
                        pending.push_front(Piece {
                            records: piece.records,
                            ..piece
                        });
                        continue;
                    }
                    (piece.records, error)
                }
            };
            let exhausted = mapping
                .maximum_retry_attempts
                .is_some_and(|max| piece.retries >= max);
            if exhausted {
                self.fail(&failed, &error, piece.retries + 1).await;
                continue;
            }
            let log = format!(
                "function failed, retrying {} records (retry {} of {}): {error}",
                failed.len(),
                piece.retries + 1,
                mapping
                    .maximum_retry_attempts
                    .map_or("infinite".to_owned(), |m| m.to_string()),
            );
            if mapping.maximum_retry_attempts.is_none() {
                // AWS blocks the partition until the record expires or succeeds: so do we.
                tracing::error!(function = %mapping.function, topic = %mapping.topic, "{log}; the mapping is blocked until it succeeds");
            } else {
                tracing::warn!(function = %mapping.function, topic = %mapping.topic, "{log}");
            }
            pending.push_front(Piece {
                records: failed,
                retries: piece.retries + 1,
                stalls: piece.stalls,
            });
        }
    }

    /// One invocation, bounded by the function's timeout; a panic of an in-process function
    /// is a function error like any other (the mapping lives on).
    async fn invoke(&self, event: &KafkaEvent) -> Result<serde_json::Value, InvokeError> {
        let mapping = self.mapping;
        let deadline = tokio::time::Instant::now() + mapping.function_timeout;
        let call = AssertUnwindSafe(self.invoker.invoke(&mapping.function, event, deadline))
            .catch_unwind();
        match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(panic)) => Err(InvokeError::Function(format!(
                "the function panicked: {}",
                panic_message(panic.as_ref())
            ))),
            // Lambda's own words for a function that ran out of time.
            Err(_) => Err(InvokeError::Function(format!(
                "Task timed out after {:.2} seconds",
                mapping.function_timeout.as_secs_f64()
            ))),
        }
    }

    /// The records to retry after a successful invocation: with ReportBatchItemFailures, for
    /// each reported partition every record from the lowest reported offset on. An identifier
    /// that names no record of the batch, or a response that is not one, fails the whole
    /// batch (as AWS does).
    fn reported_failures(
        &self,
        records: &[SourceRecord],
        response: &serde_json::Value,
    ) -> Result<Vec<SourceRecord>, String> {
        if !self.mapping.report_batch_item_failures || response.is_null() {
            return Ok(Vec::new());
        }
        let response: KafkaBatchResponse = serde_json::from_value(response.clone())
            .map_err(|e| format!("invalid partial batch response: {e}"))?;
        let mut lowest: HashMap<&str, i64> = HashMap::new();
        for failure in &response.batch_item_failures {
            let id = &failure.item_identifier;
            let known = records
                .iter()
                .any(|r| r.offset == id.offset && r.partition_key() == id.partition);
            if !known {
                return Err(format!(
                    "invalid partial batch response: {}@{} is not in the batch",
                    id.partition, id.offset
                ));
            }
            let entry = lowest.entry(id.partition.as_str()).or_insert(id.offset);
            *entry = (*entry).min(id.offset);
        }
        Ok(records
            .iter()
            .filter(|r| {
                lowest
                    .get(r.partition_key().as_str())
                    .is_some_and(|low| r.offset >= *low)
            })
            .cloned()
            .collect())
    }

    /// Gives up on `records`: to the on-failure topic, or, without one, discarded with an
    /// error line naming each record's coordinates.
    async fn fail(&self, records: &[SourceRecord], error: &str, attempts: u32) {
        let mapping = self.mapping;
        for record in records {
            match &mapping.on_failure_topic {
                Some(dlq) => {
                    self.dead_letter(dlq, record, error, attempts).await;
                    Counters::add(&self.counters.dead_lettered, 1);
                }
                None => {
                    tracing::error!(
                        function = %mapping.function,
                        topic = %record.topic,
                        partition = record.partition,
                        offset = record.offset,
                        attempts,
                        "record discarded: no on-failure destination: {error}"
                    );
                    Counters::add(&self.counters.discarded, 1);
                }
            }
        }
    }

    /// Writes `record` to `dlq`, trying until the broker takes it.
    async fn dead_letter(&self, dlq: &str, record: &SourceRecord, error: &str, attempts: u32) {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len() + 6);
        for (key, value) in &record.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let coordinates = [
            (dlq_headers::REASON, dlq_headers::reason(error).to_owned()),
            (dlq_headers::FUNCTION, self.mapping.function.clone()),
            (dlq_headers::SOURCE_TOPIC, record.topic.clone()),
            (dlq_headers::SOURCE_PARTITION, record.partition.to_string()),
            (dlq_headers::SOURCE_OFFSET, record.offset.to_string()),
            (dlq_headers::ATTEMPTS, attempts.to_string()),
        ];
        for (key, value) in &coordinates {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let mut tries = 0;
        loop {
            let mut out = FutureRecord::<[u8], [u8]>::to(dlq).headers(headers.clone());
            if let Some(key) = &record.key {
                out = out.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                out = out.payload(value.as_slice());
            }
            match self.producer.send(out, Duration::from_secs(10)).await {
                Ok(_) => {
                    tracing::warn!(
                        function = %self.mapping.function,
                        topic = %record.topic,
                        partition = record.partition,
                        offset = record.offset,
                        dlq,
                        attempts,
                        "record sent to the on-failure topic: {error}"
                    );
                    return;
                }
                Err((e, _)) => {
                    tries += 1;
                    tracing::error!(
                        function = %self.mapping.function,
                        dlq,
                        tries,
                        "cannot write to the on-failure topic, trying again: {e}"
                    );
                    tokio::time::sleep(self.backoff(tries)).await;
                }
            }
        }
    }

    /// The wait before retry `n` (from 1): doubling from the initial backoff, capped.
    fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.options
            .retry_backoff_initial
            .saturating_mul(factor)
            .min(self.options.retry_backoff_max)
    }
}

/// The text a panic was raised with, if it was text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(text) = panic.downcast_ref::<&str>() {
        text
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text
    } else {
        "(no message)"
    }
}
