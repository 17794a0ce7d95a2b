//! Hostile input, property-based: random and malformed bodies and query strings against every
//! write and read route. The API must never answer 5xx, and a refused request must write
//! nothing: no row added, removed or changed in any table a request can write.

use crate::support::*;
use axum::http::{Method, StatusCode};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use sqlx::PgPool;

/// The field names the routes know, so random bodies reach validation, not just the parser.
const FIELDS: [&str; 10] = [
    "clinicId",
    "patientId",
    "providerId",
    "dateTime",
    "type",
    "notes",
    "reason",
    "outcome",
    "appointmentId",
    "agentId",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        // Things that look almost right.
        prop_oneof![
            Just("0c000000-0000-4000-8000-000000000001"),
            Just("2030-01-07T10:00"),
            Just("2030-02-30T25:61"),
            Just("ROUTINE"),
            Just("BOOKED"),
            Just("\u{0}\u{1b}[31m"),
            Just("'; DROP TABLE appointments; --"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((".{0,12}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object of known field names with random values of random types.
fn near_miss_body() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(FIELDS.to_vec()), json_value()), 0..7).prop_map(
        |kv| {
            Value::Object(
                kv.into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<Map<_, _>>(),
            )
        },
    )
}

/// A request body as bytes: malformed JSON, arbitrary JSON, near misses, or oversized.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        near_miss_body().prop_map(|v| v.to_string().into_bytes()),
        near_miss_body().prop_map(|v| v.to_string().into_bytes()),
        (0usize..3).prop_map(|n| vec![b'['; 17 * 1024 + n]),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(vec![
                    "page", "size", "clinicId", "status", "from", "to", "q", "date", "type",
                ])
                .prop_map(str::to_owned),
                "[a-zA-Z%&=]{0,8}",
            ],
            "[ -~]{0,24}",
        ),
        0..5,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", urlencode(&v)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `n` random cases of `strategy` (no shrinking: the failing input is printed instead).
fn samples<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::new(Config::default());
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).expect("a case").current())
        .collect()
}

/// The tables a request can write, directly or through what it causes. Not `access_audit`:
/// a command the appointment's status refuses is audited by design (tests/it/audit.rs).
const WRITTEN: [&str; 13] = [
    "appointments",
    "saga_state",
    "saga_timeline",
    "calls",
    "outbox",
    "processed_messages",
    "confirmation_emails",
    "appointment_summary",
    "metrics_hourly",
    "metrics_appointments",
    "call_summary",
    "patients",
    "booking_requests",
];

/// Each written table's row count and an md5 of all its rows (every column, in a fixed order),
/// so a refused request that changed a row in place is caught as surely as one that added one.
pub async fn fingerprint(api: &TestApi) -> Vec<(String, i64, String)> {
    let sql = WRITTEN
        .iter()
        .map(|table| {
            format!(
                "SELECT '{table}', count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    sqlx::query_as(&sql)
        .fetch_all(&api.pool)
        .await
        .expect("fingerprint")
}

/// Something for the routes' path ids to name: an appointment booked at Bayview and a call
/// started there (its id).
pub async fn an_appointment_and_a_call(api: &TestApi) -> (domain::AppointmentId, String) {
    let (appointment, _) = book(api, &routine_at_bayview(3, 1, "10:00")).await;
    let started = api
        .post(
            "/api/v1/calls",
            &json!({"clinicId": clinic_id(BAYVIEW).to_string()}),
        )
        .await;
    let call = started.body["callId"].as_str().expect("callId").to_owned();
    (appointment, call)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn random_and_malformed_requests_never_fail_on_our_side_nor_half_write(pool: PgPool) {
    let api = test_api(pool).await;
    let (appointment, call) = an_appointment_and_a_call(&api).await;
    // The fingerprint sees a change in place (no row added): the check below can fail.
    let untouched = fingerprint(&api).await;
    sqlx::query("UPDATE appointments SET notes = 'changed in place' WHERE id = $1")
        .bind(appointment.0)
        .execute(&api.pool)
        .await
        .expect("update");
    assert_ne!(fingerprint(&api).await, untouched);
    let write_routes = [
        "/api/v1/appointments".to_owned(),
        format!("/api/v1/appointments/{appointment}/cancel"),
        format!("/api/v1/appointments/{appointment}/complete"),
        "/api/v1/calls".to_owned(),
        format!("/api/v1/calls/{call}/end"),
    ];
    let content_types = [Some("application/json"), Some("text/plain"), None];
    for (i, bytes) in samples(body(), 400).into_iter().enumerate() {
        let route = &write_routes[i % write_routes.len()];
        let content_type = content_types[i % 7 % content_types.len()];
        let before = fingerprint(&api).await;
        let reply = api
            .request(Method::POST, route, content_type, bytes.clone())
            .await;
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        assert!(
            reply.status.is_client_error() || reply.status.is_success(),
            "POST {route} {shown:?} → {}: {}",
            reply.status,
            reply.body
        );
        if !reply.status.is_success() {
            assert_eq!(
                fingerprint(&api).await,
                before,
                "POST {route} {shown:?} wrote something"
            );
            assert_eq!(
                reply.content_type(),
                "application/problem+json",
                "POST {route}"
            );
        }
    }
    let read_routes = [
        "/api/v1/appointments".to_owned(),
        "/api/v1/metrics".to_owned(),
        "/api/v1/patients".to_owned(),
        format!("/api/v1/clinics/{}/availability", clinic_id(BAYVIEW)),
    ];
    let before_reads = fingerprint(&api).await;
    for (i, query) in samples(query(), 200).into_iter().enumerate() {
        let uri = format!("{}?{query}", read_routes[i % read_routes.len()]);
        let reply = api.get(&uri).await;
        assert!(
            reply.status == StatusCode::OK || reply.status.is_client_error(),
            "GET {uri} → {}: {}",
            reply.status,
            reply.body
        );
    }
    assert_eq!(
        fingerprint(&api).await,
        before_reads,
        "a read wrote something"
    );
}
