//! project-metrics and project-calls through the handler adapter (real PostgreSQL, real Avro
//! on moto's registry), read back through `GET /api/v1/metrics`: duplicates, arrival order
//! across topics, window edges, time zones, late events and the HourlyCount records.

use crate::support::*;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, DurationRound, Utc};
use contract::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, CallEnded, CallOutcome,
    CallStarted, HourlyCount, Record,
};
use domain::{AppointmentId, CallId, EventId, SagaId};
use messaging::{handle_batch, Deadline, FunctionContext, KafkaFunction};
use project_calls::ProjectCallsFn;
use project_metrics::ProjectMetricsFn;
use serde_json::Value;
use sqlx::PgPool;

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// One encoded record on its topic.
pub struct Encoded(pub &'static str, pub Vec<u8>);

pub async fn encode<R: Record>(api: &TestApi, record: &R) -> Encoded {
    Encoded(R::TOPIC, api.registry.encode(record).await.expect("encode"))
}

/// Delivers `records` as one batch (offsets in the given order) to `function`.
pub async fn deliver<F: KafkaFunction>(api: &TestApi, function: &F, records: &[&Encoded]) {
    let ctx = FunctionContext::new(api.pool.clone(), api.registry.clone(), None);
    let batch: Vec<(&str, i64, i64, Vec<u8>)> = records
        .iter()
        .zip(0..)
        .map(|(Encoded(topic, bytes), offset)| (*topic, 0, offset, bytes.clone()))
        .collect();
    let response = handle_batch(&ctx, function, kafka_event(&batch), Deadline::NONE).await;
    assert!(response.is_success(), "{response:?}");
}

/// An AppointmentCreated at `clinic`, booked at `occurred_at`.
async fn created(api: &TestApi, id: AppointmentId, clinic: u128, occurred_at: &str) -> Encoded {
    let mut e = appointment_created(id, SagaId::new(), clinic);
    e.occurred_at = at(occurred_at);
    encode(api, &e).await
}

async fn confirmed(api: &TestApi, id: AppointmentId, occurred_at: &str) -> Encoded {
    let e = AppointmentConfirmed {
        event_id: EventId::new(),
        occurred_at: at(occurred_at),
        appointment_id: id,
        appointment_version: 3,
        saga_id: SagaId::new(),
    };
    encode(api, &e).await
}

async fn metrics(api: &TestApi, query: &str) -> Value {
    let reply = api.get(&format!("/api/v1/metrics?{query}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// The HourlyCount records in the outbox, as (window start, count), in outbox order.
async fn hourly_counts(api: &TestApi) -> Vec<(DateTime<Utc>, i64)> {
    let payloads: Vec<(Vec<u8>,)> =
        sqlx::query_as("SELECT payload FROM outbox WHERE topic = $1 ORDER BY id")
            .bind(HourlyCount::TOPIC)
            .fetch_all(&api.pool)
            .await
            .expect("outbox");
    let mut counts = Vec::new();
    for (payload,) in payloads {
        let record: HourlyCount = api.registry.decode(&payload).await.expect("HourlyCount");
        counts.push((record.window_start, record.count));
    }
    counts
}

fn counts_of(body: &Value, series: &str) -> Vec<i64> {
    body[series]
        .as_array()
        .expect("series")
        .iter()
        .map(|p| p["count"].as_i64().expect("count"))
        .collect()
}

const DAY: &str = "from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z";

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_duplicate_counts_once_and_each_change_emits_one_hourly_count(pool: PgPool) {
    let api = test_api(pool).await;
    let first = created(&api, AppointmentId::new(), BAYVIEW, "2026-11-30T17:05:00Z").await;
    let second = created(&api, AppointmentId::new(), BAYVIEW, "2026-11-30T17:40:00Z").await;
    deliver(&api, &ProjectMetricsFn, &[&first, &first]).await;
    deliver(&api, &ProjectMetricsFn, &[&first, &second]).await;
    let hour = at("2026-11-30T17:00:00Z");
    assert_eq!(hourly_counts(&api).await, vec![(hour, 1), (hour, 2)]);
    let body = metrics(&api, &format!("clinicId={}&{DAY}", clinic_id(BAYVIEW))).await;
    assert_eq!(body["created"], 2);
    let hourly = counts_of(&body, "hourly");
    assert_eq!(hourly.len(), 24, "every hour of the day, zeros included");
    assert_eq!(hourly[17], 2);
    assert_eq!(hourly.iter().sum::<i64>(), 2);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn stages_seen_before_their_creation_count_once_it_arrives(pool: PgPool) {
    let api = test_api(pool).await;
    let (a, b) = (AppointmentId::new(), AppointmentId::new());
    let a_confirmed = confirmed(&api, a, "2026-11-30T17:20:00Z").await;
    let b_cancelled = encode(
        &api,
        &AppointmentCancelled {
            event_id: EventId::new(),
            occurred_at: at("2026-11-30T17:21:00Z"),
            appointment_id: b,
            appointment_version: 2,
            saga_id: SagaId::new(),
            reason: "Insurance verification failed".to_owned(),
        },
    )
    .await;
    let a_completed = encode(
        &api,
        &AppointmentCompleted {
            event_id: EventId::new(),
            occurred_at: at("2026-11-30T18:00:00Z"),
            appointment_id: a,
            appointment_version: 4,
            saga_id: SagaId::new(),
        },
    )
    .await;
    deliver(
        &api,
        &ProjectMetricsFn,
        &[&a_confirmed, &b_cancelled, &a_completed],
    )
    .await;
    let scope = format!("clinicId={}&{DAY}", clinic_id(HUDSON));
    let before = metrics(&api, &scope).await;
    assert_eq!(
        (before["created"].as_i64(), before["confirmed"].as_i64()),
        (Some(0), Some(0)),
        "a stage is not counted before its clinic is known"
    );

    let a_created = created(&api, a, HUDSON, "2026-11-30T17:10:00Z").await;
    let b_created = created(&api, b, HUDSON, "2026-11-30T17:15:00Z").await;
    deliver(&api, &ProjectMetricsFn, &[&a_created, &b_created]).await;
    let after = metrics(&api, &scope).await;
    for (kpi, expected) in [
        ("created", 2),
        ("confirmed", 1),
        ("cancelled", 1),
        ("completed", 1),
    ] {
        assert_eq!(after[kpi], expected, "{kpi}");
    }
    let window = after["funnel30m"]
        .as_array()
        .expect("funnel")
        .iter()
        .find(|w| w["windowStart"] == "2026-11-30T17:00:00Z")
        .expect("the 17:00 window");
    assert_eq!(
        (
            &window["created"],
            &window["confirmed"],
            &window["cancelled"],
            &window["completed"]
        ),
        (
            &Value::from(2),
            &Value::from(1),
            &Value::from(1),
            &Value::from(1)
        )
    );
    assert_eq!(after["funnel30m"].as_array().map(Vec::len), Some(48));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_last_millisecond_of_an_hour_and_the_next_instant_fall_in_different_windows(
    pool: PgPool,
) {
    let api = test_api(pool).await;
    let late = created(
        &api,
        AppointmentId::new(),
        BAYVIEW,
        "2026-11-30T09:59:59.999Z",
    )
    .await;
    let next = created(
        &api,
        AppointmentId::new(),
        BAYVIEW,
        "2026-11-30T10:00:00.000Z",
    )
    .await;
    deliver(&api, &ProjectMetricsFn, &[&late, &next]).await;
    let body = metrics(&api, &format!("clinicId={}&{DAY}", clinic_id(BAYVIEW))).await;
    let hourly = counts_of(&body, "hourly");
    assert_eq!((hourly[9], hourly[10]), (1, 1));
    let funnel: Vec<(String, i64)> = body["funnel30m"]
        .as_array()
        .expect("funnel")
        .iter()
        .filter(|w| w["created"] != 0)
        .map(|w| {
            (
                w["windowStart"].as_str().unwrap_or_default().to_owned(),
                w["created"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        funnel,
        vec![
            ("2026-11-30T09:30:00Z".to_owned(), 1),
            ("2026-11-30T10:00:00Z".to_owned(), 1)
        ]
    );
    let mut outbox = hourly_counts(&api).await;
    outbox.sort();
    assert_eq!(
        outbox,
        vec![
            (at("2026-11-30T09:00:00Z"), 1),
            (at("2026-11-30T10:00:00Z"), 1)
        ]
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn hours_are_labelled_on_each_clinics_own_wall_clock(pool: PgPool) {
    let api = test_api(pool).await;
    let la = created(&api, AppointmentId::new(), BAYVIEW, "2026-11-30T17:30:00Z").await;
    let ny = created(&api, AppointmentId::new(), HUDSON, "2026-11-30T17:45:00Z").await;
    deliver(&api, &ProjectMetricsFn, &[&la, &ny]).await;
    let hour = |body: &Value| {
        body["hourly"]
            .as_array()
            .expect("hourly")
            .iter()
            .find(|p| p["hour"] == "2026-11-30T17:00:00Z")
            .cloned()
            .expect("the 17:00Z hour")
    };
    let bayview = metrics(&api, &format!("clinicId={}&{DAY}", clinic_id(BAYVIEW))).await;
    assert_eq!(bayview["timeZone"], "America/Los_Angeles");
    assert_eq!(hour(&bayview)["localHour"], "2026-11-30T09:00");
    assert_eq!(hour(&bayview)["count"], 1);
    let hudson = metrics(&api, &format!("clinicId={}&{DAY}", clinic_id(HUDSON))).await;
    assert_eq!(hudson["timeZone"], "America/New_York");
    assert_eq!(hour(&hudson)["localHour"], "2026-11-30T12:00");
    let all = metrics(&api, DAY).await;
    assert_eq!(hour(&all)["count"], 2);
    assert_eq!(hour(&all)["localHour"], Value::Null);
    assert_eq!(all["created"], 2);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_late_event_is_counted_in_its_own_window(pool: PgPool) {
    let api = test_api(pool).await;
    let now = Utc::now();
    let recent = created(&api, AppointmentId::new(), BAYVIEW, &now.to_rfc3339()).await;
    let three_days_late = created(
        &api,
        AppointmentId::new(),
        BAYVIEW,
        &(now - Duration::days(3)).to_rfc3339(),
    )
    .await;
    deliver(&api, &ProjectMetricsFn, &[&recent]).await;
    deliver(&api, &ProjectMetricsFn, &[&three_days_late]).await;
    // The default range ends with the hour the request is served in, which may be the hour
    // after `now` when the test runs across an hour boundary: so the recent event is looked up
    // by its own hour, and the last hour is checked against the clock around the request.
    let hour_of = |t: DateTime<Utc>| t.duration_trunc(Duration::hours(1)).expect("an hour");
    let asked = Utc::now();
    let today = metrics(&api, &format!("clinicId={}", clinic_id(BAYVIEW))).await;
    let answered = Utc::now();
    assert_eq!(
        today["created"], 1,
        "the default range is the last 24 hours"
    );
    let hourly = today["hourly"].as_array().expect("hourly");
    let count_at = |hour: DateTime<Utc>| {
        hourly
            .iter()
            .find(|p| p["hour"].as_str().map(at) == Some(hour))
            .map(|p| p["count"].clone())
    };
    assert_eq!(
        count_at(hour_of(now)),
        Some(Value::from(1)),
        "the recent event in its own hour"
    );
    let last = hourly
        .last()
        .and_then(|p| p["hour"].as_str())
        .map(at)
        .expect("a last hour");
    assert!(
        last == hour_of(asked) || last == hour_of(answered),
        "the current hour is included: the range ends with {last}"
    );
    assert_eq!(
        counts_of(&today, "hourly").iter().sum::<i64>(),
        1,
        "no other hour counts it"
    );
    let back_then = (now - Duration::days(3)).format("%Y-%m-%d");
    let then = metrics(
        &api,
        &format!(
            "clinicId={}&from={back_then}&to={}",
            clinic_id(BAYVIEW),
            now.format("%Y-%m-%d")
        ),
    )
    .await;
    assert_eq!(then["created"], 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn metrics_parameters_are_checked_and_errors_name_them(pool: PgPool) {
    let api = test_api(pool).await;
    for (query, status, field) in [
        ("clinicId=nope", StatusCode::BAD_REQUEST, "clinicId"),
        ("from=yesterday", StatusCode::BAD_REQUEST, "from"),
        // Dates chrono reads but that lie outside the documented years (1900-9999); the first
        // used to overflow the default `from` (to − 24 h) and panic the handler.
        ("to=-262143-01-01", StatusCode::BAD_REQUEST, "to"),
        (
            "from=-262143-01-01T00:00:00Z&to=-262143-01-02T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "from",
        ),
        (
            "to=%2B262142-12-31T23:59:59Z",
            StatusCode::BAD_REQUEST,
            "to",
        ),
        (
            "from=2026-11-30T10:00:00Z&to=2026-11-30T09:00:00Z",
            StatusCode::BAD_REQUEST,
            "to",
        ),
        (
            "from=2026-01-01&to=2026-03-01",
            StatusCode::BAD_REQUEST,
            "from",
        ),
        ("hours=3", StatusCode::BAD_REQUEST, "query"),
        (
            "clinicId=0c000000-0000-4000-8000-0000000000ff",
            StatusCode::FORBIDDEN,
            "clinicId",
        ),
    ] {
        let reply = api.get(&format!("/api/v1/metrics?{query}")).await;
        assert_eq!(reply.status, status, "{query}: {}", reply.body);
        assert_eq!(reply.content_type(), "application/problem+json");
        assert!(
            reply.error_fields().iter().any(|f| f == field),
            "{query}: {}",
            reply.body
        );
    }
}

fn call_started(call: CallId, clinic: u128, at_text: &str) -> CallStarted {
    CallStarted {
        event_id: EventId::new(),
        occurred_at: at(at_text),
        call_id: call,
        clinic_id: clinic_id(clinic),
        agent_id: "agent-ava".to_owned(),
    }
}

fn call_ended(call: CallId, clinic: u128, at_text: &str, outcome: CallOutcome) -> CallEnded {
    CallEnded {
        event_id: EventId::new(),
        occurred_at: at(at_text),
        call_id: call,
        clinic_id: clinic_id(clinic),
        agent_id: "agent-ava".to_owned(),
        outcome,
        appointment_id: None,
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn call_metrics_hold_under_duplicates_and_an_end_before_its_start(pool: PgPool) {
    let api = test_api(pool).await;
    let (booked, info, open) = (CallId::new(), CallId::new(), CallId::new());
    let booked_end = encode(
        &api,
        &call_ended(booked, BAYVIEW, "2026-11-30T17:04:00Z", CallOutcome::Booked),
    )
    .await;
    let booked_start = encode(&api, &call_started(booked, BAYVIEW, "2026-11-30T17:00:00Z")).await;
    let info_start = encode(&api, &call_started(info, BAYVIEW, "2026-11-30T17:10:00Z")).await;
    let info_end = encode(
        &api,
        &call_ended(
            info,
            BAYVIEW,
            "2026-11-30T17:12:00Z",
            CallOutcome::Information,
        ),
    )
    .await;
    let open_start = encode(&api, &call_started(open, BAYVIEW, "2026-11-30T18:30:00Z")).await;
    let elsewhere = encode(
        &api,
        &call_started(CallId::new(), HUDSON, "2026-11-30T17:00:00Z"),
    )
    .await;
    // The end of the first call comes first; then everything, some twice.
    deliver(&api, &ProjectCallsFn, &[&booked_end]).await;
    deliver(
        &api,
        &ProjectCallsFn,
        &[
            &booked_start,
            &info_start,
            &info_end,
            &info_end,
            &open_start,
            &elsewhere,
            &booked_end,
        ],
    )
    .await;
    let body = metrics(&api, &format!("clinicId={}&{DAY}", clinic_id(BAYVIEW))).await;
    let calls = &body["calls"];
    assert_eq!(calls["started"], 3);
    assert_eq!(calls["ended"], 2);
    assert_eq!(calls["inProgress"], 1);
    // (4 min + 2 min) / 2
    assert_eq!(calls["averageHandleSeconds"].as_f64(), Some(180.0));
    assert_eq!(calls["bookedShare"].as_f64(), Some(0.5));
    let hourly = counts_of(calls, "hourly");
    assert_eq!((hourly[17], hourly[18]), (2, 1));
    let empty = metrics(&api, &format!("clinicId={}&{DAY}", clinic_id(3))).await;
    assert_eq!(empty["calls"]["averageHandleSeconds"], Value::Null);
    assert_eq!(empty["calls"]["bookedShare"], Value::Null);
}

/// Deadlocks the server has detected in this test's database so far (the statistics are
/// flushed within about a second of each transaction).
async fn deadlocks(pool: &PgPool) -> i64 {
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (n,): (i64,) =
        sqlx::query_as("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            .fetch_one(pool)
            .await
            .expect("pg_stat_database");
    n
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn batches_of_two_partitions_counting_the_same_hours_in_opposite_orders_do_not_deadlock(
    pool: PgPool,
) {
    let api = test_api(pool).await;
    let ctx = FunctionContext::new(api.pool.clone(), api.registry.clone(), None);
    let (nine, ten) = ("2026-03-02T09:10:00Z", "2026-03-02T10:10:00Z");
    // Both hours' rows exist.
    let first_nine = created(&api, AppointmentId::new(), 1, nine).await;
    let first_ten = created(&api, AppointmentId::new(), 1, ten).await;
    deliver(&api, &ProjectMetricsFn, &[&first_nine, &first_ten]).await;
    let before = deadlocks(&api.pool).await;
    for _ in 0..3 {
        let batch = |partition: i64, records: [&Encoded; 2]| {
            let records: Vec<(&str, i64, i64, Vec<u8>)> = records
                .iter()
                .zip(0..)
                .map(|(Encoded(topic, bytes), offset)| (*topic, partition, offset, bytes.clone()))
                .collect();
            kafka_event(&records)
        };
        let (a_nine, a_ten) = (
            created(&api, AppointmentId::new(), 1, nine).await,
            created(&api, AppointmentId::new(), 1, ten).await,
        );
        let (b_nine, b_ten) = (
            created(&api, AppointmentId::new(), 1, nine).await,
            created(&api, AppointmentId::new(), 1, ten).await,
        );
        // The test holds the 10:00 row. Partition 1's batch (10:00, then 9:00) queues for it
        // first; partition 0's batch (9:00, then 10:00) takes 9:00 and queues behind. Once
        // the row is released, partition 1 gets 10:00 and needs 9:00: a deadlock, unless the
        // batches are serialised.
        let mut holder = api.pool.begin().await.expect("begin");
        sqlx::query("SELECT count FROM metrics_hourly WHERE window_start = $1 FOR UPDATE")
            .bind(at("2026-03-02T10:00:00Z"))
            .execute(&mut *holder)
            .await
            .expect("hold the 10:00 row");
        let second = tokio::spawn({
            let (ctx, event) = (ctx.clone(), batch(1, [&b_ten, &b_nine]));
            async move { handle_batch(&ctx, &ProjectMetricsFn, event, Deadline::NONE).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let first = tokio::spawn({
            let (ctx, event) = (ctx.clone(), batch(0, [&a_nine, &a_ten]));
            async move { handle_batch(&ctx, &ProjectMetricsFn, event, Deadline::NONE).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        holder.commit().await.expect("release");
        for response in [first.await.expect("first"), second.await.expect("second")] {
            assert!(response.is_success(), "{response:?}");
        }
    }
    assert_eq!(
        deadlocks(&api.pool).await,
        before,
        "the server detected deadlocks between the batches"
    );
    let (count,): (i64,) = sqlx::query_as("SELECT sum(count)::bigint FROM metrics_hourly")
        .fetch_one(&api.pool)
        .await
        .expect("counts");
    assert_eq!(count, 2 + 3 * 4, "every appointment counted once");
}
