//! Authentication and clinic scoping: every route but the public ones needs a valid bearer
//! token (issuer, audience, expiry and signature checked), and an agent sees and changes only
//! the clinics in its token.

use crate::support::*;
use api::auth::{KeySource, Verifier};
use axum::http::{Method, StatusCode};
use chrono::Utc;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::Arc;

async fn as_agent(
    api: &TestApi,
    token: &str,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> Reply {
    let (content_type, bytes) = match body {
        Some(b) => (
            Some("application/json"),
            serde_json::to_vec(&b).expect("json"),
        ),
        None => (None, Vec::new()),
    };
    api.request_as(Some(token), method, uri, content_type, bytes)
        .await
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn every_route_but_health_and_the_openapi_document_needs_a_token(pool: PgPool) {
    let api = test_api(pool).await;
    let doc = serde_json::to_value(api::openapi()).expect("openapi");
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, operations) in paths {
        for method in operations.as_object().expect("operations").keys() {
            let uri = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
            let method: Method = method.to_uppercase().parse().expect("method");
            let reply = api
                .request_as(
                    None,
                    method.clone(),
                    &uri,
                    Some("application/json"),
                    b"{}".to_vec(),
                )
                .await;
            if path == "/api/v1/health" {
                assert_eq!(reply.status, StatusCode::OK, "{method} {path}");
            } else {
                assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
                assert_eq!(reply.content_type(), "application/problem+json");
                assert_eq!(
                    reply
                        .headers
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok()),
                    Some("Bearer")
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 11, "only {checked} protected operations found");
    let doc_reply = api
        .request_as(None, Method::GET, "/api/v1/openapi.json", None, Vec::new())
        .await;
    assert_eq!(doc_reply.status, StatusCode::OK);
    assert_eq!(
        doc_reply.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn expired_foreign_tampered_and_unsigned_tokens_are_refused(pool: PgPool) {
    let api = test_api(pool).await;
    let sam = agent("supervisor-sam");
    let valid = api.issuer.claims_for(&sam, 600);
    let with = |field: &str, value: Value| {
        let mut claims = valid.clone();
        claims[field] = value;
        api.issuer.sign(&claims).expect("sign")
    };
    let now = Utc::now().timestamp();
    let another_key = LocalIssuer::generate(api.issuer.issuer()).expect("issuer");
    let signed = api.issuer.sign(&valid).expect("sign");
    let (header, rest) = signed.split_once('.').expect("JWT");
    let (_, signature) = rest.split_once('.').expect("JWT");
    let forged_payload = base64_url(&json!({"sub": "supervisor-sam", "clinics": [], "iss": api.issuer.issuer(), "aud": local::auth::AUDIENCE, "exp": now + 600}).to_string());
    let unsigned_header = base64_url(r#"{"alg":"none","typ":"JWT"}"#);
    let symmetric_header = base64_url(r#"{"alg":"HS256","typ":"JWT","kid":"k"}"#);
    let payload = rest.split_once('.').expect("JWT").0;
    let cases = [
        ("expired", with("exp", json!(now - 120)), "expired"),
        (
            "wrong audience",
            with("aud", json!("another-api")),
            "not meant for this API",
        ),
        (
            "wrong issuer",
            with("iss", json!("https://evil.example")),
            "unknown issuer",
        ),
        (
            "no subject",
            {
                let mut claims = valid.clone();
                claims.as_object_mut().expect("claims").remove("sub");
                api.issuer.sign(&claims).expect("sign")
            },
            "not valid",
        ),
        (
            "another key",
            another_key.sign(&valid).expect("sign"),
            "not valid",
        ),
        (
            "tampered payload",
            format!("{header}.{forged_payload}.{signature}"),
            "not valid",
        ),
        (
            "alg none",
            format!("{unsigned_header}.{payload}."),
            "not valid",
        ),
        (
            "HS256",
            format!("{symmetric_header}.{payload}.{signature}"),
            "RS256 or ES256",
        ),
        ("garbage", "not-a-jwt".to_owned(), "not valid"),
    ];
    for (case, token, reason) in cases {
        let reply = as_agent(&api, &token, Method::GET, "/api/v1/clinics", None).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {}",
            reply.body
        );
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(reason),
            "{case}: {}",
            reply.body
        );
    }
    let ok = as_agent(&api, &signed, Method::GET, "/api/v1/clinics", None).await;
    assert_eq!(ok.status, StatusCode::OK);
    // A scheme other than Bearer is no token at all.
    let basic = api
        .request_as(None, Method::GET, "/api/v1/clinics", None, Vec::new())
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_agent_sees_and_changes_only_its_own_clinics(pool: PgPool) {
    let api = test_api(pool).await;
    // Ben works for Lakeshore only; the supervisor books one appointment at Bayview.
    let ben = api.issuer.token_for(&agent("agent-ben")).expect("token");
    let (at_bayview, saga) = book(&api, &routine_at_bayview(3, 1, "10:00")).await;
    store::read_model::apply_created(
        &mut api.pool.acquire().await.expect("conn"),
        &appointment_created(at_bayview, saga, BAYVIEW),
    )
    .await
    .expect("project");
    let bayview = clinic_id(BAYVIEW);

    let clinics = as_agent(&api, &ben, Method::GET, "/api/v1/clinics", None).await;
    let names: Vec<&str> = clinics
        .body
        .as_array()
        .expect("clinics")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec!["Lakeshore Optometry"]);
    let listed = as_agent(&api, &ben, Method::GET, "/api/v1/appointments", None).await;
    assert_eq!(listed.body["totalItems"], 0, "{}", listed.body);
    let all = api.get("/api/v1/appointments").await;
    assert_eq!(all.body["totalItems"], 1, "the supervisor sees it");

    let forbidden = [
        (
            Method::GET,
            format!("/api/v1/appointments?clinicId={bayview}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/metrics?clinicId={bayview}"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/appointments".to_owned(),
            Some(routine_at_bayview(4, 2, "11:00")),
        ),
        (
            Method::POST,
            "/api/v1/calls".to_owned(),
            Some(json!({"clinicId": bayview.to_string()})),
        ),
    ];
    for (method, uri, body) in forbidden {
        let reply = as_agent(&api, &ben, method.clone(), &uri, body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {uri}: {}",
            reply.body
        );
        assert_eq!(reply.error_fields(), vec!["clinicId".to_owned()]);
    }
    let hidden = [
        (
            Method::GET,
            format!("/api/v1/appointments/{at_bayview}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/appointments/{at_bayview}/cancel"),
            Some(json!({"reason": "Not mine"})),
        ),
        (
            Method::POST,
            format!("/api/v1/appointments/{at_bayview}/complete"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/v1/clinics/{bayview}/availability?date=2030-01-07"),
            None,
        ),
    ];
    for (method, uri, body) in hidden {
        let reply = as_agent(&api, &ben, method.clone(), &uri, body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {uri}: {}",
            reply.body
        );
    }
    let (status, _, _): (String, i32, Option<String>) =
        sqlx::query_as("SELECT status, version, cancel_reason FROM appointments WHERE id = $1")
            .bind(at_bayview.0)
            .fetch_one(&api.pool)
            .await
            .expect("appointment");
    assert_eq!(status, "PENDING_INSURANCE", "nothing changed");
    assert_eq!(api.count("appointments").await, 1, "nothing booked");
    assert_eq!(api.count("calls").await, 0, "no call started");
    // Metrics without a clinic cover the agent's own clinics only.
    let metrics = as_agent(&api, &ben, Method::GET, "/api/v1/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn clinics_may_come_as_a_cognito_style_string_claim(pool: PgPool) {
    let api = test_api(pool).await;
    let mut claims = api.issuer.claims_for(&agent("agent-ava"), 600);
    let obj = claims.as_object_mut().expect("claims");
    obj.remove("clinics");
    obj.insert(
        "custom:clinics".to_owned(),
        json!(format!("{}, {}", clinic_id(HUDSON), clinic_id(3))),
    );
    let token = api.issuer.sign(&claims).expect("sign");
    let reply = as_agent(&api, &token, Method::GET, "/api/v1/clinics", None).await;
    let mut names: Vec<&str> = reply
        .body
        .as_array()
        .expect("clinics")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, vec!["Hudson Vision Center", "Lakeshore Optometry"]);
    claims["custom:clinics"] = json!("not-a-uuid");
    let bad = api.issuer.sign(&claims).expect("sign");
    let refused = as_agent(&api, &bad, Method::GET, "/api/v1/clinics", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

/// Serves `issuer`'s JWKS on a free port (as an identity provider would); returns its URL.
async fn jwks_server(issuer: Arc<LocalIssuer>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, local::auth::router(issuer)).await;
    });
    (url, server)
}

#[tokio::test]
async fn keys_are_fetched_from_the_jwks_url_and_fetched_again_for_a_new_key() {
    let old = Arc::new(LocalIssuer::generate("https://idp.test.example").expect("issuer"));
    let (url, server) = jwks_server(old.clone()).await;
    let verifier =
        Verifier::new(old.issuer(), local::auth::AUDIENCE, KeySource::Url(url)).expect("verifier");
    let ava = agent("agent-ava");
    let agent = verifier
        .verify(&old.token_for(&ava).expect("token"))
        .await
        .expect("a token signed with the published key");
    assert_eq!(agent.id, "agent-ava");
    assert_eq!(agent.clinics, vec![clinic_id(BAYVIEW), clinic_id(HUDSON)]);
    server.abort();
    // The provider rotates its key: the new key's tokens are accepted once its JWKS publishes
    // it, and tokens signed with the retired key are refused.
    let rotated = Arc::new(LocalIssuer::generate(old.issuer()).expect("issuer"));
    let (url, server) = jwks_server(rotated.clone()).await;
    let after_rotation =
        Verifier::new(old.issuer(), local::auth::AUDIENCE, KeySource::Url(url)).expect("verifier");
    let token = rotated.token_for(&ava).expect("token");
    assert_eq!(
        after_rotation.verify(&token).await.expect("rotated key").id,
        "agent-ava"
    );
    assert!(after_rotation
        .verify(&old.token_for(&ava).expect("token"))
        .await
        .is_err());
    server.abort();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_local_sign_in_issues_tokens_the_api_accepts(pool: PgPool) {
    let api = test_api(pool).await;
    let sign_in = local::auth::router(api.issuer.clone());
    let request = |uri: &str, body: Option<Value>| {
        let builder = axum::http::Request::builder().uri(uri);
        match body {
            Some(b) => builder
                .method(Method::POST)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(b.to_string())),
            None => builder.body(axum::body::Body::empty()),
        }
        .expect("request")
    };
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let json_of = |response: axum::response::Response| async move {
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        serde_json::from_slice::<Value>(&bytes).expect("json")
    };
    let agents = json_of(
        sign_in
            .clone()
            .oneshot(request("/agents", None))
            .await
            .expect("agents"),
    )
    .await;
    assert_eq!(agents.as_array().map(Vec::len), Some(demo_agents().len()));
    let signed_in = json_of(
        sign_in
            .clone()
            .oneshot(request("/token", Some(json!({"agentId": "agent-ava"}))))
            .await
            .expect("token"),
    )
    .await;
    assert_eq!(signed_in["tokenType"], "Bearer");
    let token = signed_in["accessToken"].as_str().expect("token");
    let clinics = as_agent(&api, token, Method::GET, "/api/v1/clinics", None).await;
    assert_eq!(clinics.body.as_array().map(Vec::len), Some(2));
    let unknown = sign_in
        .oneshot(request("/token", Some(json!({"agentId": "nobody"}))))
        .await
        .expect("response");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
