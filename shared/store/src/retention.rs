//! Retention: the rows the product deletes once they have served their purpose (the table in
//! SECURITY.md). Run by the `purge-expired` function on a schedule in the cloud, and by the
//! local stack on a timer: the same [`purge`].
//!
//! - Published outbox rows, dead-letter records written through the outbox included: after
//!   [`Retention::outbox`] (an AppointmentCreated row carries the patient's name and email).
//!   An unpublished row is never purged, however old: it is a message not yet delivered.
//! - `processed_messages`: after [`Retention::processed`], which must exceed the topics'
//!   retention (a record older than that can no longer be delivered, so its marker protects
//!   nothing).
//! - `booking_requests` (idempotency keys): once expired ([`crate::idempotency`]).
//!
//! Deletes go in slices of [`SLICE`] rows, each its own short transaction, so a large backlog
//! never holds long locks on tables the pipeline writes.

use crate::StoreError;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

/// Rows deleted per statement.
pub const SLICE: i64 = 5_000;

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Published outbox rows (default 7 days).
    pub outbox: Duration,
    /// Idempotency markers of the consumers (default 8 days: the topics keep records 7).
    pub processed: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            outbox: Duration::days(7),
            processed: Duration::days(8),
        }
    }
}

/// How many rows one [`purge`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub outbox: u64,
    pub processed_messages: u64,
    pub booking_requests: u64,
}

/// Deletes every row past its retention at `now`.
pub async fn purge(
    pool: &PgPool,
    retention: Retention,
    now: DateTime<Utc>,
) -> Result<Purged, StoreError> {
    let keys_expired = now - Duration::hours(i64::from(crate::idempotency::KEY_RETENTION_HOURS));
    Ok(Purged {
        outbox: in_slices(
            pool,
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
               WHERE published_at IS NOT NULL AND published_at < $1 LIMIT $2)",
            now - retention.outbox,
        )
        .await?,
        processed_messages: in_slices(
            pool,
            "DELETE FROM processed_messages WHERE (consumer, event_id) IN (
               SELECT consumer, event_id FROM processed_messages WHERE processed_at < $1 LIMIT $2)",
            now - retention.processed,
        )
        .await?,
        booking_requests: in_slices(
            pool,
            "DELETE FROM booking_requests WHERE (agent_id, idempotency_key) IN (
               SELECT agent_id, idempotency_key FROM booking_requests WHERE created_at < $1 LIMIT $2)",
            keys_expired,
        )
        .await?,
    })
}

/// Runs `delete` ($1 the cut-off, $2 the slice) until a slice deletes fewer than [`SLICE`].
async fn in_slices(pool: &PgPool, delete: &str, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let deleted = sqlx::query(delete)
            .bind(before)
            .bind(SLICE)
            .execute(pool)
            .await?
            .rows_affected();
        total += deleted;
        if deleted < SLICE as u64 {
            return Ok(total);
        }
    }
}
