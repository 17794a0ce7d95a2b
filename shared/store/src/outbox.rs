//! The outbox table: encoded records (by `app::Outbox`) inserted in the writer's transaction,
//! next to the state change they describe. Nothing here talks to Kafka; the publisher
//! (messaging crate) delivers committed rows.

use crate::StoreError;
use domain::EventId;
use sqlx::PgConnection;

/// A record ready to publish: topic, key, wire bytes and Kafka headers.
#[derive(Debug, Clone)]
pub struct OutboxRecord {
    /// Unique per record: the outbox row's idempotency key and the consumers' dedup key.
    pub event_id: EventId,
    pub topic: String,
    pub key: String,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// Appends records to the outbox inside the caller's transaction. A record whose event_id is
/// already there is skipped: re-deciding the same record (a redelivery) never duplicates it.
pub async fn append(tx: &mut PgConnection, records: &[OutboxRecord]) -> Result<(), StoreError> {
    for r in records {
        let headers: serde_json::Map<String, serde_json::Value> = r
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into()))
            .collect();
        sqlx::query(
            "INSERT INTO outbox (event_id, topic, record_key, event_type, payload, headers)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(r.event_id.0)
        .bind(&r.topic)
        .bind(&r.key)
        .bind(&r.event_type)
        .bind(&r.payload)
        .bind(sqlx::types::Json(headers))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
