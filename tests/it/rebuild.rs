//! Projection rebuilds on the running pipeline: real traffic (bookings through the API and the
//! whole saga, cancellations, completions, thousands of call records from "telephony"), a
//! snapshot of every projection, a rebuild of each through the local endpoint, and the same
//! snapshot again.

use crate::metrics::encode;
use crate::stack::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, Utc};
use contract::{CallEnded, CallOutcome, CallStarted, HourlyCount, Record};
use domain::{CallId, EventId};
use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
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

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rebuilding_every_projection_from_its_topics_gives_identical_read_models(pool: PgPool) {
    const BOOKINGS: usize = 200;
    const CALLS: usize = 1000;
    let stack = stack(pool).await;
    let pool = stack.api.pool.clone();
    let booked = book_spread(&stack, BOOKINGS).await;
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
    for (i, id) in confirmed.iter().enumerate().filter(|(i, _)| i % 3 != 2) {
        let reply = if i % 3 == 0 {
            stack
                .api
                .post(&format!("/api/v1/appointments/{id}/complete"), &json!({}))
                .await
        } else {
            stack
                .api
                .post(
                    &format!("/api/v1/appointments/{id}/cancel"),
                    &json!({"reason": "Patient called to cancel"}),
                )
                .await
        };
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    projections_caught_up(&stack).await;

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
    let appointment_events = booked.len() * 2 + confirmed.len() * 2;
    assert!(
        replayed as usize >= call_records + appointment_events,
        "replayed {replayed} records"
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
