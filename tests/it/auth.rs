//! Authentication and clinic scoping: every route but the public ones needs a valid bearer
//! token (RS256 or ES256; issuer, audience, expiry and signature checked; keys from a JWKS
//! whose cached copy expires), and an agent sees and changes only the clinics in its token.

use crate::support::*;
use api::auth::{KeySource, Verifier};
use api::problem::ApiError;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use chrono::Utc;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

pub(crate) fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_agent_sees_and_changes_only_its_own_clinics(pool: PgPool) {
    let api = test_api(pool).await;
    // Ben works for Lakeshore only; the supervisor books one appointment at Bayview.
    let ben = api.issuer.token_for(&agent("agent-ben")).expect("token");
    let (at_bayview, saga) = book(&api, &routine_at_bayview(3, 1, "10:00")).await;
    app::projections::appointment_created(
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
    // Metrics without a clinic cover the agent's own clinics only (counted in
    // metrics_without_a_clinic_count_the_agents_clinics_only).
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

/// An identity provider's JWKS endpoint whose key set the test changes (a rotation) or takes
/// down, counting the fetches. The set is served as given, keys the API cannot read included.
#[derive(Clone)]
pub(crate) struct Jwks {
    set: Arc<Mutex<Value>>,
    down: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

impl Jwks {
    /// Serves `set` on a free port; returns the endpoint and its URL.
    pub(crate) async fn serve(set: &impl serde::Serialize) -> (Jwks, String) {
        let jwks = Jwks {
            set: Arc::new(Mutex::new(json!(set))),
            down: Arc::default(),
            fetches: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
        let app = axum::Router::new()
            .route(
                "/jwks.json",
                axum::routing::get(|State(jwks): State<Jwks>| async move {
                    jwks.fetches.fetch_add(1, Ordering::SeqCst);
                    if jwks.down.load(Ordering::SeqCst) {
                        return Err(StatusCode::SERVICE_UNAVAILABLE);
                    }
                    Ok(axum::Json(jwks.set.lock().expect("set").clone()))
                }),
            )
            .with_state(jwks.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (jwks, url)
    }

    fn publish(&self, set: &JwkSet) {
        *self.set.lock().expect("set") = json!(set);
    }

    pub(crate) fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// A clock the test moves on by hand.
fn manual_clock() -> (api::auth::Clock, Arc<Mutex<Duration>>) {
    let start = Instant::now();
    let elapsed = Arc::new(Mutex::new(Duration::ZERO));
    let read = elapsed.clone();
    let clock: api::auth::Clock = Arc::new(move || start + *read.lock().expect("clock"));
    (clock, elapsed)
}

fn both(a: &LocalIssuer, b: &LocalIssuer) -> JwkSet {
    JwkSet {
        keys: a
            .jwks()
            .keys
            .iter()
            .chain(&b.jwks().keys)
            .cloned()
            .collect(),
    }
}

#[tokio::test]
async fn a_key_removed_from_the_jwks_stops_working_in_the_same_process_once_its_copy_expires() {
    let old = LocalIssuer::generate("https://idp.test.example").expect("issuer");
    let new = LocalIssuer::generate(old.issuer()).expect("issuer");
    let (idp, url) = Jwks::serve(old.jwks()).await;
    let (clock, elapsed) = manual_clock();
    let verifier = Verifier::new(old.issuer(), local::auth::AUDIENCE, KeySource::Url(url))
        .expect("verifier")
        .with_max_age(Duration::from_secs(300))
        .with_clock(clock);
    let ava = agent("agent-ava");
    let old_token = old.token_for(&ava).expect("token");
    let new_token = new.token_for(&ava).expect("token");
    let agent = verifier
        .verify(&old_token)
        .await
        .expect("a token signed with the published key");
    assert_eq!(agent.id, "agent-ava");
    assert_eq!(agent.clinics, vec![clinic_id(BAYVIEW), clinic_id(HUDSON)]);
    assert_eq!(idp.fetches(), 1);

    // The provider rotates: the new key is published next to the old one, and a token with the
    // new key id makes the verifier fetch again (at most once a minute).
    idp.publish(&both(&old, &new));
    *elapsed.lock().expect("clock") = Duration::from_secs(61);
    assert_eq!(
        verifier.verify(&new_token).await.expect("new key").id,
        "agent-ava"
    );
    assert_eq!(idp.fetches(), 2);

    // Then it retires the old key. Within the maximum age the cached set still trusts it,
    // without asking the provider on every request...
    idp.publish(new.jwks());
    *elapsed.lock().expect("clock") = Duration::from_secs(61 + 299);
    verifier.verify(&old_token).await.expect("cached key");
    assert_eq!(idp.fetches(), 2);
    // ...and once the copy is older than that, the set is fetched again: the retired key is
    // refused, by this same verifier, while no unknown key id was ever presented.
    *elapsed.lock().expect("clock") = Duration::from_secs(61 + 301);
    assert!(matches!(
        verifier.verify(&old_token).await,
        Err(ApiError::Unauthorized(_))
    ));
    assert_eq!(idp.fetches(), 3);
    assert_eq!(
        verifier.verify(&new_token).await.expect("new key").id,
        "agent-ava"
    );
    assert_eq!(idp.fetches(), 3, "the fresh copy is reused");

    // An expired copy is not used while the provider is unreachable: 503, not the stale keys;
    // and the next attempt waits a few seconds instead of fetching on every request.
    idp.down.store(true, Ordering::SeqCst);
    *elapsed.lock().expect("clock") = Duration::from_secs(61 + 301 + 301);
    assert!(matches!(
        verifier.verify(&new_token).await,
        Err(ApiError::Unavailable)
    ));
    assert!(matches!(
        verifier.verify(&new_token).await,
        Err(ApiError::Unavailable)
    ));
    assert_eq!(idp.fetches(), 4);
    idp.down.store(false, Ordering::SeqCst);
    *elapsed.lock().expect("clock") = Duration::from_secs(61 + 301 + 301 + 6);
    assert_eq!(
        verifier.verify(&new_token).await.expect("back").id,
        "agent-ava"
    );
    assert_eq!(idp.fetches(), 5);
}

/// The test-only RSA key (tests/fixtures: ring cannot generate RSA keys) and its public JWKS.
pub(crate) const RSA_PRIVATE_KEY: &str = include_str!("../fixtures/test-only-rsa-private-key.pem");
pub(crate) const RSA_JWKS: &str = include_str!("../fixtures/test-only-rsa-jwks.json");
pub(crate) const RSA_KID: &str = "test-only-rsa-2048";

fn rs256(claims: &Value, alg: jsonwebtoken::Algorithm, kid: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(RSA_PRIVATE_KEY.as_bytes()).expect("RSA key");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let token = jsonwebtoken::encode(&header, claims, &key).expect("sign");
    if alg == jsonwebtoken::Algorithm::RS256 {
        return token;
    }
    // The same RS256 signature under a header that claims another algorithm.
    let (_, rest) = token.split_once('.').expect("JWT");
    let forged =
        base64_url(&json!({"alg": format!("{alg:?}"), "typ": "JWT", "kid": kid}).to_string());
    format!("{forged}.{rest}")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rs256_tokens_are_accepted_from_the_key_set_and_checked_like_es256_ones(pool: PgPool) {
    let es256 = test_api(pool).await;
    let rsa: JwkSet = serde_json::from_str(RSA_JWKS).expect("JWKS");
    // One key set with both kinds of key, as an identity provider mid-migration publishes.
    let keys = JwkSet {
        keys: rsa
            .keys
            .iter()
            .chain(&es256.issuer.jwks().keys)
            .cloned()
            .collect(),
    };
    let verifier = Verifier::new(
        es256.issuer.issuer(),
        local::auth::AUDIENCE,
        KeySource::Static(keys),
    )
    .expect("verifier");
    let mut api = es256.clone();
    api.app = api::app(api::AppState {
        pool: es256.pool.clone(),
        registry: es256.registry.clone(),
        publisher: None,
        auth: Arc::new(verifier),
    });
    let valid = es256.issuer.claims_for(&agent("agent-ava"), 600);
    let with = |field: &str, value: Value| {
        let mut claims = valid.clone();
        claims[field] = value;
        rs256(&claims, jsonwebtoken::Algorithm::RS256, RSA_KID)
    };
    let token = rs256(&valid, jsonwebtoken::Algorithm::RS256, RSA_KID);
    let clinics = as_agent(&api, &token, Method::GET, "/api/v1/clinics", None).await;
    assert_eq!(clinics.status, StatusCode::OK, "{}", clinics.body);
    let mut names: Vec<&str> = clinics
        .body
        .as_array()
        .expect("clinics")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, vec!["Bayview Eye Care", "Hudson Vision Center"]);
    // The ES256 key of the same set still works.
    let es = as_agent(&api, &es256.token, Method::GET, "/api/v1/clinics", None).await;
    assert_eq!(es.status, StatusCode::OK);

    let (header, rest) = token.split_once('.').expect("JWT");
    let signature = rest.split_once('.').expect("JWT").1;
    let mut stolen = valid.clone();
    stolen["clinics"] = json!(store::demo::clinics()
        .iter()
        .map(|c| c.id)
        .collect::<Vec<_>>());
    let tampered = format!("{header}.{}.{signature}", base64_url(&stolen.to_string()));
    let now = Utc::now().timestamp();
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
        ("tampered payload", tampered, "not valid"),
        (
            "unknown key id",
            rs256(&valid, jsonwebtoken::Algorithm::RS256, "another-kid"),
            "not valid",
        ),
        (
            "RSA signature presented as ES256",
            rs256(&valid, jsonwebtoken::Algorithm::ES256, RSA_KID),
            "not valid",
        ),
        (
            "RSA signature presented as PS256",
            rs256(&valid, jsonwebtoken::Algorithm::PS256, RSA_KID),
            "RS256 or ES256",
        ),
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
    // The symmetric trick: an HS256 token keyed with the RSA public key's bytes.
    let public = rsa.keys[0].clone();
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(params) = &public.algorithm else {
        panic!("an RSA key");
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(RSA_KID.to_owned());
    let hs = jsonwebtoken::encode(
        &header,
        &valid,
        &jsonwebtoken::EncodingKey::from_secret(params.n.as_bytes()),
    )
    .expect("sign");
    let reply = as_agent(&api, &hs, Method::GET, "/api/v1/clinics", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

async fn end_call(api: &TestApi, token: &str, call: &str) -> Reply {
    as_agent(
        api,
        token,
        Method::POST,
        &format!("/api/v1/calls/{call}/end"),
        Some(json!({"outcome": "INFORMATION"})),
    )
    .await
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn ending_another_clinics_call_is_not_found_and_changes_nothing(pool: PgPool) {
    let api = test_api(pool).await;
    let ben = api.issuer.token_for(&agent("agent-ben")).expect("token");
    let ava = api.issuer.token_for(&agent("agent-ava")).expect("token");
    let started = as_agent(
        &api,
        &ava,
        Method::POST,
        "/api/v1/calls",
        Some(json!({"clinicId": clinic_id(BAYVIEW).to_string()})),
    )
    .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let call = started.body["callId"].as_str().expect("callId").to_owned();
    let outbox = api.count("outbox").await;
    let foreign = end_call(&api, &ben, &call).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    // Exactly what a call that does not exist gets: the call's existence is not revealed.
    let unknown = end_call(&api, &ben, &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    for field in ["type", "title", "detail", "errors"] {
        assert_eq!(foreign.body[field], unknown.body[field], "{field}");
    }
    let (ended_at, outcome): (Option<chrono::DateTime<Utc>>, Option<String>) =
        sqlx::query_as("SELECT ended_at, outcome FROM calls WHERE id = $1::uuid")
            .bind(&call)
            .fetch_one(&api.pool)
            .await
            .expect("call");
    assert_eq!((ended_at, outcome), (None, None), "the call is still open");
    assert_eq!(api.count("outbox").await, outbox, "no CallEnded record");
    // Its own clinic's agent can end it: the 404 was the scoping, not the route.
    let own = end_call(&api, &ava, &call).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn metrics_without_a_clinic_count_the_agents_clinics_only(pool: PgPool) {
    let api = test_api(pool).await;
    // Projected bookings and calls in the last hour: Bayview 2 + 1 call, Hudson 1, Lakeshore 4
    // + 2 calls.
    let recently = Utc::now() - chrono::Duration::minutes(5);
    let mut tx = api.pool.begin().await.expect("begin");
    for (clinic, bookings, calls) in [(BAYVIEW, 2, 1), (HUDSON, 1, 0), (3, 4, 2)] {
        for _ in 0..bookings {
            store::metrics::apply_created(
                &mut tx,
                domain::AppointmentId::new(),
                clinic_id(clinic),
                recently,
            )
            .await
            .expect("created");
        }
        for _ in 0..calls {
            store::calls::apply_call_started(
                &mut tx,
                &store::calls::CallSeen {
                    call_id: domain::CallId::new(),
                    clinic_id: clinic_id(clinic),
                    agent_id: "agent-x".to_owned(),
                    at: recently,
                },
            )
            .await
            .expect("call");
        }
    }
    tx.commit().await.expect("commit");
    for (who, created, calls) in [
        ("agent-ben", 4, 2),
        ("agent-ava", 3, 1),
        ("supervisor-sam", 7, 3),
    ] {
        let token = api.issuer.token_for(&agent(who)).expect("token");
        let metrics = as_agent(&api, &token, Method::GET, "/api/v1/metrics", None).await;
        assert_eq!(metrics.status, StatusCode::OK, "{who}: {}", metrics.body);
        assert_eq!(metrics.body["created"], created, "{who}: {}", metrics.body);
        assert_eq!(metrics.body["calls"]["started"], calls, "{who}");
        let hourly: i64 = metrics.body["hourly"]
            .as_array()
            .expect("hourly")
            .iter()
            .filter_map(|h| h["count"].as_i64())
            .sum();
        assert_eq!(hourly, created, "{who}: the series covers the same clinics");
        let funnel: i64 = metrics.body["funnel30m"]
            .as_array()
            .expect("funnel")
            .iter()
            .filter_map(|w| w["created"].as_i64())
            .sum();
        assert_eq!(funnel, created, "{who}: the funnel covers the same clinics");
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_local_sign_in_issues_tokens_the_api_accepts(pool: PgPool) {
    let api = test_api(pool).await;
    let sign_in = local::guard::guarded(local::auth::router(api.issuer.clone()));
    let request = |uri: &str, body: Option<Value>| {
        let builder = axum::http::Request::builder()
            .uri(uri)
            .header("host", "127.0.0.1:8080");
        match body {
            Some(b) => builder
                .method(Method::POST)
                .header("content-type", "application/json")
                .header(local::guard::LOCAL_HEADER, "1")
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

/// What another web page can send to the local sign-in: a cross-site form post (no custom
/// header can ride on it), or a fetch through a name of its own rebound to 127.0.0.1 (its Host).
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_local_sign_in_refuses_cross_site_posts_and_foreign_hosts(pool: PgPool) {
    use tower::ServiceExt;
    let api = test_api(pool).await;
    let sign_in = local::guard::guarded(local::auth::router(api.issuer.clone()));
    let form_post = axum::http::Request::post("/token")
        .header("host", "127.0.0.1:8080")
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("agentId=supervisor-sam"))
        .expect("request");
    let rebound = axum::http::Request::post("/token")
        .header("host", "evil.example:8080")
        .header("content-type", "application/json")
        .header(local::guard::LOCAL_HEADER, "1")
        .body(axum::body::Body::from(
            json!({"agentId": "supervisor-sam"}).to_string(),
        ))
        .expect("request");
    let rebound_read = axum::http::Request::get("/agents")
        .header("host", "evil.example:8080")
        .body(axum::body::Body::empty())
        .expect("request");
    for (what, request, field) in [
        ("a cross-site form post", form_post, "X-Clinic-Local"),
        ("a rebound Host", rebound, "Host"),
        ("a read through a rebound Host", rebound_read, "Host"),
    ] {
        let response = sign_in.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        let problem: Value = serde_json::from_slice(&body).expect("problem");
        assert_eq!(problem["errors"][0]["field"], field, "{what}: {problem}");
        assert!(
            !body.windows(6).any(|w| w == b"eyJhbG"),
            "{what}: no token in the refusal"
        );
    }
}

/// The patient ids a search for `q` answers `token` with.
async fn found(api: &TestApi, token: &str, q: &str) -> Vec<String> {
    let uri = format!("/api/v1/patients?q={q}&size=50");
    let reply = as_agent(api, token, Method::GET, &uri, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let mut ids: Vec<String> = reply
        .body
        .as_array()
        .expect("matches")
        .iter()
        .map(|m| m["patientId"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_agent_finds_only_patients_of_its_clinics_and_a_supervisor_finds_all(pool: PgPool) {
    let api = test_api(pool).await;
    let ava = api.issuer.token_for(&agent("agent-ava")).expect("token");
    let ava_clinics = agent("agent-ava").clinic_ids;
    let patients = store::demo::patients(chrono::Utc::now().date_naive());
    let named = |home: &dyn Fn(&store::catalog::Patient) -> bool| {
        let mut ids: Vec<String> = patients
            .iter()
            .filter(|p| p.name.contains("Martin") && home(p))
            .map(|p| p.id.to_string())
            .collect();
        ids.sort();
        ids
    };
    let everyone = named(&|_| true);
    let at_home = named(&|p| p.home_clinic.is_some_and(|c| ava_clinics.contains(&c)));
    assert!(
        !at_home.is_empty() && at_home.len() < everyone.len(),
        "the demo data tells them apart"
    );
    assert_eq!(
        found(&api, &api.token, "Martin").await,
        everyone,
        "the supervisor"
    );
    assert_eq!(
        found(&api, &ava, "Martin").await,
        at_home,
        "Ava: her clinics' patients"
    );

    // A patient registered elsewhere becomes Ava's once booked at one of her clinics.
    // Demo patient n is `patients[n - 1]`.
    let (n, stranger) = (1..)
        .zip(&patients)
        .find(|(_, p)| p.name.contains("Martin") && !at_home.contains(&p.id.to_string()))
        .expect("a patient of another clinic");
    book(&api, &routine_at_bayview(n, 1, "09:00")).await;
    let mut now_hers = at_home.clone();
    now_hers.push(stranger.id.to_string());
    now_hers.sort();
    assert_eq!(found(&api, &ava, "Martin").await, now_hers);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_token_that_names_no_clinic_is_refused_everywhere(pool: PgPool) {
    let api = test_api(pool).await;
    let mut claims = api.issuer.claims_for(&agent("supervisor-sam"), 600);
    claims["clinics"] = json!([]);
    let token = api.issuer.sign(&claims).expect("sign");
    for uri in [
        "/api/v1/patients?q=Martin",
        "/api/v1/clinics",
        "/api/v1/appointments",
    ] {
        let reply = as_agent(&api, &token, Method::GET, uri, None).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{uri}: {:?}",
            reply.body
        );
        assert_eq!(reply.content_type(), "application/problem+json");
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_patient_search_is_served_by_the_trigram_index(pool: PgPool) {
    let api = test_api(pool).await;
    let mut tx = api.pool.begin().await.expect("tx");
    // Fifty demo patients fit one page, where a sequential scan is cheapest: forbid it, so the
    // plan shows whether an index can serve the search at all.
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .expect("set");
    let clinics = vec![store::demo::clinic_id(BAYVIEW).0];
    let plan: Vec<String> =
        sqlx::query_scalar(&format!("EXPLAIN {}", store::catalog::search_sql()))
            .bind("%Martin%")
            .bind(50_i64)
            .bind(Some(clinics))
            .fetch_all(&mut *tx)
            .await
            .expect("explain");
    let plan = plan.join("\n");
    assert!(plan.contains("patients_name_trgm"), "{plan}");
    assert!(!plan.contains("Seq Scan on patients"), "{plan}");
}
