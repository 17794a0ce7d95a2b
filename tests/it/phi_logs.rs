//! No patient data in the API's logs, on the paths most likely to leak it: a patient search by
//! name, reading appointments (the answers carry names), bookings with personal notes, and
//! refused requests whose bodies, query strings, paths or headers carry a patient's name, email
//! or phone. The API's tracing output (every level) is captured while they run and searched.

use crate::support::*;
use axum::http::{Method, StatusCode};
use clinic_tests::capture::Captured;
use serde_json::{json, Value};
use sqlx::PgPool;
use tracing_subscriber::util::SubscriberInitExt;

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_apis_logs_carry_no_patient_data_on_risky_paths(pool: PgPool) {
    let api = test_api(pool).await;
    let patients = store::demo::patients(chrono::Utc::now().date_naive());
    let chloe = &patients[2];
    let (name, email) = (chloe.name.as_str(), chloe.email.as_str());
    let phone = chloe.phone.clone().expect("a phone number");
    // sqlx::test runs the test on a current-thread runtime, so a thread-local subscriber sees
    // everything the API (and its database pool) logs here, at every level.
    let captured = Captured::default();
    let writer = captured.clone();
    // While one dispatcher alone is registered, tracing-core computes a callsite's interest,
    // on whichever thread first reaches it, from THAT thread's default: another test's thread
    // reaching the API's "request refused" first would cache "never" and this capture would
    // miss it. A second registered dispatcher makes it ask every registered one.
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());
    let guard = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_writer(move || writer.clone())
        .finish()
        .set_default();

    // A booking whose notes carry personal data, then the reads that answer with names.
    let mut body = routine_at_bayview(3, 1, "10:00");
    body["notes"] = json!(format!("{name} asks for a call back on {phone} or {email}"));
    let (booked, saga) = book(&api, &body).await;
    let mut created = appointment_created(booked, saga, BAYVIEW);
    created.patient_name = name.to_owned();
    created.patient_email = email.to_owned();
    app::projections::appointment_created(&mut api.pool.acquire().await.expect("conn"), &created)
        .await
        .expect("project");
    let found = api
        .get(&format!("/api/v1/patients?q={}", urlencode(name)))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert!(found.body.to_string().contains(name), "{}", found.body);
    let listed = api.get("/api/v1/appointments").await;
    assert!(listed.body.to_string().contains(name), "{}", listed.body);
    let one = api.get(&format!("/api/v1/appointments/{booked}")).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);

    // Refused requests carrying the same data wherever a client could put it.
    let post = |uri: String, content_type: &'static str, bytes: Vec<u8>| {
        let api = &api;
        async move {
            api.request(Method::POST, &uri, Some(content_type), bytes)
                .await
        }
    };
    let json_bytes = |v: Value| v.to_string().into_bytes();
    let bayview = clinic_id(BAYVIEW).to_string();
    let refused = vec![
        post(
            "/api/v1/appointments".into(),
            "application/json",
            json_bytes(
                json!({"clinicId": bayview, "patientId": name, "dateTime": phone, "type": email}),
            ),
        )
        .await,
        post(
            "/api/v1/appointments".into(),
            "application/json",
            json_bytes(json!({"clinicId": bayview, "patientName": name, "patientEmail": email})),
        )
        .await,
        post(
            "/api/v1/appointments".into(),
            "application/json",
            json_bytes(json!({ name: email, phone.as_str(): name })),
        )
        .await,
        post(
            "/api/v1/appointments".into(),
            "application/json",
            format!(r#"{{"clinicId": "{bayview}", "notes": "{name} {phone}"#).into_bytes(),
        )
        .await,
        post(
            "/api/v1/appointments".into(),
            "text/plain",
            format!("{name} {email} {phone}").into_bytes(),
        )
        .await,
        post(
            "/api/v1/appointments".into(),
            "application/json",
            json_bytes(json!({"notes": format!("{name} {email} {phone} ").repeat(400)})),
        )
        .await,
        // The same slot again: a conflict, with the personal notes in the body.
        post(
            "/api/v1/appointments".into(),
            "application/json",
            json_bytes(body.clone()),
        )
        .await,
        post(
            format!("/api/v1/appointments/{booked}/cancel"),
            "application/json",
            json_bytes(json!({"reason": format!("{name} called from {phone}"), "by": email})),
        )
        .await,
        post(
            format!("/api/v1/calls/{}/end", uuid::Uuid::now_v7()),
            "application/json",
            json_bytes(json!({"outcome": name, "appointmentId": email})),
        )
        .await,
        post(
            "/api/v1/calls".into(),
            "application/json",
            json_bytes(json!({"clinicId": phone, "patient": name})),
        )
        .await,
        api.get(&format!("/api/v1/appointments?status={}", urlencode(name)))
            .await,
        api.get(&format!(
            "/api/v1/patients?q={}&email={}",
            urlencode(name),
            urlencode(email)
        ))
        .await,
        api.get(&format!("/api/v1/patients?{}=1", urlencode(email)))
            .await,
        api.get(&format!("/api/v1/appointments/{email}")).await,
        api.get(&format!(
            "/api/v1/clinics/{bayview}/availability?date={phone}"
        ))
        .await,
        api.request_as(
            Some(email),
            Method::GET,
            &format!("/api/v1/patients?q={}", urlencode(name)),
            None,
            Vec::new(),
        )
        .await,
    ];
    for (i, reply) in refused.iter().enumerate() {
        assert!(
            reply.status.is_client_error(),
            "request {i} was not refused: {} {}",
            reply.status,
            reply.body
        );
    }
    drop(guard);

    let logs = captured.text();
    // The capture works: every refused request left its access-log line.
    assert!(
        logs.matches("request refused").count() >= refused.len(),
        "the capture missed the refusals:\n{logs}"
    );
    // Requests are logged by the route they matched, not by the path as sent.
    assert!(
        logs.contains(r#"route="/api/v1/appointments/{id}""#),
        "no route template in the access log:\n{logs}"
    );
    for patient in &patients {
        let mut personal = vec![patient.name.clone(), patient.email.clone()];
        personal.extend(patient.phone.clone());
        for value in personal {
            assert!(
                !logs.contains(&value),
                "the API's logs contain patient data ({} characters of patient {}):\n{logs}",
                value.len(),
                patient.id
            );
        }
    }
}
