//! The one outbox writer: records are encoded (Glue-framed Avro) by the writer and inserted in
//! its transaction, next to the state change they describe. A writer encodes before taking a
//! row lock, or looks the record's schema up before it (`SchemaRegistry::version_id`), so that
//! no cold schema-registry call holds a lock. Nothing here talks to Kafka; the
//! publisher (messaging crate) delivers committed rows.

use crate::StoreError;
use contract::{Record, RecordHeaders, SchemaRegistry};
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

impl OutboxRecord {
    /// Encodes `record` with its registered schema version. `causation` is the input record
    /// that caused this one (None for records started by an API call).
    pub async fn encode<T: Record>(
        registry: &SchemaRegistry,
        record: &T,
        causation: Option<EventId>,
    ) -> Result<Self, StoreError> {
        let payload = registry.encode(record).await?;
        let headers = RecordHeaders::for_record(record, causation, None)
            .to_kafka_headers()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        Ok(Self {
            event_id: record.event_id(),
            topic: T::TOPIC.to_owned(),
            key: record.key(),
            event_type: T::NAME.to_owned(),
            payload,
            headers,
        })
    }
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
