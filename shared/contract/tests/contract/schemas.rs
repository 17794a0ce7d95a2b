//! The committed schema files, `ALL_RECORDS` and the Rust types describe the same contract.

use apache_avro::schema::{Schema, SchemaKind};
use contract::*;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

/// (file stem, file text) for every `*.avsc` in `schemas/`.
fn schema_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(schemas_dir())
        .expect("schemas/ exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "avsc"))
        .map(|p| {
            let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("readable");
            (stem, text)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_schema_file_parses_and_is_named_after_its_record() {
    let files = schema_files();
    assert!(
        !files.is_empty(),
        "no schemas found in {}",
        schemas_dir().display()
    );
    for (stem, text) in &files {
        let schema = Schema::parse_str(text).unwrap_or_else(|e| panic!("{stem}.avsc: {e}"));
        match &schema {
            Schema::Record(r) => assert_eq!(&r.name.name, stem, "{stem}.avsc names another record"),
            other => panic!(
                "{stem}.avsc is a {:?}, not a record",
                SchemaKind::from(other)
            ),
        }
    }
}

#[test]
fn all_records_lists_exactly_the_schema_files_with_their_current_text() {
    let files = schema_files();
    let on_disk: BTreeSet<&str> = files.iter().map(|(stem, _)| stem.as_str()).collect();
    let listed: BTreeSet<&str> = ALL_RECORDS.iter().map(|r| r.name).collect();
    assert_eq!(listed.len(), ALL_RECORDS.len(), "a record is listed twice");
    assert_eq!(on_disk, listed, "schemas/ and ALL_RECORDS differ");
    for (stem, text) in &files {
        let info = record_info(stem).expect("listed");
        assert_eq!(
            info.schema_source, text,
            "{stem}: ALL_RECORDS holds stale text"
        );
        assert_eq!(
            info.schema(),
            &info.parse_schema().expect("parses"),
            "{stem}"
        );
    }
}

#[test]
fn topics_are_the_ones_in_the_design_and_each_carries_one_record() {
    let expected = [
        ("ScheduleAppointment", "appointments.commands.schedule"),
        ("CancelAppointment", "appointments.commands.cancel"),
        ("ConfirmAppointment", "appointments.commands.confirm"),
        ("CompleteAppointment", "appointments.commands.complete"),
        ("AppointmentCreated", "appointments.appointments.created"),
        (
            "AppointmentConfirmed",
            "appointments.appointments.confirmed",
        ),
        (
            "AppointmentCancelled",
            "appointments.appointments.cancelled",
        ),
        (
            "AppointmentCompleted",
            "appointments.appointments.completed",
        ),
        ("VerifyInsurance", "insurance.commands.verify"),
        ("InsuranceVerified", "insurance.events.verified"),
        ("InsuranceFailed", "insurance.events.failed"),
        ("SendConfirmation", "notifications.commands.send"),
        ("ConfirmationSent", "notifications.events.sent"),
        ("CallStarted", "calls.calls.started"),
        ("CallEnded", "calls.calls.ended"),
        ("HourlyCount", "appointments.metrics.hourly-counts"),
    ];
    let actual: Vec<(&str, &str)> = ALL_RECORDS.iter().map(|r| (r.name, r.topic)).collect();
    assert_eq!(actual, expected);
    for (name, topic) in expected {
        assert_eq!(record_for_topic(topic).map(|r| r.name), Some(name));
    }
    // The typed constants agree with the list.
    assert_eq!(
        AppointmentCreated::TOPIC,
        "appointments.appointments.created"
    );
    assert_eq!(HourlyCount::NAME, "HourlyCount");
    assert_eq!(CallEnded::INFO.topic, CallEnded::TOPIC);
}

#[test]
fn schemas_follow_the_house_conventions() {
    for info in ALL_RECORDS {
        let Schema::Record(record) = info.schema() else {
            panic!("{} is not a record", info.name)
        };
        let ns = record.name.namespace.as_deref();
        assert!(
            matches!(ns, Some("com.clinic.commands" | "com.clinic.events")),
            "{}: namespace {ns:?}",
            info.name
        );
        assert!(
            record.doc.as_deref().is_some_and(|d| !d.is_empty()),
            "{} has no doc",
            info.name
        );

        let names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names[..2], ["event_id", "occurred_at"], "{}", info.name);
        assert_eq!(
            record.fields[0].schema,
            Schema::Uuid,
            "{}.event_id",
            info.name
        );
        assert_eq!(
            record.fields[1].schema,
            Schema::TimestampMillis,
            "{}.occurred_at",
            info.name
        );

        for f in &record.fields {
            let what = format!("{}.{}", info.name, f.name);
            assert!(
                f.doc.as_deref().is_some_and(|d| !d.is_empty()),
                "{what} has no doc"
            );
            assert!(
                f.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{what} is not snake_case"
            );
            if let Schema::Union(u) = &f.schema {
                assert_eq!(u.variants().len(), 2, "{what}: only [null, T] unions");
                assert_eq!(u.variants()[0], Schema::Null, "{what}: null first");
                assert!(
                    f.default.as_ref().is_some_and(|d| d.is_null()),
                    "{what}: default null"
                );
            }
            if f.name.ends_with("_id") && f.name != "agent_id" && f.name != "message_id" {
                let inner = match &f.schema {
                    Schema::Union(u) => &u.variants()[1],
                    s => s,
                };
                assert_eq!(inner, &Schema::Uuid, "{what} should be a uuid");
            }
        }
    }
}

#[test]
fn the_shared_enums_are_defined_identically_everywhere() {
    let mut appointment_type = BTreeSet::new();
    for info in ALL_RECORDS {
        let Schema::Record(record) = info.schema() else {
            continue;
        };
        for f in &record.fields {
            if let Schema::Enum(e) = &f.schema {
                assert_eq!(
                    e.name.namespace.as_deref(),
                    Some("com.clinic"),
                    "{}",
                    info.name
                );
                if e.name.name == "AppointmentType" {
                    appointment_type.insert(e.symbols.clone());
                }
            }
        }
    }
    let symbols: Vec<String> = domain::AppointmentType::ALL
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    assert_eq!(
        appointment_type.into_iter().collect::<Vec<_>>(),
        vec![symbols]
    );
}
