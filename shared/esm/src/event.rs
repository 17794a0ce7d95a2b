//! The payload a Kafka-triggered function receives: AWS's `KafkaEvent`, built from records read
//! off the broker (records keyed `"<topic>-<partition>"`, base64 key and value, headers as byte
//! arrays).

use aws_lambda_events::encodings::MillisecondTimestamp;
use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, Utc};
use rdkafka::message::{Headers, Message, Timestamp};
use std::collections::HashMap;
use std::time::Duration;

use crate::template::SourceKind;

/// The ARN of the local stand-in for the MSK cluster, in `eventSourceArn`.
pub const LOCAL_MSK_ARN: &str =
    "arn:aws:kafka:us-east-1:000000000000:cluster/local/00000000-0000-0000-0000-000000000000-1";

/// A record read from the broker, detached from the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Timestamp,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// In record order; a header may have no value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl SourceRecord {
    pub fn from_message(message: &impl Message) -> SourceRecord {
        SourceRecord {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message.timestamp(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers: message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The key of this record's partition in the event's `records` map.
    pub fn partition_key(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// About how many bytes the record takes in the event's JSON (a little more, never less):
    /// key and value in base64, header values as arrays of numbers (up to 4 characters a
    /// byte), and the fixed fields.
    pub fn payload_bytes(&self) -> usize {
        const FIXED_FIELDS: usize = 200;
        let base64 =
            |bytes: &Option<Vec<u8>>| bytes.as_ref().map_or(0, |b| b.len().div_ceil(3) * 4);
        let headers: usize = self
            .headers
            .iter()
            .map(|(key, value)| key.len() + 8 + value.as_ref().map_or(0, |v| v.len() * 4))
            .sum();
        FIXED_FIELDS + self.topic.len() + base64(&self.key) + base64(&self.value) + headers
    }

    /// How old the record is, if it carries a timestamp.
    pub fn age(&self, now: DateTime<Utc>) -> Option<Duration> {
        let millis = self.timestamp.to_millis()?;
        (now.timestamp_millis() - millis)
            .try_into()
            .ok()
            .map(Duration::from_millis)
    }
}

/// The event for `records` (in delivery order) as AWS shapes it for `source`.
pub fn kafka_event(source: SourceKind, bootstrap: &str, records: &[SourceRecord]) -> KafkaEvent {
    let mut by_partition: HashMap<String, Vec<KafkaRecord>> = HashMap::new();
    for record in records {
        by_partition
            .entry(record.partition_key())
            .or_default()
            .push(kafka_record(record));
    }
    let mut event = KafkaEvent::default();
    (event.event_source, event.event_source_arn) = match source {
        SourceKind::Msk => (Some("aws:kafka".to_owned()), Some(LOCAL_MSK_ARN.to_owned())),
        SourceKind::SelfManagedKafka => (Some("SelfManagedKafka".to_owned()), None),
    };
    event.bootstrap_servers = Some(bootstrap.to_owned());
    event.records = by_partition;
    event
}

/// The event as AWS sends it over the wire. `KafkaEvent`'s serializer writes record
/// timestamps as strings (`"1595035749700"`) where AWS sends numbers, so they are turned back
/// into numbers here; send events through this, not `serde_json::to_value`.
pub fn event_json(event: &KafkaEvent) -> Result<serde_json::Value, serde_json::Error> {
    let mut json = serde_json::to_value(event)?;
    let partitions = json
        .get_mut("records")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|records| records.values_mut());
    for record in partitions
        .filter_map(serde_json::Value::as_array_mut)
        .flatten()
    {
        if let Some(timestamp) = record.get_mut("timestamp") {
            if let Some(millis) = timestamp.as_str().and_then(|t| t.parse::<i64>().ok()) {
                *timestamp = millis.into();
            }
        }
    }
    Ok(json)
}

fn kafka_record(record: &SourceRecord) -> KafkaRecord {
    let (millis, timestamp_type) = match record.timestamp {
        Timestamp::CreateTime(ms) => (ms, "CREATE_TIME"),
        Timestamp::LogAppendTime(ms) => (ms, "LOG_APPEND_TIME"),
        Timestamp::NotAvailable => (0, "NO_TIMESTAMP_TYPE"),
    };
    let mut out = KafkaRecord::default();
    out.topic = Some(record.topic.clone());
    out.partition = i64::from(record.partition);
    out.offset = record.offset;
    out.timestamp =
        MillisecondTimestamp(DateTime::from_timestamp_millis(millis).unwrap_or_default());
    out.timestamp_type = Some(timestamp_type.to_owned());
    out.key = record.key.as_ref().map(|k| BASE64.encode(k));
    out.value = record.value.as_ref().map(|v| BASE64.encode(v));
    // AWS sends header values as Java bytes: signed.
    out.headers = record
        .headers
        .iter()
        .map(|(name, value)| {
            let bytes = value
                .iter()
                .flatten()
                .map(|b| i8::from_ne_bytes([*b]))
                .collect();
            HashMap::from([(name.clone(), bytes)])
        })
        .collect();
    out
}
