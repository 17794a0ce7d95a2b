//! send-confirmation through the handler adapter, on an appointment booked through the API and
//! SES on the shared moto: exactly one email per booking saga, whatever is redelivered, crashed,
//! cancelled or unreachable. moto is shared by every test in the process, so each test only
//! looks at the emails that carry its own appointment reference.

use crate::stack::{confirmation_function as function, emails, ses_at};
use crate::support::*;
use chrono::{Datelike, Duration, Month, TimeZone, Utc, Weekday};
use contract::lambda::KafkaBatchResponse;
use contract::{ConfirmationSent, Record, SendConfirmation};
use domain::appointment::AppointmentCommand;
use domain::values::CancelReason;
use domain::{AppointmentId, EventId, SagaId};
use messaging::{handle_batch, Deadline, FunctionContext};
use send_confirmation::{ensure_sender_identity, SendConfirmationFn, DEFAULT_SENDER};
use serde_json::{json, Value};
use sqlx::PgPool;

/// Demo patient 3 and Bayview's provider 2, as booked below.
const PATIENT_EMAIL: &str = "chloe.lee3@example.com";

/// An appointment booked through the API (Bayview, Thursday 15:00 clinic time) and moved on to
/// AWAITING_CONFIRMATION as the saga's insurance step does, with a function context.
async fn awaiting_confirmation(pool: PgPool) -> (FunctionContext, AppointmentId, SagaId) {
    let api = test_api(pool.clone()).await;
    let (id, saga) = book(&api, &routine_at_bayview(3, 2, "15:00")).await;
    apply_commands(
        &api.pool,
        &api.registry,
        id,
        &[AppointmentCommand::MarkInsuranceVerified],
    )
    .await;
    let ctx = FunctionContext::new(pool, api.registry, None);
    (ctx, id, saga)
}

fn send(id: AppointmentId, saga: SagaId) -> SendConfirmation {
    SendConfirmation {
        event_id: EventId::new(),
        occurred_at: Utc::now(),
        appointment_id: id,
        saga_id: saga,
    }
}

async fn deliver(
    ctx: &FunctionContext,
    function: &SendConfirmationFn,
    cmd: &SendConfirmation,
) -> KafkaBatchResponse {
    let bytes = ctx.registry.encode(cmd).await.expect("encode");
    handle_batch(
        ctx,
        function,
        kafka_event(&[(SendConfirmation::TOPIC, 0, 0, bytes)]),
        Deadline::NONE,
    )
    .await
}

/// ConfirmationSent records in the outbox, with their causation id.
async fn confirmations(ctx: &FunctionContext) -> Vec<(ConfirmationSent, Option<String>)> {
    let rows: Vec<(Vec<u8>, Option<String>)> = sqlx::query_as(
        "SELECT payload, headers->>'causation_id' FROM outbox WHERE event_type = $1 ORDER BY id",
    )
    .bind(ConfirmationSent::NAME)
    .fetch_all(&ctx.pool)
    .await
    .expect("outbox");
    let mut decoded = Vec::new();
    for (payload, causation) in rows {
        let event = ctx.registry.decode(&payload).await.expect("decode");
        decoded.push((event, causation));
    }
    decoded
}

/// The saga's claim: status and message id.
async fn claim(pool: &PgPool, saga: SagaId) -> Option<(String, Option<String>)> {
    sqlx::query_as("SELECT status, message_id FROM confirmation_emails WHERE saga_id = $1")
        .bind(saga.0)
        .fetch_optional(pool)
        .await
        .expect("claim")
}

/// Thursday 15:00 at Bayview as a patient reads it, e.g. "Thursday, December 3, 2026 at 3:00 PM PST".
fn bayview_thursday_at_three() -> String {
    let date = next(Weekday::Thu);
    let zone = chrono_tz::America::Los_Angeles
        .from_local_datetime(&date.and_hms_opt(15, 0, 0).expect("time"))
        .single()
        .expect("unambiguous")
        .format("%Z");
    let month = Month::try_from(u8::try_from(date.month()).expect("month")).expect("month");
    format!(
        "Thursday, {} {}, {} at 3:00 PM {zone}",
        month.name(),
        date.day(),
        date.year()
    )
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn one_command_sends_one_email_with_the_booking_in_the_clinics_time(pool: PgPool) {
    let (ctx, id, saga) = awaiting_confirmation(pool).await;
    let cmd = send(id, saga);
    let response = deliver(&ctx, &function().await, &cmd).await;
    assert!(response.is_success(), "{response:?}");

    let emails = emails(id).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    let email = &emails[0];
    assert_eq!(email["destinations"]["ToAddresses"], json!([PATIENT_EMAIL]));
    assert_eq!(email["source"], DEFAULT_SENDER);
    let when = bayview_thursday_at_three();
    let subject = email["subject"].as_str().expect("subject");
    assert!(subject.contains("Bayview Eye Care"), "{subject}");
    assert!(
        subject.contains(when.split(" at ").next().expect("date")),
        "{subject}"
    );
    let body = email["body"].as_str().expect("body");
    for expected in [
        "Bayview Eye Care",
        "Dr. Luis Ortega",
        &when,
        "Routine eye exam",
        &format!(
            "To cancel or change this appointment, call us and give your appointment reference {id}."
        ),
    ] {
        assert!(body.contains(expected), "{expected:?} not in {body}");
    }

    let message_id = email["id"].as_str().expect("moto message id");
    let sent = confirmations(&ctx).await;
    assert_eq!(sent.len(), 1);
    let (event, causation) = &sent[0];
    assert_eq!(
        (
            event.appointment_id,
            event.saga_id,
            event.message_id.as_str()
        ),
        (id, saga, message_id)
    );
    assert_eq!(
        causation.as_deref(),
        Some(cmd.event_id.to_string().as_str())
    );
    assert_eq!(
        claim(&ctx.pool, saga).await,
        Some(("SENT".to_owned(), Some(message_id.to_owned())))
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_redelivered_or_repeated_command_sends_no_second_email(pool: PgPool) {
    let (ctx, id, saga) = awaiting_confirmation(pool).await;
    let function = function().await;
    let cmd = send(id, saga);
    for cmd in [&cmd, &cmd, &send(id, saga)] {
        let response = deliver(&ctx, &function, cmd).await;
        assert!(response.is_success(), "{response:?}");
    }

    let emails = emails(id).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    let message_id = emails[0]["id"].as_str().expect("moto message id");
    // The redelivery is skipped; the repeated command re-emits the receipt of the one email.
    let ids: Vec<String> = confirmations(&ctx)
        .await
        .into_iter()
        .map(|(e, _)| e.message_id)
        .collect();
    assert_eq!(ids, [message_id, message_id]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_attempt_that_died_after_sending_is_not_repeated(pool: PgPool) {
    let (ctx, id, saga) = awaiting_confirmation(pool).await;
    // What a process killed during the SES call leaves behind.
    sqlx::query(
        "INSERT INTO confirmation_emails (saga_id, appointment_id, status, claimed_at)
         VALUES ($1, $2, 'SENDING', $3)",
    )
    .bind(saga.0)
    .bind(id.0)
    .bind(Utc::now() - Duration::minutes(5))
    .execute(&ctx.pool)
    .await
    .expect("claim");

    let response = deliver(&ctx, &function().await, &send(id, saga)).await;
    assert!(response.is_success(), "{response:?}");
    assert_eq!(emails(id).await, Vec::<Value>::new());
    let ids: Vec<String> = confirmations(&ctx)
        .await
        .into_iter()
        .map(|(e, _)| e.message_id)
        .collect();
    assert_eq!(ids, ["unknown"]);
    assert_eq!(
        claim(&ctx.pool, saga).await,
        Some(("SENT".to_owned(), None))
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_cancelled_appointment_gets_no_email(pool: PgPool) {
    let (ctx, id, saga) = awaiting_confirmation(pool).await;
    let cancel = AppointmentCommand::Cancel {
        reason: CancelReason::parse("Patient called to cancel").expect("reason"),
    };
    apply_commands(&ctx.pool, &ctx.registry, id, &[cancel]).await;

    let response = deliver(&ctx, &function().await, &send(id, saga)).await;
    assert!(response.is_success(), "{response:?}");
    assert_eq!(emails(id).await, Vec::<Value>::new());
    assert!(confirmations(&ctx).await.is_empty());
    assert_eq!(claim(&ctx.pool, saga).await, None);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn ses_unreachable_releases_the_claim_and_the_retry_sends_once(pool: PgPool) {
    let (ctx, id, saga) = awaiting_confirmation(pool).await;
    let closed = format!("http://127.0.0.1:{}", testkit::free_port().expect("port"));
    let down = SendConfirmationFn::new(ses_at(&closed).await, DEFAULT_SENDER.to_owned());
    let cmd = send(id, saga);

    let response = deliver(&ctx, &down, &cmd).await;
    assert!(!response.is_success(), "the record must be retried");
    assert_eq!(claim(&ctx.pool, saga).await, None);
    assert!(confirmations(&ctx).await.is_empty());

    let response = deliver(&ctx, &function().await, &cmd).await;
    assert!(response.is_success(), "{response:?}");
    assert_eq!(emails(id).await.len(), 1);
    assert_eq!(confirmations(&ctx).await.len(), 1);
}

#[tokio::test]
async fn the_sender_identity_can_be_ensured_twice() {
    let ses = ses_at(&testkit::shared_moto().endpoint).await;
    let sender = "identity-check@eyecare-callcenter.example";
    for _ in 0..2 {
        ensure_sender_identity(&ses, sender)
            .await
            .expect("ensure identity");
    }
    let identity = ses
        .get_email_identity()
        .email_identity(sender)
        .send()
        .await
        .expect("identity exists");
    assert!(identity.identity_type.is_some());
}
