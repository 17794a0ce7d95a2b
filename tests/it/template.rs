//! template.yaml is the single source of truth for the Kafka triggers: check it against the
//! code it wires (functions, topics, dead-letter topics, the adapter's needs).

use std::collections::BTreeSet;

fn mappings() -> Vec<esm::Mapping> {
    esm::mappings_from_template(&local::stack::template_path()).expect("template.yaml parses")
}

#[test]
fn every_kafka_trigger_names_a_function_this_binary_runs_and_each_runnable_function_is_triggered() {
    let triggered: BTreeSet<String> = mappings().into_iter().map(|m| m.function).collect();
    let runnable: BTreeSet<String> = local::functions::FUNCTIONS
        .iter()
        .map(|f| (*f).to_owned())
        .collect();
    assert_eq!(triggered, runnable);
}

#[test]
fn every_trigger_reads_a_contract_topic_and_fails_over_to_its_dead_letter_topic() {
    let topics: BTreeSet<String> = messaging::topics::all_topics().into_iter().collect();
    for m in mappings() {
        assert!(
            contract::record_for_topic(&m.topic).is_some(),
            "{} reads unknown topic {}",
            m.function,
            m.topic
        );
        let dlq = messaging::topics::dead_letter_topic(&m.topic);
        assert_eq!(
            m.on_failure_topic.as_deref(),
            Some(dlq.as_str()),
            "{} / {}",
            m.function,
            m.topic
        );
        assert!(topics.contains(&dlq), "{dlq} is not created by the stack");
    }
}

#[test]
fn every_trigger_reports_batch_item_failures_and_has_its_own_consumer_group() {
    // The handler adapter reports transient failures per record: without ReportBatchItemFailures
    // AWS would treat such a response as success and the records would be lost.
    let all = mappings();
    assert!(all.iter().all(|m| m.report_batch_item_failures), "{all:?}");
    let groups: BTreeSet<&str> = all.iter().map(|m| m.consumer_group_id.as_str()).collect();
    assert_eq!(
        groups.len(),
        all.len(),
        "consumer groups must not be shared between mappings"
    );
}

#[test]
fn every_function_crate_is_deployed_by_the_template() {
    let template = std::fs::read_to_string(local::stack::template_path()).expect("template");
    let root = testkit::workspace_root().join("functions");
    for entry in std::fs::read_dir(root).expect("functions/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            template.contains(&format!("Binary: {name}\n")),
            "functions/{name} has no resource in template.yaml"
        );
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_in_process_invoker_runs_every_function_it_lists(pool: sqlx::PgPool) {
    use esm::Invoker;
    let ctx = messaging::FunctionContext::new(pool, testkit::registry().await, None);
    let invoker = local::functions::InProcessInvoker {
        ctx,
        deadlines: Default::default(),
        send_confirmation: crate::stack::confirmation_function().await,
    };
    let empty: aws_lambda_events::event::kafka::KafkaEvent =
        serde_json::from_value(serde_json::json!({"eventSource": "aws:kafka", "records": {}}))
            .expect("event");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    for function in local::functions::FUNCTIONS {
        let response = invoker
            .invoke(function, &empty, deadline)
            .await
            .unwrap_or_else(|e| panic!("{function}: {e}"));
        assert_eq!(
            response,
            serde_json::json!({"batchItemFailures": []}),
            "{function}"
        );
    }
    assert!(invoker
        .invoke("no-such-function", &empty, deadline)
        .await
        .is_err());
}
