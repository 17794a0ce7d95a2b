//! Call routes: an agent starts and ends calls at its clinics; each change is one row change
//! and one record in the outbox; refusals name the field and change nothing.

use crate::support::*;
use axum::http::{Method, StatusCode};
use contract::{CallEnded, CallStarted, Record};
use local::auth::DemoAgent;
use serde_json::{json, Value};
use sqlx::PgPool;

async fn post_as(api: &TestApi, token: &str, uri: &str, body: Value) -> Reply {
    api.request_as(
        Some(token),
        Method::POST,
        uri,
        Some("application/json"),
        serde_json::to_vec(&body).expect("json"),
    )
    .await
}

async fn outbox_types(api: &TestApi) -> Vec<String> {
    sqlx::query_as::<_, (String,)>("SELECT event_type FROM outbox ORDER BY id")
        .fetch_all(&api.pool)
        .await
        .expect("outbox")
        .into_iter()
        .map(|(t,)| t)
        .collect()
}

/// Ava starts a call at Bayview (`token` is hers); returns its id.
async fn start_call_at_bayview(api: &TestApi, token: &str) -> String {
    let started = post_as(
        api,
        token,
        "/api/v1/calls",
        json!({"clinicId": clinic_id(BAYVIEW).to_string()}),
    )
    .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    assert_eq!(started.body["agentId"], "agent-ava");
    started.body["callId"].as_str().expect("callId").to_owned()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_call_is_started_and_ended_once_by_an_agent_of_its_clinic(pool: PgPool) {
    let api = test_api(pool).await;
    let ava = api.issuer.token_for(&agent("agent-ava")).expect("token");
    let (appointment, _) = book(&api, &routine_at_bayview(3, 1, "10:00")).await;
    let before = outbox_types(&api).await.len();
    let call = start_call_at_bayview(&api, &ava).await;

    let end = format!("/api/v1/calls/{call}/end");
    let ended = post_as(
        &api,
        &ava,
        &end,
        json!({"outcome": "BOOKED", "appointmentId": appointment.to_string()}),
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.body["outcome"], "BOOKED");
    assert!(ended.body["handleSeconds"]
        .as_f64()
        .is_some_and(|s| s >= 0.0));
    assert_eq!(
        outbox_types(&api).await[before..],
        [CallStarted::NAME.to_owned(), CallEnded::NAME.to_owned()]
    );
    let record: (Vec<u8>,) = sqlx::query_as("SELECT payload FROM outbox WHERE event_type = $1")
        .bind(CallEnded::NAME)
        .fetch_one(&api.pool)
        .await
        .expect("CallEnded");
    let decoded: CallEnded = api.registry.decode(&record.0).await.expect("decode");
    assert_eq!(decoded.appointment_id, Some(appointment));
    assert_eq!(decoded.agent_id, "agent-ava");

    let again = post_as(&api, &ava, &end, json!({"outcome": "INFORMATION"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(
        outbox_types(&api).await.len(),
        before + 2,
        "nothing more written"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_call_is_ended_only_by_its_agent_or_a_supervisor(pool: PgPool) {
    let api = test_api(pool).await;
    let ava = api.issuer.token_for(&agent("agent-ava")).expect("token");
    // Another plain agent of the same clinic.
    let cleo = DemoAgent {
        agent_id: "agent-cleo".to_owned(),
        name: "Cleo Park".to_owned(),
        ..agent("agent-ava")
    };
    let cleo = api.issuer.token_for(&cleo).expect("token");
    let sam = api
        .issuer
        .token_for(&agent("supervisor-sam"))
        .expect("token");
    let call = start_call_at_bayview(&api, &ava).await;
    let end = format!("/api/v1/calls/{call}/end");
    let before = outbox_types(&api).await.len();

    let refused = post_as(&api, &cleo, &end, json!({"outcome": "ABANDONED"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.body["type"], "/problems/not-permitted");
    assert_eq!(outbox_types(&api).await.len(), before, "nothing written");

    let ended = post_as(&api, &sam, &end, json!({"outcome": "ABANDONED"})).await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(
        outbox_types(&api).await[before..],
        [CallEnded::NAME.to_owned()]
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn invalid_call_requests_name_the_field_and_write_nothing(pool: PgPool) {
    let api = test_api(pool).await;
    let ava = api.issuer.token_for(&agent("agent-ava")).expect("token");
    let ben = api.issuer.token_for(&agent("agent-ben")).expect("token");
    let started = post_as(
        &api,
        &ava,
        "/api/v1/calls",
        json!({"clinicId": clinic_id(HUDSON).to_string()}),
    )
    .await;
    let call = started.body["callId"].as_str().expect("callId").to_owned();
    let end = format!("/api/v1/calls/{call}/end");
    let before = outbox_types(&api).await.len();
    let unknown_appointment = uuid::Uuid::now_v7().to_string();
    for (token, uri, body, status, field) in [
        (
            &ava,
            "/api/v1/calls".to_owned(),
            json!({}),
            StatusCode::BAD_REQUEST,
            Some("clinicId"),
        ),
        (
            &ava,
            "/api/v1/calls".to_owned(),
            json!({"clinicId": "x"}),
            StatusCode::BAD_REQUEST,
            Some("clinicId"),
        ),
        (
            &ava,
            "/api/v1/calls".to_owned(),
            json!({"clinicId": clinic_id(BAYVIEW).to_string(), "agentId": "me"}),
            StatusCode::BAD_REQUEST,
            Some("body"),
        ),
        (
            &ava,
            end.clone(),
            json!({"outcome": "HUNG_UP"}),
            StatusCode::BAD_REQUEST,
            Some("outcome"),
        ),
        (
            &ava,
            end.clone(),
            json!({}),
            StatusCode::BAD_REQUEST,
            Some("outcome"),
        ),
        (
            &ava,
            end.clone(),
            json!({"outcome": "BOOKED"}),
            StatusCode::BAD_REQUEST,
            Some("appointmentId"),
        ),
        (
            &ava,
            end.clone(),
            json!({"outcome": "BOOKED", "appointmentId": unknown_appointment}),
            StatusCode::NOT_FOUND,
            Some("appointmentId"),
        ),
        (
            &ava,
            "/api/v1/calls/nope/end".to_owned(),
            json!({"outcome": "ABANDONED"}),
            StatusCode::BAD_REQUEST,
            Some("id"),
        ),
        (
            &ava,
            format!("/api/v1/calls/{}/end", uuid::Uuid::now_v7()),
            json!({"outcome": "ABANDONED"}),
            StatusCode::NOT_FOUND,
            None,
        ),
        // Ben works for Lakeshore: Hudson's call does not exist for him.
        (
            &ben,
            end.clone(),
            json!({"outcome": "ABANDONED"}),
            StatusCode::NOT_FOUND,
            None,
        ),
    ] {
        let reply = post_as(&api, token, &uri, body.clone()).await;
        assert_eq!(reply.status, status, "{uri} {body}: {}", reply.body);
        if let Some(field) = field {
            assert_eq!(reply.error_fields(), vec![field.to_owned()], "{uri} {body}");
        }
    }
    assert_eq!(outbox_types(&api).await.len(), before, "nothing written");
    let ended = post_as(&api, &ava, &end, json!({"outcome": "ABANDONED"})).await;
    assert_eq!(
        ended.status,
        StatusCode::OK,
        "the call is still open: {}",
        ended.body
    );
}
