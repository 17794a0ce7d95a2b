//! Outbox delivery: publishes committed outbox rows to Kafka in id order, at least once, with a
//! stable event_id, then marks them published. Used right after a writer commits (low latency)
//! and by the outbox-relay (a schedule in the cloud; LISTEN/NOTIFY locally).
//!
//! One publisher works at a time (a transaction-scoped advisory lock), so rows of one key are
//! never overtaken by a concurrent publisher; the producer ([`producer_config`]) keeps one
//! request in flight with acks=all, so a retried send does not reorder within a partition. The
//! producer authenticates as its [`KafkaConfig`] says (PLAINTEXT locally, MSK IAM in the cloud).

use crate::kafka::{KafkaConfig, KafkaContext};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::time::Duration;

/// Rows taken per round.
const BATCH: i64 = 500;
/// How long the API's request path may spend publishing its own rows after its commit
/// ([`Publisher::publish_for_request`]): far inside the API function's 30 s timeout.
pub const REQUEST_PUBLISH_BUDGET: Duration = Duration::from_secs(2);
/// Any number unique to the outbox publisher among our advisory locks.
const PUBLISHER_LOCK: i64 = 7_346_002;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

#[derive(Clone)]
pub struct Publisher {
    pool: PgPool,
    producer: FutureProducer<KafkaContext>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

/// How a round takes the publisher lock.
#[derive(Debug, Clone, Copy)]
enum Lock {
    /// Give up at once when another publisher holds it (writers right after their commit).
    Try,
    /// Wait for it (the relay).
    Wait,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    topic: String,
    record_key: String,
    payload: Vec<u8>,
    headers: sqlx::types::Json<serde_json::Map<String, serde_json::Value>>,
}

/// Producer settings shared by everything that writes to Kafka; create the producer with
/// `create_with_context(kafka.context())` so IAM tokens get signed.
///
/// Not the idempotent producer: after a broker crash, librdkafka's idempotent producer bumps
/// its producer epoch on its own, and tansu 0.6 (the local broker) panics on the first batch
/// with an epoch it has not seen (`query_one`'s "more or less than one row", tansu-storage
/// `lite.rs:503`, fixed upstream after 0.6), which kills its one storage task: the process
/// stays up and answers every request with `UnableToSend` from then on. What idempotence would
/// add is covered otherwise: order within a partition by one request in flight, and the
/// duplicates a retried send can make by every consumer's dedup on `event_id` (delivery is
/// at least once anyway: a publisher that dies between the send and marking the row published
/// sends it again). The same settings serve MSK.
pub fn producer_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = kafka.client_config();
    config
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("max.in.flight.requests.per.connection", "1")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "30000");
    config
}

impl Publisher {
    pub fn new(pool: PgPool, kafka: &KafkaConfig) -> Result<Self, PublishError> {
        Ok(Self {
            pool,
            producer: producer_config(kafka).create_with_context(kafka.context())?,
        })
    }

    /// The functions' low-latency path, right after they commit: publish now. A failure is
    /// only logged, since the committed rows stay in the outbox and the relay delivers them.
    pub async fn publish_after_commit(publisher: Option<&Publisher>) {
        if let Some(publisher) = publisher {
            if let Err(e) = publisher.publish_pending().await {
                tracing::warn!(error = %e, "publish after commit failed; the relay will deliver");
            }
        }
    }

    /// The API's path, right after a request commits: publishes the unpublished rows of
    /// `keys` (the request's own records, and any older ones of the same keys, so that each
    /// key's order holds), not the whole backlog, and gives up after
    /// [`REQUEST_PUBLISH_BUDGET`]. A busy publisher lock, a failure or the budget running out
    /// leave the rows to the relay: a committed request is never answered late or as failed
    /// because the broker is slow. (Records sent before the budget ran out may be sent again
    /// by the relay; every consumer dedups on `event_id`.) Returns how many rows it published.
    pub async fn publish_for_request(publisher: Option<&Publisher>, keys: &[String]) -> usize {
        let Some(publisher) = publisher else {
            return 0;
        };
        match tokio::time::timeout(
            REQUEST_PUBLISH_BUDGET,
            publisher.publish_round(Lock::Try, Some(keys)),
        )
        .await
        {
            Ok(Ok(published)) => published,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "publish after the request failed; the relay will deliver");
                0
            }
            Err(_) => {
                tracing::warn!(
                    budget_ms = REQUEST_PUBLISH_BUDGET.as_millis() as u64,
                    "publish after the request ran out of time; the relay will deliver"
                );
                0
            }
        }
    }

    /// Publishes every unpublished row, oldest first. Returns how many were published; 0 also
    /// when another publisher holds the lock (it will take our rows, or the relay will).
    pub async fn publish_pending(&self) -> Result<usize, PublishError> {
        self.publish_all(Lock::Try).await
    }

    /// The relay's round (the outbox-relay function on its schedule, the local relay on every
    /// commit): publishes every unpublished row, oldest first, waiting for the publisher lock.
    /// A writer whose own try found the lock taken relies on the relay, so the relay must not
    /// give up while another publisher finishes. Returns how many rows it published.
    pub async fn relay_round(&self) -> Result<usize, PublishError> {
        self.publish_all(Lock::Wait).await
    }

    async fn publish_all(&self, lock: Lock) -> Result<usize, PublishError> {
        let mut total = 0;
        loop {
            let published = self.publish_round(lock, None).await?;
            total += published;
            if published < BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// One round: up to [`BATCH`] unpublished rows in id order, only those of `keys` if given.
    async fn publish_round(
        &self,
        lock: Lock,
        keys: Option<&[String]>,
    ) -> Result<usize, PublishError> {
        let mut tx = self.pool.begin().await?;
        let locked = match lock {
            Lock::Try => {
                let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(PUBLISHER_LOCK)
                    .fetch_one(&mut *tx)
                    .await?;
                locked
            }
            Lock::Wait => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PUBLISHER_LOCK)
                    .execute(&mut *tx)
                    .await?;
                true
            }
        };
        if !locked {
            return Ok(0);
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, topic, record_key, payload, headers FROM outbox
             WHERE published_at IS NULL AND ($2::text[] IS NULL OR record_key = ANY($2))
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(BATCH)
        .bind(keys)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let sends = rows.iter().map(|row| {
            let mut headers = OwnedHeaders::new();
            for (name, value) in row.headers.iter() {
                headers = headers.insert(Header {
                    key: name,
                    value: value.as_str(),
                });
            }
            let record = FutureRecord::to(&row.topic)
                .key(&row.record_key)
                .payload(&row.payload)
                .headers(headers);
            self.producer
                .send(record, Timeout::After(Duration::from_secs(30)))
        });
        for result in futures::future::join_all(sends).await {
            result.map_err(|(e, _)| e)?;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        // When the broker acknowledged the round (not when its transaction began): the time a
        // row waited to be published is then `published_at - created_at` (BENCHMARKS.md).
        sqlx::query("UPDATE outbox SET published_at = statement_timestamp() WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// The local relay: publishes whenever a writer commits (LISTEN outbox), and every
    /// `sweep` as a safety net, until `shutdown` resolves. After each round that a commit
    /// started, or that published rows, it calls `published`: the records of every outbox row
    /// committed before that round are in the broker then (sent by their writer right after
    /// its commit, or by this round, which waits for the writer's lock), so the local
    /// event-source-mapping runtime can stop dozing for them (`esm::Runtime::wake`).
    pub async fn run_relay(
        &self,
        sweep: Duration,
        published: impl Fn(),
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut listener = None;
        let mut notified = false;
        loop {
            if listener.is_none() {
                listener = match PgListener::connect_with(&self.pool).await {
                    Ok(mut l) => match l.listen("outbox").await {
                        Ok(()) => Some(l),
                        Err(e) => {
                            tracing::warn!(error = %e, "outbox relay cannot LISTEN; sweeping only");
                            None
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox relay cannot connect; sweeping only");
                        None
                    }
                };
            }
            match self.relay_round().await {
                Ok(rows) if notified || rows > 0 => published(),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox relay round failed; will retry"),
            }
            notified = false;
            let notification = async {
                match listener.as_mut() {
                    Some(l) => {
                        if l.recv().await.is_err() {
                            return false;
                        }
                        true
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                ok = notification => if ok { notified = true } else { listener = None },
                () = tokio::time::sleep(sweep) => {}
            }
        }
    }
}
