//! The access audit: every answer that carries patient data, and every change to it, leaves one
//! append-only entry with ids only; a supervisor reads a patient's trail.

use crate::support::*;
use axum::http::{Method, StatusCode};
use contract::AppointmentCreated;
use serde_json::{json, Value};
use sqlx::PgPool;

/// (agent, action, route, outcome, clinics, patients, appointments) of every entry, oldest first.
type Row = (
    String,
    String,
    String,
    String,
    Vec<uuid::Uuid>,
    Vec<uuid::Uuid>,
    Vec<uuid::Uuid>,
);

async fn entries(api: &TestApi) -> Vec<Row> {
    sqlx::query_as(
        "SELECT agent_id, action, route, outcome, clinic_ids, patient_ids, appointment_ids
           FROM access_audit ORDER BY id",
    )
    .fetch_all(&api.pool)
    .await
    .expect("entries")
}

/// Projects a booking's AppointmentCreated into the read model, as project-appointments does.
async fn project(api: &TestApi, appointment: domain::AppointmentId) {
    let payload: Vec<u8> = sqlx::query_scalar("SELECT payload FROM outbox WHERE record_key = $1")
        .bind(appointment.to_string())
        .fetch_one(&api.pool)
        .await
        .expect("the booking's record");
    let created: AppointmentCreated = api.registry.decode(&payload).await.expect("decodes");
    let mut db = api.pool.acquire().await.expect("connection");
    app::projections::appointment_created(&mut db, &created)
        .await
        .expect("projected");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn every_read_and_change_of_patient_data_is_audited_with_ids_only(pool: PgPool) {
    let api = test_api(pool).await;
    let sam = "supervisor-sam".to_owned();
    let bayview = vec![clinic_id(BAYVIEW).0];
    let chloe = patient_id(3);
    let (appointment, _) = book(&api, &routine_at_bayview(3, 1, "09:00")).await;
    project(&api, appointment).await;

    assert_eq!(
        api.get("/api/v1/patients?q=Chloe%20Lee").await.status,
        StatusCode::OK
    );
    assert_eq!(api.get("/api/v1/appointments").await.status, StatusCode::OK);
    let read = api
        .get(&format!("/api/v1/appointments/{appointment}"))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    // Completing an appointment still waiting for its insurance is refused: audited as such.
    let complete = format!("/api/v1/appointments/{appointment}/complete");
    assert_eq!(
        api.post(&complete, &json!({})).await.status,
        StatusCode::CONFLICT
    );
    let cancel = format!("/api/v1/appointments/{appointment}/cancel");
    let reason = json!({"reason": "Patient called"});
    assert_eq!(api.post(&cancel, &reason).await.status, StatusCode::OK);

    let every_clinic: Vec<uuid::Uuid> = agent("supervisor-sam")
        .clinic_ids
        .iter()
        .map(|c| c.0)
        .collect();
    let expected: Vec<Row> = vec![
        (
            "appointment.book",
            "/api/v1/appointments",
            "SERVED",
            bayview.clone(),
            vec![appointment.0],
        ),
        (
            "patient.search",
            "/api/v1/patients",
            "SERVED",
            every_clinic.clone(),
            vec![],
        ),
        (
            "appointment.list",
            "/api/v1/appointments",
            "SERVED",
            every_clinic,
            vec![appointment.0],
        ),
        (
            "appointment.read",
            "/api/v1/appointments/{id}",
            "SERVED",
            bayview.clone(),
            vec![appointment.0],
        ),
        (
            "appointment.complete",
            "/api/v1/appointments/{id}/complete",
            "REFUSED",
            bayview.clone(),
            vec![appointment.0],
        ),
        (
            "appointment.cancel",
            "/api/v1/appointments/{id}/cancel",
            "SERVED",
            bayview,
            vec![appointment.0],
        ),
    ]
    .into_iter()
    .map(|(action, route, outcome, clinics, appointments)| {
        (
            sam.clone(),
            action.to_owned(),
            route.to_owned(),
            outcome.to_owned(),
            clinics,
            vec![chloe.0],
            appointments,
        )
    })
    .collect();
    assert_eq!(entries(&api).await, expected);

    // No value of the patient's beyond ids.
    let patient = &store::demo::patients(chrono::Utc::now().date_naive())[2];
    let text: String = sqlx::query_scalar("SELECT string_agg(t::text, '|') FROM access_audit t")
        .fetch_one(&api.pool)
        .await
        .expect("text");
    for value in [
        patient.name.as_str(),
        patient.email.as_str(),
        "Patient called",
    ] {
        assert!(!text.contains(value), "{value} in the audit");
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_answer_without_patient_data_and_a_failed_booking_leave_no_entry(pool: PgPool) {
    let api = test_api(pool).await;
    book(&api, &routine_at_bayview(3, 1, "09:00")).await;
    let before = entries(&api).await;
    assert_eq!(before.len(), 1, "the booking");
    // The same slot again: refused in the booking's transaction, whose entry goes with it.
    let taken = api
        .post("/api/v1/appointments", &routine_at_bayview(4, 1, "09:00"))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(
        api.get("/api/v1/patients?q=Nobody%20Here").await.status,
        StatusCode::OK
    );
    assert_eq!(api.get("/api/v1/clinics").await.status, StatusCode::OK);
    assert_eq!(entries(&api).await, before);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_audit_refuses_updates_and_deletes(pool: PgPool) {
    let api = test_api(pool).await;
    book(&api, &routine_at_bayview(3, 1, "09:00")).await;
    for statement in [
        "UPDATE access_audit SET agent_id = 'someone-else'",
        "DELETE FROM access_audit",
        "TRUNCATE access_audit",
    ] {
        let refused = sqlx::query(statement).execute(&api.pool).await;
        assert!(refused.is_err(), "{statement} was allowed");
    }
    assert_eq!(entries(&api).await.len(), 1);
    assert_eq!(entries(&api).await[0].0, "supervisor-sam");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_supervisor_reads_a_patients_trail_and_an_agent_may_not(pool: PgPool) {
    let api = test_api(pool).await;
    let (appointment, _) = book(&api, &routine_at_bayview(3, 1, "09:00")).await;
    project(&api, appointment).await;
    api.get(&format!("/api/v1/appointments/{appointment}"))
        .await;
    let uri = format!("/api/v1/patients/{}/access-log", patient_id(3));

    let trail = api.get(&uri).await;
    assert_eq!(trail.status, StatusCode::OK, "{:?}", trail.body);
    let actions: Vec<&str> = trail
        .body
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        vec!["appointment.read", "appointment.book"],
        "newest first"
    );
    let first = trail.body[0].as_object().expect("entry");
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "action",
            "agentId",
            "appointmentIds",
            "at",
            "clinicIds",
            "outcome",
            "route"
        ]
    );
    assert_eq!(
        trail.body[0]["appointmentIds"],
        json!([appointment.to_string()])
    );
    // Reading the trail is itself an access.
    assert_eq!(
        entries(&api).await.last().expect("entry").1,
        "access-log.read"
    );

    let ava = api.issuer.token_for(&agent("agent-ava")).expect("token");
    let as_ava = api
        .request_as(Some(&ava), Method::GET, &uri, None, Vec::new())
        .await;
    assert_eq!(as_ava.status, StatusCode::FORBIDDEN);
    let unknown = api
        .get(&format!(
            "/api/v1/patients/{}/access-log",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad: Value = api.get("/api/v1/patients/not-an-id/access-log").await.body;
    assert_eq!(bad["errors"][0]["field"], "id");
}
