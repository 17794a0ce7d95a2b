//! The limits our figures are compared with, measured in the same run on the same machine:
//! pgbench on the bench database (one saga step's transaction shape, and the booking
//! transaction), a bare rdkafka consumer next to the event-source-mapping runtime on the same
//! topic and broker, the same bare consumer with and without the index tansu's schema lacks
//! (`local::tansu::HEADER_INDEX`), and the SES stand-in's own SendEmail rate. Every record
//! produced here carries the pipeline's five headers.

use crate::stack::BenchStack;
use anyhow::Context;
use async_trait::async_trait;
use aws_lambda_events::event::kafka::KafkaEvent;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What one saga step's function does in its transaction: an idempotency marker, a row
/// change (an upsert, as projections and state machines do) and an outbox record.
const STEP_SETUP: &str = "
CREATE TABLE bench_step_marker (consumer text, event_id uuid, PRIMARY KEY (consumer, event_id));
CREATE TABLE bench_step_state (id bigint PRIMARY KEY, version integer NOT NULL);";
const STEP_SCRIPT: &str = "\\set id random(1, 1000000)
BEGIN;
INSERT INTO bench_step_marker VALUES ('bench', gen_random_uuid());
INSERT INTO bench_step_state VALUES (:id, 1) ON CONFLICT (id) DO UPDATE SET version = bench_step_state.version + 1;
INSERT INTO outbox (event_id, topic, record_key, event_type, payload, headers, published_at)
    VALUES (gen_random_uuid(), 'bench.none', 'k', 'Bench', decode(repeat('ab', 400), 'hex'), '{}', now());
COMMIT;
";

/// The booking transaction of `POST /api/v1/appointments` (app::booking): the clinic with its
/// hours and providers, the patient, then in a savepoint the appointment (under the
/// double-booking exclusion constraint) and its AppointmentCreated outbox row. Slots are
/// distinct (a sequence), in 2031, away from the API's bookings.
const BOOKING_SETUP: &str = "
CREATE SEQUENCE bench_booking_slot;
CREATE TABLE bench_booking_target AS
    SELECT (row_number() OVER (ORDER BY p.id) - 1)::int AS k, p.clinic_id, p.id AS provider_id,
           (SELECT id FROM patients ORDER BY id LIMIT 1) AS patient_id
    FROM providers p;
ALTER TABLE bench_booking_target ADD PRIMARY KEY (k);";
const BOOKING_SCRIPT: &str = "SELECT nextval('bench_booking_slot') AS n \\gset
\\set k :n % 256
\\set slot :n / 256
BEGIN;
SELECT c.id, c.name, c.time_zone FROM clinics c JOIN bench_booking_target t ON t.clinic_id = c.id WHERE t.k = :k;
SELECT h.iso_weekday, h.opens, h.closes FROM clinic_opening_hours h JOIN bench_booking_target t ON t.clinic_id = h.clinic_id WHERE t.k = :k;
SELECT p.id, p.name FROM providers p JOIN bench_booking_target t ON t.clinic_id = p.clinic_id WHERE t.k = :k;
SELECT p.* FROM patients p JOIN bench_booking_target t ON t.patient_id = p.id WHERE t.k = :k;
SAVEPOINT attempt;
INSERT INTO appointments (id, saga_id, clinic_id, provider_id, patient_id, type, status, version, scheduled_for, ends_at)
    SELECT gen_random_uuid(), gen_random_uuid(), t.clinic_id, t.provider_id, t.patient_id, 'ROUTINE', 'PENDING_INSURANCE', 1,
           timestamptz '2031-01-01 00:00+00' + :slot * interval '30 minutes',
           timestamptz '2031-01-01 00:30+00' + :slot * interval '30 minutes'
    FROM bench_booking_target t WHERE t.k = :k;
INSERT INTO outbox (event_id, topic, record_key, event_type, payload, headers, published_at)
    VALUES (gen_random_uuid(), 'bench.none', 'k', 'AppointmentCreated', decode(repeat('ab', 400), 'hex'), '{}', now());
RELEASE SAVEPOINT attempt;
COMMIT;
";
const CLEANUP: &str = "
DELETE FROM appointments WHERE scheduled_for >= timestamptz '2031-01-01 00:00+00';
DELETE FROM outbox WHERE topic = 'bench.none';
DROP TABLE IF EXISTS bench_step_marker, bench_step_state, bench_booking_target;
DROP SEQUENCE IF EXISTS bench_booking_slot;";

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Pgbench {
    pub clients: u32,
    pub seconds: u32,
    pub tps: f64,
}

/// Runs pgbench with `script` on the bench database and returns its TPS.
async fn pgbench(
    stack: &BenchStack,
    script: &str,
    clients: u32,
    seconds: u32,
) -> anyhow::Result<Pgbench> {
    let file = tempfile::Builder::new().suffix(".sql").tempfile()?;
    std::fs::write(file.path(), script)?;
    let output = tokio::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2"])
        .arg(format!("-c{clients}"))
        .arg(format!("-T{seconds}"))
        .arg("-f")
        .arg(file.path())
        .arg(&stack.database_url)
        .output()
        .await
        .context("running pgbench (Debian: postgresql-client)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let tps = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps in pgbench's output: {stdout}"))?;
    Ok(Pgbench {
        clients,
        seconds,
        tps,
    })
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PgbenchBaselines {
    /// One saga step's transaction (marker + upsert + outbox row), autocommitted one by one.
    pub step: Pgbench,
    /// The booking transaction.
    pub booking: Pgbench,
}

pub async fn pgbench_baselines(
    stack: &BenchStack,
    clients: u32,
    seconds: u32,
) -> anyhow::Result<PgbenchBaselines> {
    sqlx::raw_sql(STEP_SETUP).execute(&stack.pool).await?;
    sqlx::raw_sql(BOOKING_SETUP).execute(&stack.pool).await?;
    let step = pgbench(stack, STEP_SCRIPT, clients, seconds).await;
    let booking = pgbench(stack, BOOKING_SCRIPT, clients, seconds).await;
    sqlx::raw_sql(CLEANUP).execute(&stack.pool).await?;
    Ok(PgbenchBaselines {
        step: step?,
        booking: booking?,
    })
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ConsumeRates {
    pub records: usize,
    pub batch_size: u32,
    /// Producing the records (acks=all, idempotent, as the outbox publisher does).
    pub produce_per_second: f64,
    /// A bare rdkafka StreamConsumer committing synchronously every `batch_size` records (the
    /// better of a read before and one after the runtime's).
    pub bare_per_second: f64,
    /// The event-source-mapping runtime delivering AWS-shaped batches to a function that
    /// succeeds at once, committing after each batch.
    pub esm_per_second: f64,
}

/// A function that accepts every batch: what is left is the runtime's own cost.
struct Accept;

#[async_trait]
impl esm::Invoker for Accept {
    async fn invoke(
        &self,
        _: &str,
        _: &KafkaEvent,
        _: Instant,
    ) -> Result<serde_json::Value, esm::InvokeError> {
        Ok(serde_json::json!({"batchItemFailures": []}))
    }
}

async fn produce(bootstrap: &str, topic: &str, records: usize) -> anyhow::Result<()> {
    let producer: FutureProducer =
        messaging::publisher::producer_config(&messaging::KafkaConfig::plaintext(bootstrap))
            .create()?;
    let payload = vec![0xab_u8; 300];
    let mut sends = Vec::with_capacity(records);
    for i in 0..records {
        let key = format!("key-{i}");
        let record = FutureRecord::to(topic)
            .key(&key)
            .payload(&payload)
            .headers(crate::chain::record_headers(i as u64));
        sends.push(producer.send_result(record).map_err(|(e, _)| e)?);
    }
    for send in sends {
        send.await?.map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// Seconds from the first record to the last, for a bare consumer committing every
/// `batch_size` records (as a mapping commits after every batch).
async fn bare_consume(
    bootstrap: &str,
    topic: &str,
    group: &str,
    records: usize,
    batch_size: usize,
    fetch_wait: Duration,
) -> anyhow::Result<f64> {
    let consumer = Arc::new(crate::chain::bare_consumer(
        bootstrap, group, topic, fetch_wait,
    )?);
    let mut first = None;
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    for seen in 1..=records {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .with_context(|| format!("the bare consumer read {} of {records}", seen - 1))??;
        first.get_or_insert_with(Instant::now);
        next.insert(message.partition(), message.offset() + 1);
        if seen % batch_size == 0 || seen == records {
            let mut offsets = TopicPartitionList::new();
            for (partition, offset) in &next {
                offsets.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
            }
            let consumer = consumer.clone();
            tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync))
                .await??;
        }
    }
    let seconds = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    tokio::task::spawn_blocking(move || drop(consumer)).await?;
    Ok(seconds)
}

/// Seconds from the first record processed to the last, through the runtime.
async fn esm_consume(
    bootstrap: &str,
    topic: &str,
    records: usize,
    batch_size: u32,
    options: esm::RuntimeOptions,
) -> anyhow::Result<f64> {
    let mut mapping = esm::Mapping::new("bench-accept", topic);
    mapping.batch_size = batch_size;
    mapping.batching_window = Duration::ZERO;
    mapping.consumer_group_id = "bench-esm".to_owned();
    mapping.report_batch_item_failures = true;
    let runtime = esm::Runtime::start(vec![mapping], bootstrap, Arc::new(Accept), options)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut first = None;
    loop {
        let processed: u64 = runtime.status().iter().map(|m| m.processed_records).sum();
        if processed > 0 {
            first.get_or_insert_with(Instant::now);
        }
        if processed as usize >= records {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the runtime consumed {processed} of {records}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let seconds = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    runtime.shutdown().await;
    Ok(seconds)
}

/// Both consumers on one topic of `records` records, each in its own group, with the same
/// `fetch.wait.max.ms` (`options.fetch_wait_max`).
pub async fn consume_rates(
    bootstrap: &str,
    partitions: i32,
    records: usize,
    batch_size: u32,
    options: esm::RuntimeOptions,
) -> anyhow::Result<ConsumeRates> {
    let fetch_wait = options.fetch_wait_max;
    let topic = "bench.consume";
    esm::ensure_topics(bootstrap, &[topic.to_owned()], partitions).await?;
    let started = Instant::now();
    produce(bootstrap, topic, records).await?;
    let produce_per_second = records as f64 / started.elapsed().as_secs_f64();
    // The bare consumer reads the topic before and after the runtime (each time in a group of
    // its own), so the runtime is not favoured by a warmer broker; the faster read counts.
    let batch = batch_size as usize;
    let bare = bare_consume(bootstrap, topic, "bench-bare-1", records, batch, fetch_wait).await?;
    let esm = esm_consume(bootstrap, topic, records, batch_size, options).await?;
    let bare =
        bare.min(bare_consume(bootstrap, topic, "bench-bare-2", records, batch, fetch_wait).await?);
    Ok(ConsumeRates {
        records,
        batch_size,
        produce_per_second,
        bare_per_second: records as f64 / bare,
        esm_per_second: records as f64 / esm,
    })
}

/// One bare consumer's read of the same records with tansu's header lookups indexed (as
/// `local::tansu` starts every broker) and without the index (tansu 0.6 as shipped).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HeaderLookup {
    pub records: usize,
    pub headers_per_record: usize,
    pub indexed_per_second: f64,
    pub unindexed_per_second: f64,
}

/// Reads `records` records (five headers each) on `broker` twice with a bare consumer in a new
/// group, committing every `batch_size`: first as started, then after dropping
/// [`local::tansu::HEADER_INDEX`] from its sqlite file. Same data, same broker, same client:
/// what is left between the two is the header lookup.
pub async fn header_lookup(
    broker: &local::tansu::TansuBroker,
    partitions: i32,
    records: usize,
    batch_size: usize,
    fetch_wait: Duration,
) -> anyhow::Result<HeaderLookup> {
    let bootstrap = broker.bootstrap.as_str();
    let topic = "bench.headers";
    esm::ensure_topics(bootstrap, &[topic.to_owned()], partitions).await?;
    produce(bootstrap, topic, records).await?;
    let read = |group: &'static str| {
        bare_consume(bootstrap, topic, group, records, batch_size, fetch_wait)
    };
    let indexed = read("bench-headers-indexed").await?;
    let connection = broker.database()?;
    tokio::task::spawn_blocking(move || {
        connection.execute_batch(&format!("DROP INDEX {}", local::tansu::HEADER_INDEX))
    })
    .await??;
    let unindexed = read("bench-headers-unindexed").await?;
    Ok(HeaderLookup {
        records,
        headers_per_record: crate::chain::record_headers(0).count(),
        indexed_per_second: records as f64 / indexed,
        unindexed_per_second: records as f64 / unindexed,
    })
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SesRate {
    pub emails: usize,
    pub concurrency: usize,
    pub per_second: f64,
}

/// SendEmail calls per second that the SES stand-in (moto) answers, `concurrency` at a time.
pub async fn ses_rate(
    stack: &BenchStack,
    emails: usize,
    concurrency: usize,
) -> anyhow::Result<SesRate> {
    use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
    use futures::StreamExt;
    let ses = aws_sdk_sesv2::Client::new(&local::moto::sdk_config(&stack.moto.endpoint).await);
    let text = |s: &str| Content::builder().data(s).build();
    let message = Message::builder()
        .subject(text("Bench")?)
        .body(Body::builder().text(text("Bench body")?).build())
        .build();
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..emails)
        .map(|i| {
            let (ses, message) = (ses.clone(), message.clone());
            async move {
                ses.send_email()
                    .from_email_address(send_confirmation::DEFAULT_SENDER)
                    .destination(
                        Destination::builder()
                            .to_addresses(format!("bench{i}@example.com"))
                            .build(),
                    )
                    .content(EmailContent::builder().simple(message).build())
                    .send()
                    .await
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let failed = results.iter().filter(|r| r.is_err()).count();
    anyhow::ensure!(failed == 0, "{failed} of {emails} SendEmail calls failed");
    Ok(SesRate {
        emails,
        concurrency,
        per_second: emails as f64 / seconds,
    })
}
