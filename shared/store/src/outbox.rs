//! The one outbox writer: records are encoded (Glue-framed Avro) before the transaction and
//! inserted in it, next to the state change they describe. Nothing here talks to Kafka.

use crate::StoreError;
use contract::{Record, RecordHeaders, SchemaRegistry};
use domain::EventId;
use sqlx::PgConnection;

/// A record ready to publish: topic, key, wire bytes and Kafka headers.
#[derive(Debug, Clone)]
pub struct OutboxRecord {
    pub event_id: EventId,
    pub topic: &'static str,
    pub key: String,
    pub event_type: &'static str,
    pub payload: Vec<u8>,
    pub headers: RecordHeaders,
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
        Ok(Self {
            event_id: record.event_id(),
            topic: T::TOPIC,
            key: record.key(),
            event_type: T::NAME,
            payload,
            headers: RecordHeaders {
                event_id: record.event_id(),
                event_type: T::NAME.to_owned(),
                correlation_id: record.saga_id(),
                causation_id: causation,
                traceparent: None,
            },
        })
    }
}

/// Appends records to the outbox inside the caller's transaction.
pub async fn append(tx: &mut PgConnection, records: &[OutboxRecord]) -> Result<(), StoreError> {
    for r in records {
        let headers: serde_json::Map<String, serde_json::Value> = r
            .headers
            .to_kafka_headers()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned().into()))
            .collect();
        sqlx::query(
            "INSERT INTO outbox (event_id, topic, record_key, event_type, payload, headers)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(r.event_id.0)
        .bind(r.topic)
        .bind(&r.key)
        .bind(r.event_type)
        .bind(&r.payload)
        .bind(sqlx::types::Json(headers))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
