//! Every record type survives encode → decode, matches its schema field for field, and writes
//! the wire form other Avro implementations expect.

use crate::samples::*;
use apache_avro::schema::Schema;
use apache_avro::types::Value;
use contract::*;
use domain::ids::*;
use domain::AppointmentType;
use std::fmt::Debug;

/// Round-trips `record` through the Avro datum and checks it against its schema.
fn round_trip<T: Record + PartialEq + Debug>(record: &T) {
    let datum = encode_datum(record).unwrap_or_else(|e| panic!("encode {}: {e}", T::NAME));
    let back: T =
        decode_datum(&datum, T::schema()).unwrap_or_else(|e| panic!("decode {}: {e}", T::NAME));
    assert_eq!(&back, record, "{} changed in a round trip", T::NAME);
    assert_eq!(
        struct_fields(record),
        schema_fields(T::schema()),
        "{}",
        T::NAME
    );
}

/// Field names in the order the Rust struct serialises them.
fn struct_fields<T: Record>(record: &T) -> Vec<String> {
    match apache_avro::to_value(record).expect("to_value") {
        Value::Record(fields) => fields.into_iter().map(|(name, _)| name).collect(),
        other => panic!("{} serialises to {other:?}, not a record", T::NAME),
    }
}

fn schema_fields(schema: &Schema) -> Vec<String> {
    match schema {
        Schema::Record(r) => r.fields.iter().map(|f| f.name.clone()).collect(),
        other => panic!("not a record schema: {other:?}"),
    }
}

/// The datum decoded without serde, with the writer schema only: what any Avro reader sees.
fn generic<T: Record>(record: &T) -> Vec<(String, Value)> {
    let datum = encode_datum(record).expect("encode");
    match apache_avro::from_avro_datum(T::schema(), &mut datum.as_slice(), None).expect("decode") {
        Value::Record(fields) => fields,
        other => panic!("not a record: {other:?}"),
    }
}

fn field<'a>(fields: &'a [(String, Value)], name: &str) -> &'a Value {
    &fields
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .1
}

#[test]
fn appointment_commands_round_trip() {
    for (i, t) in AppointmentType::ALL.into_iter().enumerate() {
        let provider = (i % 2 == 0).then(ProviderId::new);
        let notes = (i % 2 == 1).then_some("Patient prefers afternoon; bring old glasses 👓");
        let s = schedule(t, provider, notes);
        round_trip(&s);
        assert_eq!(s.key(), s.appointment_id.to_string());
        assert_eq!(s.saga_id(), Some(s.saga_id));
        assert_eq!(Record::event_id(&s), s.event_id);
    }
    round_trip(&schedule(AppointmentType::Routine, None, None));
    round_trip(&schedule(
        AppointmentType::Emergency,
        Some(ProviderId::new()),
        Some(""),
    ));
    round_trip(&cancel());
    round_trip(&confirm());
    round_trip(&complete());
    assert!(cancel().saga_id().is_some());
}

#[test]
fn appointment_events_round_trip() {
    for t in AppointmentType::ALL {
        round_trip(&created(t, None));
        round_trip(&created(t, Some("Dilation needed; patient has a driver")));
    }
    round_trip(&confirmed());
    round_trip(&cancelled());
    round_trip(&completed());
    let c = created(AppointmentType::FollowUp, None);
    assert_eq!(c.key(), c.appointment_id.to_string());
}

#[test]
fn insurance_and_notification_records_round_trip() {
    for t in AppointmentType::ALL {
        round_trip(&verify(t));
    }
    round_trip(&verified());
    round_trip(&insurance_failed());
    round_trip(&send_confirmation());
    round_trip(&confirmation_sent());
    let v = verified();
    assert_eq!(v.key(), v.appointment_id.to_string());
    assert_eq!(v.saga_id(), Some(v.saga_id));
}

#[test]
fn call_records_round_trip_with_every_outcome() {
    round_trip(&call_started());
    for outcome in CallOutcome::ALL {
        round_trip(&call_ended(outcome, None));
        round_trip(&call_ended(outcome, Some(AppointmentId::new())));
    }
    let ended = call_ended(CallOutcome::Booked, Some(AppointmentId::new()));
    assert_eq!(ended.key(), ended.call_id.to_string());
    assert_eq!(ended.saga_id(), None);
    let started = call_started();
    assert_eq!(started.key(), started.call_id.to_string());
}

#[test]
fn hourly_counts_round_trip_including_extremes() {
    for count in [0, 1, 37, i64::MAX] {
        round_trip(&hourly_count(count));
    }
    let h = hourly_count(5);
    assert_eq!(h.key(), h.clinic_id.to_string());
    assert_eq!(h.saga_id(), None);
}

#[test]
fn the_wire_form_uses_avro_logical_types_and_null_first_unions() {
    let c = created(AppointmentType::ContactLens, Some("first fitting"));
    let fields = generic(&c);
    assert_eq!(field(&fields, "event_id"), &Value::Uuid(c.event_id.0));
    assert_eq!(
        field(&fields, "appointment_id"),
        &Value::Uuid(c.appointment_id.0)
    );
    assert_eq!(
        field(&fields, "occurred_at"),
        &Value::TimestampMillis(c.occurred_at.timestamp_millis())
    );
    assert_eq!(
        field(&fields, "type"),
        &Value::Enum(3, "CONTACT_LENS".into())
    );
    assert_eq!(field(&fields, "appointment_version"), &Value::Int(1));
    assert_eq!(
        field(&fields, "notes"),
        &Value::Union(1, Box::new(Value::String("first fitting".into())))
    );

    let s = schedule(AppointmentType::Routine, None, None);
    let fields = generic(&s);
    assert_eq!(
        field(&fields, "provider_id"),
        &Value::Union(0, Box::new(Value::Null))
    );
    assert_eq!(field(&fields, "type"), &Value::Enum(0, "ROUTINE".into()));

    let ended = call_ended(CallOutcome::Abandoned, Some(AppointmentId::new()));
    let fields = generic(&ended);
    assert_eq!(
        field(&fields, "outcome"),
        &Value::Enum(4, "ABANDONED".into())
    );
    let id = ended.appointment_id.expect("set above").0;
    assert_eq!(
        field(&fields, "appointment_id"),
        &Value::Union(1, Box::new(Value::Uuid(id)))
    );
}

#[test]
fn a_datum_written_by_a_generic_avro_writer_decodes_into_the_rust_type() {
    // What a producer in another language would write: plain strings for the UUIDs.
    let call = CallId::new();
    let clinic = ClinicId::new();
    let event = EventId::new();
    let appointment = AppointmentId::new();
    let value = Value::Record(vec![
        ("event_id".into(), Value::String(event.to_string())),
        (
            "occurred_at".into(),
            Value::TimestampMillis(1_741_944_450_808),
        ),
        ("call_id".into(), Value::String(call.to_string())),
        ("clinic_id".into(), Value::String(clinic.to_string())),
        ("agent_id".into(), Value::String("agent-7".into())),
        ("outcome".into(), Value::Enum(1, "RESCHEDULED".into())),
        (
            "appointment_id".into(),
            Value::Union(1, Box::new(Value::String(appointment.to_string()))),
        ),
    ]);
    let datum = apache_avro::to_avro_datum(CallEnded::schema(), value).expect("generic encode");
    let decoded: CallEnded = decode_datum(&datum, CallEnded::schema()).expect("decode");
    assert_eq!(
        decoded,
        CallEnded {
            event_id: event,
            occurred_at: at(2025, 3, 14, 9, 27, 30, 808),
            call_id: call,
            clinic_id: clinic,
            agent_id: "agent-7".into(),
            outcome: CallOutcome::Rescheduled,
            appointment_id: Some(appointment),
        }
    );
}

#[test]
fn sub_millisecond_precision_is_dropped_not_rounded() {
    let mut c = confirm();
    let exact = c.occurred_at;
    c.occurred_at = exact + chrono::Duration::microseconds(999);
    let back: ConfirmAppointment = decode_datum(
        &encode_datum(&c).expect("encode"),
        ConfirmAppointment::schema(),
    )
    .expect("decode");
    assert_eq!(back.occurred_at, exact);
}

#[test]
fn timestamps_before_1970_survive() {
    let mut h = hourly_count(3);
    h.window_start = at(1969, 12, 31, 23, 0, 0, 0);
    round_trip(&h);
}

#[test]
fn every_truncation_of_a_datum_is_an_error_not_a_panic_and_hides_the_contents() {
    let c = created(AppointmentType::Routine, Some("sensitive note"));
    let datum = encode_datum(&c).expect("encode");
    for len in 0..datum.len() {
        let err = decode_datum::<AppointmentCreated>(&datum[..len], AppointmentCreated::schema())
            .expect_err("a truncated datum must not decode");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("José"), "{text}");
        assert!(!text.contains("example.org"), "{text}");
    }
}

#[test]
fn trailing_bytes_after_a_datum_are_rejected() {
    let mut datum = encode_datum(&verified()).expect("encode");
    datum.extend_from_slice(&[0, 0]);
    assert_eq!(
        decode_datum::<InsuranceVerified>(&datum, InsuranceVerified::schema()),
        Err(ContractError::TrailingBytes {
            record: "InsuranceVerified",
            count: 2
        })
    );
}

#[test]
fn arbitrary_bytes_never_panic_the_decoder() {
    // A small deterministic generator (xorshift) instead of a fuzzing dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 200) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|i| (state.rotate_left((i % 64) as u32) & 0xff) as u8)
            .collect();
        let _ = decode_datum::<AppointmentCreated>(&bytes, AppointmentCreated::schema());
        let _ = decode_datum::<CallEnded>(&bytes, CallEnded::schema());
    }
}

#[test]
fn a_record_of_another_type_is_refused_by_name() {
    let started = call_started();
    let datum = encode_datum(&started).expect("encode");
    assert_eq!(
        decode_datum::<CallEnded>(&datum, CallStarted::schema()),
        Err(ContractError::WrongRecord {
            record: "CallEnded",
            writer: "CallStarted".into()
        })
    );
}

#[test]
fn an_invalid_uuid_in_a_generic_datum_fails_without_quoting_it() {
    let value = Value::Record(vec![
        ("event_id".into(), Value::String("José Ñúñez".into())),
        ("occurred_at".into(), Value::TimestampMillis(0)),
        (
            "appointment_id".into(),
            Value::String(AppointmentId::new().to_string()),
        ),
        ("saga_id".into(), Value::String(SagaId::new().to_string())),
    ]);
    // Written against a plain-string schema, as a careless producer might.
    let loose = Schema::parse_str(
        r#"{"type":"record","name":"ConfirmAppointment","namespace":"com.clinic.commands","fields":[
        {"name":"event_id","type":"string"},
        {"name":"occurred_at","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"appointment_id","type":"string"},
        {"name":"saga_id","type":"string"}]}"#,
    )
    .expect("schema");
    let datum = apache_avro::to_avro_datum(&loose, value).expect("encode");
    let err = decode_datum::<ConfirmAppointment>(&datum, &loose).expect_err("not a uuid");
    assert!(!format!("{err} {err:?}").contains("José"), "{err:?}");
}
