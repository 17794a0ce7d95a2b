//! Impossible values: every sample record passes its checks, and a record broken in one field
//! is refused by the decoder with a reason that names the field and never the value.

use crate::samples::*;
use contract::*;
use domain::ids::*;
use domain::AppointmentType;
use testkit::{glue_client, Moto};
use uuid::Uuid;

#[test]
fn every_sample_record_is_possible() {
    let results = [
        schedule(AppointmentType::Routine, None, None).validate(),
        schedule(
            AppointmentType::Emergency,
            Some(ProviderId::new()),
            Some("n"),
        )
        .validate(),
        created(AppointmentType::ContactLens, None).validate(),
        cancel().validate(),
        confirm().validate(),
        complete().validate(),
        verify(AppointmentType::FollowUp).validate(),
        confirmed().validate(),
        cancelled().validate(),
        completed().validate(),
        verified().validate(),
        insurance_failed().validate(),
        send_confirmation().validate(),
        confirmation_sent().validate(),
        call_started().validate(),
        call_ended(CallOutcome::Booked, Some(AppointmentId::new())).validate(),
        call_ended(CallOutcome::Abandoned, None).validate(),
        hourly_count(0).validate(),
    ];
    for (i, result) in results.into_iter().enumerate() {
        assert_eq!(result, Ok(()), "sample {i}");
    }
}

/// One field of a record set to a value no producer writes, and the field the check must name.
fn broken_records() -> Vec<(&'static str, &'static str, Result<(), Impossible>)> {
    let nil = Uuid::nil();
    let long_ago = at(1970, 1, 1, 0, 0, 0, 0);
    let far_future = at(2999, 1, 1, 0, 0, 0, 0);
    let mut cases = Vec::new();
    let mut c = created(AppointmentType::Routine, None);
    c.appointment_version = 0;
    cases.push(("AppointmentCreated", "appointment_version", c.validate()));
    let mut c = created(AppointmentType::Routine, None);
    c.patient_id = PatientId(nil);
    cases.push(("AppointmentCreated", "patient_id", c.validate()));
    let mut c = created(AppointmentType::Routine, None);
    c.patient_email = " ".into();
    cases.push(("AppointmentCreated", "patient_email", c.validate()));
    let mut c = created(AppointmentType::Routine, None);
    c.scheduled_for = far_future;
    cases.push(("AppointmentCreated", "scheduled_for", c.validate()));
    let mut c = created(AppointmentType::Routine, None);
    c.duration_minutes = -30;
    cases.push(("AppointmentCreated", "duration_minutes", c.validate()));
    let mut s = schedule(AppointmentType::Routine, Some(ProviderId(nil)), None);
    cases.push(("ScheduleAppointment", "provider_id", s.validate()));
    s.provider_id = None;
    s.clinic_id = ClinicId(nil);
    cases.push(("ScheduleAppointment", "clinic_id", s.validate()));
    let mut s = schedule(AppointmentType::Routine, None, None);
    s.occurred_at = long_ago;
    cases.push(("ScheduleAppointment", "occurred_at", s.validate()));
    let mut x = cancel();
    x.reason = String::new();
    cases.push(("CancelAppointment", "reason", x.validate()));
    let mut x = confirm();
    x.saga_id = SagaId(nil);
    cases.push(("ConfirmAppointment", "saga_id", x.validate()));
    let mut x = complete();
    x.requested_by = String::new();
    cases.push(("CompleteAppointment", "requested_by", x.validate()));
    let mut x = verify(AppointmentType::Routine);
    x.scheduled_for = long_ago;
    cases.push(("VerifyInsurance", "scheduled_for", x.validate()));
    let mut x = confirmed();
    x.appointment_id = AppointmentId(nil);
    cases.push(("AppointmentConfirmed", "appointment_id", x.validate()));
    let mut x = cancelled();
    x.appointment_version = -1;
    cases.push(("AppointmentCancelled", "appointment_version", x.validate()));
    let mut x = completed();
    x.occurred_at = far_future;
    cases.push(("AppointmentCompleted", "occurred_at", x.validate()));
    let mut x = verified();
    x.payer = String::new();
    cases.push(("InsuranceVerified", "payer", x.validate()));
    let mut x = insurance_failed();
    x.reason = "\n".into();
    cases.push(("InsuranceFailed", "reason", x.validate()));
    let mut x = send_confirmation();
    x.event_id = EventId(nil);
    cases.push(("SendConfirmation", "event_id", x.validate()));
    let mut x = confirmation_sent();
    x.message_id = String::new();
    cases.push(("ConfirmationSent", "message_id", x.validate()));
    let mut x = call_started();
    x.agent_id = String::new();
    cases.push(("CallStarted", "agent_id", x.validate()));
    let mut x = call_ended(CallOutcome::Booked, Some(AppointmentId(nil)));
    cases.push(("CallEnded", "appointment_id", x.validate()));
    x.appointment_id = None;
    x.call_id = CallId(nil);
    cases.push(("CallEnded", "call_id", x.validate()));
    let mut x = hourly_count(-1);
    cases.push(("HourlyCount", "count", x.validate()));
    x.count = 1;
    x.window_start = long_ago;
    cases.push(("HourlyCount", "window_start", x.validate()));
    cases
}

#[test]
fn a_record_broken_in_one_field_names_that_field() {
    let cases = broken_records();
    let records: std::collections::BTreeSet<&str> = cases.iter().map(|(r, _, _)| *r).collect();
    assert_eq!(records.len(), ALL_RECORDS.len(), "every record has a case");
    for (record, field, result) in cases {
        let err = result.expect_err(&format!("{record}.{field} must be refused"));
        assert_eq!((err.record, err.field), (record, field), "{err}");
    }
}

#[tokio::test]
async fn the_decoder_refuses_impossible_values_for_good_without_repeating_them() {
    let moto = Moto::start();
    let reg = SchemaRegistry::new(glue_client(&moto.endpoint).await, "impossible");
    reg.register_all().await.expect("register");
    let mut record = created(AppointmentType::Routine, None);
    record.clinic_id = ClinicId(Uuid::nil());
    // Schema-valid: the producer side does not check (the contract is what decoders accept).
    let framed = reg.encode(&record).await.expect("schema-valid");
    let err = reg
        .decode::<AppointmentCreated>(&framed)
        .await
        .expect_err("impossible");
    assert!(
        matches!(
            err,
            DecodeError::Impossible(Impossible {
                field: "clinic_id",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let text = format!("{err} {err:?}");
    assert!(text.contains("AppointmentCreated.clinic_id"), "{text}");
    for personal in [&record.patient_name, &record.patient_email] {
        assert!(!text.contains(personal.as_str()), "{text}");
    }
    record.clinic_id = ClinicId::new();
    let valid = reg.encode(&record).await.expect("encode");
    assert_eq!(
        reg.decode::<AppointmentCreated>(&valid)
            .await
            .expect("decode"),
        record
    );
}
