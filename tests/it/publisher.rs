//! The outbox publisher with several publishers at once (as several Lambdas run): every row is
//! published once, and the rows of each key reach Kafka in the order they were written. The
//! API's request path publishes only its own keys and never waits past its budget; the relay
//! waits for the publisher lock instead of skipping its round.

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
            outbox_row(&pool, &format!("key-{k}"), &format!("{k}/{n}")).await;
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

/// An unpublished outbox row on [`TOPIC`].
async fn outbox_row(pool: &PgPool, key: &str, payload: &str) {
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, record_key, event_type, payload, headers)
         VALUES ($1, $2, $3, 'Test', $4, '{}')",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(TOPIC)
    .bind(key)
    .bind(payload.as_bytes())
    .execute(pool)
    .await
    .expect("outbox row");
}

/// The keys whose rows are still unpublished, sorted.
async fn unpublished(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT record_key FROM outbox WHERE published_at IS NULL ORDER BY record_key",
    )
    .fetch_all(pool)
    .await
    .expect("unpublished")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_request_publishes_its_own_keys_rows_and_leaves_the_backlog_to_the_relay(pool: PgPool) {
    let tansu = testkit::Tansu::start();
    esm::ensure_topics(&tansu.bootstrap, &[TOPIC.to_owned()], 1)
        .await
        .expect("topic");
    for (key, payload) in [
        ("backlog", "b/0"),
        ("mine", "m/0"),
        ("backlog", "b/1"),
        ("mine", "m/1"),
    ] {
        outbox_row(&pool, key, payload).await;
    }
    let publisher =
        Publisher::new(pool.clone(), &KafkaConfig::plaintext(&tansu.bootstrap)).expect("publisher");
    let published = Publisher::publish_for_request(Some(&publisher), &["mine".to_owned()]).await;
    assert_eq!(published, 2, "both of the request's key's rows");
    assert_eq!(unpublished(&pool).await, vec!["backlog", "backlog"]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_request_stops_waiting_for_a_broker_that_does_not_answer(pool: PgPool) {
    // A port that accepts connections and never answers: the broker a request must not wait for.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let address = silent.local_addr().expect("address").to_string();
    outbox_row(&pool, "mine", "m/0").await;
    let publisher =
        Publisher::new(pool.clone(), &KafkaConfig::plaintext(&address)).expect("publisher");
    let published = Publisher::publish_for_request(Some(&publisher), &["mine".to_owned()]).await;
    assert_eq!(published, 0);
    assert_eq!(unpublished(&pool).await, vec!["mine"], "left to the relay");
    // The abandoned round's transaction is rolled back as its connection returns to the pool
    // (in the background): then the relay's next round can take the lock and the row.
    let mut locked = false;
    for _ in 0..50 {
        (locked,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock(7346002)")
            .fetch_one(&pool)
            .await
            .expect("lock");
        if locked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(locked, "the publisher lock was released");
    drop(silent);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_relay_waits_for_a_busy_publisher_lock_where_a_writer_gives_up(pool: PgPool) {
    let tansu = testkit::Tansu::start();
    esm::ensure_topics(&tansu.bootstrap, &[TOPIC.to_owned()], 1)
        .await
        .expect("topic");
    outbox_row(&pool, "late", "l/0").await;
    let publisher =
        Publisher::new(pool.clone(), &KafkaConfig::plaintext(&tansu.bootstrap)).expect("publisher");
    // Another publisher's round holds the lock.
    let mut holder = pool.begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock(7346002)")
        .execute(&mut *holder)
        .await
        .expect("lock");
    assert_eq!(
        publisher.publish_pending().await.expect("try"),
        0,
        "a writer's try gives up at once"
    );
    let relay = tokio::spawn({
        let publisher = publisher.clone();
        async move { publisher.relay_round().await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!relay.is_finished(), "the relay waits for the lock");
    assert_eq!(unpublished(&pool).await, vec!["late"]);
    holder.commit().await.expect("release");
    let published = tokio::time::timeout(Duration::from_secs(30), relay)
        .await
        .expect("the relay goes on once the lock is free")
        .expect("join")
        .expect("publish");
    assert_eq!(published, 1);
    assert!(unpublished(&pool).await.is_empty());
}
