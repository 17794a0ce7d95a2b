//! Schema evolution: the working-tree schemas read every committed version of themselves, and
//! data written with an older (or newer) schema decodes into today's types.

use apache_avro::schema::Schema;
use apache_avro::types::Value;
use contract::*;
use domain::ids::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `git` in the workspace root; `Err` says why history is not available.
fn git(root: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| "git printed non-UTF-8".to_owned())
}

/// What comparing today's schemas with every committed version of them under `root` found.
#[derive(Debug, Default)]
struct History {
    /// Committed versions read, per schema name (a schema missing here was never committed).
    versions: std::collections::BTreeMap<&'static str, usize>,
    /// Committed versions whose text differs from today's schema file.
    changed: usize,
    failures: Vec<String>,
}

/// Checks that today's schema of every record can read each committed version of its
/// `schemas/<Name>.avsc` in the git history of `root`.
fn compare_with_history(root: &Path) -> History {
    let mut history = History::default();
    for info in ALL_RECORDS {
        let path = format!("schemas/{}.avsc", info.name);
        let commits = git(root, &["log", "--format=%H", "--", &path]).expect("git log");
        for commit in commits.lines().filter(|l| !l.is_empty()) {
            let text = git(root, &["show", &format!("{commit}:{path}")]);
            // A commit that deleted the file lists it too; there is nothing to read then.
            let Ok(text) = text else { continue };
            *history.versions.entry(info.name).or_default() += 1;
            if text.trim() != info.schema_source.trim() {
                history.changed += 1;
            }
            let previous = match Schema::parse_str(&text) {
                Ok(s) => s,
                Err(e) => {
                    history
                        .failures
                        .push(format!("{path}@{commit}: does not parse: {e}"));
                    continue;
                }
            };
            if let Err(why) = check_backward_compatible(&previous, info.schema()) {
                history.failures.push(format!(
                    "{path}: cannot read the version of {commit}: {why}"
                ));
            }
        }
    }
    history
}

/// Runs against the repository's own history, so it needs a git clone (a source tree without
/// `.git` fails here rather than checking nothing).
#[test]
fn every_schema_can_read_all_its_committed_versions() {
    let root = workspace_root();
    git(&root, &["rev-parse", "--verify", "HEAD"]).expect("a git clone with history");
    let history = compare_with_history(&root);
    eprintln!(
        "checked {} committed schema versions, {} of them different from today's",
        history.versions.values().sum::<usize>(),
        history.changed
    );
    let never_committed: Vec<_> = ALL_RECORDS
        .iter()
        .map(|info| info.name)
        .filter(|name| !history.versions.contains_key(name))
        .collect();
    assert!(
        never_committed.is_empty(),
        "schemas with no committed version to compare with: {never_committed:?}"
    );
    assert!(
        history.failures.is_empty(),
        "incompatible schema changes:\n{}",
        history.failures.join("\n")
    );
}

/// The history walk itself: in a scratch repository where InsuranceVerified was once
/// committed without `payer` (which today's schema requires, with no default), the version
/// before is named as unreadable, and the change is counted.
#[test]
fn an_incompatible_committed_version_is_found_in_the_history() {
    let root = std::env::temp_dir().join(format!("schema-history-{}", EventId::new().0));
    let schemas = root.join("schemas");
    std::fs::create_dir_all(&schemas).expect("scratch repository");
    let file = schemas.join("InsuranceVerified.avsc");
    let commit = |text: String, message: &str| {
        std::fs::write(&file, text).expect("write schema");
        git(&root, &["add", "schemas"]).expect("git add");
        git(
            &root,
            &[
                "-c",
                "user.name=test",
                "-c",
                "user.email=test@example.com",
                "commit",
                "-q",
                "-m",
                message,
            ],
        )
        .expect("git commit");
    };
    git(&root, &["init", "-q"]).expect("git init");
    let mut older: serde_json::Value =
        serde_json::from_str(InsuranceVerified::INFO.schema_source).expect("json");
    older["fields"]
        .as_array_mut()
        .expect("fields")
        .retain(|f| f["name"] != "payer");
    commit(older.to_string(), "without payer");
    let without_payer = git(&root, &["rev-parse", "HEAD"]).expect("rev-parse");
    commit(
        InsuranceVerified::INFO.schema_source.to_owned(),
        "with payer",
    );

    let history = compare_with_history(&root);
    let _ = std::fs::remove_dir_all(&root);
    assert_eq!(history.versions.get("InsuranceVerified"), Some(&2));
    assert_eq!(history.changed, 1);
    assert_eq!(history.failures.len(), 1, "{:?}", history.failures);
    assert!(
        history.failures[0].contains(without_payer.trim()),
        "{:?}",
        history.failures
    );
}

/// The committed schema of `info` with `edit` applied to its JSON, as a parser would read it.
fn edited(info: &RecordInfo, edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> Schema {
    let mut json: serde_json::Value = serde_json::from_str(info.schema_source).expect("json");
    let fields = json["fields"].as_array_mut().expect("fields");
    edit(fields);
    Schema::parse_str(&json.to_string()).expect("edited schema parses")
}

fn without_field(info: &RecordInfo, name: &str) -> Schema {
    edited(info, |fields| fields.retain(|f| f["name"] != name))
}

#[test]
fn a_record_written_before_an_optional_field_existed_reads_it_as_none() {
    let older = without_field(&AppointmentCreated::INFO, "notes");
    assert!(check_backward_compatible(&older, AppointmentCreated::schema()).is_ok());

    let appointment = AppointmentId::new();
    let value = Value::Record(vec![
        ("event_id".into(), Value::Uuid(EventId::new().0)),
        (
            "occurred_at".into(),
            Value::TimestampMillis(1_741_944_414_002),
        ),
        ("appointment_id".into(), Value::Uuid(appointment.0)),
        ("appointment_version".into(), Value::Int(1)),
        ("saga_id".into(), Value::Uuid(SagaId::new().0)),
        ("clinic_id".into(), Value::Uuid(ClinicId::new().0)),
        (
            "clinic_name".into(),
            Value::String("Northside Eye Care".into()),
        ),
        ("provider_id".into(), Value::Uuid(ProviderId::new().0)),
        ("provider_name".into(), Value::String("Dr. Lee".into())),
        ("patient_id".into(), Value::Uuid(PatientId::new().0)),
        ("patient_name".into(), Value::String("Ana Silva".into())),
        (
            "patient_email".into(),
            Value::String("ana@example.com".into()),
        ),
        (
            "scheduled_for".into(),
            Value::TimestampMillis(1_742_571_000_000),
        ),
        ("duration_minutes".into(), Value::Int(20)),
        ("type".into(), Value::Enum(1, "FOLLOW_UP".into())),
    ]);
    let datum = apache_avro::to_avro_datum(&older, value).expect("older writer encodes");
    let decoded: AppointmentCreated = decode_datum(&datum, &older).expect("decodes");
    assert_eq!(decoded.appointment_id, appointment);
    assert_eq!(decoded.notes, None);
    assert_eq!(decoded.r#type, domain::AppointmentType::FollowUp);
    assert_eq!(decoded.patient_name, "Ana Silva");
}

#[test]
fn a_field_added_by_a_newer_writer_is_ignored() {
    let newer = edited(&InsuranceVerified::INFO, |fields| {
        fields.insert(
            0,
            serde_json::json!({"name": "copay_cents", "type": "long"}),
        );
    });
    let event = EventId::new();
    let value = Value::Record(vec![
        ("copay_cents".into(), Value::Long(2500)),
        ("event_id".into(), Value::Uuid(event.0)),
        (
            "occurred_at".into(),
            Value::TimestampMillis(1_741_944_418_250),
        ),
        ("appointment_id".into(), Value::Uuid(AppointmentId::new().0)),
        ("saga_id".into(), Value::Uuid(SagaId::new().0)),
        ("payer".into(), Value::String("Aetna".into())),
    ]);
    let datum = apache_avro::to_avro_datum(&newer, value).expect("encode");
    let decoded: InsuranceVerified = decode_datum(&datum, &newer).expect("decode");
    assert_eq!(decoded.event_id, event);
    assert_eq!(decoded.payer, "Aetna");
}

#[test]
fn a_writer_missing_a_required_field_is_a_resolution_error() {
    let older = without_field(&InsuranceVerified::INFO, "payer");
    assert!(check_backward_compatible(&older, InsuranceVerified::schema()).is_err());
    let value = Value::Record(vec![
        ("event_id".into(), Value::Uuid(EventId::new().0)),
        ("occurred_at".into(), Value::TimestampMillis(0)),
        ("appointment_id".into(), Value::Uuid(AppointmentId::new().0)),
        ("saga_id".into(), Value::Uuid(SagaId::new().0)),
    ]);
    let datum = apache_avro::to_avro_datum(&older, value).expect("encode");
    assert_eq!(
        decode_datum::<InsuranceVerified>(&datum, &older),
        Err(ContractError::Resolution {
            record: "InsuranceVerified"
        })
    );
}
