//! Runs the mappings: one consumer group per mapping, batches closed at BatchSize or when the
//! batching window has passed since their first record, offsets committed after the batch is
//! resolved, and the status (counters, lag) for logs and `GET /status`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
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

/// Timings of the runtime (AWS's are not published; these suit a laptop, tests shorten them).
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The wait before the first retry; it doubles with each retry.
    pub retry_backoff_initial: Duration,
    pub retry_backoff_max: Duration,
    /// How often lag is measured and each mapping's status is logged.
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
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            retry_backoff_initial: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(5),
            status_interval: Duration::from_secs(30),
            fetch_wait_max: Duration::from_millis(100),
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
    /// Offset commits sent (one per resolved batch; asynchronous, see `commit`).
    pub commits: u64,
    /// High watermark minus the group's committed offset, summed over partitions; `None`
    /// until first measured.
    pub lag: Option<i64>,
    pub partitions: Vec<PartitionStatus>,
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
    paused: watch::Sender<bool>,
    /// True while a consumer is open.
    active: watch::Sender<bool>,
    /// Bumped at every rebalance, so a batch collected across one is dropped.
    generation: AtomicU64,
    assigned: Mutex<Vec<i32>>,
    /// Reads the group's committed offsets and the watermarks, without joining the group.
    monitor: BaseConsumer,
    partitions: Mutex<Option<Vec<PartitionStatus>>>,
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
            commits: counter(&counters.commits),
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
                *lock(&self.state.assigned) = assigned;
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
                paused: watch::channel(false).0,
                active: watch::channel(false).0,
                generation: AtomicU64::new(0),
                assigned: Mutex::new(Vec::new()),
                monitor,
                partitions: Mutex::new(None),
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
                let partitions = state.measure_lag()?;
                lag += partitions.iter().map(|p| p.lag).sum::<i64>();
                *lock(&state.partitions) = Some(partitions);
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
            Ok(consumer) => Arc::new(consumer),
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
        // Closing leaves the group (a blocking call), so the partitions move on at once.
        let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        lock(&state.assigned).clear();
        state.active.send_replace(false);
        tracing::info!(function = %mapping.function, topic = %mapping.topic, "mapping stopped");
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
        // An eager protocol: every rebalance restarts all partitions from their committed
        // offsets, which is what makes dropping a batch collected across a rebalance safe.
        .set("partition.assignment.strategy", "range")
        .create_with_context(EsmContext {
            state: state.clone(),
        })?;
    consumer.subscribe(&[&mapping.topic])?;
    Ok(consumer)
}

/// Collects, delivers and commits batches, forever.
async fn consume(shared: &Shared, state: &MappingState, consumer: &Arc<EsmConsumer>) {
    let mapping = &state.mapping;
    let deliverer = Deliverer {
        mapping,
        bootstrap: &shared.bootstrap,
        invoker: shared.invoker.as_ref(),
        producer: &shared.producer,
        counters: &state.counters,
        options: &shared.options,
    };
    loop {
        let (batch, generation) = collect_batch(shared, state, consumer).await;
        let mut next_offsets: BTreeMap<i32, i64> = BTreeMap::new();
        for record in &batch {
            let next = next_offsets.entry(record.partition).or_default();
            *next = (*next).max(record.offset + 1);
        }
        deliverer.deliver(batch).await;
        // Rebalances are served while polling, so none can have happened since collecting;
        // should one have, the new owner reads these records again rather than losing them.
        if state.generation() != generation {
            tracing::warn!(function = %mapping.function, topic = %mapping.topic, "partitions rebalanced during the batch: not committing it");
            continue;
        }
        commit(state, consumer, next_offsets);
    }
}

/// The next batch: records in arrival order (offset order within a partition), closed at
/// BatchSize or when the batching window has passed since its first record. Returns it with
/// the rebalance generation it belongs to.
async fn collect_batch(
    shared: &Shared,
    state: &MappingState,
    consumer: &EsmConsumer,
) -> (Vec<SourceRecord>, u64) {
    let mapping = &state.mapping;
    let batch_size = usize::try_from(mapping.batch_size).unwrap_or(usize::MAX);
    let mut batch: Vec<SourceRecord> = Vec::new();
    let mut generation = state.generation();
    let mut deadline = Instant::now();
    loop {
        let received = if batch.is_empty() {
            Some(consumer.recv().await)
        } else {
            tokio::select! {
                biased;
                received = consumer.recv() => Some(received),
                _ = tokio::time::sleep_until(deadline) => None,
            }
        };
        if state.generation() != generation {
            if !batch.is_empty() {
                tracing::info!(function = %mapping.function, topic = %mapping.topic, records = batch.len(),
                    "partitions rebalanced: dropping the batch being collected; it is read again from the committed offsets");
            }
            batch.clear();
            generation = state.generation();
        }
        match received {
            None if batch.is_empty() => {}
            None => return (batch, generation),
            Some(Err(e)) => {
                tracing::warn!(function = %mapping.function, topic = %mapping.topic, "consumer error: {e}");
                tokio::time::sleep(shared.options.retry_backoff_max).await;
            }
            Some(Ok(message)) => {
                if batch.is_empty() {
                    deadline = Instant::now() + mapping.batching_window;
                }
                batch.push(SourceRecord::from_message(&message));
                if batch.len() >= batch_size {
                    return (batch, generation);
                }
            }
        }
    }
}

/// Commits the next offset of each partition of a resolved batch. The commit is asynchronous:
/// librdkafka's synchronous commit waits without a time limit for the group coordinator, so
/// against a broker that went away it never returns (and holds a blocking thread that a
/// runtime's shutdown then waits for). The status counts commits sent; a failure is logged
/// here or, from the broker, in [`EsmContext::commit_callback`]: the records are then
/// delivered again, never lost. Closing the consumer (a
/// pause, a stop) waits for commits in flight, so a rewind after a pause cannot be overwritten.
fn commit(state: &MappingState, consumer: &EsmConsumer, next_offsets: BTreeMap<i32, i64>) {
    let mapping = &state.mapping;
    let mut offsets = TopicPartitionList::new();
    for (partition, next) in &next_offsets {
        if let Err(e) =
            offsets.add_partition_offset(&mapping.topic, *partition, Offset::Offset(*next))
        {
            tracing::error!(function = %mapping.function, topic = %mapping.topic, partition, "cannot commit: {e}");
            return;
        }
    }
    match consumer.commit(&offsets, CommitMode::Async) {
        Ok(()) => Counters::add(&state.counters.commits, 1),
        Err(e) => {
            tracing::warn!(function = %mapping.function, topic = %mapping.topic, ?next_offsets, "commit failed, the batch will be delivered again: {e}");
        }
    }
}

/// Measures lag and logs every mapping's status each `interval`, until stopped.
async fn report_status(
    states: Vec<Arc<MappingState>>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let measured = states.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for state in &measured {
                match state.measure_lag() {
                    Ok(partitions) => *lock(&state.partitions) = Some(partitions),
                    Err(e) => tracing::warn!(function = %state.mapping.function, topic = %state.mapping.topic, "cannot measure lag: {e}"),
                }
            }
        })
        .await;
        for state in &states {
            let s = state.status();
            tracing::info!(
                function = %s.function,
                topic = %s.topic,
                activity = ?s.activity,
                processed = s.processed_records,
                invocations = s.invocations,
                retries = s.retries,
                dead_lettered = s.dead_lettered_records,
                discarded = s.discarded_records,
                commits = s.commits,
                lag = ?s.lag,
                "esm mapping status"
            );
        }
    }
}
