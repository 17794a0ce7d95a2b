//! The deployment is described three times: the function crates in functions/, template.yaml
//! (SAM, also the local runtime's source of truth) and terraform/catalogue.json (which
//! terraform for_each's over). These tests hold them equal: the same functions, every
//! mapping's twin with the same topic, consumer group and batch settings, the same schedules,
//! every contract topic (with the cloud's partitions and retention) in terraform, and the same
//! MSK permissions: each consumer reads only its own topics and groups, everything is scoped to
//! the deployment's cluster, and every function may write exactly the topics an outbox row can
//! name (checked against what the running system really writes).

use crate::stack::*;
use crate::support::*;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use serde_yaml::Value;
use sqlx::PgPool;
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
    /// The records the function writes through the outbox (its mappings' dead-letter topics
    /// come on top).
    produces: Vec<String>,
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

/// The cluster the template's MSK permissions are evaluated against.
const CLUSTER_ARN: &str =
    "arn:aws:kafka:eu-west-1:123456789012:cluster/clinic-scheduling/5e0a7d1c-0b4e-4c8e-9a52-1f0c3e2b7d90-7";

/// Evaluates the intrinsic functions the template's policies use (Ref, Sub, Join, Split,
/// Select) with `MskClusterArn` = [`CLUSTER_ARN`], as CloudFormation would.
fn evaluate(value: &Value) -> Value {
    let reference = |name: &str| match name {
        "MskClusterArn" => CLUSTER_ARN.to_owned(),
        "AWS::Partition" => "aws".to_owned(),
        "AWS::Region" => "eu-west-1".to_owned(),
        "AWS::AccountId" => "123456789012".to_owned(),
        other => format!("<{other}>"),
    };
    let text = |v: &Value| -> String {
        evaluate(v)
            .as_str()
            .unwrap_or_else(|| panic!("{v:?} is not a string"))
            .to_owned()
    };
    let list = |v: &Value| -> Vec<Value> {
        evaluate(v)
            .as_sequence()
            .unwrap_or_else(|| panic!("{v:?} is not a list"))
            .clone()
    };
    match value {
        Value::Sequence(items) => Value::Sequence(items.iter().map(evaluate).collect()),
        Value::Tagged(tagged) => {
            let args = &tagged.value;
            let tag = tagged.tag.to_string();
            let arg = |i: usize| &args.as_sequence().expect("a list of arguments")[i];
            Value::from(match tag.trim_start_matches('!') {
                "Ref" => reference(args.as_str().expect("Ref names something")),
                "Join" => list(arg(1))
                    .iter()
                    .map(text)
                    .collect::<Vec<_>>()
                    .join(&text(arg(0))),
                "Split" => {
                    let parts: Vec<Value> =
                        text(arg(1)).split(&text(arg(0))).map(Value::from).collect();
                    return Value::Sequence(parts);
                }
                "Select" => {
                    let index = arg(0).as_u64().expect("an index") as usize;
                    return list(arg(1))[index].clone();
                }
                "Sub" => {
                    let (mut out, variables) = match args {
                        Value::String(s) => (s.clone(), None),
                        _ => (text(arg(0)), arg(1).as_mapping()),
                    };
                    while let Some(start) = out.find("${") {
                        let end = start + out[start..].find('}').expect("closing brace");
                        let name = &out[start + 2..end];
                        let replacement = variables
                            .and_then(|vars| vars.get(name))
                            .map(text)
                            .unwrap_or_else(|| reference(name));
                        out.replace_range(start..=end, &replacement);
                    }
                    out
                }
                other => panic!("intrinsic {other} is not evaluated here"),
            })
        }
        other => other.clone(),
    }
}

/// A function's MSK permissions in the template: the names of the topics it may write and
/// read and of the groups it may use, each checked to be an ARN of [`CLUSTER_ARN`]'s cluster.
#[derive(Debug, Default)]
struct KafkaGrants {
    write: BTreeSet<String>,
    read: BTreeSet<String>,
    groups: BTreeSet<String>,
}

fn kafka_grants(template: &Value, function: &Value) -> KafkaGrants {
    let (prefix, cluster) = CLUSTER_ARN.split_once(":cluster/").expect("a cluster ARN");
    let statements: Vec<Value> = function["Properties"]["Policies"]
        .as_sequence()
        .expect("every function lists its policies")
        .iter()
        .flat_map(|policy| {
            let document = match policy {
                Value::Tagged(t) => {
                    let name = t.value.as_str().expect("a policy by reference");
                    &template["Resources"][name]["Properties"]["PolicyDocument"]
                }
                inline => inline,
            };
            document["Statement"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let mut grants = KafkaGrants::default();
    for statement in statements {
        let actions: Vec<String> = match &statement["Action"] {
            Value::String(a) => vec![a.clone()],
            other => serde_yaml::from_value(other.clone()).expect("actions"),
        };
        if !actions.iter().any(|a| a.starts_with("kafka-cluster:")) {
            continue;
        }
        let resources: Vec<String> = match evaluate(&statement["Resource"]) {
            Value::String(r) => vec![r],
            other => serde_yaml::from_value(other).expect("resources"),
        };
        for resource in resources {
            if resource == CLUSTER_ARN {
                continue;
            }
            let (kind, name) = ["topic", "group"]
                .into_iter()
                .find_map(|kind| {
                    resource
                        .strip_prefix(&format!("{prefix}:{kind}/{cluster}/"))
                        .map(|name| (kind, name.to_owned()))
                })
                .unwrap_or_else(|| panic!("{resource} is not a topic or group of {CLUSTER_ARN}"));
            assert!(
                !name.contains('*') && !name.is_empty(),
                "{resource}: one named {kind}, no wildcard"
            );
            let has = |a: &str| actions.iter().any(|x| x == a);
            match kind {
                "topic" if has("kafka-cluster:WriteData") => grants.write.insert(name),
                "topic" if has("kafka-cluster:ReadData") => grants.read.insert(name),
                "group" => grants.groups.insert(name),
                _ => panic!("{resource}: {actions:?} neither reads nor writes it"),
            };
        }
    }
    grants
}

/// Asserts `actual == expected`, naming only the differences.
fn same_topics(actual: &BTreeSet<String>, expected: &BTreeSet<String>, what: &str) {
    let extra: Vec<&String> = actual.difference(expected).collect();
    let missing: Vec<&String> = expected.difference(actual).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{what}: {extra:?} too many, {missing:?} missing"
    );
}

/// Every topic an outbox row can name, by the catalogue: what the functions produce, and the
/// dead-letter topic of every mapped topic (as locals.tf's `outbox_topics`).
fn outbox_topics(catalogue: &Catalogue) -> BTreeSet<String> {
    catalogue
        .functions
        .values()
        .flat_map(|f| {
            f.produces.iter().cloned().chain(
                f.mappings.iter().map(|m| {
                    messaging::topics::dead_letter_topic(m["topic"].as_str().expect("topic"))
                }),
            )
        })
        .collect()
}

#[test]
fn every_function_may_write_exactly_the_topics_an_outbox_row_can_name_in_both_deployments() {
    let catalogue = catalogue();
    let contract: BTreeSet<&str> = contract::ALL_RECORDS.iter().map(|r| r.topic).collect();
    for (name, f) in &catalogue.functions {
        for topic in &f.produces {
            assert!(
                contract.contains(topic.as_str()),
                "{name} produces {topic}, no contract topic"
            );
        }
    }
    let allowed = outbox_topics(&catalogue);
    // Written by integrations only (or nobody), so never a publisher's business.
    for never in [
        "appointments.commands.schedule",
        "appointments.commands.complete",
        "appointments.metrics.hourly-counts.dlq",
    ] {
        assert!(!allowed.contains(never), "{never}");
    }
    let template = template();
    for (name, function) in template_functions(&template) {
        same_topics(
            &kafka_grants(&template, &function).write,
            &allowed,
            &format!("{name} may write in template.yaml"),
        );
    }
    // terraform grants local.outbox_topics to every function, derived as outbox_topics() is.
    let read = |file: &str| {
        std::fs::read_to_string(testkit::workspace_root().join("terraform").join(file))
            .unwrap_or_else(|e| panic!("terraform/{file}: {e}"))
    };
    let locals = read("locals.tf");
    for needle in [
        "produces = f.produces",
        "flatten([for f in local.functions : f.produces])",
        "[for m in values(local.mappings) : m.dead_letter]",
    ] {
        assert!(
            locals.contains(needle),
            "locals.tf no longer has `{needle}`"
        );
    }
    let lambda = read("lambda.tf");
    let write = r#"Action   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
          Resource = [for t in local.outbox_topics : "${local.topic_arn}/${t}"]"#;
    assert!(lambda.contains(write), "lambda.tf no longer has `{write}`");
    assert_eq!(
        lambda.matches("kafka-cluster:WriteData\"").count(),
        1,
        "one write statement in lambda.tf"
    );
}

#[test]
fn each_consumer_reads_only_its_own_topics_and_groups_on_the_deployment_cluster() {
    let template = template();
    let functions = template_functions(&template);
    let mappings = esm::mappings_from_template(&local::stack::template_path()).expect("parses");
    for (name, function) in &functions {
        let grants = kafka_grants(&template, function);
        let own = mappings.iter().filter(|m| &m.function == name);
        let topics: BTreeSet<String> = own.clone().map(|m| m.topic.clone()).collect();
        let groups: BTreeSet<String> = own.map(|m| m.consumer_group_id.clone()).collect();
        assert_eq!(grants.read, topics, "{name} reads");
        assert_eq!(grants.groups, groups, "{name} groups");
    }
    // terraform derives the same from each function's mappings, on its own cluster's ARNs.
    let lambda = std::fs::read_to_string(testkit::workspace_root().join("terraform/lambda.tf"))
        .expect("lambda.tf");
    for needle in [
        r#"Resource = distinct([for m in f.mappings : "${local.topic_arn}/${m.topic}"])"#,
        r#"Resource = [for m in f.mappings : "${local.group_arn}/${m.consumer_group}"]"#,
        r#"topic_arn = "${local.msk_arn_prefix}:topic/${local.msk_cluster_path}""#,
        r#"group_arn = "${local.msk_arn_prefix}:group/${local.msk_cluster_path}""#,
    ] {
        assert!(
            lambda.contains(needle),
            "lambda.tf no longer has `{needle}`"
        );
    }
}

/// The IAM write list is only right if the running system writes exactly those topics into the
/// outbox: a topic missing from it would fail every publish round holding such a row (in the
/// cloud only), one never written is a permission too many. Drives every writer: bookings
/// through the whole saga (insured and not), a completion, a call, the HourlyCounts, and a
/// poison record on every mapped topic (dead-lettered through the outbox).
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_running_system_writes_exactly_the_topics_every_function_may_write(pool: PgPool) {
    let allowed = outbox_topics(&catalogue());
    let stack = stack(pool).await;
    let pool = stack.api.pool.clone();
    // Demo patients 1 and 2 fail insurance (cancelled), 3 is insured (confirmed).
    let booked = book_spread(&stack, 3).await;
    let insured = booked
        .iter()
        .find(|(patient, _)| *patient == 3)
        .expect("patient 3")
        .1;
    eventually(60, "every saga decided and projected", || async {
        let decided = count(
            &pool,
            "SELECT count(*) FROM appointment_summary WHERE status IN ('CONFIRMED', 'CANCELLED')",
        )
        .await;
        (decided == 3).then_some(())
    })
    .await;
    let completed = stack
        .api
        .post(
            &format!("/api/v1/appointments/{insured}/complete"),
            &json!({}),
        )
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    let clinic = json!({"clinicId": clinic_id(BAYVIEW).to_string()});
    let call = stack.api.post("/api/v1/calls", &clinic).await;
    assert_eq!(call.status, StatusCode::CREATED, "{}", call.body);
    let ended = stack
        .api
        .post(
            &format!(
                "/api/v1/calls/{}/end",
                call.body["callId"].as_str().expect("id")
            ),
            &json!({"outcome": "INFORMATION"}),
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    let mapped: BTreeSet<String> = esm::mappings_from_template(&local::stack::template_path())
        .expect("parses")
        .into_iter()
        .map(|m| m.topic)
        .collect();
    for topic in &mapped {
        stack
            .produce(topic, "poison", b"not a Glue-framed record")
            .await;
    }
    // Wait (bounded) until every allowed topic has a row, or one outside the list shows up.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
    let written = loop {
        let written: BTreeSet<String> =
            sqlx::query_as::<_, (String,)>("SELECT DISTINCT topic FROM outbox")
                .fetch_all(&pool)
                .await
                .expect("outbox topics")
                .into_iter()
                .map(|(t,)| t)
                .collect();
        if written.is_superset(&allowed) || tokio::time::Instant::now() > deadline {
            break written;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    same_topics(
        &written,
        &allowed,
        "the outbox's topics vs what every function may write",
    );
}

/// A consumer's marker must outlive every record it protects: the markers' retention, as both
/// deployments default it and as the code does, exceeds the topics' retention.
#[test]
fn processed_markers_outlive_the_topics_retention_in_every_deployment() {
    let topics = chrono::Duration::milliseconds(catalogue().topic_settings.retention_ms);
    let default = store::retention::Retention::default().processed;
    assert!(
        default > topics,
        "code default {default} vs topics {topics}"
    );
    let template = template();
    let template_days = template["Parameters"]["RetentionProcessedDays"]["Default"]
        .as_i64()
        .expect("RetentionProcessedDays");
    let variables =
        std::fs::read_to_string(testkit::workspace_root().join("terraform/variables.tf"))
            .expect("variables.tf");
    let terraform_days: i64 = variables
        .split("variable \"retention_processed_days\"")
        .nth(1)
        .and_then(|block| block.split("default").nth(1))
        .and_then(|rest| {
            rest.trim_start()
                .trim_start_matches('=')
                .split_whitespace()
                .next()
        })
        .and_then(|n| n.parse().ok())
        .expect("retention_processed_days' default");
    for days in [template_days, terraform_days] {
        assert_eq!(
            chrono::Duration::days(days),
            default,
            "the deployments' default is the code's"
        );
    }
}
