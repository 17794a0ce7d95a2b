//! `Idempotency-Key` on `POST /api/v1/appointments`: a retried booking books once, a key is
//! never reused for another request, and the key is the agent's own.

use crate::support::*;
use axum::http::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

const BOOK: &str = "/api/v1/appointments";
const HEADER: &str = "Idempotency-Key";

async fn book_with_key(api: &TestApi, key: &str, body: &Value) -> Reply {
    api.post_with(BOOK, &[(HEADER, key)], body).await
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_same_key_and_body_answer_the_first_booking_and_book_nothing_more(pool: PgPool) {
    let api = test_api(pool).await;
    let body = routine_at_bayview(3, 1, "09:00");
    let first = book_with_key(&api, "retry-me-1", &body).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.body);
    // The same body again, its fields spaced differently: the same request.
    let mut spaced = body.clone();
    spaced["type"] = Value::String(" ROUTINE ".to_owned());
    for retry in [&body, &spaced] {
        let again = book_with_key(&api, "retry-me-1", retry).await;
        assert_eq!(again.status, StatusCode::ACCEPTED, "{:?}", again.body);
        assert_eq!(again.body, first.body, "the first answer, again");
        assert_eq!(again.headers.get("location"), first.headers.get("location"));
    }
    assert_eq!(api.count("appointments").await, 1);
    assert_eq!(api.count("outbox").await, 1);
    // Without a key, the same body books (and finds its slot taken).
    assert_eq!(api.post(BOOK, &body).await.status, StatusCode::CONFLICT);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_key_used_for_another_request_is_refused_and_writes_nothing(pool: PgPool) {
    let api = test_api(pool).await;
    let first = book_with_key(&api, "k-1", &routine_at_bayview(3, 1, "09:00")).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let other = book_with_key(&api, "k-1", &routine_at_bayview(3, 1, "10:00")).await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        other.body
    );
    assert_eq!(other.content_type(), "application/problem+json");
    assert!(other.body["type"]
        .as_str()
        .is_some_and(|t| t.ends_with("idempotency-key-reused")));
    assert_eq!(other.error_fields(), vec![HEADER]);
    assert_eq!(api.count("appointments").await, 1);
    assert_eq!(api.count("booking_requests").await, 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn keys_are_per_agent_and_a_failed_booking_keeps_no_key(pool: PgPool) {
    let api = test_api(pool).await;
    let ava = api.issuer.token_for(&agent("agent-ava")).expect("token");
    let post_as = |token: String, body: Value| {
        let api = api.clone();
        async move {
            let bytes = serde_json::to_vec(&body).expect("json");
            let headers = [(HEADER, "shared-key")];
            api.request_with(
                Some(&token),
                Method::POST,
                BOOK,
                Some("application/json"),
                &headers,
                bytes,
            )
            .await
        }
    };
    let sams = post_as(api.token.clone(), routine_at_bayview(3, 1, "09:00")).await;
    assert_eq!(sams.status, StatusCode::ACCEPTED);
    // Ava's request under the same key text is her own: it books (here: finds the slot taken,
    // so her key is not kept), and then books another slot with it.
    let taken = post_as(ava.clone(), routine_at_bayview(3, 1, "09:00")).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{:?}", taken.body);
    let booked = post_as(ava, routine_at_bayview(3, 1, "11:00")).await;
    assert_eq!(booked.status, StatusCode::ACCEPTED, "{:?}", booked.body);
    assert_ne!(booked.body["appointmentId"], sams.body["appointmentId"]);
    assert_eq!(api.count("appointments").await, 2);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn concurrent_retries_with_one_key_book_once(pool: PgPool) {
    let api = test_api(pool).await;
    let body = routine_at_bayview(3, 1, "09:00");
    let replies =
        futures::future::join_all((0..10).map(|_| book_with_key(&api, "burst", &body))).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
        assert_eq!(reply.body, replies[0].body);
    }
    assert_eq!(api.count("appointments").await, 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_expired_key_books_anew(pool: PgPool) {
    let api = test_api(pool).await;
    let first = book_with_key(&api, "old", &routine_at_bayview(3, 1, "09:00")).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    sqlx::query("UPDATE booking_requests SET created_at = now() - make_interval(hours => $1 + 1)")
        .bind(store::idempotency::KEY_RETENTION_HOURS)
        .execute(&api.pool)
        .await
        .expect("age the key");
    let later = book_with_key(&api, "old", &routine_at_bayview(3, 1, "10:00")).await;
    assert_eq!(later.status, StatusCode::ACCEPTED, "{:?}", later.body);
    assert_ne!(later.body["appointmentId"], first.body["appointmentId"]);
    assert_eq!(api.count("appointments").await, 2);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_malformed_key_is_refused_naming_the_header(pool: PgPool) {
    let api = test_api(pool).await;
    let long = "k".repeat(256);
    for key in ["", "with space", long.as_str()] {
        let reply = book_with_key(&api, key, &routine_at_bayview(3, 1, "09:00")).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{key:?}: {:?}",
            reply.body
        );
        assert_eq!(reply.error_fields(), vec![HEADER], "{key:?}");
    }
    assert_eq!(api.count("appointments").await, 0);
}
