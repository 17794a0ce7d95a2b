//! `FilterCriteria` against a real broker: only the records a filter matches reach the
//! function, and the offsets of the others are committed all the same.

use crate::support::{self, create_topic, eventually, produce, status, values, Out, TestInvoker};
use esm::{FilterCriteria, Mapping};

#[tokio::test]
async fn only_matching_records_reach_the_function_and_every_offset_is_committed() {
    let broker = testkit::Tansu::start();
    let topic = "filtered";
    create_topic(&broker.bootstrap, topic, 2).await;
    let filters = FilterCriteria::parse(&[
        r#"{"value": {"kind": ["big"]}}"#,
        r#"{"value": {"size": [{"numeric": [">", 100]}]}}"#,
    ])
    .expect("valid patterns");
    let mapping = Mapping {
        filter_criteria: Some(filters),
        ..support::mapping("picky", topic)
    };
    let matching = [
        r#"{"kind": "big", "n": 1}"#,
        r#"{"size": 250}"#,
        r#"{"kind": "big", "n": 2}"#,
    ];
    // Partition 0 mixes matching JSON, JSON that matches no filter, and text that is not JSON
    // (a plain string, which a pattern on fields of `value` never matches); partition 1 holds
    // nothing a filter matches, and ends a batch that is filtered out whole.
    let records = [
        Out::new(0, "a", r#"{"kind": "small"}"#),
        Out::new(0, "b", matching[0]),
        Out::new(0, "c", "kind=big, not JSON"),
        Out::new(0, "d", r#"{"size": 99}"#),
        Out::new(0, "e", matching[1]),
        Out::new(0, "f", r#"{"kind": ["small"], "size": "250"}"#),
        Out::new(0, "g", matching[2]),
        Out::new(0, "h", "big"),
        Out::new(1, "i", r#"{"kind": "BIG"}"#),
        Out::new(1, "j", "{not json"),
        Out::new(1, "k", r#"[{"size": 1}]"#),
    ];
    produce(&broker.bootstrap, topic, &records).await;
    let invoker = TestInvoker::succeeding();
    let runtime = support::start(vec![mapping], &broker.bootstrap, invoker.clone());

    eventually("the matching records delivered", || {
        invoker.all_delivered().len() >= matching.len()
    })
    .await;
    // The group's committed offsets reach the end of both partitions: filtered records, even
    // the last ones of a partition and a partition of nothing else, are not left behind.
    let committed_to_the_end = |runtime: &esm::Runtime| {
        let s = status(runtime, "picky");
        s.lag == Some(0)
            && s.partitions.len() == 2
            && s.partitions
                .iter()
                .all(|p| p.committed_offset == Some(p.high_watermark))
    };
    eventually("every offset committed", || committed_to_the_end(&runtime)).await;
    let s = status(&runtime, "picky");
    let high: Vec<i64> = s.partitions.iter().map(|p| p.high_watermark).collect();
    assert_eq!(high, [8, 3]);

    let delivered = invoker.all_delivered();
    assert_eq!(values(&delivered), matching, "only the matches, in order");
    assert!(
        delivered.iter().all(|r| r.partition == 0),
        "nothing of partition 1 matches: {delivered:?}"
    );
    let offsets: Vec<i64> = delivered.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [1, 4, 6]);
    assert!(
        invoker.batches().iter().all(|batch| !batch.is_empty()),
        "no invocation without records"
    );
    assert_eq!((s.processed_records, s.filtered_records), (3, 8), "{s:?}");

    // Records no filter matches, alone at the end of the topic: committed without an
    // invocation.
    let calls = invoker.calls().len();
    produce(
        &broker.bootstrap,
        topic,
        &[
            Out::new(0, "l", r#"{"kind": "tiny"}"#),
            Out::new(0, "m", "plain text"),
        ],
    )
    .await;
    // (The status measures offsets periodically: wait for a measure that sees the new end.)
    eventually("the new filtered records committed", || {
        let s = status(&runtime, "picky");
        s.filtered_records == 10
            && s.partitions.first().is_some_and(|p| p.high_watermark == 10)
            && committed_to_the_end(&runtime)
    })
    .await;
    assert_eq!(
        status(&runtime, "picky").partitions[0].committed_offset,
        Some(10)
    );
    assert_eq!(
        invoker.calls().len(),
        calls,
        "no invocation for filtered records"
    );
    runtime.shutdown().await;
}
