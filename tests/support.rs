//! Test support: the API router on a test database with demo data and a registry on moto.

use aws_lambda_events::event::kafka::KafkaEvent;
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use base64::Engine;
use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use http_body_util::BodyExt;
use serde_json::json;
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;

pub use local::auth::{demo_agents, DemoAgent, LocalIssuer};
use std::sync::Arc;

pub use store::demo::{clinic_id, patient_id, provider_id};

/// Bayview Eye Care: Los Angeles, Mon–Fri 08:00–18:00, Sat 09:00–13:00, providers 1–3.
pub const BAYVIEW: u128 = 1;
/// Hudson Vision Center: New York, Mon–Fri 09:00–17:00, providers 4–5.
pub const HUDSON: u128 = 2;

#[derive(Debug, Clone)]
pub struct TestApi {
    pub app: Router,
    pub pool: PgPool,
    pub registry: contract::SchemaRegistry,
    /// Signs the tests' tokens; the API trusts its key.
    pub issuer: Arc<LocalIssuer>,
    /// Sent with every request unless a test says otherwise: the demo supervisor (every clinic).
    pub token: String,
}

/// The demo agent with this id.
pub fn agent(id: &str) -> DemoAgent {
    demo_agents()
        .into_iter()
        .find(|a| a.agent_id == id)
        .expect("demo agent")
}

/// The API state on `pool` with `registry`, trusting `issuer`'s tokens.
pub fn app_state(
    pool: PgPool,
    registry: contract::SchemaRegistry,
    publisher: Option<messaging::Publisher>,
    issuer: &LocalIssuer,
) -> api::AppState {
    api::AppState {
        pool,
        registry,
        publisher,
        auth: Arc::new(issuer.verifier().expect("verifier")),
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `field` names of a problem document's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// Seeds demo data into the test database and builds the one Router on it.
pub async fn test_api(pool: PgPool) -> TestApi {
    store::demo::seed(&pool, Utc::now().date_naive())
        .await
        .expect("seed demo data");
    let registry = testkit::registry().await;
    let issuer = Arc::new(LocalIssuer::generate("https://auth.test.example").expect("issuer"));
    let app = api::app(app_state(pool.clone(), registry.clone(), None, &issuer));
    let token = issuer.token_for(&agent("supervisor-sam")).expect("token");
    TestApi {
        app,
        pool,
        registry,
        issuer,
        token,
    }
}

impl TestApi {
    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        self.request_as(Some(&self.token), method, uri, content_type, body)
            .await
    }

    /// A request with `token` as its bearer token (None: no Authorization header).
    pub async fn request_as(
        &self,
        token: Option<&str>,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        self.request_with(token, method, uri, content_type, &[], body)
            .await
    }

    /// A JSON POST with the default token and these extra headers.
    pub async fn post_with(&self, uri: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("json");
        let token = Some(self.token.as_str());
        self.request_with(
            token,
            Method::POST,
            uri,
            Some("application/json"),
            headers,
            bytes,
        )
        .await
    }

    /// A request with `token` (None: no Authorization header) and these extra headers.
    pub async fn request_with(
        &self,
        token: Option<&str>,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        let response = self
            .app
            .clone()
            .oneshot(builder.body(Body::from(body)).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON response body")
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, uri: &str, body: &Value) -> Reply {
        self.request(
            Method::POST,
            uri,
            Some("application/json"),
            serde_json::to_vec(body).expect("json"),
        )
        .await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.request(Method::GET, uri, None, Vec::new()).await
    }

    pub async fn count(&self, table: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .expect("count");
        n
    }
}

/// The first `weekday` at least a week from today (so it is always in the future).
pub fn next(weekday: Weekday) -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(7);
    while d.weekday() != weekday {
        d += Duration::days(1);
    }
    d
}

/// A clinic-local date-time string as an agent would type it.
pub fn local(date: NaiveDate, hh_mm: &str) -> String {
    format!("{date}T{hh_mm}")
}

/// A ROUTINE exam at Bayview with demo `provider` next Thursday at `hh_mm` (clinic time).
pub fn routine_at_bayview(patient: u128, provider: u128, hh_mm: &str) -> Value {
    serde_json::json!({
        "clinicId": clinic_id(BAYVIEW).to_string(), "patientId": patient_id(patient).to_string(),
        "providerId": provider_id(provider).to_string(), "dateTime": local(next(Weekday::Thu), hh_mm),
        "type": "ROUTINE"
    })
}

/// Books through the API; panics unless the booking is accepted.
pub async fn book(api: &TestApi, body: &Value) -> (domain::AppointmentId, domain::SagaId) {
    let reply = api.post("/api/v1/appointments", body).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let id = |field: &str| {
        reply.body[field]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id")
    };
    (
        domain::AppointmentId(id("appointmentId")),
        domain::SagaId(id("sagaId")),
    )
}

/// Applies domain commands on the write side, as the saga and the command functions would;
/// each must be applied.
pub async fn apply_commands(
    pool: &PgPool,
    registry: &contract::SchemaRegistry,
    id: domain::AppointmentId,
    commands: &[domain::appointment::AppointmentCommand],
) {
    use domain::appointment::AppointmentCommand;
    for command in commands {
        let mut tx = pool.begin().await.expect("begin");
        let (outbox, cause) = (app::Outbox::new(registry), app::Cause::agent());
        let outcome = match command.clone() {
            AppointmentCommand::MarkInsuranceVerified => {
                app::appointments::mark_insurance_verified(&mut tx, outbox, id, cause).await
            }
            AppointmentCommand::Confirm => {
                app::appointments::confirm(&mut tx, outbox, id, cause).await
            }
            AppointmentCommand::Cancel { reason } => {
                app::appointments::cancel(&mut tx, outbox, id, reason, cause).await
            }
            AppointmentCommand::Complete => {
                app::appointments::complete(&mut tx, outbox, id, cause).await
            }
            AppointmentCommand::Schedule(_) => panic!("book through app::booking::book"),
        }
        .expect("apply");
        assert!(
            matches!(outcome, app::appointments::CommandOutcome::Applied { .. }),
            "{command:?}: {outcome:?}"
        );
        tx.commit().await.expect("commit");
    }
}

/// An AppointmentCreated for demo patient 3 with the clinic's first provider, three days ahead.
pub fn appointment_created(
    appointment_id: domain::AppointmentId,
    saga_id: domain::SagaId,
    clinic: u128,
) -> contract::AppointmentCreated {
    let clinic = store::demo::clinics()
        .into_iter()
        .find(|c| c.id == clinic_id(clinic))
        .expect("demo clinic");
    contract::AppointmentCreated {
        event_id: domain::EventId::new(),
        occurred_at: Utc::now(),
        appointment_id,
        appointment_version: 1,
        saga_id,
        clinic_id: clinic.id,
        clinic_name: clinic.name.clone(),
        provider_id: clinic.providers[0].id,
        provider_name: clinic.providers[0].name.clone(),
        patient_id: patient_id(3),
        patient_name: "Chloe Lee".to_owned(),
        patient_email: "chloe.lee3@example.com".to_owned(),
        scheduled_for: Utc::now() + Duration::days(3),
        duration_minutes: 30,
        r#type: domain::AppointmentType::Routine,
        notes: None,
    }
}

/// An AWS `KafkaEvent` with the given (topic, partition, offset, value) records.
pub fn kafka_event(records: &[(&str, i64, i64, Vec<u8>)]) -> KafkaEvent {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut grouped = serde_json::Map::new();
    for (topic, partition, offset, value) in records {
        let entry = grouped
            .entry(format!("{topic}-{partition}"))
            .or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({
                "topic": topic, "partition": partition, "offset": offset,
                "timestamp": 1_700_000_000_000_i64, "timestampType": "CREATE_TIME",
                "key": b64(b"key"), "value": b64(value),
                "headers": [{"event_type": [84, 101, 115, 116]}]
            }));
        }
    }
    serde_json::from_value(json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/local/local",
        "bootstrapServers": "127.0.0.1:9092",
        "records": grouped
    }))
    .expect("AWS-shaped Kafka event")
}
