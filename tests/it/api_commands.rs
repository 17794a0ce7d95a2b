//! `POST /api/v1/appointments/{id}/cancel` and `.../complete`: applied synchronously on the write
//! side (row + outbox event in one transaction), refused transitions answer 409 problem+json
//! with the current status and change nothing, invalid input is named and writes nothing.

use crate::support::*;
use axum::http::{Method, StatusCode};
use contract::{AppointmentCancelled, AppointmentCompleted, Record};
use domain::appointment::AppointmentCommand;
use domain::AppointmentId;
use serde_json::{json, Value};
use sqlx::PgPool;

/// Books a ROUTINE exam at Bayview with provider 2 next Thursday at `hh_mm` (clinic time).
async fn booked(api: &TestApi, hh_mm: &str) -> AppointmentId {
    book(api, &routine_at_bayview(3, 2, hh_mm)).await.0
}

async fn to_confirmed(api: &TestApi, id: AppointmentId) {
    apply_commands(
        &api.pool,
        &api.registry,
        id,
        &[
            AppointmentCommand::MarkInsuranceVerified,
            AppointmentCommand::Confirm,
        ],
    )
    .await;
}

/// (status, version, cancel_reason) of the write-side row.
async fn row(pool: &PgPool, id: AppointmentId) -> (String, i32, Option<String>) {
    sqlx::query_as("SELECT status, version, cancel_reason FROM appointments WHERE id = $1")
        .bind(id.0)
        .fetch_one(pool)
        .await
        .expect("appointment row")
}

/// Event types in the outbox, oldest first.
async fn events(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT event_type FROM outbox ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("outbox")
}

/// The one outbox row of `event_type`: (topic, key, payload).
async fn outbox_row(pool: &PgPool, event_type: &str) -> (String, String, Vec<u8>) {
    sqlx::query_as("SELECT topic, record_key, payload FROM outbox WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(pool)
        .await
        .expect("exactly one outbox row of this type")
}

fn cancel_uri(id: impl std::fmt::Display) -> String {
    format!("/api/v1/appointments/{id}/cancel")
}

fn complete_uri(id: impl std::fmt::Display) -> String {
    format!("/api/v1/appointments/{id}/complete")
}

fn assert_problem(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.body["status"], status.as_u16());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn cancelling_a_pending_booking_stores_the_reason_and_emits_one_cancelled_event(
    pool: PgPool,
) {
    let api = test_api(pool).await;
    let id = booked(&api, "15:00").await;

    let reply = api
        .post(
            &cancel_uri(id),
            &json!({"reason": "  Patient called to cancel  "}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.content_type(), "application/json");
    assert_eq!(
        reply.body,
        json!({
            "appointmentId": id.to_string(),
            "status": "CANCELLED",
            "version": 2,
            "cancelReason": "Patient called to cancel",
        })
    );
    assert_eq!(
        row(&api.pool, id).await,
        (
            "CANCELLED".to_owned(),
            2,
            Some("Patient called to cancel".to_owned())
        )
    );
    assert_eq!(
        events(&api.pool).await,
        ["AppointmentCreated", "AppointmentCancelled"]
    );
    let (topic, key, payload) = outbox_row(&api.pool, "AppointmentCancelled").await;
    assert_eq!(topic, AppointmentCancelled::TOPIC);
    assert_eq!(key, id.to_string());
    let event: AppointmentCancelled = api.registry.decode(&payload).await.expect("decode");
    assert_eq!(event.appointment_id, id);
    assert_eq!(event.appointment_version, 2);
    assert_eq!(event.reason, "Patient called to cancel");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn cancelling_a_completed_appointment_is_a_409_that_changes_nothing(pool: PgPool) {
    let api = test_api(pool).await;
    let id = booked(&api, "15:00").await;
    to_confirmed(&api, id).await;
    apply_commands(
        &api.pool,
        &api.registry,
        id,
        &[AppointmentCommand::Complete],
    )
    .await;
    let before = events(&api.pool).await;
    assert_eq!(
        before,
        [
            "AppointmentCreated",
            "AppointmentConfirmed",
            "AppointmentCompleted"
        ]
    );

    let reply = api
        .post(&cancel_uri(id), &json!({"reason": "Patient asked"}))
        .await;

    assert_problem(&reply, StatusCode::CONFLICT);
    assert_eq!(reply.body["type"], "/problems/appointment-completed");
    assert_eq!(
        reply.body["title"],
        "A completed appointment cannot be cancelled"
    );
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("completed") && detail.contains("cancelled"),
        "{detail}"
    );
    assert_eq!(reply.body["appointmentStatus"], "COMPLETED");
    assert_eq!(row(&api.pool, id).await, ("COMPLETED".to_owned(), 4, None));
    assert_eq!(events(&api.pool).await, before, "no new outbox row");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn cancelling_twice_is_refused_the_second_time_and_keeps_the_first_reason(pool: PgPool) {
    let api = test_api(pool).await;
    let id = booked(&api, "15:00").await;

    let first = api
        .post(&cancel_uri(id), &json!({"reason": "Patient is ill"}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let second = api
        .post(&cancel_uri(id), &json!({"reason": "Duplicate click"}))
        .await;

    assert_problem(&second, StatusCode::CONFLICT);
    assert_eq!(second.body["type"], "/problems/already-cancelled");
    assert_eq!(second.body["title"], "The appointment is already cancelled");
    assert_eq!(second.body["appointmentStatus"], "CANCELLED");
    assert_eq!(
        row(&api.pool, id).await,
        ("CANCELLED".to_owned(), 2, Some("Patient is ill".to_owned()))
    );
    assert_eq!(
        events(&api.pool).await,
        ["AppointmentCreated", "AppointmentCancelled"]
    );

    // Nor can a cancelled appointment be completed.
    let complete = api
        .request(Method::POST, &complete_uri(id), None, Vec::new())
        .await;
    assert_problem(&complete, StatusCode::CONFLICT);
    assert_eq!(complete.body["type"], "/problems/appointment-cancelled");
    assert_eq!(complete.body["appointmentStatus"], "CANCELLED");
    assert_eq!(row(&api.pool, id).await.1, 2);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn invalid_cancel_requests_name_the_field_and_write_nothing(pool: PgPool) {
    let api = test_api(pool).await;
    let id = booked(&api, "15:00").await;

    let cases: [(Value, &str, &str); 6] = [
        (json!({}), "reason", "is required"),
        (json!({"reason": null}), "reason", "is required"),
        (json!({"reason": ""}), "reason", "must not be empty"),
        (json!({"reason": "   "}), "reason", "must not be empty"),
        (json!({"reason": "x".repeat(501)}), "reason", "at most 500"),
        (json!({"reason": 42}), "reason", "must be"),
    ];
    for (body, field, message) in cases {
        let reply = api.post(&cancel_uri(id), &body).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST);
        assert_eq!(reply.body["type"], "/problems/validation-error");
        assert_eq!(reply.error_fields(), [field], "{body}");
        let text = reply.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains(message), "{body}: {text}");
    }

    // Unknown fields are refused, and neither the key nor the value is echoed.
    let reply = api
        .post(
            &cancel_uri(id),
            &json!({"reason": "Patient asked", "agentId": "secret-agent-7"}),
        )
        .await;
    assert_problem(&reply, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_fields(), ["body"]);
    let text = reply.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("not accepted here (expected `reason`)"),
        "{text}"
    );
    assert!(!reply.body.to_string().contains("secret-agent-7"));
    assert!(!reply.body.to_string().contains("agentId"));

    // A malformed id names the path field.
    let reply = api
        .post(
            &cancel_uri("not-a-uuid"),
            &json!({"reason": "Patient asked"}),
        )
        .await;
    assert_problem(&reply, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_fields(), ["id"]);

    // Not JSON at all.
    let reply = api
        .request(
            Method::POST,
            &cancel_uri(id),
            Some("text/plain"),
            b"Patient asked".to_vec(),
        )
        .await;
    assert_problem(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let reply = api
        .request(
            Method::POST,
            &cancel_uri(id),
            Some("application/json"),
            Vec::new(),
        )
        .await;
    assert_problem(&reply, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_fields(), ["body"]);

    assert_eq!(
        row(&api.pool, id).await,
        ("PENDING_INSURANCE".to_owned(), 1, None)
    );
    assert_eq!(events(&api.pool).await, ["AppointmentCreated"]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn commands_on_an_unknown_appointment_are_404(pool: PgPool) {
    let api = test_api(pool).await;
    let id = booked(&api, "15:00").await;
    let unknown = AppointmentId::new();

    let cancel = api
        .post(&cancel_uri(unknown), &json!({"reason": "Patient asked"}))
        .await;
    assert_problem(&cancel, StatusCode::NOT_FOUND);
    assert_eq!(cancel.body["type"], "/problems/not-found");
    assert_eq!(cancel.body["detail"], "No appointment with this id.");

    let complete = api.post(&complete_uri(unknown), &json!({})).await;
    assert_problem(&complete, StatusCode::NOT_FOUND);
    assert_eq!(complete.body["type"], "/problems/not-found");

    assert_eq!(api.count("appointments").await, 1);
    assert_eq!(
        row(&api.pool, id).await,
        ("PENDING_INSURANCE".to_owned(), 1, None)
    );
    assert_eq!(events(&api.pool).await, ["AppointmentCreated"]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn completing_a_confirmed_appointment_emits_completed_with_or_without_a_body(pool: PgPool) {
    let api = test_api(pool).await;
    let no_body = booked(&api, "15:00").await;
    let empty_object = booked(&api, "16:00").await;
    to_confirmed(&api, no_body).await;
    to_confirmed(&api, empty_object).await;

    let reply = api
        .request(Method::POST, &complete_uri(no_body), None, Vec::new())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body,
        json!({"appointmentId": no_body.to_string(), "status": "COMPLETED", "version": 4})
    );
    assert_eq!(
        row(&api.pool, no_body).await,
        ("COMPLETED".to_owned(), 4, None)
    );
    let (topic, key, payload) = outbox_row(&api.pool, "AppointmentCompleted").await;
    assert_eq!(topic, AppointmentCompleted::TOPIC);
    assert_eq!(key, no_body.to_string());
    let event: AppointmentCompleted = api.registry.decode(&payload).await.expect("decode");
    assert_eq!(
        (event.appointment_id, event.appointment_version),
        (no_body, 4)
    );

    // `{}` is accepted too; an unknown field is not.
    let reply = api
        .post(&complete_uri(empty_object), &json!({"outcome": "done"}))
        .await;
    assert_problem(&reply, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_fields(), ["body"]);
    assert_eq!(
        row(&api.pool, empty_object).await,
        ("CONFIRMED".to_owned(), 3, None)
    );
    let reply = api.post(&complete_uri(empty_object), &json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "COMPLETED");
    assert_eq!(
        row(&api.pool, empty_object).await,
        ("COMPLETED".to_owned(), 4, None)
    );

    assert_eq!(
        events(&api.pool)
            .await
            .iter()
            .filter(|e| *e == "AppointmentCompleted")
            .count(),
        2
    );

    // Completing again is refused.
    let again = api.post(&complete_uri(no_body), &json!({})).await;
    assert_problem(&again, StatusCode::CONFLICT);
    assert_eq!(again.body["type"], "/problems/already-completed");
    assert_eq!(again.body["appointmentStatus"], "COMPLETED");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn completing_an_unconfirmed_appointment_is_a_409_that_changes_nothing(pool: PgPool) {
    let api = test_api(pool).await;
    let id = booked(&api, "15:00").await;

    let reply = api.post(&complete_uri(id), &json!({})).await;

    assert_problem(&reply, StatusCode::CONFLICT);
    assert_eq!(reply.body["type"], "/problems/not-confirmed");
    assert_eq!(
        reply.body["title"],
        "The appointment must be confirmed first"
    );
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("confirmed") && detail.contains("insurance"),
        "{detail}"
    );
    assert_eq!(reply.body["appointmentStatus"], "PENDING_INSURANCE");
    assert_eq!(
        row(&api.pool, id).await,
        ("PENDING_INSURANCE".to_owned(), 1, None)
    );
    assert_eq!(events(&api.pool).await, ["AppointmentCreated"]);

    // Still awaiting the confirmation: refused too, naming that status.
    apply_commands(
        &api.pool,
        &api.registry,
        id,
        &[AppointmentCommand::MarkInsuranceVerified],
    )
    .await;
    let reply = api.post(&complete_uri(id), &json!({})).await;
    assert_problem(&reply, StatusCode::CONFLICT);
    assert_eq!(reply.body["appointmentStatus"], "AWAITING_CONFIRMATION");
    assert_eq!(row(&api.pool, id).await.0, "AWAITING_CONFIRMATION");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn openapi_lists_both_commands_with_their_problems(pool: PgPool) {
    let api = test_api(pool).await;
    let reply = api.get("/api/v1/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    for path in [
        "/api/v1/appointments/{id}/cancel",
        "/api/v1/appointments/{id}/complete",
    ] {
        let operation = &reply.body["paths"][path]["post"];
        assert!(operation.is_object(), "post {path} missing");
        for status in ["200", "400", "404", "409"] {
            assert!(
                operation["responses"][status].is_object(),
                "{path} lacks {status}"
            );
        }
        assert_eq!(operation["parameters"][0]["name"], "id");
    }
    let schemas = &reply.body["components"]["schemas"];
    assert!(schemas["AppointmentCommandResult"].is_object());
    assert_eq!(
        schemas["CancelAppointmentRequest"]["required"],
        json!(["reason"])
    );
}
