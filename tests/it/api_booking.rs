//! `POST /api/v1/appointments`: validation, business rules, one transaction, no double booking.

use crate::support::*;
use axum::http::{Method, StatusCode};
use chrono::{Datelike, Weekday};
use contract::{AppointmentCreated, Record, RecordHeaders};
use serde_json::{json, Value};
use sqlx::PgPool;

fn booking(clinic: u128, patient: u128, date_time: &str) -> Value {
    json!({
        "clinicId": clinic_id(clinic).to_string(),
        "patientId": patient_id(patient).to_string(),
        "dateTime": date_time,
        "type": "ROUTINE",
    })
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_booking_writes_one_appointment_and_its_created_event_in_the_outbox(pool: PgPool) {
    let api = test_api(pool).await;
    let monday = next(Weekday::Mon);
    let mut body = booking(BAYVIEW, 3, &local(monday, "10:00"));
    body["notes"] = json!("Prefers morning visits");

    let reply = api.post("/api/v1/appointments", &body).await;

    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "PROCESSING");
    let appointment_id = reply.body["appointmentId"]
        .as_str()
        .expect("appointmentId")
        .to_owned();
    let saga_id = reply.body["sagaId"].as_str().expect("sagaId").to_owned();
    assert_eq!(
        reply.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/appointments/{appointment_id}").as_str())
    );
    assert_eq!(api.count("appointments").await, 1);
    assert_eq!(api.count("outbox").await, 1);

    let (status, version, scheduled_utc): (String, i32, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(
            "SELECT status, version, scheduled_for FROM appointments WHERE id = $1::uuid",
        )
        .bind(&appointment_id)
        .fetch_one(&api.pool)
        .await
        .expect("appointment row");
    assert_eq!((status.as_str(), version), ("PENDING_INSURANCE", 1));
    // 10:00 in Los Angeles is 18:00 UTC (PST) or 17:00 UTC (PDT).
    let expected =
        domain::values::parse_start_time(&local(monday, "10:00"), chrono_tz::America::Los_Angeles)
            .expect("time");
    assert_eq!(scheduled_utc, expected);

    // The outbox row is the wire record: Glue-framed Avro that decodes to the event.
    let (topic, key, event_type, payload, headers): (
        String,
        String,
        String,
        Vec<u8>,
        serde_json::Value,
    ) = sqlx::query_as("SELECT topic, record_key, event_type, payload, headers FROM outbox")
        .fetch_one(&api.pool)
        .await
        .expect("outbox row");
    assert_eq!(topic, AppointmentCreated::TOPIC);
    assert_eq!(key, appointment_id);
    assert_eq!(event_type, "AppointmentCreated");
    let event: AppointmentCreated = api.registry.decode(&payload).await.expect("decodes");
    assert_eq!(event.appointment_id.to_string(), appointment_id);
    assert_eq!(event.saga_id.to_string(), saga_id);
    assert_eq!(event.appointment_version, 1);
    assert_eq!(event.clinic_name, "Bayview Eye Care");
    assert_eq!(event.scheduled_for, expected);
    assert_eq!(event.duration_minutes, 30);
    assert_eq!(event.notes.as_deref(), Some("Prefers morning visits"));
    let header_pairs: Vec<(String, Vec<u8>)> = headers
        .as_object()
        .expect("headers object")
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().unwrap_or_default().as_bytes().to_vec(),
            )
        })
        .collect();
    let parsed = RecordHeaders::from_kafka_headers(&header_pairs).expect("headers parse");
    assert_eq!(parsed.event_id, event.event_id);
    assert_eq!(parsed.correlation_id.map(|c| c.to_string()), Some(saga_id));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn when_the_outbox_insert_fails_no_appointment_is_stored(pool: PgPool) {
    let api = test_api(pool).await;
    // Make the outbox refuse every row: the appointment insert must roll back with it.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'outbox refused'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .execute(&api.pool)
    .await
    .expect("install trigger");

    let reply = api
        .post(
            "/api/v1/appointments",
            &booking(BAYVIEW, 3, &local(next(Weekday::Tue), "11:00")),
        )
        .await;

    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.content_type(), "application/problem+json");
    let text = reply.body.to_string();
    assert!(
        !text.contains("outbox refused") && !text.to_lowercase().contains("sql"),
        "internals leaked: {text}"
    );
    assert_eq!(api.count("appointments").await, 0);
    assert_eq!(api.count("outbox").await, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn missing_and_malformed_fields_are_all_named(pool: PgPool) {
    let api = test_api(pool).await;
    let reply = api
        .post(
            "/api/v1/appointments",
            &json!({"providerId": "nope", "type": "LASER", "notes": "x".repeat(1001)}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.body["status"], 400);
    assert_eq!(reply.body["type"], "/problems/validation-error");
    let mut fields = reply.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "clinicId",
            "dateTime",
            "notes",
            "patientId",
            "providerId",
            "type"
        ]
    );
    assert_eq!(api.count("appointments").await, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn each_invalid_value_is_reported_against_its_field(pool: PgPool) {
    let api = test_api(pool).await;
    let good = booking(BAYVIEW, 3, &local(next(Weekday::Wed), "09:00"));
    let cases: Vec<(&str, Value, &str)> = vec![
        ("clinicId", json!("not-a-uuid"), "must be a UUID"),
        ("patientId", json!(""), "is required"),
        (
            "type",
            json!("routine"),
            "must be one of ROUTINE, FOLLOW_UP, EMERGENCY, CONTACT_LENS",
        ),
        ("dateTime", json!("next tuesday"), "must be a date-time"),
        ("dateTime", json!("2026-11-23T09:30:30"), "whole minute"),
        ("clinicId", json!(42), "must be"),
    ];
    for (field, value, message) in cases {
        let mut body = good.clone();
        body[field] = value.clone();
        let reply = api.post("/api/v1/appointments", &body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{field}={value}: {:?}",
            reply.body
        );
        assert_eq!(reply.error_fields(), [field], "{field}={value}");
        let text = reply.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            text.contains(message),
            "{field}={value}: {text:?} should mention {message:?}"
        );
    }
    assert_eq!(api.count("appointments").await, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_local_time_inside_a_daylight_saving_gap_is_refused(pool: PgPool) {
    let api = test_api(pool).await;
    // Clocks spring forward at 02:00 on the second Sunday of March; probe a few years ahead.
    let year = chrono::Utc::now().year_ce().1 as i32 + 1;
    let gap = (8..=14)
        .filter_map(|d| chrono::NaiveDate::from_ymd_opt(year, 3, d))
        .find(|d| d.weekday() == Weekday::Sun)
        .expect("second Sunday of March");
    let reply = api
        .post(
            "/api/v1/appointments",
            &booking(HUDSON, 3, &local(gap, "02:30")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert_eq!(reply.error_fields(), ["dateTime"]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn unknown_fields_wrong_media_type_and_broken_json_are_refused(pool: PgPool) {
    let api = test_api(pool).await;
    let mut body = booking(BAYVIEW, 3, &local(next(Weekday::Wed), "09:00"));
    body["patientSsn"] = json!("123-45-6789");
    let reply = api.post("/api/v1/appointments", &body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let message = reply.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(reply.error_fields(), ["body"]);
    assert!(message.contains("not accepted here"), "{message}");
    for sent in ["patientSsn", "123-45-6789"] {
        assert!(
            !reply.body.to_string().contains(sent),
            "the request's keys and values must not be echoed"
        );
    }

    let reply = api
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some("text/plain"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let reply = api
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some("application/json"),
            b"{\"clinicId\":".to_vec(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_fields(), ["body"]);

    let huge = vec![b' '; 64 * 1024];
    let reply = api
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some("application/json"),
            huge,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_fields(), ["body"]);
    assert_eq!(api.count("appointments").await, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn unknown_clinic_patient_or_provider_is_refused(pool: PgPool) {
    let api = test_api(pool).await;
    let date_time = local(next(Weekday::Thu), "10:00");
    // No agent works for an unknown clinic.
    let unknown_clinic = api
        .post("/api/v1/appointments", &booking(99, 3, &date_time))
        .await;
    assert_eq!(
        unknown_clinic.status,
        StatusCode::FORBIDDEN,
        "{}",
        unknown_clinic.body
    );
    assert_eq!(unknown_clinic.error_fields(), ["clinicId"]);
    let cases = [
        ("patientId", booking(BAYVIEW, 999, &date_time)),
        ("providerId", {
            // Provider 4 works at Hudson, not at Bayview.
            let mut b = booking(BAYVIEW, 3, &date_time);
            b["providerId"] = json!(provider_id(4).to_string());
            b
        }),
    ];
    for (field, body) in cases {
        let reply = api.post("/api/v1/appointments", &body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{field}: {:?}",
            reply.body
        );
        assert_eq!(reply.error_fields(), [field]);
    }
    assert_eq!(api.count("appointments").await, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn past_far_future_and_out_of_hours_times_are_422(pool: PgPool) {
    let api = test_api(pool).await;
    let monday = next(Weekday::Mon);
    let cases = [
        ("2020-01-06T10:00".to_owned(), "past"),
        // Far future: just beyond the two-year horizon, and the last year the field accepts.
        (
            local(monday + chrono::Days::new(2 * 366 + 7), "10:00"),
            "two years",
        ),
        ("9999-12-31T10:00".to_owned(), "two years"),
        (local(monday, "07:30"), "opening hours"),
        // A 45-minute contact lens fitting at 17:30 would end after the 18:00 close.
        (local(monday, "17:30"), "opening hours"),
        (local(next(Weekday::Sun), "10:00"), "closed on Sun"),
    ];
    for (date_time, expected) in cases {
        let mut body = booking(BAYVIEW, 3, &date_time);
        body["type"] = json!("CONTACT_LENS");
        let reply = api.post("/api/v1/appointments", &body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{date_time}: {:?}",
            reply.body
        );
        assert_eq!(reply.error_fields(), ["dateTime"]);
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(expected),
            "{date_time}: {:?}",
            reply.body
        );
    }
    assert_eq!(api.count("appointments").await, 0);
}

/// Posts all bodies at once; returns (accepted, conflicts, other statuses).
async fn book_concurrently(api: &TestApi, bodies: Vec<Value>) -> (usize, usize, Vec<StatusCode>) {
    let requests = bodies.into_iter().map(|body| {
        let api = api.clone();
        tokio::spawn(async move { api.post("/api/v1/appointments", &body).await.status })
    });
    let statuses = futures::future::join_all(requests).await;
    let (mut accepted, mut conflicts, mut other) = (0, 0, Vec::new());
    for status in statuses {
        match status.expect("task") {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::CONFLICT => conflicts += 1,
            s => other.push(s),
        }
    }
    (accepted, conflicts, other)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn twenty_concurrent_requests_for_one_provider_slot_give_one_booking(pool: PgPool) {
    let api = test_api(pool).await;
    let date_time = local(next(Weekday::Fri), "14:00");
    let bodies = (0..20)
        .map(|i| {
            let mut body = booking(BAYVIEW, 3 + i, &date_time);
            body["providerId"] = json!(provider_id(1).to_string());
            body
        })
        .collect();
    assert_eq!(book_concurrently(&api, bodies).await, (1, 19, vec![]));
    assert_eq!(api.count("appointments").await, 1);
    assert_eq!(api.count("outbox").await, 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn without_a_provider_each_free_provider_is_used_once_then_409(pool: PgPool) {
    let api = test_api(pool).await;
    // Bayview has three providers: twenty concurrent bookings fill exactly three.
    let date_time = local(next(Weekday::Fri), "15:00");
    let bodies = (0..20)
        .map(|i| booking(BAYVIEW, 3 + i, &date_time))
        .collect();
    assert_eq!(book_concurrently(&api, bodies).await, (3, 17, vec![]));
    let (providers,): (i64,) =
        sqlx::query_as("SELECT count(DISTINCT provider_id) FROM appointments")
            .fetch_one(&api.pool)
            .await
            .expect("count");
    assert_eq!(providers, 3);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn overlapping_but_not_identical_slots_conflict_and_adjacent_ones_do_not(pool: PgPool) {
    let api = test_api(pool).await;
    let tuesday = next(Weekday::Tue);
    let with_provider = |hh_mm: &str, kind: &str, patient: u128| {
        let mut b = booking(HUDSON, patient, &local(tuesday, hh_mm));
        b["providerId"] = json!(provider_id(4).to_string());
        b["type"] = json!(kind);
        b
    };
    let expectations = [
        ("10:00", "CONTACT_LENS", 3, StatusCode::ACCEPTED),
        // 10:30 overlaps 10:00–10:45.
        ("10:30", "ROUTINE", 4, StatusCode::CONFLICT),
        // 10:45 starts exactly when the first ends.
        ("10:45", "FOLLOW_UP", 5, StatusCode::ACCEPTED),
    ];
    for (hh_mm, kind, patient, expected) in expectations {
        let reply = api
            .post("/api/v1/appointments", &with_provider(hh_mm, kind, patient))
            .await;
        assert_eq!(reply.status, expected, "{hh_mm} {kind}: {:?}", reply.body);
    }
    // A cancelled appointment frees its slot.
    sqlx::query("UPDATE appointments SET status = 'CANCELLED' WHERE scheduled_for = (SELECT min(scheduled_for) FROM appointments)")
        .execute(&api.pool)
        .await
        .expect("cancel");
    assert_eq!(
        api.post(
            "/api/v1/appointments",
            &with_provider("10:15", "FOLLOW_UP", 6)
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
}
