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
use domain::saga::{Saga, SagaDeadlines, SagaStep};
use domain::values::CancelReason;
use domain::{AppointmentId, EventId, SagaId};
use messaging::{handle_batch, Deadline, FunctionContext};
use send_confirmation::{ensure_sender_identity, SendConfirmationFn, DEFAULT_SENDER};
use serde_json::{json, Value};
use sqlx::PgPool;
use store::notifications::{self, Claim};

/// Demo patient 3 and Bayview's provider 2, as booked below.
const PATIENT_EMAIL: &str = "chloe.lee3@example.com";

/// An appointment booked through the API (Bayview, Thursday 15:00 clinic time) and moved on to
/// AWAITING_CONFIRMATION, its saga to SENDING_CONFIRMATION (with the default deadline from
/// now), as the saga's insurance step does; with a function context.
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
    let now = Utc::now();
    let sending = Saga {
        saga_id: saga,
        appointment_id: id,
        step: SagaStep::SendingConfirmation,
        version: 2,
        deadline: Some(now + SagaDeadlines::default().sending_confirmation),
    };
    let mut db = pool.acquire().await.expect("connection");
    assert!(store::saga::insert(&mut db, &sending, now)
        .await
        .expect("saga"));
    let ctx = FunctionContext::new(pool, api.registry, None);
    (ctx, id, saga)
}

/// Runs the saga-sweeper past the SENDING_CONFIRMATION deadline of [`awaiting_confirmation`].
async fn sweep_past_the_deadline(ctx: &FunctionContext) {
    let deadlines = SagaDeadlines::default();
    let late = Utc::now() + deadlines.sending_confirmation + Duration::seconds(1);
    let swept = saga_sweeper::sweep(ctx, &deadlines, late).await;
    assert_eq!(swept.expect("swept"), 1);
}

/// The saga's step, and the commands it has sent through the outbox.
async fn saga_after(ctx: &FunctionContext, saga: SagaId) -> (String, Vec<String>) {
    let step = sqlx::query_scalar("SELECT step FROM saga_state WHERE saga_id = $1")
        .bind(saga.0)
        .fetch_one(&ctx.pool)
        .await
        .expect("saga");
    let sent = sqlx::query_scalar(
        "SELECT event_type FROM outbox WHERE event_type IN ('CancelAppointment', 'ConfirmAppointment') ORDER BY id",
    )
    .fetch_all(&ctx.pool)
    .await
    .expect("outbox");
    (step, sent)
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

/// A working function handed the booking's SendConfirmation sends no email, emits no
/// ConfirmationSent and leaves no claim.
async fn delivery_sends_and_claims_nothing(ctx: &FunctionContext, id: AppointmentId, saga: SagaId) {
    let response = deliver(ctx, &function().await, &send(id, saga)).await;
    assert!(response.is_success(), "{response:?}");
    assert_eq!(emails(id).await, Vec::<Value>::new());
    assert!(confirmations(ctx).await.is_empty());
    assert_eq!(claim(&ctx.pool, saga).await, None);
}

/// A working function handed `cmd` after an earlier attempt claimed the email and never learnt
/// its outcome: it sends nothing more and reports the one email with an unknown message id.
async fn redelivery_reports_the_unknown_email(
    ctx: &FunctionContext,
    id: AppointmentId,
    cmd: &SendConfirmation,
) {
    let response = deliver(ctx, &function().await, cmd).await;
    assert!(response.is_success(), "{response:?}");
    assert_eq!(emails(id).await, Vec::<Value>::new());
    let ids: Vec<String> = confirmations(ctx)
        .await
        .into_iter()
        .map(|(e, _)| e.message_id)
        .collect();
    assert_eq!(ids, ["unknown"]);
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

    redelivery_reports_the_unknown_email(&ctx, id, &send(id, saga)).await;
    assert_eq!(
        claim(&ctx.pool, saga).await,
        Some(("SENT".to_owned(), None))
    );
}

/// An appointment awaiting its confirmation email, then cancelled by its patient.
async fn cancelled_while_awaiting_confirmation(
    pool: PgPool,
) -> (FunctionContext, AppointmentId, SagaId) {
    let (ctx, id, saga) = awaiting_confirmation(pool).await;
    let cancel = AppointmentCommand::Cancel {
        reason: CancelReason::parse("Patient called to cancel").expect("reason"),
    };
    apply_commands(&ctx.pool, &ctx.registry, id, &[cancel]).await;
    (ctx, id, saga)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_cancelled_appointment_gets_no_email(pool: PgPool) {
    let (ctx, id, saga) = cancelled_while_awaiting_confirmation(pool).await;
    delivery_sends_and_claims_nothing(&ctx, id, saga).await;
}

/// The claim itself checks the appointment: a cancellation that commits after the function read
/// the appointment, but before the claim, still stops the email.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_claim_after_a_cancellation_is_refused(pool: PgPool) {
    let (ctx, id, saga) = cancelled_while_awaiting_confirmation(pool).await;
    let claimed = notifications::claim(&ctx.pool, saga, id, Utc::now()).await;
    assert_eq!(claimed.expect("claim"), Claim::BookingEnded);
    assert_eq!(claim(&ctx.pool, saga).await, None);
}

/// No connection is held across the SES call and a record never needs two at once, so the
/// function works on a pool of one connection (`DB_MAX_CONNECTIONS` 1 in the cloud).
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn one_connection_is_enough_to_send(pool: PgPool) {
    let (ctx, id, saga) = awaiting_confirmation(pool.clone()).await;
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("pool");
    let ctx = FunctionContext::new(one, ctx.registry.clone(), None);

    let response = deliver(&ctx, &function().await, &send(id, saga)).await;
    assert!(response.is_success(), "{response:?}");
    assert_eq!(emails(id).await.len(), 1);
    assert_eq!(confirmations(&ctx).await.len(), 1);
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

/// The race of the sweeper's compensation with the email: the sweeper compensates first (its
/// CancelAppointment has not reached the appointment yet, which is still AWAITING_CONFIRMATION),
/// then the SendConfirmation arrives: nothing may tell the patient "booked".
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_saga_compensated_at_its_deadline_gets_no_email(pool: PgPool) {
    let (ctx, id, saga) = awaiting_confirmation(pool).await;
    sweep_past_the_deadline(&ctx).await;
    assert_eq!(
        saga_after(&ctx, saga).await,
        (
            "COMPENSATING".to_owned(),
            vec!["CancelAppointment".to_owned()]
        )
    );

    delivery_sends_and_claims_nothing(&ctx, id, saga).await;
}

/// The other order: an attempt claimed the email (and died during the SES call, so the email may
/// be out) before the deadline passed. The sweeper lets the booking go ahead, and the
/// redelivered command sends nothing more.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_claimed_email_lets_the_booking_go_ahead_at_its_deadline(pool: PgPool) {
    let (ctx, id, saga) = awaiting_confirmation(pool).await;
    let claimed = notifications::claim(&ctx.pool, saga, id, Utc::now()).await;
    assert_eq!(claimed.expect("claim"), Claim::Won);
    sweep_past_the_deadline(&ctx).await;
    assert_eq!(
        saga_after(&ctx, saga).await,
        (
            "COMPLETED".to_owned(),
            vec!["ConfirmAppointment".to_owned()]
        )
    );

    redelivery_reports_the_unknown_email(&ctx, id, &send(id, saga)).await;
}

/// The two at the same moment: while a sweeper holds the saga row and compensates, a claim
/// waits for it, then sees the compensation and claims nothing.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_claim_waits_for_the_sweepers_decision_and_then_sees_it(pool: PgPool) {
    let (ctx, id, saga) = awaiting_confirmation(pool).await;
    let mut sweeper = ctx.pool.begin().await.expect("begin");
    let held = store::saga::load_for_update(&mut sweeper, saga).await;
    assert_eq!(
        held.expect("load").map(|s| s.step),
        Some(SagaStep::SendingConfirmation)
    );
    sqlx::query(
        "UPDATE saga_state SET step = 'COMPENSATING', version = version + 1 WHERE saga_id = $1",
    )
    .bind(saga.0)
    .execute(&mut *sweeper)
    .await
    .expect("compensate");

    let pool = ctx.pool.clone();
    let claiming =
        tokio::spawn(async move { notifications::claim(&pool, saga, id, Utc::now()).await });
    // Long enough for an unblocked claim to have finished many times over.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !claiming.is_finished(),
        "the claim must wait for the saga row"
    );
    sweeper.commit().await.expect("commit");
    let claimed = claiming.await.expect("claim task").expect("claim");
    assert_eq!(claimed, Claim::BookingEnded);
    assert_eq!(claim(&ctx.pool, saga).await, None);
}

/// A server that answers every request with HTTP 500, as SES does when it fails internally
/// (possibly after accepting the message).
async fn ses_failing_internally() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            [
                ("content-type", "application/json"),
                ("x-amzn-ErrorType", "InternalFailure"),
            ],
            r#"{"message":"internal failure"}"#,
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_server_error_from_ses_is_an_unknown_outcome_and_never_sends_twice(pool: PgPool) {
    let (ctx, id, saga) = awaiting_confirmation(pool).await;
    let failing = SendConfirmationFn::new(
        ses_at(&ses_failing_internally().await).await,
        DEFAULT_SENDER.to_owned(),
    );
    let cmd = send(id, saga);

    let response = deliver(&ctx, &failing, &cmd).await;
    assert!(!response.is_success(), "the record must be retried");
    assert_eq!(
        claim(&ctx.pool, saga).await,
        Some(("SENDING".to_owned(), None)),
        "the claim is kept: the email may have gone out"
    );

    redelivery_reports_the_unknown_email(&ctx, id, &cmd).await;
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
