//! Runs the mappings: one consumer group per mapping, batches closed at BatchSize or when the
//! batching window has passed since their first record, offsets committed after the batch is
//! resolved, and the status (counters, lag) for logs and `GET /status`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::delivery::{Counters, Deliverer};
use crate::event::SourceRecord;
use crate::invoke::Invoker;
use crate::template::{Mapping, StartingPosition};
use crate::EsmError;

/// How long an admin request (metadata, watermarks, committed offsets) may take: a busy tansu
/// answers them seconds late, as it serves every request from one storage task.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// librdkafka's `session.timeout.ms` default.
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// Timings of the runtime (AWS's are not published; these suit a laptop, tests shorten them).
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The wait before the first retry; it doubles with each retry.
    pub retry_backoff_initial: Duration,
    pub retry_backoff_max: Duration,
    /// How often lag is measured; a mapping's status is logged then only if it changed since
    /// it was last logged (at rest the log stays quiet; `GET /status` answers at any time).
    pub status_interval: Duration,
    /// The consumers' `fetch.wait.max.ms`. tansu 0.6 holds every fetch response for this long
    /// (half of it from 500 ms up) even when records are there (`tansu-storage`
    /// `service/fetch.rs` sleeps before answering), so it is a floor under every hop's
    /// latency; but every fetch costs tansu's one storage task milliseconds, so a short wait
    /// keeps the broker busy with idle fetches and slows everything else. Measured with all
    /// mappings idle (BENCHMARKS.md): 10 ms → 1.1 cores, 100 ms → 0.5, 250 ms → 0.2, with no
    /// gain in saga latency or throughput below 100 ms. AWS's pollers are not ours to tune:
    /// this is local only.
    pub fetch_wait_max: Duration,
    /// The consumers' `max.poll.interval.ms` (librdkafka's 300 s by default; the session
    /// timeout is kept at or below it, as librdkafka requires). The runtime polls all along,
    /// so even an outage longer than this keeps a mapping in its group; tests shorten it to
    /// show that.
    pub max_poll_interval: Duration,
    /// A mapping whose consumer has had nothing to do for this long (no record received,
    /// nothing waiting or in flight, no [`Runtime::wake`]) dozes: its partitions are paused, so
    /// it sends the broker no fetch, only the heartbeats that keep it in its group. Idle
    /// fetches are what an idle pipeline costs tansu (BENCHMARKS.md: 22 groups polling at
    /// 100 ms keep 0.6 of a core busy). Local only, like `fetch_wait_max`: AWS's pollers are
    /// not ours to tune, and a dozing mapping only ever delays a record, never loses one. A
    /// woken partition fetches again within [`RESUME_PICKUP`], so the first record after a
    /// doze waits up to that long. A mapping dozes only once the broker says its group has
    /// committed every record of its topic, so records already there never wait for a probe.
    /// Off by default ([`DOZE_OFF`]).
    pub doze_after: Duration,
    /// While dozing, fetching resumes every `doze_probe` for one fetch round
    /// ([`RESUME_PICKUP`] plus twice `fetch_wait_max`), so a record produced by a writer that
    /// does not wake the runtime (a client of the broker's own) waits at most about this long.
    /// The local pipeline wakes every mapping when it has seen records reach the broker
    /// (`local::stack`), so its own records never wait for a probe.
    pub doze_probe: Duration,
}

/// [`RuntimeOptions::doze_after`] by default: a year, i.e. never. Dozing is opt-in (the bench
/// turns it on with 30 s) until the fault suite passes with it: run with dozing after 2 s and
/// no probes, its crashing-function scenario (which restarts the pipeline in process) left
/// mappings owning fewer partitions than the topic has (`cancel-appointment` none,
/// `confirm-appointment` one of three) and their sagas open; not yet found why (that scenario
/// also fails at times with dozing off: BENCHMARKS.md).
pub const DOZE_OFF: Duration = Duration::from_secs(365 * 24 * 3600);

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            retry_backoff_initial: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(5),
            status_interval: Duration::from_secs(30),
            fetch_wait_max: Duration::from_millis(100),
            max_poll_interval: Duration::from_secs(300),
            doze_after: DOZE_OFF,
            doze_probe: Duration::from_secs(10),
        }
    }
}

/// What a mapping is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activity {
    /// `Enabled: false` in the template: never started.
    Disabled,
    /// Paused by [`Runtime::pause`]: its consumer has left the group.
    Paused,
    /// Waiting for its consumer (or stopping).
    Idle,
    /// Consuming.
    Running,
}

/// A mapping's counters and lag, as `GET /status` shows them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingStatus {
    pub function: String,
    pub topic: String,
    pub consumer_group_id: String,
    pub activity: Activity,
    /// The partitions this runtime's consumer owns now.
    pub assigned_partitions: Vec<i32>,
    /// Records the function processed successfully.
    pub processed_records: u64,
    pub invocations: u64,
    /// Invocations that retried records after a failure (bisected halves are not retries).
    pub retries: u64,
    /// Records written to the on-failure topic.
    pub dead_lettered_records: u64,
    /// Records given up on without an on-failure topic (each logged as an error).
    pub discarded_records: u64,
    /// Records that matched none of the mapping's `FilterCriteria` and were not sent (their
    /// offsets are committed); a record read again after a rebalance counts again.
    pub filtered_records: u64,
    /// Fetching is paused for want of records ([`RuntimeOptions::doze_after`]).
    pub dozing: bool,
    /// Offset commits sent (one per resolved batch; asynchronous, see `commit`).
    pub commits: u64,
    /// Partition assignments received: 1 for a consumer that has never been rebalanced.
    pub assignments: u64,
    /// The last failed invocation (a function error, a timeout, a panic, an unreachable
    /// function), if any.
    pub last_error: Option<LastError>,
    /// High watermark minus the group's committed offset, summed over partitions; `None`
    /// until first measured.
    pub lag: Option<i64>,
    pub partitions: Vec<PartitionStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub at: chrono::DateTime<chrono::Utc>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionStatus {
    pub partition: i32,
    /// The group's committed offset (the next record it will read), if any.
    pub committed_offset: Option<i64>,
    pub high_watermark: i64,
    pub lag: i64,
}

/// The running mappings. Dropping it stops them at once (uncommitted work is redelivered);
/// [`Runtime::shutdown`] stops them and waits.
#[derive(Debug)]
pub struct Runtime {
    mappings: Vec<Arc<MappingState>>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

struct Shared {
    bootstrap: String,
    invoker: Arc<dyn Invoker>,
    producer: FutureProducer,
    options: RuntimeOptions,
}

struct MappingState {
    mapping: Mapping,
    counters: Counters,
    /// Records dropped by the mapping's `FilterCriteria`.
    filtered: AtomicU64,
    paused: watch::Sender<bool>,
    /// True while a consumer is open.
    active: watch::Sender<bool>,
    /// Bumped at every rebalance, so that the records waiting for a batch are forgotten
    /// (they are read again from the committed offsets).
    generation: AtomicU64,
    assigned: Mutex<Vec<i32>>,
    /// Reads the group's committed offsets and the watermarks, without joining the group.
    monitor: BaseConsumer,
    partitions: Mutex<Option<Vec<PartitionStatus>>>,
    /// Ends a doze ([`Runtime::wake`]).
    wake: Notify,
    dozing: AtomicBool,
}

impl std::fmt::Debug for MappingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappingState")
            .field("mapping", &self.mapping)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MappingState {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn status(&self) -> MappingStatus {
        let counter = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters = &self.counters;
        let partitions = lock(&self.partitions).clone();
        let activity = if !self.mapping.enabled {
            Activity::Disabled
        } else if *self.active.borrow() {
            Activity::Running
        } else if *self.paused.borrow() {
            Activity::Paused
        } else {
            Activity::Idle
        };
        MappingStatus {
            function: self.mapping.function.clone(),
            topic: self.mapping.topic.clone(),
            consumer_group_id: self.mapping.consumer_group_id.clone(),
            activity,
            assigned_partitions: lock(&self.assigned).clone(),
            processed_records: counter(&counters.processed),
            invocations: counter(&counters.invocations),
            retries: counter(&counters.retries),
            dead_lettered_records: counter(&counters.dead_lettered),
            discarded_records: counter(&counters.discarded),
            filtered_records: counter(&self.filtered),
            dozing: self.dozing.load(Ordering::Relaxed),
            commits: counter(&counters.commits),
            assignments: counter(&counters.assignments),
            last_error: lock(&counters.last_error)
                .clone()
                .map(|(at, message)| LastError { at, message }),
            lag: partitions.as_ref().map(|ps| ps.iter().map(|p| p.lag).sum()),
            partitions: partitions.unwrap_or_default(),
        }
    }

    /// Commits, for the mapping's group, the low watermark of every partition (blocking).
    fn commit_earliest(&self) -> Result<(), EsmError> {
        let topic = self.mapping.topic.as_str();
        let metadata = self.monitor.fetch_metadata(Some(topic), ADMIN_TIMEOUT)?;
        let mut earliest = TopicPartitionList::new();
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            let (low, _) = self
                .monitor
                .fetch_watermarks(topic, partition.id(), ADMIN_TIMEOUT)?;
            earliest.add_partition_offset(topic, partition.id(), Offset::Offset(low))?;
        }
        self.monitor.commit(&earliest, CommitMode::Sync)?;
        tracing::info!(function = %self.mapping.function, topic, group = %self.mapping.consumer_group_id,
            "consumer group rewound to the earliest offsets");
        Ok(())
    }

    /// Measures the lag (blocking), keeps it for the status, and returns its sum over the
    /// topic's partitions.
    fn refresh_lag(&self) -> Result<i64, KafkaError> {
        let partitions = self.measure_lag()?;
        let lag = partitions.iter().map(|p| p.lag).sum();
        *lock(&self.partitions) = Some(partitions);
        Ok(lag)
    }

    /// Asks the broker for the group's committed offsets and the high watermarks (blocking).
    fn measure_lag(&self) -> Result<Vec<PartitionStatus>, KafkaError> {
        // Drain the client's own events (connection errors while the broker is away).
        while self.monitor.poll(Duration::ZERO).is_some() {}
        let topic = self.mapping.topic.as_str();
        let metadata = self.monitor.fetch_metadata(Some(topic), ADMIN_TIMEOUT)?;
        let mut wanted = TopicPartitionList::new();
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            wanted.add_partition(topic, partition.id());
        }
        let committed = self.monitor.committed_offsets(wanted, ADMIN_TIMEOUT)?;
        let mut partitions = Vec::new();
        for element in committed.elements_for_topic(topic) {
            let (low, high) =
                self.monitor
                    .fetch_watermarks(topic, element.partition(), ADMIN_TIMEOUT)?;
            let committed_offset = match element.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            };
            partitions.push(PartitionStatus {
                partition: element.partition(),
                committed_offset,
                high_watermark: high,
                lag: (high - committed_offset.unwrap_or(low)).max(0),
            });
        }
        partitions.sort_by_key(|p| p.partition);
        Ok(partitions)
    }
}

/// Tracks rebalances of a mapping's consumer.
struct EsmContext {
    state: Arc<MappingState>,
}

impl ClientContext for EsmContext {}

impl ConsumerContext for EsmContext {
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        let mapping = &self.state.mapping;
        match result {
            Ok(()) => {
                tracing::debug!(function = %mapping.function, topic = %mapping.topic, ?offsets, "committed");
            }
            Err(e) => {
                tracing::warn!(function = %mapping.function, topic = %mapping.topic, ?offsets, "commit failed, the batch will be delivered again: {e}");
            }
        }
    }

    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.state.generation.fetch_add(1, Ordering::SeqCst);
        if let Rebalance::Revoke(_) = rebalance {
            lock(&self.state.assigned).clear();
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mapping = &self.state.mapping;
        match rebalance {
            Rebalance::Assign(partitions) => {
                let assigned: Vec<i32> = partitions
                    .elements()
                    .iter()
                    .map(|e| e.partition())
                    .collect();
                tracing::info!(function = %mapping.function, topic = %mapping.topic, ?assigned, "partitions assigned");
                Counters::add(&self.state.counters.assignments, 1);
                *lock(&self.state.assigned) = assigned;
                // A dozing mapping's pauses outlive a rebalance: the consume loop resumes the
                // new assignment (see `Doze::stir`).
                self.state.wake.notify_one();
            }
            Rebalance::Revoke(_) => {
                tracing::info!(function = %mapping.function, topic = %mapping.topic, "partitions revoked");
            }
            Rebalance::Error(e) => {
                tracing::warn!(function = %mapping.function, topic = %mapping.topic, "rebalance error: {e}");
            }
        }
    }
}

type EsmConsumer = StreamConsumer<EsmContext>;

impl Runtime {
    /// Starts consuming for every enabled mapping. Must be called within a Tokio runtime.
    pub fn start(
        mappings: Vec<Mapping>,
        bootstrap: &str,
        invoker: Arc<dyn Invoker>,
        options: RuntimeOptions,
    ) -> Result<Runtime, EsmError> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("message.timeout.ms", "10000")
            .create()?;
        let shared = Arc::new(Shared {
            bootstrap: bootstrap.to_owned(),
            invoker,
            producer,
            options,
        });
        let (stop, _) = watch::channel(false);
        let mut states = Vec::new();
        for mapping in mappings {
            let monitor = ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("group.id", &mapping.consumer_group_id)
                .set("enable.auto.commit", "false")
                .create()?;
            states.push(Arc::new(MappingState {
                mapping,
                counters: Counters::default(),
                filtered: AtomicU64::new(0),
                paused: watch::channel(false).0,
                active: watch::channel(false).0,
                generation: AtomicU64::new(0),
                assigned: Mutex::new(Vec::new()),
                monitor,
                partitions: Mutex::new(None),
                wake: Notify::new(),
                dozing: AtomicBool::new(false),
            }));
        }
        let mut tasks: Vec<JoinHandle<()>> = states
            .iter()
            .filter(|s| s.mapping.enabled)
            .map(|s| tokio::spawn(run_mapping(shared.clone(), s.clone(), stop.subscribe())))
            .collect();
        tasks.push(tokio::spawn(report_status(
            states.clone(),
            shared.options.status_interval,
            stop.subscribe(),
        )));
        Ok(Runtime {
            mappings: states,
            stop,
            tasks: Mutex::new(tasks),
        })
    }

    /// Tells every mapping that records may be on their way: a dozing one fetches again at
    /// once, an awake one stays awake for another [`RuntimeOptions::doze_after`].
    pub fn wake(&self) {
        for state in &self.mappings {
            state.wake.notify_one();
        }
    }

    /// Every mapping's counters and last measured lag.
    pub fn status(&self) -> Vec<MappingStatus> {
        self.mappings.iter().map(|s| s.status()).collect()
    }

    /// Stops polling for `function`'s mappings and waits until their consumers have left
    /// their groups. A batch in flight is abandoned uncommitted (it is delivered again).
    pub async fn pause(&self, function: &str) -> Result<(), EsmError> {
        let states = self.enabled_mappings_of(function)?;
        for state in &states {
            state.paused.send_replace(true);
        }
        for state in &states {
            // The state owns the sender, so this only ends when the consumer is closed.
            let _ = state.active.subscribe().wait_for(|active| !*active).await;
        }
        Ok(())
    }

    /// Starts polling again for `function`'s mappings, from the committed offsets.
    pub fn resume(&self, function: &str) -> Result<(), EsmError> {
        for state in self.enabled_mappings_of(function)? {
            state.paused.send_replace(false);
        }
        Ok(())
    }

    /// Moves the consumer groups of `function`'s mappings back to the earliest offset still
    /// in each partition, so that after [`Runtime::resume`] they read their topics again from
    /// the start (a projection rebuild). The mappings must be paused: a group with an open
    /// consumer would overwrite these offsets with its own.
    pub async fn rewind(&self, function: &str) -> Result<(), EsmError> {
        let states = self.enabled_mappings_of(function)?;
        if states
            .iter()
            .any(|s| !*s.paused.borrow() || *s.active.borrow())
        {
            return Err(EsmError::NotPaused(function.to_owned()));
        }
        tokio::task::spawn_blocking(move || {
            states.iter().try_for_each(|state| state.commit_earliest())
        })
        .await
        .map_err(|e| EsmError::Task(e.to_string()))?
    }

    /// The records `function`'s mappings have yet to commit, measured now (high watermark
    /// minus committed offset, over every partition of every mapping).
    pub async fn lag(&self, function: &str) -> Result<i64, EsmError> {
        let states = self.enabled_mappings_of(function)?;
        tokio::task::spawn_blocking(move || {
            let mut lag = 0;
            for state in &states {
                lag += state.refresh_lag()?;
            }
            Ok(lag)
        })
        .await
        .map_err(|e| EsmError::Task(e.to_string()))?
    }

    fn enabled_mappings_of(&self, function: &str) -> Result<Vec<Arc<MappingState>>, EsmError> {
        let states: Vec<_> = self
            .mappings
            .iter()
            .filter(|s| s.mapping.enabled && s.mapping.function == function)
            .cloned()
            .collect();
        if states.is_empty() {
            return Err(EsmError::UnknownFunction(function.to_owned()));
        }
        Ok(states)
    }

    /// Stops every mapping and waits until their consumers are closed. Batches in flight are
    /// abandoned uncommitted.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for task in lock(&self.tasks).iter() {
            task.abort();
        }
    }
}

/// `GET /status`: every mapping's [`MappingStatus`], as JSON.
pub fn status_router(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route(
            "/status",
            get(|State(runtime): State<Arc<Runtime>>| async move { Json(runtime.status()) }),
        )
        .with_state(runtime)
}

/// Runs one mapping until stopped: a consumer while not paused, none while paused.
async fn run_mapping(
    shared: Arc<Shared>,
    state: Arc<MappingState>,
    mut stop: watch::Receiver<bool>,
) {
    let mapping = &state.mapping;
    let mut paused = state.paused.subscribe();
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            _ = paused.wait_for(|paused| !*paused) => {}
        }
        if *stop.borrow() {
            return;
        }
        let consumer = match new_consumer(&shared, &state) {
            Ok(consumer) => OpenConsumer(Some(consumer)),
            Err(e) => {
                tracing::error!(function = %mapping.function, topic = %mapping.topic, "cannot start the consumer: {e}");
                tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => return,
                    _ = tokio::time::sleep(shared.options.retry_backoff_max) => continue,
                }
            }
        };
        state.active.send_replace(true);
        tracing::info!(function = %mapping.function, topic = %mapping.topic, group = %mapping.consumer_group_id, "mapping started");
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => {}
            _ = paused.wait_for(|paused| *paused) => {}
            _ = consume(&shared, &state, &consumer) => {}
        }
        consumer.close().await;
        state.dozing.store(false, Ordering::Relaxed);
        lock(&state.assigned).clear();
        state.active.send_replace(false);
        tracing::info!(function = %mapping.function, topic = %mapping.topic, "mapping stopped");
    }
}

/// A mapping's open consumer. Closing one blocks until it has left its group and its commits
/// are answered, which against a broker that is gone never happens: [`OpenConsumer::close`]
/// waits for it on a blocking thread (a pause or a stop: the partitions move on at once), and
/// a consumer dropped unclosed (its task aborted, as when a [`Runtime`] is dropped, maybe
/// after the broker) is closed on a thread of its own, so no runtime thread hangs on it.
struct OpenConsumer(Option<EsmConsumer>);

impl OpenConsumer {
    async fn close(mut self) {
        if let Some(consumer) = self.0.take() {
            let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        }
    }
}

impl std::ops::Deref for OpenConsumer {
    type Target = EsmConsumer;

    fn deref(&self) -> &EsmConsumer {
        self.0.as_ref().expect("only close() takes the consumer")
    }
}

impl Drop for OpenConsumer {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            let closing = std::thread::Builder::new()
                .name("esm-close".into())
                .spawn(move || drop(consumer));
            if let Err(e) = closing {
                tracing::warn!("cannot close a consumer on its own thread: {e}");
            }
        }
    }
}

fn new_consumer(shared: &Shared, state: &Arc<MappingState>) -> Result<EsmConsumer, KafkaError> {
    let mapping = &state.mapping;
    let reset = match mapping.starting_position {
        StartingPosition::TrimHorizon => "earliest",
        StartingPosition::Latest => "latest",
    };
    let consumer: EsmConsumer = ClientConfig::new()
        .set("bootstrap.servers", &shared.bootstrap)
        .set("group.id", &mapping.consumer_group_id)
        .set("client.id", format!("esm-{}", mapping.function))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", reset)
        .set(
            "fetch.wait.max.ms",
            shared.options.fetch_wait_max.as_millis().to_string(),
        )
        .set(
            "max.poll.interval.ms",
            shared.options.max_poll_interval.as_millis().to_string(),
        )
        .set(
            "session.timeout.ms",
            shared
                .options
                .max_poll_interval
                .min(DEFAULT_SESSION_TIMEOUT)
                .as_millis()
                .to_string(),
        )
        // An eager protocol: every rebalance restarts all partitions from their committed
        // offsets, which is what makes dropping a batch collected across a rebalance safe.
        .set("partition.assignment.strategy", "range")
        .create_with_context(EsmContext {
            state: state.clone(),
        })?;
    consumer.subscribe(&[&mapping.topic])?;
    Ok(consumer)
}

/// AWS caps a synchronous invocation's payload at 6 MB: a batch closes before it would pass
/// it (a single larger record still goes alone).
const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// One partition's records waiting for its next batch, and whether a batch of it is out.
///
/// Records that the mapping's `FilterCriteria` drops wait here too, as bare offsets, so that
/// they are committed in order: with the batch that follows them in the partition (after the
/// function succeeded, as AWS commits the offsets of unmatched records "after successfully
/// invoking the function"), or, when nothing but filtered records waited for a batching window,
/// on their own without invoking the function.
#[derive(Debug, Default)]
struct PartitionQueue {
    records: VecDeque<SourceRecord>,
    /// Offsets of filtered-out records waiting to be committed, ascending: for each run of
    /// them between two waiting records (or after the last one) only the highest, which is
    /// all a commit needs.
    filtered: VecDeque<i64>,
    /// Their size in the event's JSON.
    bytes: usize,
    /// When the batching window of the waiting records closes (from the first of them).
    closes: Option<Instant>,
    /// A batch of this partition is being delivered: the next waits for it (order).
    in_flight: bool,
    /// Fetching is paused: a whole batch is waiting already.
    paused: bool,
    /// Every record below this offset was resolved by a batch: redeliveries are skipped.
    resolved: i64,
}

impl PartitionQueue {
    fn push(&mut self, record: SourceRecord, window: Duration) {
        if record.offset < self.resolved {
            return;
        }
        if self.is_empty() {
            self.closes = Some(Instant::now() + window);
        }
        self.bytes += record.payload_bytes();
        self.records.push_back(record);
    }

    /// Notes a record that the filters dropped, to commit its offset in turn. False if it
    /// was resolved already (a redelivery).
    fn skip(&mut self, offset: i64, window: Duration) -> bool {
        if offset < self.resolved {
            return false;
        }
        if self.is_empty() {
            self.closes = Some(Instant::now() + window);
        }
        let last_record = self.records.back().map(|r| r.offset);
        match self.filtered.back_mut() {
            // No record waits after the last filtered run: this one extends it.
            Some(last) if last_record.is_none_or(|r| r < *last) => *last = (*last).max(offset),
            _ => self.filtered.push_back(offset),
        }
        true
    }

    /// Nothing waits: no record, no filtered offset.
    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.filtered.is_empty()
    }

    /// A whole batch is waiting (BatchSize records, or the payload limit).
    fn full(&self, batch_size: usize) -> bool {
        self.records.len() >= batch_size || self.bytes >= MAX_PAYLOAD_BYTES
    }

    fn ready(&self, batch_size: usize, now: Instant) -> bool {
        !self.in_flight
            && !self.is_empty()
            && (self.full(batch_size) || self.closes.is_some_and(|closes| closes <= now))
    }

    /// The next batch: up to BatchSize records, within the payload limit, and the offset to
    /// commit once it is resolved (past the filtered records before the first record left
    /// waiting, too). The batch is empty when only filtered records waited. Records left over
    /// have waited a window already and go as soon as the partition is free.
    fn take(&mut self, batch_size: usize) -> (Vec<SourceRecord>, i64) {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(record) = self.records.front() {
            let size = record.payload_bytes();
            if batch.len() >= batch_size || (!batch.is_empty() && bytes + size > MAX_PAYLOAD_BYTES)
            {
                break;
            }
            bytes += size;
            batch.extend(self.records.pop_front());
        }
        self.bytes -= bytes;
        let mut next = batch
            .iter()
            .map(|r| r.offset + 1)
            .max()
            .unwrap_or(self.resolved);
        let waiting = self.records.front().map_or(i64::MAX, |r| r.offset);
        while let Some(offset) = self.filtered.front().copied().filter(|o| *o < waiting) {
            self.filtered.pop_front();
            next = next.max(offset + 1);
        }
        self.closes = (!self.is_empty()).then(Instant::now);
        (batch, next)
    }

    /// After a batch ending before `next` was resolved: drop waiting redeliveries.
    fn resolve(&mut self, next: i64) {
        self.in_flight = false;
        self.resolved = self.resolved.max(next);
        while self.records.front().is_some_and(|r| r.offset < next) {
            if let Some(record) = self.records.pop_front() {
                self.bytes -= record.payload_bytes();
            }
        }
        while self.filtered.front().is_some_and(|offset| *offset < next) {
            self.filtered.pop_front();
        }
        if self.is_empty() {
            self.closes = None;
        }
    }

    /// A rebalance restarts fetching from the committed offsets: what waits is read again.
    fn forget_waiting(&mut self) {
        self.records.clear();
        self.filtered.clear();
        self.bytes = 0;
        self.closes = None;
        self.paused = false;
    }
}

/// A batch of one partition on its way, resolving to the partition and its next offset.
type InFlight<'a> = Pin<Box<dyn Future<Output = (i32, i64)> + Send + 'a>>;

/// Collects, delivers and commits batches, forever, as AWS does for Kafka: one batch per
/// partition at a time (order within a partition), batches of different partitions in flight
/// at once (at most [`Mapping::max_concurrent_batches`]), each partition's offset committed
/// when its batch is resolved. The consumer is polled all along, so a batch that is retried
/// through a long outage never gets the consumer evicted from its group
/// (`max.poll.interval.ms`): a partition whose next batch is already waiting is paused
/// instead, and resumed when that batch goes out. Records that match none of the mapping's
/// `FilterCriteria` never join a batch; their offsets are committed in partition order with
/// the batch after them, or alone, uninvoked, when only they waited a batching window.
async fn consume(shared: &Shared, state: &Arc<MappingState>, consumer: &EsmConsumer) {
    let mapping = &state.mapping;
    let deliverer = Deliverer {
        mapping,
        bootstrap: &shared.bootstrap,
        invoker: shared.invoker.as_ref(),
        producer: &shared.producer,
        counters: &state.counters,
        options: &shared.options,
    };
    let batch_size = usize::try_from(mapping.batch_size).unwrap_or(usize::MAX);
    let max_in_flight = mapping.max_concurrent_batches();
    let mut queues: BTreeMap<i32, PartitionQueue> = BTreeMap::new();
    let mut in_flight: FuturesUnordered<InFlight<'_>> = FuturesUnordered::new();
    let mut generation = state.generation();
    // After a consumer error, when to ask the consumer again.
    let mut receive_after: Option<Instant> = None;
    let mut doze = Doze::new(&shared.options, state);
    loop {
        let now = Instant::now();
        for (&partition, queue) in &mut queues {
            if in_flight.len() >= max_in_flight {
                break;
            }
            if queue.ready(batch_size, now) {
                let (batch, next) = queue.take(batch_size);
                queue.in_flight = true;
                let deliverer = &deliverer;
                in_flight.push(Box::pin(async move {
                    // Only filtered records: nothing to invoke, only their offsets to commit.
                    if !batch.is_empty() {
                        deliverer.deliver(batch).await;
                    }
                    (partition, next)
                }));
            }
        }
        flow_control(state, consumer, &mut queues, batch_size);
        if receive_after.is_some_and(|after| after <= now) {
            receive_after = None;
        }
        let window_closes = if in_flight.len() < max_in_flight {
            queues
                .values()
                .filter(|q| !q.in_flight && !q.is_empty())
                .filter_map(|q| q.closes)
                .min()
        } else {
            None
        };
        let idle = in_flight.is_empty() && queues.values().all(PartitionQueue::is_empty);
        doze.tick(consumer, idle, now);
        let wake = window_closes
            .into_iter()
            .chain(receive_after)
            .chain(doze.due(idle))
            .min();
        tokio::select! {
            () = state.wake.notified() => doze.stir(consumer, Instant::now()),
            lag = doze.measured(), if doze.measuring() => doze.measured_lag(consumer, lag),
            Some((partition, next)) = in_flight.next(), if !in_flight.is_empty() => {
                doze.stir(consumer, Instant::now());
                let queue = queues.entry(partition).or_default();
                if lock(&state.assigned).contains(&partition) {
                    queue.resolve(next);
                    commit(state, consumer, partition, next);
                } else {
                    queue.in_flight = false;
                    tracing::warn!(function = %mapping.function, topic = %mapping.topic, partition,
                        "the partition was revoked during its batch: not committing it; its new owner reads it again");
                }
            }
            received = consumer.recv(), if receive_after.is_none() => {
                doze.stir(consumer, Instant::now());
                if state.generation() != generation {
                    generation = state.generation();
                    rebalanced(state, consumer, &mut queues);
                }
                match received {
                    Ok(message) => {
                        let record = SourceRecord::from_message(&message);
                        let queue = queues.entry(record.partition).or_default();
                        let wanted = mapping
                            .filter_criteria
                            .as_ref()
                            .is_none_or(|filters| filters.matches(record.value.as_deref()));
                        if wanted {
                            queue.push(record, mapping.batching_window);
                        } else if queue.skip(record.offset, mapping.batching_window) {
                            state.filtered.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(function = %mapping.function, topic = %mapping.topic,
                                partition = record.partition, offset = record.offset,
                                "record matches no filter of the FilterCriteria: not sent");
                        }
                    }
                    Err(e) => {
                        // Batches in flight go on meanwhile; the consumer is asked again later.
                        tracing::warn!(function = %mapping.function, topic = %mapping.topic, "consumer error: {e}");
                        receive_after = Some(Instant::now() + shared.options.retry_backoff_max);
                    }
                }
            }
            () = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
        }
    }
}

/// How long librdkafka may take to fetch for a partition it was told to resume: the resume
/// only clears a flag, and the broker's thread sees it when it next wakes, at the latest after
/// its fixed 1 s wait (`rd_kafka_max_block_ms` in librdkafka's `rdkafka_broker.c`).
pub const RESUME_PICKUP: Duration = Duration::from_secs(1);

/// A mapping's doze ([`RuntimeOptions::doze_after`]): its partitions paused for want of
/// records, and when that changes next.
struct Doze<'a> {
    options: &'a RuntimeOptions,
    state: &'a Arc<MappingState>,
    /// The lag measured before a doze, on its way.
    measuring: Option<JoinHandle<Result<i64, KafkaError>>>,
    /// Dozing since then.
    since: Option<Instant>,
    /// Awake: when to doze if nothing happens before.
    at: Instant,
    /// The consumer's assignments (`Counters::assignments`) when it last paused or resumed.
    assignments: u64,
    /// It has dozed at least once, so a partition may carry a pause of ours.
    dozed: bool,
}

impl<'a> Doze<'a> {
    fn new(options: &'a RuntimeOptions, state: &'a Arc<MappingState>) -> Self {
        Doze {
            options,
            state,
            measuring: None,
            since: None,
            at: Instant::now() + options.doze_after,
            assignments: 0,
            dozed: false,
        }
    }

    /// Something happened (a record, a resolved batch, a wake, a rebalance): fetch, and keep
    /// fetching for another `doze_after` (and at least one fetch round after a doze). After a
    /// rebalance every partition owned now is resumed: librdkafka keeps a partition paused by
    /// the application across a rebalance, so one paused by an earlier doze and assigned again
    /// would otherwise never be fetched.
    fn stir(&mut self, consumer: &EsmConsumer, now: Instant) {
        // A lag measured before this is out of date.
        self.measuring = None;
        let mut awake = self.options.doze_after;
        if self.since.is_some() || (self.dozed && self.assignments != self.assignments_now()) {
            self.fetch(consumer, true);
            awake = awake.max(self.fetch_round());
        }
        self.at = now + awake;
    }

    fn assignments_now(&self) -> u64 {
        self.state.counters.assignments.load(Ordering::SeqCst)
    }

    /// Long enough for a resumed partition to be fetched once.
    fn fetch_round(&self) -> Duration {
        RESUME_PICKUP + 2 * self.options.fetch_wait_max
    }

    /// When [`Doze::tick`] has something to do next: measure the lag to doze, if `idle`;
    /// probe, if dozing.
    fn due(&self, idle: bool) -> Option<Instant> {
        match self.since {
            Some(since) => Some(since + self.options.doze_probe),
            None => (idle && !self.measuring()).then_some(self.at),
        }
    }

    /// Once the mapping has been idle for `doze_after`, measures the group's lag (on a
    /// blocking thread: the consume loop goes on meanwhile) to doze if nothing waits
    /// ([`Doze::measured_lag`]); while dozing, fetches for one round every `doze_probe`.
    fn tick(&mut self, consumer: &EsmConsumer, idle: bool, now: Instant) {
        match self.since {
            None if idle && now >= self.at && !self.measuring() => {
                let state = Arc::clone(self.state);
                self.measuring = Some(tokio::task::spawn_blocking(move || state.refresh_lag()));
            }
            Some(since) if now >= since + self.options.doze_probe => {
                self.fetch(consumer, true);
                self.at = now + self.fetch_round();
            }
            _ => {}
        }
    }

    fn measuring(&self) -> bool {
        self.measuring.is_some()
    }

    /// The lag measured before a doze (only while [`Doze::measuring`]).
    async fn measured(&mut self) -> Result<i64, String> {
        match self.measuring.as_mut() {
            Some(measuring) => match measuring.await {
                Ok(lag) => lag.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            None => std::future::pending().await,
        }
    }

    /// Dozes if the group has committed every record of the topic, else stays awake for
    /// another `doze_after`. A doze relies on a wake for what comes later: one over records
    /// already in the broker would rely on the wake that came with them having been acted
    /// on in time, which the fault suite showed it not always is (docs/how-it-works.md,
    /// "Dozing"). No stir came since the measure began (it would have dropped it), so the
    /// mapping is still idle.
    fn measured_lag(&mut self, consumer: &EsmConsumer, lag: Result<i64, String>) {
        self.measuring = None;
        match lag {
            Ok(0) => self.fetch(consumer, false),
            waiting => {
                let mapping = &self.state.mapping;
                tracing::debug!(function = %mapping.function, topic = %mapping.topic, ?waiting, "not dozing: records wait, or the lag is unknown");
                self.at = Instant::now() + self.options.doze_after;
            }
        }
    }

    /// Pauses (dozes) or resumes every partition the consumer owns. A consumer that owns none
    /// yet (still joining its group) stays awake: partitions assigned later would fetch.
    fn fetch(&mut self, consumer: &EsmConsumer, fetch: bool) {
        let mapping = &self.state.mapping;
        self.assignments = self.assignments_now();
        let result = consumer.assignment().and_then(|assigned| {
            if fetch {
                consumer.resume(&assigned).map(|()| true)
            } else if assigned.count() == 0 {
                Ok(false)
            } else {
                consumer.pause(&assigned).map(|()| true)
            }
        });
        match result {
            Ok(false) => self.at = Instant::now() + self.options.doze_after,
            Ok(true) => {
                self.dozed |= !fetch;
                self.since = (!fetch).then(Instant::now);
                self.state.dozing.store(!fetch, Ordering::Relaxed);
                tracing::debug!(function = %mapping.function, topic = %mapping.topic, dozing = !fetch, "fetching paused or resumed for want of records");
            }
            Err(e) => {
                // Tried again a probe or a doze later.
                if fetch {
                    self.since = Some(Instant::now());
                } else {
                    self.at = Instant::now() + self.options.doze_after;
                }
                tracing::warn!(function = %mapping.function, topic = %mapping.topic, "cannot pause or resume fetching: {e}");
            }
        }
    }
}

/// After a rebalance (eager: every partition restarts from its committed offset), forgets
/// the records waiting and lifts the pauses; batches in flight stay in flight, and their
/// partitions get no second batch until they are resolved.
fn rebalanced(
    state: &MappingState,
    consumer: &EsmConsumer,
    queues: &mut BTreeMap<i32, PartitionQueue>,
) {
    let mapping = &state.mapping;
    let mut paused = TopicPartitionList::new();
    let mut dropped = 0;
    for (&partition, queue) in queues.iter_mut() {
        if queue.paused {
            paused.add_partition(&mapping.topic, partition);
        }
        dropped += queue.records.len();
        queue.forget_waiting();
    }
    if dropped > 0 {
        tracing::info!(function = %mapping.function, topic = %mapping.topic, records = dropped,
            "partitions rebalanced: the records waiting are read again from the committed offsets");
    }
    if paused.count() > 0 {
        // The partitions still ours must not stay paused; the others answer an error.
        let _ = consumer.resume(&paused);
    }
}

/// Pauses fetching for a partition whose next batch is already waiting, and resumes it once
/// that batch has gone out (librdkafka fetches again from the last record handed over).
fn flow_control(
    state: &MappingState,
    consumer: &EsmConsumer,
    queues: &mut BTreeMap<i32, PartitionQueue>,
    batch_size: usize,
) {
    let mapping = &state.mapping;
    for (&partition, queue) in queues.iter_mut() {
        let full = queue.full(batch_size);
        if full == queue.paused {
            continue;
        }
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition(&mapping.topic, partition);
        let result = if full {
            consumer.pause(&partitions)
        } else {
            consumer.resume(&partitions)
        };
        match result {
            Ok(()) => queue.paused = full,
            Err(e) => {
                tracing::warn!(function = %mapping.function, topic = %mapping.topic, partition, "cannot pause or resume fetching: {e}");
            }
        }
    }
}

/// Commits `next` for `partition`, whose batch is resolved. The commit is asynchronous:
/// librdkafka's synchronous commit waits without a time limit for the group coordinator, so
/// against a broker that went away it never returns (and holds a blocking thread that a
/// runtime's shutdown then waits for). The status counts commits sent; a failure is logged
/// here or, from the broker, in [`EsmContext::commit_callback`]: the records are then
/// delivered again, never lost. Closing the consumer (a pause, a stop) waits for commits in
/// flight, so a rewind after a pause cannot be overwritten.
fn commit(state: &MappingState, consumer: &EsmConsumer, partition: i32, next: i64) {
    let mapping = &state.mapping;
    let mut offsets = TopicPartitionList::new();
    if let Err(e) = offsets.add_partition_offset(&mapping.topic, partition, Offset::Offset(next)) {
        tracing::error!(function = %mapping.function, topic = %mapping.topic, partition, "cannot commit: {e}");
        return;
    }
    match consumer.commit(&offsets, CommitMode::Async) {
        Ok(()) => Counters::add(&state.counters.commits, 1),
        Err(e) => {
            tracing::warn!(function = %mapping.function, topic = %mapping.topic, partition, next, "commit failed, the batch will be delivered again: {e}");
        }
    }
}

/// What a status log line says, to tell whether it would repeat the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatusLine {
    activity: Activity,
    counters: [u64; 7],
    lag: Option<i64>,
}

impl StatusLine {
    fn of(s: &MappingStatus) -> Self {
        StatusLine {
            activity: s.activity,
            counters: [
                s.processed_records,
                s.invocations,
                s.retries,
                s.dead_lettered_records,
                s.discarded_records,
                s.filtered_records,
                s.commits,
            ],
            lag: s.lag,
        }
    }
}

/// Measures lag each `interval`, and logs the status of every mapping whose counters, activity
/// or lag changed since its last line, until stopped.
async fn report_status(
    states: Vec<Arc<MappingState>>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut logged: Vec<Option<StatusLine>> = vec![None; states.len()];
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let measured = states.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for state in &measured {
                if let Err(e) = state.refresh_lag() {
                    tracing::warn!(function = %state.mapping.function, topic = %state.mapping.topic, "cannot measure lag: {e}");
                }
            }
        })
        .await;
        for (state, last) in states.iter().zip(logged.iter_mut()) {
            let s = state.status();
            let line = StatusLine::of(&s);
            if last.as_ref() == Some(&line) {
                continue;
            }
            *last = Some(line);
            tracing::info!(
                function = %s.function,
                topic = %s.topic,
                activity = ?s.activity,
                processed = s.processed_records,
                invocations = s.invocations,
                retries = s.retries,
                dead_lettered = s.dead_lettered_records,
                discarded = s.discarded_records,
                filtered = s.filtered_records,
                commits = s.commits,
                lag = ?s.lag,
                "esm mapping status"
            );
        }
    }
}
