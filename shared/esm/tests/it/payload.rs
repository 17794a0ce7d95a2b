//! The event a function receives: AWS's `KafkaEvent` shape, records keyed topic-partition in
//! offset order, base64 key and value, headers as byte arrays.

use crate::support::{self, TestInvoker};
use aws_lambda_events::event::kafka::KafkaEvent;
use esm::{kafka_event, SourceKind, SourceRecord};
use rdkafka::message::Timestamp;
use serde_json::{json, Value};

/// AWS's published sample event (also used by aws-lambda-rust-runtime's own test).
fn aws_sample() -> Value {
    let path = testkit::workspace_root().join("tests/fixtures/example-kafka-event.json");
    let text = std::fs::read_to_string(&path).expect("read the AWS sample event");
    serde_json::from_str(&text).expect("sample event JSON")
}

/// The JSON shape of `value`: keys and value types, recursively. Maps keyed by data (the
/// `records` map, header names) are reduced to one `"*"` entry; arrays to their element shape.
fn shape(value: &Value, data_keyed: bool) -> Value {
    match value {
        Value::Object(map) if data_keyed => {
            let shapes: Vec<Value> = map.values().map(|v| shape(v, false)).collect();
            assert!(
                shapes.windows(2).all(|w| w[0] == w[1]),
                "mixed shapes: {value}"
            );
            json!({ "*": shapes.first().cloned().unwrap_or(Value::Null) })
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), shape(v, k == "records")))
                .collect(),
        ),
        Value::Array(items) => {
            // Header entries are maps keyed by the header name.
            let shapes: Vec<Value> = items
                .iter()
                .map(|v| shape(v, v.get("topic").is_none() && v.is_object()))
                .collect();
            assert!(
                shapes.windows(2).all(|w| w[0] == w[1]),
                "mixed shapes: {value}"
            );
            Value::Array(shapes.into_iter().take(1).collect())
        }
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

#[test]
fn the_aws_sample_round_trips_through_kafka_event() {
    let sample = aws_sample();
    let parsed: KafkaEvent = serde_json::from_value(sample.clone()).expect("parse the sample");
    let written = esm::event_json(&parsed).expect("serialize");
    let reparsed: KafkaEvent = serde_json::from_value(written.clone()).expect("reparse");
    assert_eq!(parsed, reparsed);
    assert_eq!(written, sample, "written back exactly as AWS sent it");
}

#[test]
fn self_managed_kafka_events_name_their_source_and_carry_no_arn() {
    let record = SourceRecord {
        topic: "audit".into(),
        partition: 2,
        offset: 7,
        timestamp: Timestamp::LogAppendTime(1_595_035_749_700),
        key: None,
        value: Some(vec![0xff, 0x00]),
        headers: vec![("h".into(), Some(vec![0xff, 1]))],
    };
    let event = esm::event_json(&kafka_event(
        SourceKind::SelfManagedKafka,
        "b:9092",
        &[record],
    ))
    .expect("json");
    assert_eq!(event["eventSource"], "SelfManagedKafka");
    assert!(
        event.get("eventSourceArn").is_none_or(Value::is_null),
        "{event}"
    );
    let record = &event["records"]["audit-2"][0];
    assert_eq!(record["timestampType"], "LOG_APPEND_TIME");
    assert_eq!(record["timestamp"], 1_595_035_749_700_i64);
    assert_eq!(record["value"], "/wA=");
    // Header bytes travel as Java (signed) bytes, as AWS sends them.
    assert_eq!(record["headers"], json!([{ "h": [-1, 1] }]));
}

#[tokio::test]
async fn the_runtime_delivers_aws_shaped_events_in_offset_order() {
    let broker = testkit::Tansu::start();
    let topic = "payload.topic";
    support::create_topic(&broker.bootstrap, topic, 2).await;
    let mut records = support::numbered(6, 2);
    records[0].headers = vec![("headerKey".into(), b"headerValue".to_vec())];
    for r in &mut records[1..] {
        r.headers = vec![("traceparent".into(), b"00-abc-01".to_vec())];
    }
    support::produce(&broker.bootstrap, topic, &records).await;

    let invoker = TestInvoker::succeeding();
    let runtime = support::start(
        vec![support::mapping("payload-fn", topic)],
        &broker.bootstrap,
        invoker.clone(),
    );
    support::eventually("6 records delivered", || invoker.all_delivered().len() >= 6).await;
    runtime.shutdown().await;

    let calls = invoker.calls();
    let event = esm::event_json(&calls[0]).expect("json");
    assert_eq!(
        shape(&event, false),
        shape(&aws_sample(), false),
        "event: {event}"
    );
    assert_eq!(event["eventSource"], "aws:kafka");
    assert_eq!(event["eventSourceArn"], esm::LOCAL_MSK_ARN);
    assert_eq!(event["bootstrapServers"], broker.bootstrap.as_str());

    let first = calls
        .iter()
        .filter_map(|c| c.records.get("payload.topic-0"))
        .flatten()
        .find(|r| r.offset == 0)
        .expect("the first record of partition 0");
    assert_eq!(first.topic.as_deref(), Some(topic));
    assert_eq!(first.timestamp_type.as_deref(), Some("CREATE_TIME"));
    let header: Vec<u8> = first.headers[0]["headerKey"]
        .iter()
        .map(|b| b.to_ne_bytes()[0])
        .collect();
    assert_eq!(header, b"headerValue");

    for event in &calls {
        for (key, partition_records) in &event.records {
            for r in partition_records {
                assert_eq!(
                    key,
                    &format!("{}-{}", topic, r.partition),
                    "records are keyed topic-partition"
                );
            }
            let offsets: Vec<i64> = partition_records.iter().map(|r| r.offset).collect();
            assert!(
                offsets.windows(2).all(|w| w[0] < w[1]),
                "{key}: offsets {offsets:?} not in order"
            );
        }
    }
    let delivered = invoker.all_delivered();
    let mut by_partition: Vec<(i32, String, String)> = delivered
        .iter()
        .map(|d| {
            (
                d.partition,
                d.key.clone().unwrap_or_default(),
                d.value.clone().unwrap_or_default(),
            )
        })
        .collect();
    by_partition.sort();
    assert_eq!(
        by_partition,
        vec![
            (0, "k0".into(), "v0".into()),
            (0, "k2".into(), "v2".into()),
            (0, "k4".into(), "v4".into()),
            (1, "k1".into(), "v1".into()),
            (1, "k3".into(), "v3".into()),
            (1, "k5".into(), "v5".into()),
        ]
    );
}
