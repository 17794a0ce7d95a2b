//! The local broker as `local::tansu` starts it. tansu 0.6 ships no index for the lookup its
//! fetch makes for each record's headers, so without one every fetched record scans every header
//! the broker holds; `local::tansu` adds it. Headers still come back whole, also after a restart
//! (which finds the index already there).

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use std::time::Duration;

const TOPIC: &str = "test.broker.headers";

/// tansu 0.6's own header lookup (tansu-storage/src/sql/header_fetch.sql), as SQLite plans it
/// on the broker's file: one line per step.
fn header_lookup_plan(connection: &rusqlite::Connection) -> String {
    let mut statement = connection
        .prepare(
            "EXPLAIN QUERY PLAN
             SELECT h.k, h.v
             FROM header h
             JOIN record r ON h.topition = r.topition AND h.offset_id = r.offset_id
             JOIN topition tp ON tp.id = r.topition
             JOIN topic t ON tp.topic = t.id
             JOIN cluster c ON t.cluster = c.id
             WHERE c.name = ?1 AND t.name = ?2 AND tp.partition = ?3 AND r.offset_id = ?4",
        )
        .expect("tansu's header lookup plans on this schema");
    let steps = statement
        .query_map(("tansu", TOPIC, 0, 0), |row| row.get::<_, String>(3))
        .expect("plan")
        .collect::<Result<Vec<_>, _>>()
        .expect("plan rows");
    steps.join("\n")
}

/// The headers the consumer got for the one record on the topic.
async fn read_headers(bootstrap: &str, group: &str) -> Vec<(String, Option<Vec<u8>>)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("the record arrives")
        .expect("message");
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    drop(message);
    tokio::task::spawn_blocking(move || drop(consumer))
        .await
        .expect("close");
    headers
}

#[tokio::test]
async fn each_records_headers_are_found_by_index_and_come_back_whole() {
    let mut tansu = testkit::Tansu::start();
    let plan = header_lookup_plan(&tansu.database());
    assert!(
        plan.contains(&format!(
            "SEARCH h USING INDEX {}",
            local::tansu::HEADER_INDEX
        )),
        "the header lookup must search the index, not scan the table:\n{plan}"
    );

    esm::ensure_topics(&tansu.bootstrap, &[TOPIC.to_owned()], 1)
        .await
        .expect("topic");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &tansu.bootstrap)
        .create()
        .expect("producer");
    let sent: Vec<(String, Option<Vec<u8>>)> = vec![
        (
            "event_id".into(),
            Some(b"0193a0b2-7c1d-7e8f-9a0b-1c2d3e4f5a6b".to_vec()),
        ),
        ("event_type".into(), Some(b"AppointmentCreated".to_vec())),
        ("empty".into(), Some(Vec::new())),
        ("none".into(), None),
        ("event_id".into(), Some(b"repeated key".to_vec())),
    ];
    let headers = sent.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
        h.insert(Header {
            key: key.as_str(),
            value: value.as_deref(),
        })
    });
    producer
        .send(
            FutureRecord::to(TOPIC)
                .key("k")
                .payload("v")
                .headers(headers),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("delivered");

    assert_eq!(read_headers(&tansu.bootstrap, "headers-1").await, sent);
    tansu.restart();
    assert_eq!(read_headers(&tansu.bootstrap, "headers-2").await, sent);
}
