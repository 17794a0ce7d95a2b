//! Projection rebuilds on the running pipeline: real traffic (a thousand bookings through the
//! API and the whole saga, cancellations, completions: a few thousand appointment events; and
//! thousands of call records from "telephony"), a snapshot of every projection, a rebuild of
//! each through the local endpoint, and the same snapshot again. Also the rebuild's bounded
//! wait for the catch-up.

use crate::metrics::encode;
use crate::stack::*;
use crate::support::{book, next, patient_id};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, Utc, Weekday};
use contract::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, AppointmentCreated,
    CallEnded, CallOutcome, CallStarted, HourlyCount, InsuranceVerified, Record,
};
use domain::{CallId, EventId};
use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::Duration as StdDuration;
use store::projections::{Projection, PROJECTIONS};
use tower::ServiceExt;

/// Every row of the projection's tables as JSON, sorted.
async fn snapshot(pool: &PgPool, projection: &Projection) -> Vec<String> {
    let mut rows = Vec::new();
    for table in projection.tables {
        let mut table_rows: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                .fetch_all(pool)
                .await
                .expect("snapshot");
        table_rows.sort();
        rows.extend(table_rows.into_iter().map(|(r,)| format!("{table} {r}")));
    }
    rows
}

/// Waits until every projection has committed everything on its topics.
async fn projections_caught_up(stack: &Stack) {
    all_published(stack).await;
    let runtime = stack.runtime();
    eventually(120, "every projection caught up", || async {
        for p in PROJECTIONS {
            if runtime.lag(p.function).await.expect("lag") > 0 {
                return None;
            }
        }
        Some(())
    })
    .await;
}

/// Call-center traffic as a telephony integration would produce it: `calls` calls, a third
/// of them booked, each record of every fifth call sent twice.
async fn call_traffic(stack: &Stack, calls: usize) -> usize {
    let started_at = Utc::now() - Duration::hours(2);
    let mut records = Vec::new();
    for i in 0..calls {
        let call_id = CallId::new();
        let clinic = store::demo::clinics()[i % 4].id;
        let start = started_at + Duration::seconds(i as i64 * 5);
        let started = CallStarted {
            event_id: EventId::new(),
            occurred_at: start,
            call_id,
            clinic_id: clinic,
            agent_id: format!("agent-{}", i % 7),
        };
        let ended = CallEnded {
            event_id: EventId::new(),
            occurred_at: start + Duration::seconds(60 + (i as i64 % 240)),
            call_id,
            clinic_id: clinic,
            agent_id: started.agent_id.clone(),
            outcome: if i % 3 == 0 {
                CallOutcome::Booked
            } else {
                CallOutcome::Information
            },
            appointment_id: None,
        };
        let copies = if i % 5 == 0 { 2 } else { 1 };
        for _ in 0..copies {
            records.push((call_id, encode(&stack.api, &started).await));
            records.push((call_id, encode(&stack.api, &ended).await));
        }
    }
    let sent = records.len();
    futures::stream::iter(records)
        .for_each_concurrent(64, |(call_id, record)| async move {
            stack
                .produce(record.0, &call_id.to_string(), &record.1)
                .await
        })
        .await;
    sent
}

/// `n` ROUTINE exam bookings on distinct half-hour slots (10:00 to 16:30, clinic time) of every
/// demo provider, Tuesday to Friday (when every demo clinic is open 10:00-17:00) of as many
/// coming weeks as it takes, cycling through the demo patients (so a third fail insurance).
fn bookings(n: usize) -> Bookings {
    let tuesday = next(Weekday::Tue);
    let clinics = store::demo::clinics();
    let mut bookings = Vec::with_capacity(n);
    let days = (0..).flat_map(|week| (0..4).map(move |day| week * 7 + day));
    for day in days {
        let date = tuesday + Duration::days(day);
        for slot in 0..14 {
            let at = format!("{date}T{:02}:{:02}", 10 + slot / 2, slot % 2 * 30);
            for clinic in &clinics {
                for provider in &clinic.providers {
                    if bookings.len() == n {
                        return bookings;
                    }
                    let patient = 1 + (bookings.len() as u128) % store::demo::PATIENTS;
                    let body = json!({
                        "clinicId": clinic.id.to_string(), "patientId": patient_id(patient).to_string(),
                        "providerId": provider.id.to_string(), "dateTime": at, "type": "ROUTINE"
                    });
                    bookings.push((patient, body));
                }
            }
        }
    }
    unreachable!("the days never run out")
}

/// The records on the topics project-appointments and project-metrics read, as published.
async fn appointment_events(pool: &PgPool) -> i64 {
    let topics = [
        AppointmentCreated::TOPIC,
        AppointmentConfirmed::TOPIC,
        AppointmentCancelled::TOPIC,
        AppointmentCompleted::TOPIC,
        InsuranceVerified::TOPIC,
    ];
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox WHERE topic = ANY($1)")
        .bind(&topics[..])
        .fetch_one(pool)
        .await
        .expect("count");
    n
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rebuilding_every_projection_from_its_topics_gives_identical_read_models(pool: PgPool) {
    const BOOKINGS: usize = 1000;
    const CALLS: usize = 1000;
    let stack = stack(pool).await;
    let pool = stack.api.pool.clone();
    let api = &stack.api;
    let booked: Vec<_> = futures::stream::iter(bookings(BOOKINGS))
        .map(|(patient, body)| async move { (patient, book(api, &body).await.0) })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(booked.len(), BOOKINGS);
    let call_records = call_traffic(&stack, CALLS).await;
    eventually(240, "every saga terminal and projected", || async {
        let projected = count(
            &pool,
            "SELECT count(*) FROM appointment_summary WHERE status IN ('CONFIRMED', 'CANCELLED')",
        )
        .await;
        (projected == BOOKINGS as i64).then_some(())
    })
    .await;
    // Agents complete some confirmed exams and cancel others.
    let confirmed: Vec<uuid::Uuid> = sqlx::query_as::<_, (uuid::Uuid,)>(
        "SELECT appointment_id FROM appointment_summary WHERE status = 'CONFIRMED' ORDER BY appointment_id",
    )
    .fetch_all(&pool)
    .await
    .expect("confirmed")
    .into_iter()
    .map(|(id,)| id)
    .collect();
    let changes = confirmed.iter().enumerate().filter(|(i, _)| i % 3 != 2);
    futures::stream::iter(changes)
        .for_each_concurrent(16, |(i, id)| async move {
            let reply = if i % 3 == 0 {
                api.post(&format!("/api/v1/appointments/{id}/complete"), &json!({}))
                    .await
            } else {
                api.post(
                    &format!("/api/v1/appointments/{id}/cancel"),
                    &json!({"reason": "Patient called to cancel"}),
                )
                .await
            };
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        })
        .await;
    projections_caught_up(&stack).await;
    let appointment_records = appointment_events(&pool).await;
    assert!(
        appointment_records >= 3 * BOOKINGS as i64,
        "a few thousand appointment events to replay, not {appointment_records}"
    );

    let mut before = Vec::new();
    for p in &PROJECTIONS {
        before.push(snapshot(&pool, p).await);
    }
    assert_eq!(before[0].len(), BOOKINGS, "one summary per booking");
    assert_eq!(before[2].len(), CALLS, "one summary per call");
    let hourly_counts_before = count(
        &pool,
        &format!(
            "SELECT count(*) FROM outbox WHERE topic = '{}'",
            HourlyCount::TOPIC
        ),
    )
    .await;
    assert_eq!(
        hourly_counts_before, BOOKINGS as i64,
        "one HourlyCount per booking"
    );

    let endpoint = local::rebuild::router(stack.runtime(), pool.clone());
    let mut replayed = 0;
    for p in &PROJECTIONS {
        let response = endpoint
            .clone()
            .oneshot(
                Request::post(format!("/{}/rebuild", p.function))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK, "{}", p.function);
        let report: Value = serde_json::from_slice(
            &response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes(),
        )
        .expect("report");
        replayed += report["replayedRecords"].as_u64().expect("replayedRecords");
    }
    projections_caught_up(&stack).await;
    for (p, before) in PROJECTIONS.iter().zip(&before) {
        assert_eq!(
            &snapshot(&pool, p).await,
            before,
            "{} after its rebuild",
            p.function
        );
    }
    // project-appointments reads every appointment event, project-metrics all but
    // InsuranceVerified, project-calls every call record.
    let verified = count(
        &pool,
        &format!(
            "SELECT count(*) FROM outbox WHERE topic = '{}'",
            InsuranceVerified::TOPIC
        ),
    )
    .await;
    let expected = call_records as i64 + 2 * appointment_records - verified;
    eprintln!(
        "replayed {replayed} records: {appointment_records} appointment events ({verified} of \
         them InsuranceVerified) to two projections, {call_records} call records to one"
    );
    assert!(
        replayed as i64 >= expected,
        "replayed {replayed} records, expected at least {expected}"
    );
    assert_eq!(
        count(
            &pool,
            &format!(
                "SELECT count(*) FROM outbox WHERE topic = '{}'",
                HourlyCount::TOPIC
            ),
        )
        .await,
        hourly_counts_before,
        "a rebuild re-decides the same HourlyCount records and publishes none twice"
    );
    let unknown = endpoint
        .oneshot(
            Request::post("/verify-insurance/rebuild")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_catch_up_that_takes_longer_than_the_timeout_fails_naming_the_lag_left(pool: PgPool) {
    let stack = stack(pool).await;
    // Paused, project-calls reads nothing of what telephony sends now: its lag cannot shrink.
    stack.pause("project-calls").await;
    let sent = call_traffic(&stack, 5).await;
    let runtime = stack.runtime();
    let wait = local::rebuild::wait_caught_up(&runtime, "project-calls", StdDuration::from_secs(1));
    // A guard against a wait that never ends (the bug this test is about), not a measurement.
    let err = tokio::time::timeout(StdDuration::from_secs(60), wait)
        .await
        .expect("the wait is bounded")
        .expect_err("a paused projection cannot catch up");
    let message = err.to_string();
    match err {
        local::rebuild::RebuildError::CatchUpTimedOut {
            function,
            waited_seconds,
            lag,
            per_topic,
        } => {
            assert_eq!(function, "project-calls");
            assert_eq!(waited_seconds, 1);
            assert_eq!(lag, sent as i64);
            let half = sent / 2;
            let per_topic: std::collections::BTreeSet<&str> = per_topic.split(", ").collect();
            assert_eq!(
                per_topic,
                [
                    format!("{} {half}", CallStarted::TOPIC),
                    format!("{} {half}", CallEnded::TOPIC)
                ]
                .iter()
                .map(String::as_str)
                .collect()
            );
        }
        other => panic!("{other}"),
    }
    assert!(
        message.contains(&format!("{sent} records left to replay")),
        "{message}"
    );
    // Resumed, the same bounded wait ends with everything applied.
    stack.resume("project-calls");
    local::rebuild::wait_caught_up(
        &runtime,
        "project-calls",
        local::rebuild::DEFAULT_CATCH_UP_TIMEOUT,
    )
    .await
    .expect("caught up");
    assert_eq!(
        count(&stack.api.pool, "SELECT count(*) FROM call_summary").await,
        5
    );
}
