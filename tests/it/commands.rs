//! The appointment command functions (confirm, cancel, complete) through the handler adapter,
//! on an appointment booked through the API: valid transitions change the row and emit their
//! event; refused ones change nothing; a redelivered command is applied once.

use crate::support::*;
use cancel_appointment::CancelAppointmentFn;
use chrono::Utc;
use complete_appointment::CompleteAppointmentFn;
use confirm_appointment::ConfirmAppointmentFn;
use contract::{
    AppointmentCancelled, CancelAppointment, CompleteAppointment, ConfirmAppointment, Record,
};
use domain::{AppointmentId, EventId, SagaId};
use messaging::{handle_batch, Deadline, FunctionContext, KafkaFunction};
use sqlx::PgPool;

async fn booked(api: &TestApi) -> (AppointmentId, SagaId) {
    book(api, &routine_at_bayview(3, 2, "15:00")).await
}

async fn state(pool: &PgPool, id: AppointmentId) -> (String, i32) {
    sqlx::query_as("SELECT status, version FROM appointments WHERE id = $1")
        .bind(id.0)
        .fetch_one(pool)
        .await
        .expect("row")
}

async fn run<F: KafkaFunction, R: Record>(ctx: &FunctionContext, function: &F, record: &R) {
    let bytes = ctx.registry.encode(record).await.expect("encode");
    let response = handle_batch(
        ctx,
        function,
        kafka_event(&[(R::TOPIC, 0, 0, bytes)]),
        Deadline::NONE,
    )
    .await;
    assert!(response.is_success(), "{response:?}");
}

fn cancel(id: AppointmentId, saga: SagaId) -> CancelAppointment {
    CancelAppointment {
        event_id: EventId::new(),
        occurred_at: Utc::now(),
        appointment_id: id,
        saga_id: saga,
        reason: "Patient called to cancel".to_owned(),
        requested_by: "agent-7".to_owned(),
    }
}

async fn events(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT event_type FROM outbox ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("outbox")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn confirm_then_complete_walk_the_status_machine_and_late_commands_change_nothing(
    pool: PgPool,
) {
    let api = test_api(pool.clone()).await;
    let ctx = FunctionContext::new(pool.clone(), api.registry.clone(), None);
    let (id, saga) = booked(&api).await;
    let confirm = || ConfirmAppointment {
        event_id: EventId::new(),
        occurred_at: Utc::now(),
        appointment_id: id,
        saga_id: saga,
    };
    let complete = || CompleteAppointment {
        event_id: EventId::new(),
        occurred_at: Utc::now(),
        appointment_id: id,
        saga_id: saga,
        requested_by: "agent-7".to_owned(),
    };

    // Not yet verified: confirming and completing are refused and change nothing.
    run(&ctx, &ConfirmAppointmentFn, &confirm()).await;
    run(&ctx, &CompleteAppointmentFn, &complete()).await;
    assert_eq!(state(&pool, id).await, ("PENDING_INSURANCE".to_owned(), 1));
    assert_eq!(events(&pool).await, ["AppointmentCreated"]);

    // The saga's insurance step moves it on; stand in for it here.
    sqlx::query(
        "UPDATE appointments SET status = 'AWAITING_CONFIRMATION', version = 2 WHERE id = $1",
    )
    .bind(id.0)
    .execute(&pool)
    .await
    .expect("verified");
    run(&ctx, &ConfirmAppointmentFn, &confirm()).await;
    assert_eq!(state(&pool, id).await, ("CONFIRMED".to_owned(), 3));
    run(&ctx, &CompleteAppointmentFn, &complete()).await;
    assert_eq!(state(&pool, id).await, ("COMPLETED".to_owned(), 4));
    run(&ctx, &CancelAppointmentFn, &cancel(id, saga)).await;
    assert_eq!(
        state(&pool, id).await,
        ("COMPLETED".to_owned(), 4),
        "a completed appointment stays completed"
    );
    assert_eq!(
        events(&pool).await,
        [
            "AppointmentCreated",
            "AppointmentConfirmed",
            "AppointmentCompleted"
        ]
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_cancellation_applies_once_frees_the_slot_and_carries_the_reason(pool: PgPool) {
    let api = test_api(pool.clone()).await;
    let ctx = FunctionContext::new(pool.clone(), api.registry.clone(), None);
    let (id, saga) = booked(&api).await;
    let command = cancel(id, saga);
    let bytes = ctx.registry.encode(&command).await.expect("encode");
    let topic = CancelAppointment::TOPIC;
    let twice = kafka_event(&[(topic, 0, 0, bytes.clone()), (topic, 0, 1, bytes)]);
    assert!(
        handle_batch(&ctx, &CancelAppointmentFn, twice, Deadline::NONE)
            .await
            .is_success()
    );

    assert_eq!(state(&pool, id).await, ("CANCELLED".to_owned(), 2));
    assert_eq!(
        events(&pool).await,
        ["AppointmentCreated", "AppointmentCancelled"]
    );
    let (payload,): (Vec<u8>,) =
        sqlx::query_as("SELECT payload FROM outbox WHERE event_type = 'AppointmentCancelled'")
            .fetch_one(&pool)
            .await
            .expect("row");
    let event: AppointmentCancelled = ctx.registry.decode(&payload).await.expect("decode");
    assert_eq!(
        (event.appointment_version, event.reason.as_str()),
        (2, "Patient called to cancel")
    );
    // The same provider and time can be booked again.
    let (_, _) = booked(&api).await;
    let (live,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM appointments WHERE status <> 'CANCELLED'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(live, 1);
}
