//! The runtime as AWS runs Kafka mappings: partitions delivered side by side with order kept
//! within each, the function's timeout, panics, the 6 MB payload limit, and a consumer that
//! stays in its group through an outage longer than `max.poll.interval.ms`.

use crate::support::{
    self, create_topic, eventually, header_text, numbered, produce, read_topic, status, values,
    Delivered, Out, Reply, TestInvoker,
};
use esm::{dlq_headers, Mapping, RuntimeOptions};
use std::time::Duration;
use tokio::time::Instant;

fn offsets_in_delivery_order(records: &[Delivered], partition: i32) -> Vec<i64> {
    records
        .iter()
        .filter(|r| r.partition == partition)
        .map(|r| r.offset)
        .collect()
}

#[tokio::test]
async fn partitions_are_invoked_side_by_side_and_each_stays_in_order() {
    let broker = testkit::Tansu::start();
    let topic = "side-by-side";
    create_topic(&broker.bootstrap, topic, 3).await;
    produce(&broker.bootstrap, topic, &numbered(60, 3)).await;
    let mapping = Mapping {
        batch_size: 5,
        ..support::mapping("parallel", topic)
    };
    let invoker = TestInvoker::new(|_, _| Reply::Slow(Duration::from_millis(150)));
    let runtime = support::start(vec![mapping], &broker.bootstrap, invoker.clone());
    eventually("60 processed", || {
        status(&runtime, "parallel").processed_records == 60
    })
    .await;

    assert!(
        invoker.most_running() >= 2,
        "batches of different partitions overlap in time (at most {} ran at once)",
        invoker.most_running()
    );
    assert!(
        invoker.most_running() <= 3,
        "one batch per partition at a time: {} ran at once over 3 partitions",
        invoker.most_running()
    );
    let delivered = invoker.all_delivered();
    assert_eq!(delivered.len(), 60, "each record once");
    for partition in 0..3 {
        assert_eq!(
            offsets_in_delivery_order(&delivered, partition),
            (0..20).collect::<Vec<i64>>(),
            "partition {partition} delivered in offset order"
        );
    }
    runtime.shutdown().await;
}

#[tokio::test]
async fn poller_limits_bound_the_batches_in_flight() {
    let broker = testkit::Tansu::start();
    let topic = "one-poller";
    create_topic(&broker.bootstrap, topic, 8).await;
    produce(&broker.bootstrap, topic, &numbered(80, 8)).await;
    let mapping = Mapping {
        batch_size: 2,
        maximum_pollers: Some(1),
        ..support::mapping("limited", topic)
    };
    let invoker = TestInvoker::new(|_, _| Reply::Slow(Duration::from_millis(100)));
    let runtime = support::start(vec![mapping], &broker.bootstrap, invoker.clone());
    eventually("80 processed", || {
        status(&runtime, "limited").processed_records == 80
    })
    .await;
    let most = invoker.most_running();
    assert!(
        (2..=esm::INVOCATIONS_PER_POLLER as usize).contains(&most),
        "one poller runs up to {} invocations at once over 8 partitions: {most}",
        esm::INVOCATIONS_PER_POLLER
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_failing_partition_does_not_hold_the_others() {
    let broker = testkit::Tansu::start();
    let topic = "blocked";
    create_topic(&broker.bootstrap, topic, 2).await;
    let mut records = numbered(20, 2);
    records[0].value = "poison".into();
    produce(&broker.bootstrap, topic, &records).await;
    // Infinite retries and no on-failure topic: AWS blocks the partition until it succeeds.
    let invoker = TestInvoker::new(|_, records| {
        if values(records).iter().any(|v| v == "poison") {
            Reply::Fail("poisoned".into())
        } else {
            Reply::Ok(serde_json::Value::Null)
        }
    });
    let runtime = support::start(
        vec![support::mapping("half-blocked", topic)],
        &broker.bootstrap,
        invoker.clone(),
    );
    eventually(
        "partition 1's 10 records processed while partition 0 is retried",
        || {
            let s = status(&runtime, "half-blocked");
            s.processed_records == 10 && s.retries > 0
        },
    )
    .await;
    let delivered_ok: Vec<i32> = invoker
        .batches()
        .iter()
        .filter(|b| !values(b).iter().any(|v| v == "poison"))
        .flatten()
        .map(|r| r.partition)
        .collect();
    assert!(
        delivered_ok.iter().all(|p| *p == 1),
        "nothing of partition 0 past the poison record: {delivered_ok:?}"
    );
    let lag_partition_0 = || {
        status(&runtime, "half-blocked")
            .partitions
            .iter()
            .find(|p| p.partition == 0)
            .and_then(|p| p.committed_offset)
    };
    eventually("lag measured", || {
        status(&runtime, "half-blocked").lag == Some(10)
    })
    .await;
    assert_eq!(lag_partition_0(), None, "partition 0 never committed");
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_function_past_its_timeout_fails_and_is_retried_then_dead_lettered() {
    let broker = testkit::Tansu::start();
    let (topic, dlq) = ("slow", "slow.dlq");
    esm::ensure_topics(&broker.bootstrap, &[topic.into(), dlq.into()], 1)
        .await
        .expect("topics");
    produce(&broker.bootstrap, topic, &[Out::new(0, "k", "too-slow")]).await;
    let mapping = Mapping {
        function_timeout: Duration::from_secs(1),
        maximum_retry_attempts: Some(1),
        on_failure_topic: Some(dlq.into()),
        ..support::mapping("sleepy", topic)
    };
    let invoker = TestInvoker::new(|_, _| Reply::Slow(Duration::from_secs(5)));
    let runtime = support::start(vec![mapping], &broker.bootstrap, invoker.clone());
    eventually("dead-lettered after its retry", || {
        status(&runtime, "sleepy").dead_lettered_records == 1
    })
    .await;
    let s = status(&runtime, "sleepy");
    assert_eq!((s.invocations, s.retries, s.processed_records), (2, 1, 0));
    let last_error = s.last_error.expect("the timeout is in the status");
    assert!(
        last_error
            .message
            .contains("Task timed out after 1.00 seconds"),
        "{}",
        last_error.message
    );
    let dead = read_topic(&broker.bootstrap, dlq, 1).await;
    assert!(header_text(&dead[0], dlq_headers::REASON).contains("Task timed out"));
    assert_eq!(header_text(&dead[0], dlq_headers::ATTEMPTS), "2");
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_panicking_function_is_an_invocation_error_and_the_mapping_lives_on() {
    let broker = testkit::Tansu::start();
    let topic = "panics";
    create_topic(&broker.bootstrap, topic, 1).await;
    produce(&broker.bootstrap, topic, &numbered(3, 1)).await;
    let invoker = TestInvoker::new(|call, _| {
        if call == 0 {
            Reply::Panic
        } else {
            Reply::Ok(serde_json::Value::Null)
        }
    });
    let runtime = support::start(
        vec![support::mapping("panicky", topic)],
        &broker.bootstrap,
        invoker.clone(),
    );
    eventually("3 processed after the panic", || {
        status(&runtime, "panicky").processed_records == 3
    })
    .await;
    let s = status(&runtime, "panicky");
    assert_eq!(s.activity, esm::Activity::Running);
    assert_eq!(s.retries, 1, "the panicked batch was retried");
    assert!(
        s.last_error
            .as_ref()
            .is_some_and(|e| e.message.contains("panicked")),
        "{:?}",
        s.last_error
    );
    // Later records still flow.
    produce(&broker.bootstrap, topic, &[Out::new(0, "k3", "v3")]).await;
    eventually("4 processed", || {
        status(&runtime, "panicky").processed_records == 4
    })
    .await;
    runtime.shutdown().await;
}

#[tokio::test]
async fn batches_close_before_the_6_mb_payload_limit() {
    let broker = testkit::Tansu::start();
    let topic = "large";
    create_topic(&broker.bootstrap, topic, 1).await;
    let big = "x".repeat(700 * 1024);
    let records: Vec<Out> = (0..20)
        .map(|i| Out::new(0, &format!("k{i}"), &big))
        .collect();
    produce(&broker.bootstrap, topic, &records).await;
    let mapping = Mapping {
        batch_size: 100,
        batching_window: Duration::from_secs(2),
        ..Mapping::new("large-fn", topic)
    };
    let invoker = TestInvoker::succeeding();
    let runtime = support::start(vec![mapping], &broker.bootstrap, invoker.clone());
    eventually("20 processed", || {
        status(&runtime, "large-fn").processed_records == 20
    })
    .await;
    let sizes: Vec<usize> = invoker
        .calls()
        .iter()
        .map(|event| {
            serde_json::to_vec(&esm::event_json(event).expect("event JSON"))
                .expect("bytes")
                .len()
        })
        .collect();
    assert!(
        sizes.len() >= 3,
        "20 records of 700 KiB need several batches: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|s| *s <= 6 * 1024 * 1024),
        "every payload within 6 MB: {sizes:?}"
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn an_outage_longer_than_max_poll_interval_keeps_the_consumer_in_its_group() {
    let broker = testkit::Tansu::start();
    let (topic, dlq) = ("outage", "outage.dlq");
    esm::ensure_topics(&broker.bootstrap, &[topic.into(), dlq.into()], 1)
        .await
        .expect("topics");
    produce(&broker.bootstrap, topic, &numbered(5, 1)).await;
    let options = RuntimeOptions {
        max_poll_interval: Duration::from_secs(6),
        ..support::options()
    };
    // The function's dependency is down for 15 s (2.5 × max.poll.interval.ms); retries are
    // many, so nothing is dead-lettered unless a rebalance restarts the count.
    let outage_ends = Instant::now() + Duration::from_secs(15);
    let invoker = TestInvoker::new(move |_, _| {
        if Instant::now() < outage_ends {
            Reply::Fail("dependency down".into())
        } else {
            Reply::Ok(serde_json::Value::Null)
        }
    });
    let mapping = Mapping {
        maximum_retry_attempts: Some(10_000),
        on_failure_topic: Some(dlq.into()),
        ..support::mapping("patient", topic)
    };
    let runtime = esm::Runtime::start(vec![mapping], &broker.bootstrap, invoker.clone(), options)
        .expect("start");
    tokio::time::sleep_until(outage_ends).await;
    eventually("5 processed after the outage", || {
        status(&runtime, "patient").processed_records == 5
    })
    .await;
    let s = status(&runtime, "patient");
    assert_eq!(s.assignments, 1, "never rebalanced: {s:?}");
    assert_eq!(s.dead_lettered_records, 0);
    assert!(s.retries > 10, "retried all along: {}", s.retries);
    let succeeded: Vec<String> = invoker
        .batches()
        .last()
        .map(|b| values(b))
        .unwrap_or_default();
    assert_eq!(succeeded, ["v0", "v1", "v2", "v3", "v4"]);
    runtime.shutdown().await;
}
