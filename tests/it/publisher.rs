//! The outbox publisher with several publishers at once (as several Lambdas run): every row is
//! published once, and the rows of each key reach Kafka in the order they were written.

use messaging::{KafkaConfig, Publisher};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Duration;

const TOPIC: &str = "test.publisher.order";
const KEYS: usize = 40;
const PER_KEY: usize = 25;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn concurrent_publishers_send_every_row_once_and_each_keys_rows_in_order(pool: PgPool) {
    let tansu = testkit::Tansu::start();
    esm::ensure_topics(&tansu.bootstrap, &[TOPIC.to_owned()], 3)
        .await
        .expect("topic");
    // The keys' rows interleaved, as writers commit them: key k's n-th row carries "k/n".
    for n in 0..PER_KEY {
        for k in 0..KEYS {
            sqlx::query(
                "INSERT INTO outbox (event_id, topic, record_key, event_type, payload, headers)
                 VALUES ($1, $2, $3, 'Test', $4, '{}')",
            )
            .bind(uuid::Uuid::new_v4())
            .bind(TOPIC)
            .bind(format!("key-{k}"))
            .bind(format!("{k}/{n}").into_bytes())
            .execute(&pool)
            .await
            .expect("outbox row");
        }
    }
    // Two publishers with producers of their own, each called three times at once.
    let kafka = KafkaConfig::plaintext(&tansu.bootstrap);
    let publishers = [
        Publisher::new(pool.clone(), &kafka).expect("publisher"),
        Publisher::new(pool.clone(), &kafka).expect("publisher"),
    ];
    let runs = (0..6).map(|i| publishers[i % 2].publish_pending());
    let published: usize = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.expect("publish"))
        .sum();
    assert_eq!(published, KEYS * PER_KEY, "every row published once");
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&pool)
        .await
        .expect("left");
    assert_eq!(left, 0);

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &tansu.bootstrap)
        .set("group.id", "publisher-order-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let mut next: HashMap<String, usize> = HashMap::new();
    for _ in 0..KEYS * PER_KEY {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("every row reaches the topic")
            .expect("message");
        let text = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
        let (k, n) = text.split_once('/').expect("k/n");
        let expected = next.entry(k.to_owned()).or_default();
        assert_eq!(
            n.parse::<usize>().expect("n"),
            *expected,
            "key {k} out of order"
        );
        *expected += 1;
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(2), consumer.recv())
            .await
            .is_err(),
        "a row was published twice"
    );
    tokio::task::spawn_blocking(move || drop(consumer))
        .await
        .expect("close");
}
