//! Read routes: clinics, availability, the appointment read model, OpenAPI, unknown routes.

use crate::support::*;
use axum::http::StatusCode;
use chrono::{Duration, Utc, Weekday};
use contract::AppointmentCreated;
use domain::{AppointmentId, AppointmentStatus, SagaId};
use serde_json::json;
use sqlx::PgPool;
use store::read_model::{self, StatusChange};

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn clinics_list_time_zones_hours_and_providers(pool: PgPool) {
    let api = test_api(pool).await;
    let reply = api.get("/api/v1/clinics").await;
    assert_eq!(reply.status, StatusCode::OK);
    let clinics = reply.body.as_array().expect("array");
    assert_eq!(clinics.len(), store::demo::clinics().len());
    let bayview = clinics
        .iter()
        .find(|c| c["name"] == "Bayview Eye Care")
        .expect("Bayview");
    assert_eq!(bayview["timeZone"], "America/Los_Angeles");
    assert_eq!(bayview["providers"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        bayview["openingHours"][0],
        json!({"weekday": "MONDAY", "opens": "08:00", "closes": "18:00"})
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn availability_excludes_booked_slots_for_that_provider_only(pool: PgPool) {
    let api = test_api(pool).await;
    let tuesday = next(Weekday::Tue);
    let uri = format!(
        "/api/v1/clinics/{}/availability?date={tuesday}&type=ROUTINE",
        clinic_id(HUDSON)
    );
    let before = api.get(&uri).await;
    assert_eq!(before.status, StatusCode::OK, "{:?}", before.body);
    assert_eq!(before.body["timeZone"], "America/New_York");
    assert_eq!(before.body["durationMinutes"], 30);
    let slots = |reply: &Reply, provider: u128| -> Vec<String> {
        reply.body["providers"]
            .as_array()
            .and_then(|ps| {
                ps.iter()
                    .find(|p| p["providerId"] == provider_id(provider).to_string())
            })
            .and_then(|p| p["slots"].as_array())
            .map(|s| {
                s.iter()
                    .filter_map(|x| x["localTime"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    // 09:00..16:30 every 15 minutes.
    assert_eq!(slots(&before, 4).len(), 31);
    assert_eq!(slots(&before, 4).first().map(String::as_str), Some("09:00"));
    assert_eq!(slots(&before, 4).last().map(String::as_str), Some("16:30"));

    let mut body = json!({
        "clinicId": clinic_id(HUDSON).to_string(), "patientId": patient_id(3).to_string(),
        "providerId": provider_id(4).to_string(), "dateTime": local(tuesday, "10:00"), "type": "ROUTINE"
    });
    assert_eq!(
        api.post("/api/v1/appointments", &body).await.status,
        StatusCode::ACCEPTED
    );

    let after = api.get(&uri).await;
    let taken: Vec<String> = slots(&before, 4)
        .into_iter()
        .filter(|s| !slots(&after, 4).contains(s))
        .collect();
    // A 30-minute exam at 10:00 blocks starts 09:45, 10:00 and 10:15.
    assert_eq!(taken, ["09:45", "10:00", "10:15"]);
    assert_eq!(
        slots(&after, 5),
        slots(&before, 5),
        "the other provider is unaffected"
    );

    // Booking the provider at a slot availability still offers works.
    body["dateTime"] = json!(local(tuesday, "10:30"));
    body["patientId"] = json!(patient_id(4).to_string());
    assert_eq!(
        api.post("/api/v1/appointments", &body).await.status,
        StatusCode::ACCEPTED
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn availability_validates_its_parameters(pool: PgPool) {
    let api = test_api(pool).await;
    let base = format!("/api/v1/clinics/{}/availability", clinic_id(HUDSON));
    for (uri, field) in [
        (base.clone(), "date"),
        (format!("{base}?date=tomorrow"), "date"),
        (format!("{base}?date=-262144-01-01"), "date"),
        (format!("{base}?date=%2B262143-12-31"), "date"),
        (format!("{base}?date=2030-01-07&type=LASIK"), "type"),
        (format!("{base}?date=2030-01-07&color=blue"), "query"),
        (
            "/api/v1/clinics/nope/availability?date=2030-01-07".to_owned(),
            "id",
        ),
    ] {
        let reply = api.get(&uri).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(reply.error_fields(), [field], "{uri}: {:?}", reply.body);
    }
    let reply = api
        .get(&format!(
            "/api/v1/clinics/{}/availability?date=2030-01-07",
            clinic_id(77)
        ))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

fn created_minutes_ago(
    appointment: AppointmentId,
    saga: SagaId,
    clinic: u128,
    minutes: i64,
) -> AppointmentCreated {
    AppointmentCreated {
        occurred_at: Utc::now() - Duration::minutes(minutes),
        ..appointment_created(appointment, saga, clinic)
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_read_model_keeps_the_newest_version_whatever_the_arrival_order(pool: PgPool) {
    let api = test_api(pool).await;
    let (id, saga) = (AppointmentId::new(), SagaId::new());
    let mut conn = api.pool.acquire().await.expect("conn");
    let confirmed = StatusChange {
        appointment_id: id,
        saga_id: saga,
        version: 3,
        status: AppointmentStatus::Confirmed,
        cancel_reason: None,
        occurred_at: Utc::now(),
    };
    // Confirmed (v3) arrives first, then Created (v1), then a stale v2 and a duplicate v3.
    assert!(read_model::apply_status_change(&mut conn, &confirmed)
        .await
        .expect("apply"));
    assert!(app::projections::appointment_created(
        &mut conn,
        &created_minutes_ago(id, saga, BAYVIEW, 1)
    )
    .await
    .expect("apply"));
    let stale = StatusChange {
        version: 2,
        status: AppointmentStatus::AwaitingConfirmation,
        ..confirmed.clone()
    };
    assert!(!read_model::apply_status_change(&mut conn, &stale)
        .await
        .expect("apply"));
    assert!(!read_model::apply_status_change(&mut conn, &confirmed)
        .await
        .expect("apply"));
    assert!(!app::projections::appointment_created(
        &mut conn,
        &created_minutes_ago(id, saga, BAYVIEW, 1)
    )
    .await
    .expect("apply"));

    let reply = api.get(&format!("/api/v1/appointments/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "CONFIRMED");
    assert_eq!(reply.body["version"], 3);
    assert_eq!(reply.body["clinicName"], "Bayview Eye Care");
    assert_eq!(reply.body["patientName"], "Chloe Lee");
    assert_eq!(reply.body["clinicTimeZone"], "America/Los_Angeles");
    let local_time = reply.body["scheduledForLocal"]
        .as_str()
        .expect("local time");
    assert!(
        local_time.ends_with("-08:00") || local_time.ends_with("-07:00"),
        "{local_time}"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn listing_filters_and_pages_most_recent_first(pool: PgPool) {
    let api = test_api(pool).await;
    let mut conn = api.pool.acquire().await.expect("conn");
    let mut ids = Vec::new();
    for i in 0..5 {
        let (id, saga) = (AppointmentId::new(), SagaId::new());
        let clinic = if i < 3 { BAYVIEW } else { HUDSON };
        app::projections::appointment_created(
            &mut conn,
            &created_minutes_ago(id, saga, clinic, 10 - i),
        )
        .await
        .expect("apply");
        ids.push((id, saga));
    }
    let (cancelled, saga) = ids[1];
    let change = StatusChange {
        appointment_id: cancelled,
        saga_id: saga,
        version: 2,
        status: AppointmentStatus::Cancelled,
        cancel_reason: Some("Insurance verification failed: policy expired".to_owned()),
        occurred_at: Utc::now(),
    };
    read_model::apply_status_change(&mut conn, &change)
        .await
        .expect("apply");

    let page = api.get("/api/v1/appointments?page=0&size=2").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        (
            page.body["totalItems"].as_i64(),
            page.body["totalPages"].as_i64()
        ),
        (Some(5), Some(3))
    );
    let first: Vec<String> = page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["appointmentId"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        first,
        [ids[4].0.to_string(), ids[3].0.to_string()],
        "most recently booked first"
    );
    let last = api.get("/api/v1/appointments?page=2&size=2").await;
    assert_eq!(last.body["items"].as_array().map(Vec::len), Some(1));

    let hudson = api
        .get(&format!(
            "/api/v1/appointments?clinicId={}",
            clinic_id(HUDSON)
        ))
        .await;
    assert_eq!(hudson.body["totalItems"], 2);
    let cancelled_page = api.get("/api/v1/appointments?status=CANCELLED").await;
    assert_eq!(cancelled_page.body["totalItems"], 1);
    assert_eq!(
        cancelled_page.body["items"][0]["cancelReason"],
        "Insurance verification failed: policy expired"
    );
    let window = format!(
        "/api/v1/appointments?from={}&to={}",
        (Utc::now() + Duration::days(2)).date_naive(),
        (Utc::now() + Duration::days(5)).date_naive()
    );
    assert_eq!(api.get(&window).await.body["totalItems"], 5);
    let empty = format!(
        "/api/v1/appointments?from={}",
        (Utc::now() + Duration::days(30)).date_naive()
    );
    assert_eq!(api.get(&empty).await.body["totalItems"], 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn listing_rejects_bad_parameters_by_name(pool: PgPool) {
    let api = test_api(pool).await;
    for (query, field) in [
        ("size=0", "size"),
        ("size=101", "size"),
        ("page=-1", "page"),
        ("page=1001", "page"),
        ("status=DONE", "status"),
        ("clinicId=x", "clinicId"),
        ("from=yesterday", "from"),
        // Dates chrono reads but that lie outside the documented years (1900-9999).
        ("from=-5000-01-01", "from"),
        ("from=1899-12-31T23:59:59Z", "from"),
        ("to=%2B262142-12-31T23:59:59Z", "to"),
        ("to=10000-01-01", "to"),
        ("sort=name", "query"),
    ] {
        let reply = api.get(&format!("/api/v1/appointments?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.error_fields(), [field], "{query}: {:?}", reply.body);
    }
    // The bounds themselves are served.
    for query in [
        "page=1000&size=100",
        "from=1900-01-01&to=9999-12-31T23:59:59Z",
    ] {
        let reply = api.get(&format!("/api/v1/appointments?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {:?}", reply.body);
    }
    let reply = api
        .get(&format!("/api/v1/appointments/{}", AppointmentId::new()))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.content_type(), "application/problem+json");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn openapi_documents_every_route_and_unknown_routes_are_problem_404(pool: PgPool) {
    let api = test_api(pool).await;
    let reply = api.get("/api/v1/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    let paths = reply.body["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/v1/appointments", "post"),
        ("/api/v1/appointments", "get"),
        ("/api/v1/appointments/{id}", "get"),
        ("/api/v1/clinics", "get"),
        ("/api/v1/clinics/{id}/availability", "get"),
        ("/api/v1/health", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert!(reply.body["components"]["schemas"]["BookAppointmentRequest"].is_object());

    let health = api.get("/api/v1/health").await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let missing = api.get("/api/v1/nowhere").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.content_type(), "application/problem+json");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn patient_search_matches_names_and_returns_no_contact_details(pool: PgPool) {
    let api = test_api(pool).await;
    let patients = store::demo::patients(Utc::now().date_naive());
    let wanted = &patients[2];
    let fragment: String = wanted
        .name
        .chars()
        .skip(1)
        .take(4)
        .collect::<String>()
        .to_uppercase();
    let reply = api
        .get(&format!(
            "/api/v1/patients?q={}&size=50",
            fragment.replace(' ', "%20")
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let matches = reply.body.as_array().expect("array");
    let expected = patients
        .iter()
        .filter(|p| p.name.to_uppercase().contains(&fragment))
        .count();
    assert_eq!(matches.len(), expected);
    assert!(matches
        .iter()
        .any(|m| m["patientId"] == wanted.id.to_string() && m["name"] == wanted.name));
    for m in matches {
        let keys: Vec<&String> = m.as_object().expect("object").keys().collect();
        assert_eq!(keys, vec!["name", "patientId"], "only id and name");
    }
    // LIKE wildcards are taken literally.
    let wildcard = api.get("/api/v1/patients?q=%25%25").await;
    assert_eq!(wildcard.body.as_array().map(Vec::len), Some(0));
    for query in ["q=a", "", "q=ab&size=0", "q=ab&size=51", "q=ab&email=x"] {
        let refused = api.get(&format!("/api/v1/patients?{query}")).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{query}");
    }
}
