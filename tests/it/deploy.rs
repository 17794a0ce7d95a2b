//! The deployment is described three times: the function crates in functions/, template.yaml
//! (SAM, also the local runtime's source of truth) and terraform/catalogue.json (which
//! terraform for_each's over). These tests hold them equal: the same functions, every
//! mapping's twin with the same topic, consumer group and batch settings, the same schedules,
//! and every contract topic (with the cloud's partitions and retention) in terraform.

use serde::Deserialize;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Deserialize)]
struct Catalogue {
    topic_settings: TopicSettings,
    topics: Vec<String>,
    mapping_defaults: serde_json::Map<String, serde_json::Value>,
    functions: BTreeMap<String, Function>,
}

#[derive(Debug, Deserialize)]
struct TopicSettings {
    partitions: i32,
    replication_factor: i32,
    retention_ms: i64,
}

#[derive(Debug, Deserialize)]
struct Function {
    trigger: Option<String>,
    schedule: Option<String>,
    mappings: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// One event-source mapping as both deployments must state it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
struct Twin {
    function: String,
    topic: String,
    consumer_group: String,
    batch_size: u32,
    batching_window_seconds: u64,
    starting_position: String,
    maximum_retry_attempts: u32,
    bisect_batch_on_function_error: bool,
    report_batch_item_failures: bool,
    on_failure_topic: String,
    minimum_pollers: u32,
    maximum_pollers: u32,
}

fn catalogue() -> Catalogue {
    let path = testkit::workspace_root().join("terraform/catalogue.json");
    let text = std::fs::read_to_string(&path).expect("terraform/catalogue.json");
    serde_json::from_str(&text).expect("catalogue.json has the catalogue's shape")
}

fn template() -> Value {
    let text = std::fs::read_to_string(local::stack::template_path()).expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

/// Every `AWS::Serverless::Function` of the template: binary name → resource.
fn template_functions(template: &Value) -> BTreeMap<String, Value> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .expect("every function names its binary");
            (binary.to_owned(), r.clone())
        })
        .collect()
}

fn integer(value: &Value) -> u32 {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or_else(|| panic!("{value:?} is not a small integer"))
}

/// The template's mappings, as the local runtime reads them, with the pollers the runtime
/// ignores read from the same events.
fn template_twins() -> BTreeSet<Twin> {
    let functions = template_functions(&template());
    let pollers: BTreeMap<(String, String), (u32, u32)> = functions
        .iter()
        .flat_map(|(name, resource)| {
            resource["Properties"]["Events"]
                .as_mapping()
                .into_iter()
                .flat_map(|events| events.values())
                .filter(|e| e["Type"].as_str() == Some("MSK"))
                .map(move |e| {
                    let p = &e["Properties"];
                    let group = p["ConsumerGroupId"].as_str().expect("group").to_owned();
                    let config = &p["ProvisionedPollerConfig"];
                    (
                        (name.clone(), group),
                        (
                            integer(&config["MinimumPollers"]),
                            integer(&config["MaximumPollers"]),
                        ),
                    )
                })
        })
        .collect();
    esm::mappings_from_template(&local::stack::template_path())
        .expect("template.yaml parses")
        .into_iter()
        .map(|m| {
            let (minimum_pollers, maximum_pollers) =
                pollers[&(m.function.clone(), m.consumer_group_id.clone())];
            Twin {
                starting_position: serde_json::to_value(m.starting_position)
                    .expect("serialises")
                    .as_str()
                    .expect("a name")
                    .to_owned(),
                batching_window_seconds: m.batching_window.as_secs(),
                maximum_retry_attempts: m.maximum_retry_attempts.expect("a retry limit"),
                on_failure_topic: m.on_failure_topic.expect("an on-failure topic"),
                function: m.function,
                topic: m.topic,
                consumer_group: m.consumer_group_id,
                batch_size: m.batch_size,
                bisect_batch_on_function_error: m.bisect_batch_on_function_error,
                report_batch_item_failures: m.report_batch_item_failures,
                minimum_pollers,
                maximum_pollers,
            }
        })
        .collect()
}

/// terraform's mappings: each catalogue entry over `mapping_defaults`, the dead-letter topic
/// derived as locals.tf derives it.
fn terraform_twins(catalogue: &Catalogue) -> BTreeSet<Twin> {
    catalogue
        .functions
        .iter()
        .flat_map(|(name, f)| {
            f.mappings.iter().map(move |m| {
                let mut twin = catalogue.mapping_defaults.clone();
                twin.extend(m.clone());
                let topic = twin["topic"].as_str().expect("topic").to_owned();
                twin.insert("function".into(), name.clone().into());
                twin.insert(
                    "on_failure_topic".into(),
                    messaging::topics::dead_letter_topic(&topic).into(),
                );
                serde_json::from_value(serde_json::Value::Object(twin))
                    .unwrap_or_else(|e| panic!("{name}/{topic}: {e}"))
            })
        })
        .collect()
}

#[test]
fn functions_dir_template_and_terraform_deploy_the_same_functions() {
    let crates: BTreeSet<String> = std::fs::read_dir(testkit::workspace_root().join("functions"))
        .expect("functions/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let template: BTreeSet<String> = template_functions(&template()).into_keys().collect();
    let terraform: BTreeSet<String> = catalogue().functions.into_keys().collect();
    assert_eq!(template, crates, "template.yaml vs functions/");
    assert_eq!(terraform, crates, "terraform/catalogue.json vs functions/");
}

#[test]
fn every_template_mapping_has_its_terraform_twin_and_no_other() {
    let template = template_twins();
    let terraform = terraform_twins(&catalogue());
    assert!(!template.is_empty());
    let only_template: Vec<&Twin> = template.difference(&terraform).collect();
    let only_terraform: Vec<&Twin> = terraform.difference(&template).collect();
    assert!(
        only_template.is_empty() && only_terraform.is_empty(),
        "only in template.yaml: {only_template:#?}\nonly in terraform: {only_terraform:#?}"
    );
}

#[test]
fn http_and_scheduled_functions_agree_between_template_and_terraform() {
    let functions = template_functions(&template());
    for (name, f) in catalogue().functions {
        let events: Vec<&Value> = functions[&name]["Properties"]["Events"]
            .as_mapping()
            .map(|e| e.values().collect())
            .unwrap_or_default();
        let kinds: BTreeSet<&str> = events.iter().filter_map(|e| e["Type"].as_str()).collect();
        let schedules: Vec<&str> = events
            .iter()
            .filter(|e| e["Type"].as_str() == Some("ScheduleV2"))
            .filter_map(|e| e["Properties"]["ScheduleExpression"].as_str())
            .collect();
        match f.trigger.as_deref().unwrap_or("kafka") {
            "http" => assert_eq!(kinds, BTreeSet::from(["HttpApi"]), "{name}"),
            "schedule" => assert_eq!(
                schedules,
                f.schedule.iter().map(String::as_str).collect::<Vec<_>>(),
                "{name}"
            ),
            "kafka" => assert_eq!(kinds, BTreeSet::from(["MSK"]), "{name}"),
            other => panic!("{name}: unknown trigger {other}"),
        }
    }
}

#[test]
fn terraform_lists_every_contract_topic_with_the_cloud_settings() {
    let catalogue = catalogue();
    let contract: BTreeSet<&str> = contract::ALL_RECORDS.iter().map(|r| r.topic).collect();
    let terraform: BTreeSet<&str> = catalogue.topics.iter().map(String::as_str).collect();
    assert_eq!(terraform, contract);
    assert_eq!(
        catalogue.topics.len(),
        terraform.len(),
        "a topic listed twice"
    );
    // The topic tool's defaults are what terraform documents and passes.
    let cloud = local::topics::CLOUD;
    assert_eq!(catalogue.topic_settings.partitions, 12);
    assert_eq!(catalogue.topic_settings.partitions, cloud.partitions);
    assert_eq!(
        catalogue.topic_settings.replication_factor,
        cloud.replication_factor
    );
    assert_eq!(
        Some(catalogue.topic_settings.retention_ms),
        cloud.retention_ms
    );
}

#[test]
fn terraform_really_builds_its_functions_and_mappings_from_the_catalogue() {
    let read = |file: &str| {
        std::fs::read_to_string(testkit::workspace_root().join("terraform").join(file))
            .unwrap_or_else(|e| panic!("terraform/{file}: {e}"))
    };
    let locals = read("locals.tf");
    assert!(locals.contains(r#"catalogue = jsondecode(file("${path.module}/catalogue.json"))"#));
    assert!(locals.contains("merge(local.catalogue.mapping_defaults, m)"));
    assert!(locals.contains(r#"dead_letter = "${m.topic}.dlq""#));
    let lambda = read("lambda.tf");
    for needle in [
        r#"resource "aws_lambda_function" "function" {
  for_each = local.functions"#,
        r#"resource "aws_lambda_event_source_mapping" "kafka" {
  for_each                           = local.mappings"#,
        "consumer_group_id = each.value.consumer_group",
        "batch_size                         = each.value.batch_size",
        r#"destination_arn = "kafka://${each.value.dead_letter}""#,
    ] {
        assert!(
            lambda.contains(needle),
            "lambda.tf no longer has `{needle}`"
        );
    }
}
