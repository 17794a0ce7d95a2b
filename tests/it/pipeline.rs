//! End to end through the real broker: API or Kafka command → write side → outbox → tansu →
//! the local event-source-mapping runtime (mappings from template.yaml) → functions → read
//! model. Each test has its own tansu and database (see `crate::stack`).

use crate::stack::*;
use crate::support::*;
use axum::http::StatusCode;
use chrono::{Duration, NaiveDate, Utc, Weekday};
use contract::{AppointmentConfirmed, AppointmentCreated, Record, ScheduleAppointment};
use domain::{AppointmentId, AppointmentType, EventId, SagaId};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration as StdDuration;

fn command(day: NaiveDate, hh_mm: &str, patient: u128) -> ScheduleAppointment {
    ScheduleAppointment {
        event_id: EventId::new(),
        occurred_at: Utc::now(),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
        clinic_id: clinic_id(BAYVIEW),
        patient_id: patient_id(patient),
        provider_id: None,
        scheduled_for: domain::values::parse_start_time(
            &local(day, hh_mm),
            chrono_tz::America::Los_Angeles,
        )
        .expect("time"),
        r#type: AppointmentType::Routine,
        notes: None,
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_api_booking_reaches_the_read_model_through_kafka(pool: PgPool) {
    let stack = stack(pool).await;
    let body = json!({
        "clinicId": clinic_id(HUDSON).to_string(), "patientId": patient_id(7).to_string(),
        "dateTime": local(next(Weekday::Thu), "11:00"), "type": "FOLLOW_UP"
    });
    let reply = stack.api.post("/api/v1/appointments", &body).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let uri = format!(
        "/api/v1/appointments/{}",
        reply.body["appointmentId"].as_str().expect("id")
    );
    let view = eventually(30, "the projected appointment", || async {
        let r = stack.api.get(&uri).await;
        (r.status == StatusCode::OK).then_some(r.body)
    })
    .await;
    // The saga runs on: the booking is seen at whichever step it has reached.
    let status = view["status"].as_str().expect("status");
    assert!(
        ["PENDING_INSURANCE", "AWAITING_CONFIRMATION", "CONFIRMED"].contains(&status),
        "{status}"
    );
    assert_eq!(view["clinicName"], "Hudson Vision Center");
    assert_eq!(view["type"], "FOLLOW_UP");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_schedule_command_delivered_twice_books_once(pool: PgPool) {
    let stack = stack(pool).await;
    let cmd = command(next(Weekday::Tue), "10:00", 3);
    let bytes = stack.ctx().registry.encode(&cmd).await.expect("encode");
    let key = cmd.key();
    stack
        .produce(ScheduleAppointment::TOPIC, &key, &bytes)
        .await;
    stack
        .produce(ScheduleAppointment::TOPIC, &key, &bytes)
        .await;

    eventually(30, "both deliveries processed", || async {
        (stack.processed("schedule-appointment") >= 2).then_some(())
    })
    .await;
    let pool = &stack.api.pool;
    eventually(30, "the appointment in the read model", || async {
        store::read_model::get_summary(pool, cmd.appointment_id)
            .await
            .ok()
            .flatten()
    })
    .await;
    assert_eq!(count(pool, "SELECT count(*) FROM appointments").await, 1);
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM outbox WHERE event_type = 'AppointmentCreated'"
        )
        .await,
        1
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_undecodable_record_goes_to_the_dead_letter_topic_and_the_stream_moves_on(pool: PgPool) {
    let stack = stack(pool).await;
    let cmd = command(next(Weekday::Tue), "11:30", 4);
    let valid = stack.ctx().registry.encode(&cmd).await.expect("encode");
    // Same key: same partition, garbage first.
    stack
        .produce(
            ScheduleAppointment::TOPIC,
            &cmd.key(),
            b"\x00not avro at all",
        )
        .await;
    stack
        .produce(ScheduleAppointment::TOPIC, &cmd.key(), &valid)
        .await;

    let pool = &stack.api.pool;
    eventually(30, "the valid command booked", || async {
        store::read_model::get_summary(pool, cmd.appointment_id)
            .await
            .ok()
            .flatten()
    })
    .await;
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.tansu.bootstrap)
        .set("group.id", "test-dlq-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer
        .subscribe(&["appointments.commands.schedule.dlq"])
        .expect("subscribe");
    let message = tokio::time::timeout(StdDuration::from_secs(30), consumer.recv())
        .await
        .expect("a dead letter")
        .expect("message");
    assert_eq!(message.payload(), Some(&b"\x00not avro at all"[..]));
    let headers = message.headers().expect("headers");
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(
        header("dlq_function").as_deref(),
        Some("schedule-appointment")
    );
    assert_eq!(
        header("dlq_source_topic").as_deref(),
        Some(ScheduleAppointment::TOPIC)
    );
    assert!(header("dlq_reason").is_some_and(|r| !r.is_empty()));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_runtime_killed_mid_stream_resumes_without_loss_or_duplicates(pool: PgPool) {
    let mut stack = stack(pool).await;
    // 120 bookings over 40 half-hour slots × 3 providers (the provider is picked per booking).
    let days = [next(Weekday::Mon), next(Weekday::Tue)];
    let mut commands = Vec::new();
    for (i, day) in days.iter().enumerate() {
        for slot in 0..20 {
            for p in 0..3u128 {
                let hh_mm = format!("{:02}:{:02}", 8 + slot / 2, (slot % 2) * 30);
                commands.push(command(
                    *day,
                    &hh_mm,
                    3 + (i as u128 * 20 + slot as u128 + p) % 40,
                ));
            }
        }
    }
    for cmd in &commands {
        let bytes = stack.ctx().registry.encode(cmd).await.expect("encode");
        stack
            .produce(ScheduleAppointment::TOPIC, &cmd.key(), &bytes)
            .await;
    }
    eventually(60, "some progress before the crash", || async {
        (stack.processed("schedule-appointment") >= 10).then_some(())
    })
    .await;
    stack.restart_pipeline().await;

    let pool = stack.api.pool.clone();
    let total = commands.len() as i64;
    eventually(120, "every booking", || async {
        (count(&pool, "SELECT count(*) FROM appointment_summary").await == total).then_some(())
    })
    .await;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM appointments").await,
        total
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE event_type = 'AppointmentCreated'"
        )
        .await,
        total
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE event_type = 'DeadLetter'"
        )
        .await,
        0
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_confirmed_event_that_overtakes_its_created_event_is_not_lost(pool: PgPool) {
    let stack = stack(pool).await;
    let (appointment_id, saga_id) = (AppointmentId::new(), SagaId::new());
    let confirmed = AppointmentConfirmed {
        event_id: EventId::new(),
        occurred_at: Utc::now(),
        appointment_id,
        appointment_version: 3,
        saga_id,
    };
    let created = AppointmentCreated {
        occurred_at: Utc::now() - Duration::seconds(2),
        patient_id: patient_id(9),
        patient_name: "Ines Lee".to_owned(),
        patient_email: "ines.lee9@example.com".to_owned(),
        r#type: AppointmentType::Emergency,
        ..appointment_created(appointment_id, saga_id, HUDSON)
    };
    let key = appointment_id.to_string();
    stack
        .produce(
            AppointmentConfirmed::TOPIC,
            &key,
            &stack
                .ctx()
                .registry
                .encode(&confirmed)
                .await
                .expect("encode"),
        )
        .await;
    let pool = &stack.api.pool;
    eventually(30, "the confirmed row", || async {
        store::read_model::get_summary(pool, appointment_id)
            .await
            .ok()
            .flatten()
    })
    .await;
    stack
        .produce(
            AppointmentCreated::TOPIC,
            &key,
            &stack.ctx().registry.encode(&created).await.expect("encode"),
        )
        .await;
    let row = eventually(30, "the created details", || async {
        store::read_model::get_summary(pool, appointment_id)
            .await
            .ok()
            .flatten()
            .filter(|r| r.clinic_name.is_some())
    })
    .await;
    assert_eq!((row.status.as_str(), row.version), ("CONFIRMED", 3));
    assert_eq!(row.patient_name.as_deref(), Some("Ines Lee"));
    assert_eq!(row.r#type.as_deref(), Some("EMERGENCY"));
}
