//! What a Kafka-triggered function returns to its event-source mapping: the partial batch
//! response of `FunctionResponseTypes: [ReportBatchItemFailures]`.
//!
//! The shape is AWS's for Kafka: `{"batchItemFailures": [{"itemIdentifier": {"partition":
//! "<topic>-<partition>", "offset": N}}]}`, where `partition` is the key of the event's
//! `records` map. An empty or absent list means the whole batch succeeded. The mapping resumes
//! each reported topic-partition from its lowest reported offset.

use serde::{Deserialize, Serialize};

/// The response of a Kafka-triggered function. `Default` is full success.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchResponse {
    #[serde(default)]
    pub batch_item_failures: Vec<KafkaBatchItemFailure>,
}

/// One record the function could not process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchItemFailure {
    pub item_identifier: KafkaItemIdentifier,
}

/// A record's coordinates as the event names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaItemIdentifier {
    /// The `records` key: `"<topic>-<partition>"`.
    pub partition: String,
    pub offset: i64,
}

impl KafkaItemIdentifier {
    pub fn new(topic: &str, partition: i32, offset: i64) -> KafkaItemIdentifier {
        KafkaItemIdentifier {
            partition: format!("{topic}-{partition}"),
            offset,
        }
    }
}

impl KafkaBatchItemFailure {
    /// The failure of the record at (`topic`, `partition`, `offset`).
    pub fn new(topic: &str, partition: i32, offset: i64) -> KafkaBatchItemFailure {
        KafkaBatchItemFailure {
            item_identifier: KafkaItemIdentifier::new(topic, partition, offset),
        }
    }
}

impl KafkaBatchResponse {
    /// A response reporting `failures` (an empty iterator is full success).
    pub fn failed(failures: impl IntoIterator<Item = KafkaBatchItemFailure>) -> KafkaBatchResponse {
        KafkaBatchResponse {
            batch_item_failures: failures.into_iter().collect(),
        }
    }

    pub fn is_success(&self) -> bool {
        self.batch_item_failures.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_aws_kafka_partial_batch_response() {
        let response =
            KafkaBatchResponse::failed([KafkaBatchItemFailure::new("some.topic", 3, 42)]);
        let json = serde_json::to_value(&response).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({
                "batchItemFailures": [{"itemIdentifier": {"partition": "some.topic-3", "offset": 42}}]
            })
        );
        let back: KafkaBatchResponse = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, response);
    }

    #[test]
    fn an_empty_object_is_full_success() {
        let response: KafkaBatchResponse =
            serde_json::from_str("{}").expect("deserialize empty response");
        assert!(response.is_success());
    }
}
