//! Reading mappings from SAM templates: short-form tags, defaults, AWS's rules and errors.

use esm::{
    mappings_from_template, FilterCriteria, Mapping, SourceKind, StartingPosition, TemplateError,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn invalid_at(name: &str) -> (String, String) {
    match mappings_from_template(&fixture(name)) {
        Err(TemplateError::Invalid { at, message }) => (at, message),
        other => panic!("{name}: expected an invalid-property error, got {other:?}"),
    }
}

#[test]
fn reads_msk_and_self_managed_events_with_tags_and_defaults() {
    let mappings = mappings_from_template(&fixture("template.yaml")).expect("parse template");
    assert_eq!(
        mappings,
        vec![
            Mapping {
                function: "book-appointment".into(),
                source: SourceKind::Msk,
                topic: "bookings.created".into(),
                starting_position: StartingPosition::Latest,
                batch_size: 250,
                batching_window: Duration::from_secs(2),
                consumer_group_id: "test-booking".into(),
                // -1 (infinite) with an on-failure destination: AWS applies 10.
                maximum_retry_attempts: Some(10),
                maximum_record_age: Some(Duration::from_secs(3600)),
                bisect_batch_on_function_error: true,
                report_batch_item_failures: true,
                on_failure_topic: Some("bookings.created.dlq".into()),
                enabled: true,
                // Globals.Function.Timeout.
                function_timeout: Duration::from_secs(20),
                // MinimumPollers alone sets no limit.
                maximum_pollers: None,
                filter_criteria: None,
            },
            Mapping {
                function: "book-appointment".into(),
                source: SourceKind::SelfManagedKafka,
                topic: "audit.events".into(),
                starting_position: StartingPosition::TrimHorizon,
                batch_size: 100,
                batching_window: Duration::from_millis(500),
                consumer_group_id: "book-appointment".into(),
                maximum_retry_attempts: None,
                maximum_record_age: None,
                bisect_batch_on_function_error: false,
                report_batch_item_failures: false,
                on_failure_topic: None,
                enabled: true,
                function_timeout: Duration::from_secs(20),
                maximum_pollers: None,
                filter_criteria: None,
            },
            Mapping {
                // No Metadata.BuildProperties.Binary: the logical id.
                function: "NotifierFunction".into(),
                source: SourceKind::Msk,
                topic: "appointments.confirmed".into(),
                starting_position: StartingPosition::TrimHorizon,
                batch_size: 100,
                batching_window: Duration::from_millis(500),
                consumer_group_id: "NotifierFunction".into(),
                maximum_retry_attempts: Some(3),
                maximum_record_age: None,
                bisect_batch_on_function_error: false,
                report_batch_item_failures: false,
                on_failure_topic: Some("test.notifier.dlq".into()),
                enabled: false,
                // Its own Timeout wins over Globals.
                function_timeout: Duration::from_secs(45),
                maximum_pollers: Some(2),
                filter_criteria: None,
            },
        ]
    );
    assert_eq!(
        esm::all_topics(&mappings),
        vec![
            "appointments.confirmed",
            "audit.events",
            "bookings.created",
            "bookings.created.dlq",
            "test.notifier.dlq"
        ]
    );
}

#[test]
fn a_mapping_reads_exactly_one_topic() {
    let (at, message) = invalid_at("template-two-topics.yaml");
    assert_eq!(at, "Resources.Fn.Properties.Events.Both.Properties.Topics");
    assert!(message.contains("exactly one topic"), "{message}");
}

#[test]
fn the_on_failure_topic_must_differ_from_the_source() {
    let (at, message) = invalid_at("template-same-topic-destination.yaml");
    assert!(
        at.ends_with("DestinationConfig.OnFailure.Destination"),
        "{at}"
    );
    assert!(
        message.contains("differ from the source topic"),
        "{message}"
    );
}

#[test]
fn a_value_only_the_cloud_knows_is_an_error_where_it_is_needed() {
    let (at, message) = invalid_at("template-unresolvable-topic.yaml");
    assert!(at.ends_with("Properties.Topics"), "{at}");
    assert!(message.contains("GetAtt"), "{message}");
}

#[test]
fn a_property_the_runtime_does_not_implement_is_refused_by_name() {
    let (at, message) = invalid_at("template-unimplemented-property.yaml");
    assert_eq!(
        at,
        "Resources.Fn.Properties.Events.Registry.Properties.SchemaRegistryConfig"
    );
    assert!(
        message.contains("SchemaRegistryConfig") && message.contains("Fn"),
        "{message}"
    );
}

#[test]
fn filter_criteria_are_read_with_their_patterns() {
    let mappings =
        mappings_from_template(&fixture("template-filter-criteria.yaml")).expect("parse template");
    let [filtered, unfiltered] = mappings.as_slice() else {
        panic!("two mappings expected: {mappings:?}");
    };
    let criteria = filtered
        .filter_criteria
        .as_ref()
        .expect("the Filtered event has FilterCriteria");
    // `!Sub` resolved from the parameter's default.
    assert_eq!(
        criteria.patterns(),
        [
            r#"{"value": {"kind": ["big"]}}"#,
            r#"{ "value" : [ { "anything-but": [ "error" ] } ] }"#,
        ]
    );
    let expected = FilterCriteria::parse(criteria.patterns()).expect("valid patterns");
    assert_eq!(filtered.filter_criteria, Some(expected));
    // Either filter lets a record through.
    assert!(criteria.matches(Some(br#"{"kind": "big"}"#)));
    assert!(criteria.matches(Some(b"a plain string")));
    assert!(!criteria.matches(Some(b"error")));
    assert!(!criteria.matches(Some(br#"{"kind": "small"}"#)));
    // `FilterCriteria: {}` filters nothing.
    assert_eq!(unfiltered.filter_criteria, None);
}

/// The error for a template whose only mapping has `FilterCriteria: <criteria>` (YAML, as
/// indented under the property).
fn filter_criteria_error(criteria: &str) -> (String, String) {
    static TEMPLATES: AtomicUsize = AtomicUsize::new(0);
    let template = format!(
        "Resources:\n  PickyFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        Orders:\n          Type: MSK\n          Properties:\n            Stream: arn:aws:kafka:us-east-1:000000000000:cluster/c/1\n            Topics: [orders]\n            StartingPosition: LATEST\n            FilterCriteria:\n{criteria}\n"
    );
    let path = std::env::temp_dir().join(format!(
        "esm-filter-template-{}-{}.yaml",
        std::process::id(),
        TEMPLATES.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&path, template).expect("write the template");
    let result = mappings_from_template(&path);
    let _ = std::fs::remove_file(&path);
    match result {
        Err(TemplateError::Invalid { at, message }) => (at, message),
        other => panic!("{criteria}: expected an invalid-property error, got {other:?}"),
    }
}

#[test]
fn invalid_filter_criteria_are_refused_naming_the_filter_and_the_function() {
    const AT: &str = "Resources.PickyFunction.Properties.Events.Orders.Properties.FilterCriteria";
    let pattern = |pattern: &str| {
        let criteria = format!("              Filters:\n                - Pattern: '{pattern}'");
        filter_criteria_error(&criteria)
    };
    let cases = [
        // Not JSON.
        (pattern(r#"{"value": {"kind": ["big"]"#), "not valid JSON"),
        // An operator Lambda does not have.
        (
            pattern(r#"{"value": {"kind": [{"contains": "big"}]}}"#),
            "unknown operator `contains`",
        ),
        // A value not in a list.
        (pattern(r#"{"value": {"kind": "big"}}"#), "in a list"),
        // An operator with the wrong argument.
        (
            pattern(r#"{"value": {"n": [{"numeric": [">", "ten"]}]}}"#),
            "`numeric`",
        ),
        // A Kafka pattern may only name `value`.
        (
            pattern(r#"{"key": ["k1"]}"#),
            "only support filtering on the `value` key",
        ),
        // Not an object.
        (pattern(r#"["value"]"#), "JSON object"),
    ];
    for ((at, message), reason) in cases {
        assert_eq!(at, format!("{AT}.Filters[0].Pattern"), "{message}");
        assert!(
            message.contains(reason) && message.contains("PickyFunction"),
            "{message} should say {reason:?} and name the function"
        );
    }

    // The second filter is named by its index.
    let (at, message) = filter_criteria_error(
        "              Filters:\n                - Pattern: '{\"value\": [\"a\"]}'\n                - Pattern: '{\"value\": {\"a\": []}}'",
    );
    assert_eq!(at, format!("{AT}.Filters[1].Pattern"));
    assert!(message.contains("empty"), "{message}");

    // More than AWS's default quota of five filters.
    let six = "              Filters:\n".to_owned()
        + &"                - Pattern: '{\"value\": [\"a\"]}'\n".repeat(6);
    let (at, message) = filter_criteria_error(six.trim_end());
    assert_eq!(at, format!("{AT}.Filters"));
    assert!(
        message.contains("6 filters") && message.contains("PickyFunction"),
        "{message}"
    );

    // A filter that is not `{ Pattern: ... }`.
    let (at, message) =
        filter_criteria_error("              Filters:\n                - Patern: '{}'");
    assert_eq!(at, format!("{AT}.Filters[0]"));
    assert!(
        message.contains("Pattern") && message.contains("PickyFunction"),
        "{message}"
    );

    // A pattern written as YAML rather than as a string of JSON.
    let (at, message) = filter_criteria_error(
        "              Filters:\n                - Pattern:\n                    value: [big]",
    );
    assert_eq!(at, format!("{AT}.Filters[0].Pattern"));
    assert!(
        message.contains("string of JSON") && message.contains("PickyFunction"),
        "{message}"
    );

    // A key FilterCriteria does not have.
    let (at, message) = filter_criteria_error("              Filter: []");
    assert_eq!(at, format!("{AT}.Filter"));
    assert!(message.contains("PickyFunction"), "{message}");
}

#[test]
fn a_function_timeout_past_what_kafka_mappings_allow_is_refused() {
    let (at, message) = invalid_at("template-long-timeout.yaml");
    assert_eq!(at, "Globals.Function.Timeout");
    assert!(message.contains("14 minutes"), "{message}");
}

#[test]
fn each_poller_allows_five_batches_in_flight() {
    let mut mapping = Mapping::new("f", "t");
    assert_eq!(mapping.max_concurrent_batches(), usize::MAX);
    mapping.maximum_pollers = Some(2);
    assert_eq!(
        mapping.max_concurrent_batches(),
        2 * esm::INVOCATIONS_PER_POLLER as usize
    );
}

#[test]
fn a_missing_template_is_a_read_error() {
    let result = mappings_from_template(&fixture("no-such-template.yaml"));
    assert!(
        matches!(result, Err(TemplateError::Read { .. })),
        "{result:?}"
    );
}

/// The repository's own template (the single source of truth) must stay readable.
#[test]
fn the_repository_template_is_readable() {
    let path = testkit::workspace_root().join("template.yaml");
    let mappings = mappings_from_template(&path).expect("template.yaml");
    assert!(!mappings.is_empty(), "template.yaml has no Kafka mappings");
    for mapping in &mappings {
        // Globals.Function.Timeout of the repository's template.
        assert_eq!(mapping.function_timeout, Duration::from_secs(30));
        assert_ne!(
            mapping.on_failure_topic.as_deref(),
            Some(mapping.topic.as_str())
        );
    }
}
