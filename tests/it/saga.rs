//! The booking saga end to end (API → tansu → every function → PostgreSQL, emails in moto):
//! every booking ends CONFIRMED with exactly one email, or CANCELLED with the reason and none.

use crate::stack::*;
use crate::support::*;
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use domain::{AppointmentId, SagaId};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use store::read_model::AppointmentSummary;
use store::saga::TimelineOutcome;

/// Waits until the read model shows the appointment in `status`.
async fn projected(stack: &Stack, id: AppointmentId, status: &str) -> AppointmentSummary {
    let pool = &stack.api.pool;
    eventually(90, &format!("{id} {status} in the read model"), || async {
        store::read_model::get_summary(pool, id)
            .await
            .ok()
            .flatten()
            .filter(|s| s.status == status)
    })
    .await
}

async fn saga_step(pool: &PgPool, saga: SagaId) -> Option<String> {
    sqlx::query_scalar("SELECT step FROM saga_state WHERE saga_id = $1")
        .bind(saga.0)
        .fetch_optional(pool)
        .await
        .expect("saga")
}

async fn wait_for_step(stack: &Stack, saga: SagaId, step: &str) {
    let pool = &stack.api.pool;
    eventually(90, &format!("saga {saga} at {step}"), || async {
        (saga_step(pool, saga).await.as_deref() == Some(step)).then_some(())
    })
    .await;
}

/// The timeline as (input, outcome, step).
async fn timeline(pool: &PgPool, saga: SagaId) -> Vec<(String, TimelineOutcome, String)> {
    let mut conn = pool.acquire().await.expect("connection");
    store::saga::timeline(&mut conn, saga)
        .await
        .expect("timeline")
        .into_iter()
        .map(|e| (e.input, e.outcome, e.step.as_str().to_owned()))
        .collect()
}

fn entry(input: &str, outcome: TimelineOutcome, step: &str) -> (String, TimelineOutcome, String) {
    (input.to_owned(), outcome, step.to_owned())
}

async fn write_side(pool: &PgPool, id: AppointmentId) -> (String, i32, Option<String>) {
    sqlx::query_as("SELECT status, version, cancel_reason FROM appointments WHERE id = $1")
        .bind(id.0)
        .fetch_one(pool)
        .await
        .expect("appointment")
}

use TimelineOutcome::{Applied, Ignored};

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_booking_with_valid_insurance_is_confirmed_with_exactly_one_email(pool: PgPool) {
    let stack = stack(pool).await;
    let (id, saga) = book(&stack.api, &routine_at_bayview(3, 1, "09:00")).await;

    let summary = projected(&stack, id, "CONFIRMED").await;
    assert_eq!(summary.version, 3);
    wait_for_step(&stack, saga, "COMPLETED").await;
    all_published(&stack).await;
    let emails = emails(id).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(
        timeline(&stack.api.pool, saga).await,
        vec![
            entry("AppointmentCreated", Applied, "INSURANCE_VERIFICATION"),
            entry("InsuranceVerified", Applied, "SENDING_CONFIRMATION"),
            entry("ConfirmationSent", Applied, "COMPLETED"),
        ]
    );
    assert_eq!(
        write_side(&stack.api.pool, id).await,
        ("CONFIRMED".to_owned(), 3, None)
    );
    // The API shows the same timeline with the appointment.
    let view = stack.api.get(&format!("/api/v1/appointments/{id}")).await;
    assert_eq!(view.status, StatusCode::OK);
    assert_eq!(view.body["status"], "CONFIRMED");
    assert_eq!(view.body["saga"]["step"], "COMPLETED");
    let shown: Vec<(&str, &str, &str)> = view.body["saga"]["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| {
            assert!(e["at"].is_string(), "{e}");
            let field = |name: &str| e[name].as_str().unwrap_or_default();
            (field("input"), field("outcome"), field("step"))
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("AppointmentCreated", "APPLIED", "INSURANCE_VERIFICATION"),
            ("InsuranceVerified", "APPLIED", "SENDING_CONFIRMATION"),
            ("ConfirmationSent", "APPLIED", "COMPLETED"),
        ]
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn missing_expired_or_non_vision_insurance_cancels_with_the_reason_and_no_email(
    pool: PgPool,
) {
    let stack = stack(pool).await;
    // Demo patients …0 have no policy, …1 an expired one, …2 one without vision coverage.
    let cases = [(10, "09:00"), (11, "10:00"), (12, "11:00")];
    let mut booked = Vec::new();
    for (patient, at) in cases {
        booked.push(book(&stack.api, &routine_at_bayview(patient, 1, at)).await);
    }
    for (id, saga) in booked {
        let summary = projected(&stack, id, "CANCELLED").await;
        let reason = summary.cancel_reason.expect("a reason");
        assert!(
            reason.starts_with("Insurance verification failed: ") && reason.len() > 32,
            "{reason}"
        );
        wait_for_step(&stack, saga, "CANCELLED").await;
        assert_eq!(
            timeline(&stack.api.pool, saga).await,
            vec![
                entry("AppointmentCreated", Applied, "INSURANCE_VERIFICATION"),
                entry("InsuranceFailed", Applied, "COMPENSATING"),
                entry("AppointmentCancelled", Applied, "CANCELLED"),
            ]
        );
        assert!(emails(id).await.is_empty());
    }
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT cancel_reason FROM appointments WHERE status = 'CANCELLED' ORDER BY scheduled_for",
    )
    .fetch_all(&stack.api.pool)
    .await
    .expect("reasons");
    assert_eq!(reasons.len(), 3);
    assert_eq!(
        reasons
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3,
        "each case has its own reason: {reasons:?}"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_agent_cancel_during_verification_is_final_and_a_late_verification_sends_nothing(
    pool: PgPool,
) {
    let stack = stack(pool).await;
    stack.pause("verify-insurance").await;
    let (id, saga) = book(&stack.api, &routine_at_bayview(3, 1, "13:00")).await;
    wait_for_step(&stack, saga, "INSURANCE_VERIFICATION").await;

    let reply = stack
        .api
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            &json!({"reason": "Patient called to cancel"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    wait_for_step(&stack, saga, "CANCELLED").await;

    stack.resume("verify-insurance");
    let pool = &stack.api.pool;
    eventually(90, "the late verification noted and ignored", || async {
        timeline(pool, saga)
            .await
            .contains(&entry("InsuranceVerified", Ignored, "CANCELLED"))
            .then_some(())
    })
    .await;
    all_published(&stack).await;
    let summary = projected(&stack, id, "CANCELLED").await;
    assert_eq!(
        summary.cancel_reason.as_deref(),
        Some("Patient called to cancel")
    );
    assert_eq!(write_side(pool, id).await.0, "CANCELLED");
    assert!(emails(id).await.is_empty());
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM outbox WHERE event_type = 'SendConfirmation'"
        )
        .await,
        0
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_verification_that_never_answers_is_compensated_by_the_sweeper(pool: PgPool) {
    let stack = stack(pool).await;
    stack.pause("verify-insurance").await;
    let (id, saga) = book(&stack.api, &routine_at_bayview(4, 1, "14:00")).await;
    wait_for_step(&stack, saga, "INSURANCE_VERIFICATION").await;

    let (ctx, deadlines) = (stack.ctx(), stack.functions.deadlines);
    let now = Utc::now();
    let early = saga_sweeper::sweep(ctx, &deadlines, now).await;
    assert_eq!(
        early.expect("swept"),
        0,
        "nothing is due before the deadline"
    );
    let late = now + deadlines.insurance_verification + Duration::seconds(1);
    let sweep = || saga_sweeper::sweep(ctx, &deadlines, late);
    assert_eq!(sweep().await.expect("swept"), 1);
    assert_eq!(
        sweep().await.expect("swept"),
        0,
        "a compensated saga is not swept again"
    );

    let summary = projected(&stack, id, "CANCELLED").await;
    assert_eq!(
        summary.cancel_reason.as_deref(),
        Some("Insurance verification did not answer in time")
    );
    wait_for_step(&stack, saga, "CANCELLED").await;
    stack.resume("verify-insurance");
    let pool = &stack.api.pool;
    eventually(90, "the late verification ignored", || async {
        timeline(pool, saga)
            .await
            .contains(&entry("InsuranceVerified", Ignored, "CANCELLED"))
            .then_some(())
    })
    .await;
    assert_eq!(
        &timeline(pool, saga).await[..3],
        &[
            entry("AppointmentCreated", Applied, "INSURANCE_VERIFICATION"),
            entry("DeadlinePassed", Applied, "COMPENSATING"),
            entry("AppointmentCancelled", Applied, "CANCELLED"),
        ]
    );
    assert!(emails(id).await.is_empty());
}

/// What a duplicate delivery must not change.
async fn effects(pool: &PgPool, id: AppointmentId, saga: SagaId) -> (Value, usize) {
    let (appointment, saga_state, outbox, timeline): (Value, Value, i64, i64) = sqlx::query_as(
        "SELECT (SELECT to_jsonb(a) - 'updated_at' FROM appointments a WHERE id = $1),
                (SELECT to_jsonb(s) FROM saga_state s WHERE saga_id = $2),
                (SELECT count(*) FROM outbox),
                (SELECT count(*) FROM saga_timeline WHERE saga_id = $2)",
    )
    .bind(id.0)
    .bind(saga.0)
    .fetch_one(pool)
    .await
    .expect("effects");
    let emails = emails(id).await.len();
    (
        json!({"appointment": appointment, "saga": saga_state, "outbox": outbox, "timeline": timeline}),
        emails,
    )
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn every_command_and_event_delivered_twice_has_no_second_effect(pool: PgPool) {
    let stack = stack(pool).await;
    let (id, saga) = book(&stack.api, &routine_at_bayview(5, 1, "15:00")).await;
    projected(&stack, id, "CONFIRMED").await;
    wait_for_step(&stack, saga, "COMPLETED").await;
    all_published(&stack).await;
    let before = effects(&stack.api.pool, id, saga).await;
    assert_eq!(before.1, 1);

    // Every record this booking produced, delivered again (same bytes, same event ids).
    let records: Vec<(String, String, String, Vec<u8>)> =
        sqlx::query_as("SELECT event_type, topic, record_key, payload FROM outbox ORDER BY id")
            .fetch_all(&stack.api.pool)
            .await
            .expect("outbox");
    // project-metrics' HourlyCount for the booking's hour is emitted whenever it gets there.
    let types: Vec<&str> = records
        .iter()
        .map(|r| r.0.as_str())
        .filter(|t| *t != "HourlyCount")
        .collect();
    assert_eq!(records.len(), types.len() + 1, "one HourlyCount");
    assert_eq!(
        types,
        [
            "AppointmentCreated",
            "VerifyInsurance",
            "InsuranceVerified",
            "SendConfirmation",
            "ConfirmationSent",
            "ConfirmAppointment",
            "AppointmentConfirmed"
        ]
    );
    let consumers: HashMap<String, u64> =
        esm::mappings_from_template(&local::stack::template_path())
            .expect("template")
            .into_iter()
            .fold(HashMap::new(), |mut m, mapping| {
                *m.entry(mapping.topic).or_default() += 1;
                m
            });
    let processed = |stack: &Stack| -> u64 {
        local::functions::FUNCTIONS
            .iter()
            .map(|f| stack.processed(f))
            .sum()
    };
    let expected = processed(&stack)
        + records
            .iter()
            .map(|(_, topic, _, _)| consumers.get(topic).copied().unwrap_or_default())
            .sum::<u64>();
    for (_, topic, key, payload) in &records {
        stack.produce(topic, key, payload).await;
    }
    eventually(90, "every duplicate consumed", || async {
        (processed(&stack) >= expected).then_some(())
    })
    .await;
    all_published(&stack).await;
    assert_eq!(effects(&stack.api.pool, id, saga).await, before);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn three_hundred_concurrent_bookings_all_end_confirmed_or_cancelled(pool: PgPool) {
    const BOOKINGS: usize = 300;
    let stack = stack(pool).await;
    let booked = book_spread(&stack, BOOKINGS).await;
    assert_eq!(booked.len(), BOOKINGS);

    let pool = &stack.api.pool;
    eventually(240, "every saga terminal and projected", || async {
        let terminal = count(
            pool,
            "SELECT count(*) FROM saga_state WHERE step IN ('COMPLETED', 'CANCELLED')",
        )
        .await;
        let projected = count(
            pool,
            "SELECT count(*) FROM appointment_summary WHERE status IN ('CONFIRMED', 'CANCELLED')",
        )
        .await;
        (terminal == BOOKINGS as i64 && projected == BOOKINGS as i64).then_some(())
    })
    .await;
    all_published(&stack).await;

    let statuses: BTreeMap<AppointmentId, String> = sqlx::query_as::<_, (uuid::Uuid, String)>(
        "SELECT appointment_id, status FROM appointment_summary",
    )
    .fetch_all(pool)
    .await
    .expect("statuses")
    .into_iter()
    .map(|(id, status)| (AppointmentId(id), status))
    .collect();
    // Demo patients …0, …1 and …2 cannot have a ROUTINE exam covered.
    for (patient, id) in &booked {
        let expected = if patient % 10 <= 2 {
            "CANCELLED"
        } else {
            "CONFIRMED"
        };
        assert_eq!(statuses[id], expected, "patient {patient}");
    }
    let confirmed: Vec<AppointmentId> = statuses
        .iter()
        .filter(|(_, s)| *s == "CONFIRMED")
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM appointments WHERE status = 'CONFIRMED'"
        )
        .await,
        confirmed.len() as i64
    );
    let sent = sent_per_appointment().await;
    for (id, status) in &statuses {
        let expected = usize::from(status == "CONFIRMED");
        assert_eq!(
            sent.get(id).copied().unwrap_or_default(),
            expected,
            "{id} {status}"
        );
    }
}
