//! verify-insurance through the handler adapter: each demo policy kind gives the right outcome
//! as an outbox record caused by the command.

use crate::support::*;
use chrono::{Duration, Utc};
use contract::{InsuranceFailed, InsuranceVerified, Record, VerifyInsurance};
use domain::{AppointmentId, AppointmentType, EventId, SagaId};
use messaging::{handle_batch, Deadline, FunctionContext};
use sqlx::PgPool;
use verify_insurance::VerifyInsuranceFn;

fn verify(patient: u128, kind: AppointmentType) -> VerifyInsurance {
    VerifyInsurance {
        event_id: EventId::new(),
        occurred_at: Utc::now(),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
        patient_id: patient_id(patient),
        clinic_id: clinic_id(BAYVIEW),
        scheduled_for: Utc::now() + Duration::days(3),
        r#type: kind,
    }
}

/// Runs one command; returns the outbox record it produced (event_type, payload, causation).
async fn outcome(
    ctx: &FunctionContext,
    cmd: &VerifyInsurance,
) -> (String, Vec<u8>, Option<String>) {
    let bytes = ctx.registry.encode(cmd).await.expect("encode");
    let response = handle_batch(
        ctx,
        &VerifyInsuranceFn::default(),
        kafka_event(&[(VerifyInsurance::TOPIC, 0, 0, bytes)]),
        Deadline::NONE,
    )
    .await;
    assert!(response.is_success(), "{response:?}");
    sqlx::query_as(
        "SELECT event_type, payload, headers->>'causation_id' FROM outbox WHERE record_key = $1",
    )
    .bind(cmd.appointment_id.to_string())
    .fetch_one(&ctx.pool)
    .await
    .expect("one outcome record")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn each_kind_of_policy_gets_the_outcome_its_rules_give(pool: PgPool) {
    store::demo::seed(&pool, Utc::now().date_naive())
        .await
        .expect("seed");
    let ctx = FunctionContext::new(pool, testkit::registry().await, None);
    // Demo patients: 3 active with vision, 11 expired, 10 without a policy, 12 without vision.
    let verified = [
        (3, AppointmentType::Routine),
        (3, AppointmentType::ContactLens),
        (12, AppointmentType::FollowUp),
        (12, AppointmentType::Emergency),
    ];
    for (patient, kind) in verified {
        let cmd = verify(patient, kind);
        let (event_type, payload, causation) = outcome(&ctx, &cmd).await;
        assert_eq!(
            event_type,
            InsuranceVerified::NAME,
            "patient {patient} {kind}"
        );
        let event: InsuranceVerified = ctx.registry.decode(&payload).await.expect("decode");
        assert_eq!(
            (event.appointment_id, event.saga_id),
            (cmd.appointment_id, cmd.saga_id)
        );
        assert!(!event.payer.is_empty());
        assert_eq!(causation, Some(cmd.event_id.to_string()));
    }
    let failed = [
        (11, AppointmentType::Routine, "expired"),
        (
            10,
            AppointmentType::Emergency,
            "no insurance policy on file",
        ),
        (12, AppointmentType::Routine, "no vision coverage"),
        (12, AppointmentType::ContactLens, "no vision coverage"),
    ];
    for (patient, kind, expected) in failed {
        let cmd = verify(patient, kind);
        let (event_type, payload, _) = outcome(&ctx, &cmd).await;
        assert_eq!(
            event_type,
            InsuranceFailed::NAME,
            "patient {patient} {kind}"
        );
        let event: InsuranceFailed = ctx.registry.decode(&payload).await.expect("decode");
        assert!(
            event.reason.contains(expected),
            "patient {patient} {kind}: {}",
            event.reason
        );
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_command_delivered_twice_is_answered_once(pool: PgPool) {
    store::demo::seed(&pool, Utc::now().date_naive())
        .await
        .expect("seed");
    let ctx = FunctionContext::new(pool.clone(), testkit::registry().await, None);
    let cmd = verify(3, AppointmentType::Routine);
    let bytes = ctx.registry.encode(&cmd).await.expect("encode");
    let event = kafka_event(&[
        (VerifyInsurance::TOPIC, 0, 0, bytes.clone()),
        (VerifyInsurance::TOPIC, 0, 1, bytes),
    ]);
    assert!(handle_batch(
        &ctx,
        &VerifyInsuranceFn::default(),
        event.clone(),
        Deadline::NONE
    )
    .await
    .is_success());
    assert!(
        handle_batch(&ctx, &VerifyInsuranceFn::default(), event, Deadline::NONE)
            .await
            .is_success()
    );
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(n, 1);
}
