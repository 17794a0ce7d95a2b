//! PostgreSQL adapter for the scheduling back office, SQL only: migrations, repositories, the
//! access audit, the outbox table, `processed_messages`, the read models (appointments,
//! metrics, calls), booking idempotency keys and call-center calls. The rules that decide what
//! to write are in the application layer (`app`); nothing here knows the message contract.
//!
//! Queries are runtime-checked (`sqlx::query_as`) rather than `query!` macros: the build then
//! needs neither a database nor committed `.sqlx` data, and every query runs in the tests
//! against a real PostgreSQL.

pub mod appointments;
pub mod audit;
pub mod booking;
pub mod calls;
pub mod catalog;
pub mod demo;
pub mod idempotency;
pub mod metrics;
pub mod notifications;
pub mod outbox;
pub mod projections;
pub mod read_model;
pub mod retention;
pub mod saga;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// The schema, applied by `clinic-local migrate`, the local stack and the tests.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Technical failures. Whether a retry can help is part of the answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(&'static str),
}

impl StoreError {
    /// Connection loss, pool exhaustion, serialization failures: worth retrying.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Database(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Tls(_)
                ) || e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| {
                        c.starts_with("40") || c.starts_with("08") || c.starts_with("57P")
                    })
            }
            StoreError::Corrupt(_) => false,
        }
    }
}

/// Pool limits chosen once at start-up; a Lambda holds few connections, the local stack more.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

pub async fn connect(database_url: &str, settings: PoolSettings) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(database_url)?.application_name("clinic-scheduling");
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await?)
}

/// Records that `consumer` handled the input record `event_id`, inside the effect's
/// transaction. Returns false when it was already recorded: the caller must then roll back and
/// treat the record as a duplicate.
pub async fn mark_processed(
    tx: &mut sqlx::PgConnection,
    consumer: &str,
    event_id: domain::EventId,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO processed_messages (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(event_id.0)
    .execute(tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Whether `consumer` has already handled the input record `event_id` (a committed
/// [`mark_processed`]).
pub async fn was_processed(
    pool: &sqlx::PgPool,
    consumer: &str,
    event_id: domain::EventId,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM processed_messages WHERE consumer = $1 AND event_id = $2)",
    )
    .bind(consumer)
    .bind(event_id.0)
    .fetch_one(pool)
    .await?)
}
