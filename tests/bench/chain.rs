//! The bare-client chain: what the broker carries for work shaped like a saga, with none of our
//! code. A saga is [`HOPS`] hops through the broker (booking → created → insurance verified →
//! confirmation requested → sent → confirmed → read model); here each hop is a consumer group
//! of its own that takes what its topic has ready (up to [`BATCH`] records, a Kafka mapping's
//! default batch size), produces each record to the next topic with the outbox publisher's
//! producer settings (acks=all, idempotent), waits for every delivery, then commits its offsets
//! (asynchronously, as the local runtime does). A last group reads the end of the chain and
//! notes when each chain arrived. The pipeline's other consumer groups (the projections, which
//! read the same topics as the saga) are matched by readers that consume and commit only, so
//! the broker serves as many groups as it does for the pipeline. Same partitions and
//! `fetch.wait.max.ms` as the pipeline, and every record carries the five headers the
//! pipeline's records carry ([`record_headers`]), which each hop passes on; only the rdkafka
//! client.
//!
//! It runs on a broker of its own (same binary, same storage), so neither run's records weigh
//! on the other's (tansu 0.6's fetch reads a range of its record table per partition, so what a
//! broker holds still weighs on its reads).

use crate::load::Percentiles;
use anyhow::Context;
use futures::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Hops through the broker from a booking to CONFIRMED in the read model.
pub const HOPS: usize = 7;
/// Records one hop takes at once: AWS's default BatchSize for Kafka mappings.
const BATCH: usize = 100;

#[derive(Debug, Clone, Serialize)]
pub struct ChainFigures {
    pub hops: usize,
    /// Consumer groups: one per hop, the end reader, and the side readers.
    pub groups: usize,
    pub chains: usize,
    /// Completions between the 10th and 90th percentile completion time.
    pub drain_per_second: f64,
    /// All chains over the time since the hops were started (joining their groups included).
    pub overall_per_second: f64,
    /// Open loop with the chain running: chains started at `rate` for `seconds`.
    pub rate: f64,
    pub seconds: u64,
    /// Scheduled start → arrival at the end of the chain.
    pub latency: Percentiles,
    /// The broker's CPU with every group idle (polling) for 5 s.
    pub broker_idle_cores: f64,
}

/// When each chain reached the end, by its number.
type Arrivals = Arc<Mutex<BTreeMap<u64, Instant>>>;

/// The headers every record of the pipeline carries (`contract::headers`), with values of the
/// same lengths (three UUIDs, a record name, a W3C traceparent): tansu stores each header as a row
/// of its own and reads them back per record.
pub fn record_headers(number: u64) -> OwnedHeaders {
    let id = |n: u64| format!("{:032x}", u128::from(n) << 64 | u128::from(number));
    let event_id = id(1);
    let correlation_id = id(2);
    let causation_id = id(3);
    let traceparent = format!("00-{}-{:016x}-01", id(4), number);
    [
        (contract::headers::EVENT_ID, event_id.as_str()),
        (contract::headers::EVENT_TYPE, "AppointmentCreated"),
        (contract::headers::CORRELATION_ID, correlation_id.as_str()),
        (contract::headers::CAUSATION_ID, causation_id.as_str()),
        (contract::headers::TRACEPARENT, traceparent.as_str()),
    ]
    .into_iter()
    .fold(OwnedHeaders::new(), |headers, (key, value)| {
        headers.insert(Header {
            key,
            value: Some(value),
        })
    })
}

/// A bare rdkafka consumer in `group` on `topic` from its start, committing only when told.
pub fn bare_consumer(
    bootstrap: &str,
    group: &str,
    topic: &str,
    fetch_wait: Duration,
) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("fetch.wait.max.ms", fetch_wait.as_millis().to_string())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range")
        .create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// What a group does with each batch before committing it.
enum Role {
    /// Produce every record to this topic and wait for the deliveries.
    Forward(FutureProducer, String),
    /// Note each chain's arrival.
    End(Arrivals),
    /// Nothing (a projection's share of the broker's work).
    Read,
}

/// One consumer group: batch, act, commit, until `stop` turns true.
async fn run_group(
    consumer: StreamConsumer,
    role: Role,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let topic = consumer
        .subscription()?
        .elements()
        .first()
        .map(|e| e.topic().to_owned())
        .context("no subscription")?;
    loop {
        let first = tokio::select! {
            message = consumer.recv() => message?,
            _ = stop.changed() => break,
        };
        let mut batch = vec![first.detach()];
        while batch.len() < BATCH {
            match consumer.recv().now_or_never() {
                Some(message) => batch.push(message?.detach()),
                None => break,
            }
        }
        match &role {
            Role::Forward(producer, next) => {
                let sends = batch.iter().map(|m| {
                    let mut record =
                        FutureRecord::to(next).payload(m.payload().unwrap_or_default());
                    if let Some(key) = m.key() {
                        record = record.key(key);
                    }
                    if let Some(headers) = m.headers() {
                        record = record.headers(headers.clone());
                    }
                    producer.send(record, Duration::from_secs(30))
                });
                for result in futures::future::join_all(sends).await {
                    result.map_err(|(e, _)| e)?;
                }
            }
            Role::End(arrivals) => {
                let now = Instant::now();
                let mut arrivals = arrivals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                for m in &batch {
                    let number = m
                        .payload()
                        .and_then(|p| <[u8; 8]>::try_from(p).ok())
                        .map(u64::from_be_bytes)
                        .context("a chain record without its number")?;
                    arrivals.entry(number).or_insert(now);
                }
            }
            Role::Read => {}
        }
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for m in &batch {
            next.insert(m.partition(), m.offset() + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in next {
            offsets.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
        }
        consumer.commit(&offsets, CommitMode::Async)?;
    }
    // Closing a consumer blocks: off the async threads.
    tokio::task::spawn_blocking(move || drop(consumer)).await?;
    Ok(())
}

fn topic(i: usize) -> String {
    format!("bench.chain.{i}")
}

/// Starts chain `number` at the head of the chain.
async fn start_chain(producer: &FutureProducer, number: u64) -> anyhow::Result<()> {
    let key = format!("chain-{number}");
    let payload = number.to_be_bytes();
    producer
        .send(
            FutureRecord::to(&topic(0))
                .key(&key)
                .payload(&payload)
                .headers(record_headers(number)),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)?;
    Ok(())
}

async fn wait_for(arrivals: &Arrivals, count: usize, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let arrived = arrivals
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .len();
        if arrived >= count {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{arrived} of {count} chains reached the end"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Drains `chains` chains started before the groups, then runs `rate` chains/s for `seconds`
/// with the groups running, on the broker at `bootstrap` (data in `broker_dir`).
#[allow(clippy::too_many_arguments)]
pub async fn measure(
    bootstrap: &str,
    broker_dir: &Path,
    partitions: i32,
    groups: usize,
    chains: usize,
    rate: f64,
    seconds: u64,
    fetch_wait: Duration,
) -> anyhow::Result<ChainFigures> {
    let topics: Vec<String> = (0..=HOPS).map(topic).collect();
    esm::ensure_topics(bootstrap, &topics, partitions).await?;
    let producer: FutureProducer =
        messaging::publisher::producer_config(&messaging::KafkaConfig::plaintext(bootstrap))
            .create()?;
    for number in 0..chains as u64 {
        start_chain(&producer, number).await?;
    }

    let arrivals: Arrivals = Arc::default();
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for hop in 0..HOPS {
        let consumer = bare_consumer(
            bootstrap,
            &format!("chain-hop-{hop}"),
            &topic(hop),
            fetch_wait,
        )?;
        let role = Role::Forward(producer.clone(), topic(hop + 1));
        tasks.push(tokio::spawn(run_group(consumer, role, stopped.clone())));
    }
    let end = bare_consumer(bootstrap, "chain-end", &topic(HOPS), fetch_wait)?;
    tasks.push(tokio::spawn(run_group(
        end,
        Role::End(arrivals.clone()),
        stopped.clone(),
    )));
    for reader in 0..groups.saturating_sub(HOPS + 1) {
        let consumer = bare_consumer(
            bootstrap,
            &format!("chain-reader-{reader}"),
            &topic(1 + reader % HOPS),
            fetch_wait,
        )?;
        tasks.push(tokio::spawn(run_group(
            consumer,
            Role::Read,
            stopped.clone(),
        )));
    }
    let result = async {
        wait_for(&arrivals, chains, Duration::from_secs(300)).await?;
        let ends: Vec<Instant> = arrivals
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .values()
            .copied()
            .collect();
        let (drain_per_second, overall_per_second) =
            crate::load::drain_rates(ends, started, chains);

        // Open loop: chain `chains + i` is due at `i / rate` s, whatever the broker answers.
        let open_from = Instant::now();
        let total = (rate * seconds as f64).round() as u64;
        let mut scheduled = Vec::new();
        let mut sends = Vec::new();
        for i in 0..total {
            let due = open_from + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due).await;
            scheduled.push((chains as u64 + i, due));
            let producer = producer.clone();
            sends.push(tokio::spawn(async move {
                start_chain(&producer, chains as u64 + i).await
            }));
        }
        for send in sends {
            send.await??;
        }
        wait_for(&arrivals, chains + total as usize, Duration::from_secs(90)).await?;
        let latency = {
            let arrivals = arrivals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            Percentiles::of(
                scheduled
                    .iter()
                    .filter_map(|(number, due)| Some(*arrivals.get(number)? - *due))
                    .collect(),
            )
        };
        let broker_idle_cores = crate::stack::broker_idle_cores(broker_dir).await?;
        Ok(ChainFigures {
            hops: HOPS,
            groups: groups.max(HOPS + 1),
            chains,
            drain_per_second,
            overall_per_second,
            rate,
            seconds,
            latency,
            broker_idle_cores,
        })
    }
    .await;
    let _ = stop.send(true);
    for task in tasks {
        task.await??;
    }
    result
}
