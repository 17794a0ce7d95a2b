//! The runtime against a real broker: batching, commits, retries, the on-failure topic,
//! bisection, partial batch responses, record age, status, pause/resume and rebalancing.

use crate::support::{
    self, coordinates, create_topic, eventually, header_text, numbered, produce, read_topic,
    status, values, Delivered, Out, Reply, TestInvoker,
};
use contract::lambda::{KafkaBatchItemFailure, KafkaBatchResponse};
use esm::{dlq_headers, Mapping};
use rdkafka::Message;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn offsets_of(records: &[Delivered], partition: i32) -> Vec<i64> {
    records
        .iter()
        .filter(|r| r.partition == partition)
        .map(|r| r.offset)
        .collect()
}

fn fails_on_poison(_: usize, records: &[Delivered]) -> Reply {
    if values(records).iter().any(|v| v.starts_with("poison")) {
        Reply::Fail("poisoned record".into())
    } else {
        Reply::Ok(serde_json::Value::Null)
    }
}

#[tokio::test]
async fn batches_close_at_batch_size_or_after_the_window() {
    let broker = testkit::Tansu::start();
    let topic = "batching";
    create_topic(&broker.bootstrap, topic, 3).await;
    produce(&broker.bootstrap, topic, &numbered(250, 3)).await;
    let mapping = Mapping {
        batch_size: 50,
        batching_window: Duration::from_secs(1),
        ..Mapping::new("batcher", topic)
    };
    let invoker = TestInvoker::succeeding();
    let runtime = support::start(vec![mapping], &broker.bootstrap, invoker.clone());
    eventually("250 records delivered", || {
        invoker.all_delivered().len() >= 250
    })
    .await;

    // A batch holds one partition's records (84, 83, 83 here).
    let sizes: Vec<usize> = invoker.batches().iter().map(Vec::len).collect();
    assert!(sizes.iter().all(|s| *s <= 50), "batch sizes {sizes:?}");
    assert!(
        sizes.contains(&50),
        "a batch closes at BatchSize: {sizes:?}"
    );
    assert!(
        invoker
            .batches()
            .iter()
            .all(|b| b.iter().all(|r| r.partition == b[0].partition)),
        "one partition per batch"
    );
    let delivered = invoker.all_delivered();
    assert_eq!(delivered.len(), 250, "each record once");
    for partition in 0..3 {
        let offsets = offsets_of(&delivered, partition);
        let expected: Vec<i64> = (0..i64::try_from(offsets.len()).expect("len")).collect();
        assert_eq!(offsets, expected, "partition {partition} in offset order");
    }

    // A lone record waits for the batching window before it is delivered.
    let calls_before = invoker.calls().len();
    let produced = Instant::now();
    produce(&broker.bootstrap, topic, &[Out::new(0, "lone", "lone")]).await;
    eventually("the lone record delivered", || {
        invoker.calls().len() > calls_before
    })
    .await;
    let waited = produced.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "delivered after {waited:?}, within the 1 s window"
    );
    assert_eq!(values(&invoker.batches()[calls_before]), vec!["lone"]);

    // One commit per batch, and nothing left behind.
    let calls = invoker.calls().len() as u64;
    support::eventually("lag 0", || status(&runtime, "batcher").lag == Some(0)).await;
    let s = status(&runtime, "batcher");
    assert_eq!(
        (s.processed_records, s.invocations, s.commits),
        (251, calls, calls)
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn offsets_are_committed_only_after_the_function_succeeds() {
    let broker = testkit::Tansu::start();
    let (topic, dlq) = ("commits", "commits.dlq");
    esm::ensure_topics(&broker.bootstrap, &[topic.into(), dlq.into()], 1)
        .await
        .expect("topics");
    produce(&broker.bootstrap, topic, &numbered(10, 1)).await;
    let mapping = Mapping {
        maximum_retry_attempts: Some(5),
        on_failure_topic: Some(dlq.into()),
        ..support::mapping("flaky", topic)
    };
    let invoker = TestInvoker::new(|call, _| {
        if call < 3 {
            Reply::Fail("not yet".into())
        } else {
            Reply::Ok(serde_json::Value::Null)
        }
    });
    let runtime = support::start(vec![mapping.clone()], &broker.bootstrap, invoker.clone());
    eventually("10 records processed", || {
        status(&runtime, "flaky").processed_records == 10
    })
    .await;
    let batches = invoker.batches();
    assert!(
        batches[1..4].iter().all(|b| *b == batches[0]),
        "the failed batch is retried as it was until it succeeds"
    );
    let s = status(&runtime, "flaky");
    assert_eq!(
        (s.retries, s.dead_lettered_records, s.discarded_records),
        (3, 0, 0)
    );
    runtime.shutdown().await;

    // A new runtime resumes after the committed offsets: only the new record arrives.
    let second = TestInvoker::succeeding();
    let runtime = support::start(vec![mapping], &broker.bootstrap, second.clone());
    produce(&broker.bootstrap, topic, &[Out::new(0, "k10", "v10")]).await;
    eventually("the new record delivered", || {
        !second.all_delivered().is_empty()
    })
    .await;
    assert_eq!(
        values(&second.all_delivered()),
        vec!["v10"],
        "nothing redelivered"
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_batch_in_flight_when_the_runtime_dies_is_delivered_again() {
    let broker = testkit::Tansu::start();
    let topic = "crash";
    create_topic(&broker.bootstrap, topic, 2).await;
    produce(&broker.bootstrap, topic, &numbered(6, 2)).await;
    let mapping = support::mapping("crashy", topic);

    let hanging = TestInvoker::new(|_, _| Reply::Hang);
    let runtime = support::start(vec![mapping.clone()], &broker.bootstrap, hanging.clone());
    eventually("a batch in flight", || !hanging.calls().is_empty()).await;
    drop(runtime);

    let second = TestInvoker::succeeding();
    let runtime = support::start(vec![mapping], &broker.bootstrap, second.clone());
    eventually("6 records redelivered", || {
        second.all_delivered().len() >= 6
    })
    .await;
    let mut delivered = values(&second.all_delivered());
    delivered.sort();
    assert_eq!(delivered, ["v0", "v1", "v2", "v3", "v4", "v5"]);
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_record_that_keeps_failing_goes_to_the_on_failure_topic_after_its_retries() {
    let broker = testkit::Tansu::start();
    let (topic, dlq) = ("orders", "orders.dlq");
    esm::ensure_topics(&broker.bootstrap, &[topic.into(), dlq.into()], 1)
        .await
        .expect("topics");
    let poison = Out {
        headers: vec![
            ("traceparent".into(), b"00-abc-01".to_vec()),
            ("binary".into(), vec![0xff, 0x00]),
        ],
        ..Out::new(0, "poison-key", "poison")
    };
    produce(
        &broker.bootstrap,
        topic,
        &[poison, Out::new(0, "k1", "v1"), Out::new(0, "k2", "v2")],
    )
    .await;
    let mapping = Mapping {
        batch_size: 1,
        maximum_retry_attempts: Some(2),
        on_failure_topic: Some(dlq.into()),
        ..support::mapping("orders-fn", topic)
    };
    let invoker = TestInvoker::new(fails_on_poison);
    let runtime = support::start(vec![mapping], &broker.bootstrap, invoker.clone());
    eventually("the poison dead-lettered and the rest processed", || {
        let s = status(&runtime, "orders-fn");
        s.dead_lettered_records == 1 && s.processed_records == 2
    })
    .await;

    let poison_calls = invoker
        .batches()
        .iter()
        .filter(|b| values(b) == ["poison"])
        .count();
    assert_eq!(
        poison_calls, 3,
        "1 attempt + MaximumRetryAttempts (2) retries"
    );
    assert_eq!(
        values(&invoker.all_delivered())[3..],
        ["v1", "v2"],
        "later records still processed"
    );
    let s = status(&runtime, "orders-fn");
    assert_eq!((s.invocations, s.retries, s.discarded_records), (5, 2, 0));

    let dead = read_topic(&broker.bootstrap, dlq, 1).await;
    let dead = &dead[0];
    assert_eq!(dead.key(), Some(&b"poison-key"[..]));
    assert_eq!(dead.payload(), Some(&b"poison"[..]));
    assert_eq!(
        support::header(dead, "traceparent"),
        Some(&b"00-abc-01"[..])
    );
    assert_eq!(support::header(dead, "binary"), Some(&[0xff, 0x00][..]));
    assert!(header_text(dead, dlq_headers::REASON).contains("poisoned record"));
    assert_eq!(header_text(dead, dlq_headers::FUNCTION), "orders-fn");
    assert_eq!(header_text(dead, dlq_headers::SOURCE_TOPIC), topic);
    assert_eq!(header_text(dead, dlq_headers::SOURCE_PARTITION), "0");
    assert_eq!(header_text(dead, dlq_headers::SOURCE_OFFSET), "0");
    assert_eq!(header_text(dead, dlq_headers::ATTEMPTS), "3");
    runtime.shutdown().await;
}

#[tokio::test]
async fn bisecting_isolates_the_poison_record() {
    let broker = testkit::Tansu::start();
    let (topic, dlq) = ("bisect", "bisect.dlq");
    esm::ensure_topics(&broker.bootstrap, &[topic.into(), dlq.into()], 1)
        .await
        .expect("topics");
    let mut records = numbered(8, 1);
    records[5].value = "poison".into();
    produce(&broker.bootstrap, topic, &records).await;
    let mapping = Mapping {
        batch_size: 10,
        batching_window: Duration::from_secs(1),
        bisect_batch_on_function_error: true,
        maximum_retry_attempts: Some(1),
        on_failure_topic: Some(dlq.into()),
        ..Mapping::new("bisector", topic)
    };
    let invoker = TestInvoker::new(fails_on_poison);
    let runtime = support::start(vec![mapping], &broker.bootstrap, invoker.clone());
    eventually("7 processed, 1 dead-lettered", || {
        let s = status(&runtime, "bisector");
        s.processed_records == 7 && s.dead_lettered_records == 1
    })
    .await;
    let dead = read_topic(&broker.bootstrap, dlq, 1).await;
    assert_eq!(dead[0].payload(), Some(&b"poison"[..]));
    assert_eq!(header_text(&dead[0], dlq_headers::SOURCE_OFFSET), "5");
    assert_eq!(header_text(&dead[0], dlq_headers::ATTEMPTS), "2");
    // Halves are not retries: only the poison record alone was retried, once.
    assert_eq!(status(&runtime, "bisector").retries, 1);
    runtime.shutdown().await;
}

#[tokio::test]
async fn with_report_batch_item_failures_only_the_reported_records_are_retried() {
    let broker = testkit::Tansu::start();
    let topic = "partial";
    create_topic(&broker.bootstrap, topic, 2).await;
    produce(&broker.bootstrap, topic, &numbered(8, 2)).await;
    let mapping = Mapping {
        batching_window: Duration::from_secs(1),
        report_batch_item_failures: true,
        maximum_retry_attempts: Some(3),
        ..Mapping::new("partial-fn", topic)
    };
    let reported = Arc::new(AtomicBool::new(false));
    let invoker = TestInvoker::new({
        let reported = reported.clone();
        move |_, records| {
            let has_failing = records.iter().any(|r| (r.partition, r.offset) == (0, 1));
            if has_failing && !reported.swap(true, Ordering::SeqCst) {
                let response =
                    KafkaBatchResponse::failed([KafkaBatchItemFailure::new("partial", 0, 1)]);
                Reply::Ok(serde_json::to_value(response).expect("json"))
            } else {
                Reply::Ok(serde_json::json!({ "batchItemFailures": [] }))
            }
        }
    });
    let runtime = support::start(vec![mapping], &broker.bootstrap, invoker.clone());
    eventually("8 processed", || {
        status(&runtime, "partial-fn").processed_records == 8
    })
    .await;

    let batches = invoker.batches();
    let failed_call = batches
        .iter()
        .position(|b| coordinates(b).contains(&(0, 1)))
        .expect("the call with the failing record");
    let expected_retry: Vec<(i32, i64)> = coordinates(&batches[failed_call])
        .into_iter()
        .filter(|&(partition, offset)| partition == 0 && offset >= 1)
        .collect();
    // Partition 1's batches go on beside it: the retry is the next call for partition 0.
    let retry = batches[failed_call + 1..]
        .iter()
        .find(|b| b.iter().any(|r| r.partition == 0))
        .expect("the retry");
    assert_eq!(
        coordinates(retry),
        expected_retry,
        "the retry holds the reported partition from the failed offset on, nothing else"
    );
    let s = status(&runtime, "partial-fn");
    assert_eq!(
        (s.retries, s.dead_lettered_records, s.discarded_records),
        (1, 0, 0)
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn records_older_than_the_maximum_age_go_to_the_on_failure_topic_unsent() {
    let broker = testkit::Tansu::start();
    let (topic, dlq) = ("aged", "aged.dlq");
    esm::ensure_topics(&broker.bootstrap, &[topic.into(), dlq.into()], 1)
        .await
        .expect("topics");
    let an_hour_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let stale = Out {
        timestamp_ms: Some(an_hour_ago),
        ..Out::new(0, "old", "stale")
    };
    produce(
        &broker.bootstrap,
        topic,
        &[stale, Out::new(0, "new", "fresh")],
    )
    .await;
    let mapping = Mapping {
        maximum_record_age: Some(Duration::from_secs(60)),
        on_failure_topic: Some(dlq.into()),
        ..support::mapping("aged-fn", topic)
    };
    let invoker = TestInvoker::succeeding();
    let runtime = support::start(vec![mapping], &broker.bootstrap, invoker.clone());
    eventually("1 processed, 1 dead-lettered", || {
        let s = status(&runtime, "aged-fn");
        s.processed_records == 1 && s.dead_lettered_records == 1
    })
    .await;
    assert_eq!(values(&invoker.all_delivered()), ["fresh"]);
    let dead = read_topic(&broker.bootstrap, dlq, 1).await;
    assert_eq!(dead[0].payload(), Some(&b"stale"[..]));
    assert!(header_text(&dead[0], dlq_headers::REASON).contains("MaximumRecordAgeInSeconds"));
    assert_eq!(header_text(&dead[0], dlq_headers::ATTEMPTS), "0");
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_paused_mapping_stops_polling_shows_its_lag_and_resumes() {
    let broker = testkit::Tansu::start();
    let topic = "paused";
    create_topic(&broker.bootstrap, topic, 1).await;
    produce(&broker.bootstrap, topic, &numbered(5, 1)).await;
    let invoker = TestInvoker::succeeding();
    let runtime = Arc::new(support::start(
        vec![support::mapping("pausable", topic)],
        &broker.bootstrap,
        invoker.clone(),
    ));
    eventually("5 processed, lag 0", || {
        let s = status(&runtime, "pausable");
        s.processed_records == 5 && s.lag == Some(0)
    })
    .await;

    runtime.pause("pausable").await.expect("pause");
    let s = status(&runtime, "pausable");
    assert_eq!(s.activity, esm::Activity::Paused);
    assert!(s.assigned_partitions.is_empty());
    let invocations = s.invocations;
    produce(&broker.bootstrap, topic, &numbered(3, 1)).await;
    eventually("lag 3 while paused", || {
        status(&runtime, "pausable").lag == Some(3)
    })
    .await;
    assert_eq!(
        status(&runtime, "pausable").invocations,
        invocations,
        "no polling while paused"
    );

    runtime.resume("pausable").expect("resume");
    eventually("8 processed, lag 0", || {
        let s = status(&runtime, "pausable");
        s.processed_records == 8 && s.lag == Some(0)
    })
    .await;
    assert!(matches!(
        runtime.pause("nobody").await,
        Err(esm::EsmError::UnknownFunction(_))
    ));

    let json = status_json(runtime.clone()).await;
    let mapping = &json[0];
    assert_eq!(mapping["function"], "pausable");
    assert_eq!(mapping["consumerGroupId"], "pausable");
    assert_eq!(mapping["activity"], "running");
    assert_eq!(mapping["processedRecords"], 8);
    assert_eq!(mapping["lag"], 0);
    assert_eq!(mapping["partitions"][0]["committedOffset"], 8);
    runtime.shutdown().await;
}

async fn status_json(runtime: Arc<esm::Runtime>) -> serde_json::Value {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::get("/status")
        .body(axum::body::Body::empty())
        .expect("request");
    let response = esm::status_router(runtime)
        .oneshot(request)
        .await
        .expect("GET /status");
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&body).expect("status JSON")
}

#[tokio::test]
async fn two_runtimes_share_the_partitions_and_one_takes_over_when_the_other_stops() {
    let broker = testkit::Tansu::start();
    let topic = "shared";
    create_topic(&broker.bootstrap, topic, 4).await;
    let mapping = support::mapping("sharer", topic);
    let (first, second) = (TestInvoker::succeeding(), TestInvoker::succeeding());
    let a = support::start(vec![mapping.clone()], &broker.bootstrap, first.clone());
    eventually("the first runtime owns all 4 partitions", || {
        status(&a, "sharer").assigned_partitions.len() == 4
    })
    .await;
    let b = support::start(vec![mapping], &broker.bootstrap, second.clone());
    eventually("the partitions are shared", || {
        status(&a, "sharer").assigned_partitions.len() == 2
            && status(&b, "sharer").assigned_partitions.len() == 2
    })
    .await;

    produce(&broker.bootstrap, topic, &numbered(40, 4)).await;
    let union = |extra: &[&TestInvoker]| {
        let mut all: Vec<String> = extra
            .iter()
            .flat_map(|i| values(&i.all_delivered()))
            .collect();
        all.sort();
        all.dedup();
        all.len()
    };
    eventually("40 records delivered between them", || {
        union(&[&first, &second]) == 40
    })
    .await;
    assert!(
        !first.all_delivered().is_empty() && !second.all_delivered().is_empty(),
        "both did work"
    );
    let partitions_of = |i: &TestInvoker| {
        let mut ps: Vec<i32> = i.all_delivered().iter().map(|r| r.partition).collect();
        ps.sort();
        ps.dedup();
        ps
    };
    assert!(
        partitions_of(&first)
            .iter()
            .all(|p| !partitions_of(&second).contains(p)),
        "a partition has one owner"
    );

    b.shutdown().await;
    eventually("the first runtime takes all partitions back", || {
        status(&a, "sharer").assigned_partitions.len() == 4
    })
    .await;
    let later: Vec<Out> = (40..48)
        .map(|i| Out::new(i % 4, &format!("k{i}"), &format!("v{i}")))
        .collect();
    produce(&broker.bootstrap, topic, &later).await;
    eventually("48 records delivered, none lost", || {
        union(&[&first, &second]) == 48
    })
    .await;
    a.shutdown().await;
}

#[tokio::test]
async fn the_runtime_carries_on_after_the_broker_crashes() {
    let mut broker = testkit::Tansu::start();
    let topic = "crashing.broker";
    create_topic(&broker.bootstrap, topic, 1).await;
    produce(&broker.bootstrap, topic, &numbered(3, 1)).await;
    let invoker = TestInvoker::succeeding();
    let runtime = support::start(
        vec![support::mapping("survivor", topic)],
        &broker.bootstrap,
        invoker.clone(),
    );
    eventually("3 processed", || {
        status(&runtime, "survivor").processed_records == 3
    })
    .await;

    broker.kill();
    broker.restart();
    produce(&broker.bootstrap, topic, &[Out::new(0, "k3", "v3")]).await;
    eventually("the record produced after the crash", || {
        values(&invoker.all_delivered()).contains(&"v3".to_owned())
    })
    .await;
    let mut delivered = values(&invoker.all_delivered());
    delivered.sort();
    delivered.dedup();
    assert_eq!(delivered, ["v0", "v1", "v2", "v3"]);
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_dozing_mapping_woken_right_after_a_broker_restart_gets_what_waited() {
    let mut broker = testkit::Tansu::start();
    let topic = "slow.waking";
    create_topic(&broker.bootstrap, topic, 1).await;
    let invoker = TestInvoker::succeeding();
    // Probes an hour apart: only the wake can bring the record in.
    let runtime = dozer(&broker, topic, Duration::from_secs(3600), invoker.clone());
    produce(&broker.bootstrap, topic, &numbered(1, 1)).await;
    eventually("1 processed, then dozing", || {
        let s = status(&runtime, topic);
        s.processed_records == 1 && s.dozing
    })
    .await;

    // Woken at once after a broker restart: the consumer has to reconnect (and maybe rejoin)
    // before it can fetch, and must not doze again over the record meanwhile.
    broker.kill();
    broker.restart();
    produce(&broker.bootstrap, topic, &[Out::new(0, "after", "after")]).await;
    runtime.wake();
    eventually("the record produced after the restart delivered", || {
        values(&invoker.all_delivered()).contains(&"after".to_owned())
    })
    .await;
    eventually("dozing again once nothing waits", || {
        let s = status(&runtime, topic);
        s.dozing && s.lag == Some(0)
    })
    .await;
    runtime.shutdown().await;
}

/// Starts one mapping of `topic` with these doze settings.
fn dozer(
    broker: &testkit::Tansu,
    topic: &str,
    doze_probe: Duration,
    invoker: Arc<TestInvoker>,
) -> esm::Runtime {
    let options = esm::RuntimeOptions {
        doze_after: Duration::from_millis(500),
        doze_probe,
        ..support::options()
    };
    esm::Runtime::start(
        vec![support::mapping(topic, topic)],
        &broker.bootstrap,
        invoker,
        options,
    )
    .expect("start the runtime")
}

#[tokio::test]
async fn an_idle_mapping_dozes_until_woken_and_then_gets_what_waited() {
    let broker = testkit::Tansu::start();
    let topic = "dozing";
    create_topic(&broker.bootstrap, topic, 2).await;
    let invoker = TestInvoker::succeeding();
    // Probes an hour apart: only a wake ends this doze.
    let runtime = dozer(&broker, topic, Duration::from_secs(3600), invoker.clone());
    produce(&broker.bootstrap, topic, &numbered(2, 2)).await;
    eventually("2 processed, then dozing", || {
        let s = status(&runtime, topic);
        s.processed_records == 2 && s.dozing
    })
    .await;

    produce(&broker.bootstrap, topic, &numbered(3, 2)).await;
    eventually("lag 3 while dozing", || {
        status(&runtime, topic).lag == Some(3)
    })
    .await;
    // Longer than an awake mapping takes to fetch and batch them.
    tokio::time::sleep(esm::RESUME_PICKUP + Duration::from_secs(1)).await;
    let s = status(&runtime, topic);
    assert_eq!(
        (s.processed_records, s.dozing, s.lag),
        (2, true, Some(3)),
        "a dozing mapping fetches nothing"
    );

    runtime.wake();
    eventually("the 3 records that waited processed, lag 0", || {
        let s = status(&runtime, topic);
        s.processed_records == 5 && s.lag == Some(0)
    })
    .await;
    assert_eq!(invoker.all_delivered().len(), 5, "each record once");
    eventually("dozing again", || status(&runtime, topic).dozing).await;
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_dozing_mapping_probes_for_records_no_one_woke_it_for() {
    let broker = testkit::Tansu::start();
    let topic = "probing";
    create_topic(&broker.bootstrap, topic, 1).await;
    let invoker = TestInvoker::succeeding();
    let runtime = dozer(&broker, topic, Duration::from_millis(500), invoker.clone());
    eventually("dozing before any record", || {
        status(&runtime, topic).dozing
    })
    .await;
    produce(&broker.bootstrap, topic, &numbered(4, 1)).await;
    eventually("4 processed without a wake", || {
        status(&runtime, topic).processed_records == 4
    })
    .await;
    assert_eq!(
        offsets_of(&invoker.all_delivered(), 0),
        vec![0, 1, 2, 3],
        "in order, once"
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_rebalance_wakes_a_dozing_mapping_for_every_partition_it_owns() {
    let broker = testkit::Tansu::start();
    let topic = "redozing";
    create_topic(&broker.bootstrap, topic, 4).await;
    let mapping = support::mapping(topic, topic);
    let first = TestInvoker::succeeding();
    let a = dozer(&broker, topic, Duration::from_secs(3600), first.clone());
    eventually("the first runtime owns all 4 partitions and dozes", || {
        let s = status(&a, topic);
        s.assigned_partitions.len() == 4 && s.dozing
    })
    .await;
    let b = support::start(vec![mapping], &broker.bootstrap, TestInvoker::succeeding());
    eventually(
        "the partitions are shared, and the first dozes again",
        || {
            let s = status(&a, topic);
            s.assigned_partitions.len() == 2 && s.dozing
        },
    )
    .await;
    let mine = status(&a, topic).assigned_partitions;
    let waiting: Vec<Out> = mine
        .iter()
        .map(|p| Out::new(*p, &format!("k{p}"), &format!("v{p}")))
        .collect();
    produce(&broker.bootstrap, topic, &waiting).await;
    tokio::time::sleep(esm::RESUME_PICKUP + Duration::from_secs(1)).await;
    assert!(
        first.all_delivered().is_empty(),
        "nothing fetched while dozing"
    );

    // Its partitions were paused by its dozes; taking all four back, it fetches them all.
    b.shutdown().await;
    eventually("the records that waited delivered, without a wake", || {
        first.all_delivered().len() == 2
    })
    .await;
    eventually("all 4 partitions owned again", || {
        status(&a, topic).assigned_partitions.len() == 4
    })
    .await;
    let later: Vec<Out> = (0..4)
        .map(|p| Out::new(p, &format!("later{p}"), &format!("later{p}")))
        .collect();
    produce(&broker.bootstrap, topic, &later).await;
    a.wake();
    eventually("a record in each partition delivered", || {
        first.all_delivered().len() == 6
    })
    .await;
    a.shutdown().await;
}
