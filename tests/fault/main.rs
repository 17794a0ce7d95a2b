//! The fault suite: the whole pipeline (API → tansu → every function → PostgreSQL, emails in
//! moto) keeps its promises while something breaks. Each scenario books several hundred
//! appointments, many of them while the fault happens, waits until everything has settled, and
//! checks, exactly (equal, never "at least"):
//! - every saga terminal; the stored appointments exactly the bookings posted (each accepted
//!   or retried booking once, a booking answered with a failure at most once, nothing else);
//! - each booking ended as its patient's insurance dictates (so none was compensated by the
//!   sweeper because a step was lost);
//! - each saga's outbox records and timeline exactly those of its outcome, each once;
//! - exactly one email per CONFIRMED booking and none per CANCELLED one;
//! - the read model equal to the write model, the metrics and call projections equal to a
//!   recount from the write side;
//! - no dead letters unless the scenario poisons a topic, and no patient data in the logs.
//!
//! Every wait has a deadline, so the suite is bounded in time. Scale: 300 bookings a scenario,
//! not 1,000. The suite takes about 4.5 minutes at 300 on two cores, and the whole CI run
//! about 65 minutes from a fresh clone against a 70-minute budget. More than triple the
//! bookings would not fit. The faults hit work in flight at 300 as well: each scenario asserts
//! that they did.

mod logs;
mod proxy;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use clinic_tests::stack::*;
use clinic_tests::support::TestApi;
use domain::AppointmentId;
use futures::StreamExt;
use local::stack::{template_path, Invocation};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Bookings per scenario: half before the fault, half while it lasts (where the fault has no
/// natural "during", as many as it allows).
const BOOKINGS: usize = 300;

/// Every distinct slot [`spread_bookings`] has (8 providers, 6 hours, 8 days).
const SLOTS: usize = 384;

fn appointment_id(reply: &Value) -> Option<AppointmentId> {
    reply["appointmentId"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .map(AppointmentId)
}

/// What a scenario posted, for the exact checks: bookings that must each be stored exactly
/// once (accepted, or refused on a retry because an earlier attempt took the slot), the
/// accepted ones' appointments, and bookings posted once and answered with a failure (stored
/// once or not at all: the client cannot know).
#[derive(Default)]
struct Posted {
    stored: Vec<Value>,
    accepted: Vec<AppointmentId>,
    unsure: Vec<Value>,
}

impl Posted {
    /// Bookings posted with retries until answered: every one of them is stored.
    fn retried(bodies: Bookings, accepted: Vec<AppointmentId>) -> Posted {
        Posted {
            stored: bodies.into_iter().map(|(_, body)| body).collect(),
            accepted,
            unsure: Vec::new(),
        }
    }

    fn extend(&mut self, other: Posted) {
        self.stored.extend(other.stored);
        self.accepted.extend(other.accepted);
        self.unsure.extend(other.unsure);
    }
}

/// Posts `body` to `uri` like a client that retries what the server could not take (503, a
/// lost connection): the reply's body once answered `ok`, or None when a retry was refused as
/// a conflict (an earlier attempt went through after all).
async fn post_retrying(api: &TestApi, uri: &str, body: &Value, ok: StatusCode) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut retried = false;
    loop {
        let reply = api.post(uri, body).await;
        match reply.status {
            status if status == ok => return Some(reply.body),
            StatusCode::CONFLICT if retried => return None,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::INTERNAL_SERVER_ERROR => {
                assert!(Instant::now() < deadline, "{uri} never answered {ok}");
                retried = true;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("{uri} refused with {other}: {}", reply.body),
        }
    }
}

/// Books like a retrying client ([`post_retrying`]): the booking is stored either way; its
/// appointment is known unless a retry found the slot taken by an earlier attempt.
async fn book_retrying_one(api: &TestApi, body: &Value) -> Option<AppointmentId> {
    post_retrying(api, "/api/v1/appointments", body, StatusCode::ACCEPTED)
        .await
        .and_then(|reply| appointment_id(&reply))
}

/// Starts and ends `n` calls across the demo clinics, 8 at a time, as agents do between
/// bookings (retrying what the server could not take), so the call projection has work in
/// flight when a fault hits. A retried start may open a second call; the recount covers it.
async fn start_and_end_calls(stack: &Stack, n: usize) {
    let clinics = store::demo::clinics();
    futures::stream::iter(0..n)
        .for_each_concurrent(8, |i| {
            let clinic = serde_json::json!({"clinicId": clinics[i % clinics.len()].id.to_string()});
            async move {
                let started =
                    post_retrying(&stack.api, "/api/v1/calls", &clinic, StatusCode::CREATED)
                        .await
                        .expect("a call start is never a conflict");
                let call = started["callId"].as_str().expect("callId");
                let end = serde_json::json!({"outcome": "INFORMATION"});
                let uri = format!("/api/v1/calls/{call}/end");
                post_retrying(&stack.api, &uri, &end, StatusCode::OK).await;
            }
        })
        .await;
}

/// [`book_retrying_one`] for each booking, 16 at a time: every one must end up stored.
async fn book_retrying(stack: &Stack, bodies: Bookings) -> Posted {
    let accepted = futures::stream::iter(&bodies)
        .map(|(_, body)| book_retrying_one(&stack.api, body))
        .buffer_unordered(16)
        .filter_map(|id| async move { id })
        .collect()
        .await;
    Posted::retried(bodies, accepted)
}

/// Posts one booking once, as a client that gives up on a failure: 202 is accepted, a 5xx is
/// not (the booking may or may not have been stored).
async fn book_once(api: &TestApi, body: Value) -> Posted {
    let reply = api.post("/api/v1/appointments", &body).await;
    match reply.status {
        StatusCode::ACCEPTED => Posted {
            accepted: appointment_id(&reply.body).into_iter().collect(),
            stored: vec![body],
            unsure: Vec::new(),
        },
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::INTERNAL_SERVER_ERROR => Posted {
            unsure: vec![body],
            ..Posted::default()
        },
        other => panic!("booking refused with {other}: {}", reply.body),
    }
}

async fn rows(pool: &PgPool, sql: &str) -> BTreeSet<(uuid::Uuid, String, i32)> {
    sqlx::query_as(sql)
        .fetch_all(pool)
        .await
        .expect("rows")
        .into_iter()
        .collect()
}

/// Starts a scenario: log capture on, and the machine to itself. Scenarios run one at a time
/// (the harness would run two side by side on two cores): each brings its own broker and
/// pipeline, and two of them at once measure how two cores share out, not how the system
/// survives its fault; alone, a stall is the fault's doing.
async fn one_scenario_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    static WATCHDOG: std::sync::Once = std::sync::Once::new();
    WATCHDOG.call_once(|| {
        std::thread::spawn(|| {
            std::thread::sleep(SUITE_DEADLINE);
            eprintln!("the fault suite is still running after {SUITE_DEADLINE:?}: stopping it");
            std::process::exit(101);
        });
    });
    logs::capture();
    ALONE.lock().await
}

/// The whole suite's deadline (it takes about 4.5 minutes; each scenario's own waits end well
/// before this). Past it the process exits: a scenario that failed while the broker was wedged
/// can hang in the unwind (a Kafka client dropped against a broker that never answers waits to
/// close), and CI must get a failure, not a hang until its own limit.
const SUITE_DEADLINE: Duration = Duration::from_secs(20 * 60);

/// How long the pipeline may take to settle after a scenario's fault: ten times what it takes
/// on an idle machine (15-30 s), since CI machines can be much slower than that.
const SETTLE_SECONDS: u64 = 300;

/// Sagas not yet terminal (or without a saga row), counted per step.
const OPEN_SAGAS: &str = "SELECT coalesce(s.step, '(no saga row)'), count(*) FROM appointments a
     LEFT JOIN saga_state s ON s.saga_id = a.saga_id
     WHERE s.step IS NULL OR s.step NOT IN ('COMPLETED', 'CANCELLED') GROUP BY 1";

/// Reports where the pipeline stands (open sagas per step, unpublished outbox rows, every
/// mapping's status, the last warnings and errors logged, the end of tansu's log), so a
/// scenario that does not settle says where it stuck; then stops the pipeline while the broker
/// still runs. The report goes straight to stderr, past the harness's capture, and the stop
/// comes before the panic: a consumer dropped during the unwind, after the broker, waits
/// forever to close (its commits in flight never complete), and the report would never show.
async fn report_stuck(stack: &Stack) {
    use std::fmt::Write;
    let pool = &stack.api.pool;
    let open: Vec<(String, i64)> = sqlx::query_as(OPEN_SAGAS)
        .fetch_all(pool)
        .await
        .unwrap_or_default();
    let unpublished = count(
        pool,
        "SELECT count(*) FROM outbox WHERE published_at IS NULL",
    )
    .await;
    let mut report =
        format!("open sagas per step: {open:?}; unpublished outbox rows: {unpublished}\n");
    for status in stack.runtime().status() {
        let _ = writeln!(
            report,
            "{} <- {}: {:?}, partitions {:?}, processed {}, retries {}, commits {}, lag {:?}",
            status.function,
            status.topic,
            status.activity,
            status.assigned_partitions,
            status.processed_records,
            status.retries,
            status.commits,
            status.lag
        );
    }
    let _ = writeln!(
        report,
        "last warnings and errors logged:\n{}\nthe end of tansu's log:\n{}",
        logs::last_problems(60),
        stack.tansu.log_tail()
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), report.as_bytes());
    if tokio::time::timeout(Duration::from_secs(60), stack.runtime().shutdown())
        .await
        .is_err()
    {
        eprintln!("the pipeline did not stop within 60 s");
    }
}

/// Waits until the pipeline has settled, then checks every promise.
async fn settled_and_consistent(stack: &Stack, posted: &Posted) {
    let pool = &stack.api.pool;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(SETTLE_SECONDS);
    let mut next_progress = started;
    loop {
        let open: Vec<(String, i64)> = sqlx::query_as(OPEN_SAGAS)
            .fetch_all(pool)
            .await
            .expect("open sagas");
        if open.is_empty() {
            break;
        }
        // Shown only when the scenario fails (the harness captures a passing test's output).
        if Instant::now() >= next_progress {
            eprintln!(
                "{:?} into the wait, open sagas per step: {open:?}",
                started.elapsed()
            );
            next_progress += Duration::from_secs(15);
        }
        if Instant::now() >= deadline {
            report_stuck(stack).await;
            panic!("timed out waiting for every saga terminal: {open:?} still open");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    all_published(stack).await;
    // Every column the read model copies from the write side, not only status and version.
    let write_side =
        "SELECT a.id, concat_ws('|', a.status, a.cancel_reason, a.saga_id, a.clinic_id,
            c.name, a.provider_id, p.name, a.patient_id, pt.name, a.scheduled_for, a.type),
            a.version
         FROM appointments a JOIN clinics c ON c.id = a.clinic_id
         JOIN providers p ON p.id = a.provider_id JOIN patients pt ON pt.id = a.patient_id";
    let read_side = "SELECT appointment_id, concat_ws('|', status, cancel_reason, saga_id,
            clinic_id, clinic_name, provider_id, provider_name, patient_id, patient_name,
            scheduled_for, type),
            version
         FROM appointment_summary";
    eventually(120, "the read model equal to the write model", || async {
        (rows(pool, write_side).await == rows(pool, read_side).await).then_some(())
    })
    .await;
    let statuses: std::collections::BTreeMap<uuid::Uuid, String> =
        rows(pool, "SELECT id, status, version FROM appointments")
            .await
            .into_iter()
            .map(|(id, status, _)| (id, status))
            .collect();
    for id in &posted.accepted {
        assert!(
            statuses.contains_key(&id.0),
            "accepted booking {id} was lost"
        );
    }
    exactly_what_was_posted(pool, posted).await;
    let sent = sent_per_appointment().await;
    for (id, status) in &statuses {
        let emails = sent.get(&AppointmentId(*id)).copied().unwrap_or_default();
        match status.as_str() {
            "CONFIRMED" => assert_eq!(emails, 1, "{id} is CONFIRMED"),
            "CANCELLED" => assert_eq!(emails, 0, "{id} is CANCELLED"),
            other => panic!("{id} ended {other}"),
        }
    }
    as_the_insurance_dictates(pool).await;
    each_saga_took_its_steps_once(pool).await;
    projections_equal_a_recount(pool).await;
    logs::assert_no_phi();
}

/// A booking as its slot: patient, provider and local start, as the request names them.
type Slot = (String, String, String);

fn slot(body: &Value) -> Slot {
    let field = |name: &str| body[name].as_str().expect("booking field").to_owned();
    (field("patientId"), field("providerId"), field("dateTime"))
}

/// The stored appointments are exactly the bookings posted: each booking that must be stored
/// is, once; a booking answered with a failure is stored at most once; nothing else is stored
/// (a retry that booked twice, a booking nobody posted).
async fn exactly_what_was_posted(pool: &PgPool, posted: &Posted) {
    let stored: Vec<Slot> = sqlx::query_as(
        "SELECT a.patient_id::text, a.provider_id::text,
                to_char(a.scheduled_for AT TIME ZONE c.time_zone, 'YYYY-MM-DD\"T\"HH24:MI')
         FROM appointments a JOIN clinics c ON c.id = a.clinic_id",
    )
    .fetch_all(pool)
    .await
    .expect("stored slots");
    let mut times: HashMap<&Slot, usize> = HashMap::new();
    for slot in &stored {
        *times.entry(slot).or_default() += 1;
    }
    let doubled: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "bookings stored twice: {doubled:?}");
    let must: BTreeSet<Slot> = posted.stored.iter().map(slot).collect();
    let may: BTreeSet<Slot> = posted.unsure.iter().map(slot).collect();
    let missing: Vec<_> = must.iter().filter(|s| !times.contains_key(s)).collect();
    assert!(missing.is_empty(), "bookings lost: {missing:?}");
    let unposted: Vec<_> = times
        .keys()
        .filter(|s| !must.contains(**s) && !may.contains(**s))
        .collect();
    assert!(unposted.is_empty(), "stored but never posted: {unposted:?}");
    eprintln!(
        "{} appointments stored: {} that had to be, {} of {} answered with a failure",
        stored.len(),
        must.len(),
        stored.len() - must.len(),
        may.len()
    );
}

/// Each saga took each of its steps exactly once: its outbox records (those carrying its saga
/// id) and its timeline are exactly those of its outcome, nothing IGNORED (no lost or late
/// reply, no sweeper), nothing twice.
async fn each_saga_took_its_steps_once(pool: &PgPool) {
    const CONFIRMED: (&str, &str) = (
        "AppointmentConfirmed,AppointmentCreated,ConfirmAppointment,ConfirmationSent,\
         InsuranceVerified,SendConfirmation,VerifyInsurance",
        "AppointmentCreated:APPLIED,InsuranceVerified:APPLIED,ConfirmationSent:APPLIED",
    );
    const CANCELLED: (&str, &str) = (
        "AppointmentCancelled,AppointmentCreated,CancelAppointment,InsuranceFailed,\
         VerifyInsurance",
        "AppointmentCreated:APPLIED,InsuranceFailed:APPLIED,AppointmentCancelled:APPLIED",
    );
    let sagas: Vec<(uuid::Uuid, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT a.id, a.status,
            (SELECT string_agg(o.event_type, ',' ORDER BY o.event_type) FROM outbox o
             WHERE o.headers->>'correlation_id' = a.saga_id::text),
            (SELECT string_agg(t.input || ':' || t.outcome, ',' ORDER BY t.id)
             FROM saga_timeline t WHERE t.saga_id = a.saga_id)
         FROM appointments a",
    )
    .fetch_all(pool)
    .await
    .expect("outbox and timeline per saga");
    let wrong: Vec<String> = sagas
        .iter()
        .filter_map(|(id, status, records, timeline)| {
            let expected = match status.as_str() {
                "CONFIRMED" => CONFIRMED,
                _ => CANCELLED,
            };
            let found = (records.as_deref(), timeline.as_deref());
            (found != (Some(expected.0), Some(expected.1)))
                .then(|| format!("{id} {status}: records {records:?}, timeline {timeline:?}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} sagas did not take each step exactly once:\n{}",
        wrong.len(),
        sagas.len(),
        wrong.join("\n")
    );
}

/// The metrics and call projections equal a recount from the write side: one metrics row per
/// appointment, at its clinic, with the stage its status says and no other; each clinic's
/// hourly counts add up to its appointments, and each hour to the appointments created in it;
/// every call as the calls table has it.
async fn projections_equal_a_recount(pool: &PgPool) {
    let pairs = [
        (
            "per appointment",
            "SELECT id::text || ' ' || clinic_id::text || ' ' || status FROM appointments",
            "SELECT appointment_id::text || ' ' || coalesce(clinic_id::text, '-') || ' ' ||
                CASE WHEN confirmed_at IS NOT NULL AND cancelled_at IS NULL
                          AND completed_at IS NULL THEN 'CONFIRMED'
                     WHEN cancelled_at IS NOT NULL AND confirmed_at IS NULL
                          AND completed_at IS NULL THEN 'CANCELLED'
                     ELSE 'stages confirmed ' || coalesce(confirmed_at::text, '-')
                          || ' cancelled ' || coalesce(cancelled_at::text, '-')
                          || ' completed ' || coalesce(completed_at::text, '-') END
             FROM metrics_appointments",
        ),
        (
            "per clinic",
            "SELECT clinic_id::text || ' ' || count(*) FROM appointments GROUP BY clinic_id",
            "SELECT clinic_id::text || ' ' || sum(count) FROM metrics_hourly GROUP BY clinic_id",
        ),
        (
            "per clinic and hour",
            "SELECT clinic_id::text || ' ' || date_trunc('hour', created_at) || ' ' || count(*)
             FROM metrics_appointments GROUP BY clinic_id, date_trunc('hour', created_at)",
            "SELECT clinic_id::text || ' ' || window_start || ' ' || count FROM metrics_hourly",
        ),
        (
            "per call",
            "SELECT concat_ws(' ', id, clinic_id, agent_id, date_trunc('milliseconds', started_at),
                date_trunc('milliseconds', ended_at), outcome, appointment_id) FROM calls",
            "SELECT concat_ws(' ', call_id, clinic_id, agent_id,
                date_trunc('milliseconds', started_at), date_trunc('milliseconds', ended_at),
                outcome, appointment_id) FROM call_summary",
        ),
    ];
    for (what, recount, projected) in pairs {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (recount, projected) = (texts(pool, recount).await, texts(pool, projected).await);
            if recount == projected {
                break;
            }
            if Instant::now() >= deadline {
                let missing: Vec<_> = recount.difference(&projected).take(5).collect();
                let extra: Vec<_> = projected.difference(&recount).take(5).collect();
                panic!(
                    "the projection {what} differs from a recount: {} rows missing \
                     (e.g. {missing:?}), {} not in the recount (e.g. {extra:?})",
                    recount.difference(&projected).count(),
                    projected.difference(&recount).count()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn texts(pool: &PgPool, sql: &str) -> BTreeSet<String> {
    sqlx::query_as::<_, (String,)>(sql)
        .fetch_all(pool)
        .await
        .expect("rows")
        .into_iter()
        .map(|(text,)| text)
        .collect()
}

/// Every stored booking ended as its patient's policy dictates: CONFIRMED when the policy on
/// file covers the exam, else CANCELLED with the saga's reason. A booking the sweeper had to
/// compensate (because a step was lost or stalled past its deadline) ends with another reason
/// and fails the scenario. Both outcomes must occur, or the check would prove nothing.
async fn as_the_insurance_dictates(pool: &PgPool) {
    use app::insurance::InsuranceChecker;
    use domain::insurance::Eligibility;
    type Stored = (
        uuid::Uuid,
        uuid::Uuid,
        uuid::Uuid,
        String,
        chrono::DateTime<chrono::Utc>,
        String,
        Option<String>,
    );
    let stored: Vec<Stored> = sqlx::query_as(
        "SELECT id, patient_id, clinic_id, type, scheduled_for, status, cancel_reason
         FROM appointments",
    )
    .fetch_all(pool)
    .await
    .expect("appointments");
    let mut db = pool.acquire().await.expect("connection");
    let (mut wrong, mut confirmed, mut cancelled) = (Vec::new(), 0, 0);
    for (id, patient, clinic, kind, scheduled_for, status, reason) in stored {
        let kind: domain::AppointmentType = kind.parse().expect("appointment type");
        let eligibility = app::insurance::PolicyOnFile
            .check(
                &mut db,
                domain::PatientId(patient),
                domain::ClinicId(clinic),
                kind,
                scheduled_for,
            )
            .await
            .expect("eligibility");
        let expected = match eligibility {
            Eligibility::Eligible { .. } => {
                confirmed += 1;
                ("CONFIRMED".to_owned(), None)
            }
            Eligibility::Ineligible { reason } => {
                cancelled += 1;
                (
                    "CANCELLED".to_owned(),
                    Some(format!("Insurance verification failed: {reason}")),
                )
            }
        };
        if (&status, &reason) != (&expected.0, &expected.1) {
            wrong.push(format!(
                "{id}: {status} {reason:?}, expected {} {:?}",
                expected.0, expected.1
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} bookings did not end as their insurance dictates:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        confirmed > 0 && cancelled > 0,
        "the bookings cover both outcomes: {confirmed} to confirm, {cancelled} to cancel"
    );
}

/// The dead-letter topics of every mapping's input topic are empty: a scenario that poisons
/// nothing must dead-letter nothing (a record dead-lettered by mistake is a lost message).
async fn no_dead_letters(stack: &Stack) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let mappings = esm::mappings_from_template(&template_path()).expect("template");
    let mut dlqs: Vec<String> = mappings
        .iter()
        .map(|m| messaging::topics::dead_letter_topic(&m.topic))
        .collect();
    dlqs.sort();
    dlqs.dedup();
    let bootstrap = stack.tansu.bootstrap.clone();
    let nonempty = tokio::task::spawn_blocking(move || {
        let client: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .expect("client");
        let mut nonempty = Vec::new();
        for dlq in &dlqs {
            let metadata = client
                .fetch_metadata(Some(dlq), Duration::from_secs(30))
                .expect("metadata");
            for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                let (low, high) = client
                    .fetch_watermarks(dlq, partition.id(), Duration::from_secs(30))
                    .expect("watermarks");
                if high > low {
                    nonempty.push(format!("{dlq}[{}]: {} records", partition.id(), high - low));
                }
            }
        }
        nonempty
    })
    .await
    .expect("watermarks task");
    assert!(
        nonempty.is_empty(),
        "records were dead-lettered: {nonempty:?}"
    );
}

/// How many sagas are open now (not terminal, or not yet started): proof that a fault hits
/// work in flight.
async fn open_sagas(pool: &PgPool) -> i64 {
    let open: Vec<(String, i64)> = sqlx::query_as(OPEN_SAGAS)
        .fetch_all(pool)
        .await
        .expect("open sagas");
    open.iter().map(|(_, n)| n).sum()
}

fn halves() -> (Bookings, Bookings) {
    let mut first = spread_bookings(BOOKINGS);
    let second = first.split_off(BOOKINGS / 2);
    (first, second)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_broker_killed_and_restarted_mid_run_loses_and_doubles_nothing(pool: PgPool) {
    let _alone = one_scenario_at_a_time().await;
    let mut stack = stack(pool).await;
    let (before, during) = halves();
    let started = Instant::now();
    let (mut posted, ()) = tokio::join!(
        book_retrying(&stack, before),
        start_and_end_calls(&stack, CALLS)
    );
    // Sagas are in flight: kill the broker as a crash would, and book while it is away (the
    // API commits to the outbox; publishing waits for the broker).
    let in_flight = open_sagas(&stack.api.pool).await;
    stack.tansu.kill();
    assert!(in_flight > 0, "no saga was in flight when the broker died");
    let killed = started.elapsed();
    posted.extend(book_retrying(&stack, during).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.tansu.restart();
    eprintln!(
        "broker killed at {killed:?}, restarted at {:?}",
        started.elapsed()
    );
    settled_and_consistent(&stack, &posted).await;
    no_dead_letters(&stack).await;
    assert_eq!(posted.accepted.len(), BOOKINGS);
    assert_eq!(
        count(
            &stack.api.pool,
            "SELECT count(*) FROM call_summary WHERE outcome IS NOT NULL"
        )
        .await,
        CALLS as i64,
        "every call started and ended"
    );
}

/// Calls started and ended beside the bookings of each half of the broker scenario.
const CALLS: usize = 40;

/// When the database was down, as the test saw it: from the moment `pg_ctl stop` returned to
/// the moment `pg_ctl start` was called.
#[derive(Default)]
struct Outage {
    down: Mutex<Option<Instant>>,
    up: Mutex<Option<Instant>>,
    /// Bookings posted while the database was down.
    posted_while_down: AtomicUsize,
    over: AtomicBool,
}

impl Outage {
    fn at(lock: &Mutex<Option<Instant>>) -> Option<Instant> {
        *lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(lock: &Mutex<Option<Instant>>) {
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    fn is_down(&self) -> bool {
        Self::at(&self.down).is_some() && Self::at(&self.up).is_none()
    }
}

/// Bookings posted (once each) across the outage, at a steady pace, whatever the answers.
const ACROSS: usize = 170;
/// The outage starts after this many of them.
const POSTED_BEFORE_OUTAGE: usize = 20;
/// The database stays down until at least this many bookings were posted while it was down,
/// and at least [`MIN_OUTAGE`].
const POSTED_WHILE_DOWN: usize = 20;
const MIN_OUTAGE: Duration = Duration::from_secs(2);
/// Posted (with retries) once the database is back: each must be accepted.
const AFTER_OUTAGE: usize = 30;

#[tokio::test]
async fn postgres_down_and_back_while_bookings_flow_loses_and_doubles_nothing() {
    let _alone = one_scenario_at_a_time().await;
    let cluster = Arc::new(testkit::Postgres::start());
    let pool = local::prepare_database(&cluster.url)
        .await
        .expect("migrated database");
    let stack = stack(pool).await;
    let mut bodies = spread_bookings(SLOTS).into_iter().map(|(_, body)| body);
    // Sagas in flight before the fault.
    let before: Bookings = bodies
        .by_ref()
        .take(BOOKINGS - ACROSS - AFTER_OUTAGE)
        .map(|body| (0, body))
        .collect();
    let mut all = book_retrying(&stack, before).await;

    let outage = Arc::new(Outage::default());
    let trigger = Arc::new(Notify::new());
    let fault = {
        let (cluster, outage, trigger) = (cluster.clone(), outage.clone(), trigger.clone());
        tokio::spawn(async move {
            trigger.notified().await;
            let stopping = cluster.clone();
            tokio::task::spawn_blocking(move || stopping.stop())
                .await
                .expect("stop task")
                .expect("stop the database");
            Outage::set(&outage.down);
            let down_at = Instant::now();
            while down_at.elapsed() < MIN_OUTAGE
                || outage.posted_while_down.load(Ordering::SeqCst) < POSTED_WHILE_DOWN
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Outage::set(&outage.up);
            tokio::task::spawn_blocking(move || cluster.start_again())
                .await
                .expect("start task")
                .expect("start the database");
            outage.over.store(true, Ordering::SeqCst);
        })
    };
    // Post at a steady pace, not waiting for answers (requests pile up while the database is
    // away, as clients' would), until ACROSS are posted and the database is back.
    let mut posted = Vec::new();
    while posted.len() < ACROSS || !outage.over.load(Ordering::SeqCst) {
        if posted.len() == POSTED_BEFORE_OUTAGE {
            trigger.notify_one();
        }
        let body = bodies
            .next()
            .expect("enough free slots to keep booking through the outage");
        if outage.is_down() {
            outage.posted_while_down.fetch_add(1, Ordering::SeqCst);
        }
        let api = stack.api.clone();
        let at = Instant::now();
        posted.push(tokio::spawn(
            async move { (at, book_once(&api, body).await) },
        ));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    fault.await.expect("the outage");
    let (down, up) = (
        Outage::at(&outage.down).expect("went down"),
        Outage::at(&outage.up).expect("came back"),
    );
    let (mut while_down, mut across_accepted) = (0, 0);
    for attempt in futures::future::join_all(posted).await {
        let (at, once) = attempt.expect("booking task");
        if (down..=up).contains(&at) {
            while_down += 1;
        }
        across_accepted += once.accepted.len();
        all.extend(once);
    }
    assert!(
        while_down > 0,
        "no booking was posted while the database was down"
    );
    assert!(
        across_accepted > 0,
        "no booking across the outage went through"
    );
    // Once it is back, bookings are taken again.
    let after: Bookings = bodies.take(AFTER_OUTAGE).map(|body| (0, body)).collect();
    let after = book_retrying(&stack, after).await;
    assert_eq!(after.accepted.len(), AFTER_OUTAGE);
    all.extend(after);
    eprintln!(
        "postgres outage: {while_down} bookings posted while down; {across_accepted} of those \
         posted across it accepted; {} accepted in all",
        all.accepted.len()
    );
    settled_and_consistent(&stack, &all).await;
    no_dead_letters(&stack).await;
}

/// A Lambda Invoke API in front of the in-process functions in which each victim "crashes"
/// once: the first time it is invoked with a batch of two or more records, it runs the function
/// on the first half of the batch (each record's transaction commits) and then never answers,
/// as a function process dying mid-batch after its commits and before it could report success
/// (so before the offset commit). Its first invocation is held back a moment so that records
/// pile up behind it and the next batches carry several.
#[derive(Clone)]
struct CrashingLambda {
    functions: local::functions::InProcessInvoker,
    /// Each function's timeout from template.yaml: the deadline this stand-in gives an
    /// invocation, as Lambda's context does.
    timeouts: Arc<HashMap<String, Duration>>,
    victims: Arc<[Victim]>,
}

struct Victim {
    function: &'static str,
    calls: AtomicUsize,
    crashing: AtomicBool,
    crashed: Notify,
    /// Of the crashed batch: records applied, records in it.
    applied: Mutex<(usize, usize)>,
}

impl Victim {
    fn new(function: &'static str) -> Victim {
        Victim {
            function,
            calls: AtomicUsize::new(0),
            crashing: AtomicBool::new(false),
            crashed: Notify::new(),
            applied: Mutex::new((0, 0)),
        }
    }
}

fn records_in(event: &aws_lambda_events::event::kafka::KafkaEvent) -> usize {
    event.records.values().map(Vec::len).sum()
}

async fn invoke(
    State(lambda): State<CrashingLambda>,
    Path(function): Path<String>,
    Json(event): Json<aws_lambda_events::event::kafka::KafkaEvent>,
) -> Result<Json<Value>, StatusCode> {
    use esm::Invoker;
    let timeout = lambda.timeouts.get(&function).copied().unwrap_or_default();
    let deadline = tokio::time::Instant::now() + timeout;
    let victim = lambda.victims.iter().find(|v| v.function == function);
    if victim.is_some_and(|v| v.calls.fetch_add(1, Ordering::SeqCst) == 0) {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let crashing =
        victim.filter(|v| records_in(&event) >= 2 && !v.crashing.swap(true, Ordering::SeqCst));
    let Some(victim) = crashing else {
        let response = lambda
            .functions
            .invoke(&function, &event, deadline)
            .await
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        return Ok(Json(response));
    };
    let mut first_half = event.clone();
    for records in first_half.records.values_mut() {
        records.truncate(records.len() / 2);
    }
    first_half.records.retain(|_, records| !records.is_empty());
    if first_half.records.is_empty() {
        // One record in each of several partitions: the first partition's record only.
        let mut partitions: Vec<&String> = event.records.keys().collect();
        partitions.sort();
        let first = partitions[0].clone();
        first_half.records = event
            .records
            .iter()
            .filter(|(partition, _)| **partition == first)
            .map(|(partition, records)| (partition.clone(), records.clone()))
            .collect();
    }
    let _ = lambda
        .functions
        .invoke(&function, &first_half, deadline)
        .await;
    *victim
        .applied
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = (records_in(&first_half), records_in(&event));
    victim.crashed.notify_one();
    std::future::pending().await
}

impl CrashingLambda {
    /// Serves the Invoke API on a free port: its URL and the server task.
    async fn serve(&self) -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/2015-03-31/functions/{function}/invocations", post(invoke))
            .with_state(self.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, server)
    }
}

/// Books every body at a steady pace, each with retries, holding the last `held` back until
/// `release` is notified: so bookings are flowing while the functions crash, and go on after.
struct Driver {
    task: tokio::task::JoinHandle<Posted>,
    posted: Arc<AtomicUsize>,
    release: Arc<Notify>,
}

impl Driver {
    fn start(api: &TestApi, bodies: Bookings, held: usize, pace: Duration) -> Driver {
        let posted = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let task = {
            let (api, posted, release) = (api.clone(), posted.clone(), release.clone());
            tokio::spawn(async move {
                let free = bodies.len() - held;
                let mut bookings = Vec::new();
                for (i, (_, body)) in bodies.iter().cloned().enumerate() {
                    if i == free {
                        release.notified().await;
                    }
                    let api = api.clone();
                    bookings.push(tokio::spawn(
                        async move { book_retrying_one(&api, &body).await },
                    ));
                    posted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(pace).await;
                }
                let accepted = futures::future::join_all(bookings)
                    .await
                    .into_iter()
                    .filter_map(|id| id.expect("booking task"))
                    .collect();
                Posted::retried(bodies, accepted)
            })
        };
        Driver {
            task,
            posted,
            release,
        }
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn functions_dying_mid_batch_after_their_commits_while_bookings_flow_change_nothing_twice(
    pool: PgPool,
) {
    let _alone = one_scenario_at_a_time().await;
    let mut stack = stack(pool).await;
    // A saga step (its state change and the next command in one transaction) and the notifier
    // (one email per booking). The pipeline reaches every function through the crashing
    // Invoke API from the start; a crashed invocation is ended by the function's timeout and
    // retried, as in AWS, while the other partitions' invocations go on untouched (restarting
    // the pipeline instead would also kill those mid-call, e.g. during an SES call, which is
    // the documented "email outcome unknown" case, not a crash of one function).
    let timeouts = esm::mappings_from_template(&template_path())
        .expect("template.yaml")
        .into_iter()
        .map(|m| (m.function, m.function_timeout))
        .collect();
    let lambda = CrashingLambda {
        functions: stack.functions.clone(),
        timeouts: Arc::new(timeouts),
        victims: [
            <saga_insurance_verified::SagaInsuranceVerifiedFn as messaging::KafkaFunction>::NAME,
            <send_confirmation::SendConfirmationFn as messaging::KafkaFunction>::NAME,
        ]
        .map(Victim::new)
        .into(),
    };
    let (url, server) = lambda.serve().await;
    stack.restart_pipeline_with(&Invocation::Http(url)).await;
    let held = 60;
    let driver = Driver::start(
        &stack.api,
        spread_bookings(BOOKINGS),
        held,
        Duration::from_millis(30),
    );
    for victim in lambda.victims.iter() {
        let function = victim.function;
        tokio::time::timeout(Duration::from_secs(120), victim.crashed.notified())
            .await
            .unwrap_or_else(|_| panic!("{function} never got a batch of several records"));
        let (applied, batch) = *victim
            .applied
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        assert!(
            (1..batch).contains(&applied),
            "{function} died after {applied} of {batch} records: not mid-batch"
        );
        let posted = driver.posted.load(Ordering::SeqCst);
        assert!(posted < BOOKINGS, "bookings were still to come");
        eprintln!(
            "{function} died after committing {applied} of the {batch} records of its batch; \
             {posted} bookings posted so far"
        );
    }
    driver.release.notify_one();
    let posted = driver.task.await.expect("driver");
    settled_and_consistent(&stack, &posted).await;
    no_dead_letters(&stack).await;
    assert_eq!(posted.accepted.len(), BOOKINGS);
    server.abort();
}

/// A record of `info`'s schema with every field at its zero value (nil UUIDs, 0, the first
/// enum symbol, the first union branch) and `text` in every string: schema-valid, but no
/// producer writes a nil event id. The strings are patient data, which the dead-letter reason
/// must not repeat.
fn zero_record(schema: &apache_avro::Schema, text: &str) -> apache_avro::types::Value {
    use apache_avro::types::Value as Avro;
    use apache_avro::Schema;
    match schema {
        Schema::Boolean => Avro::Boolean(false),
        Schema::Int => Avro::Int(0),
        Schema::Long => Avro::Long(0),
        Schema::String => Avro::String(text.to_owned()),
        Schema::Uuid => Avro::Uuid(uuid::Uuid::nil()),
        Schema::TimestampMillis => Avro::TimestampMillis(0),
        Schema::Enum(e) => Avro::Enum(0, e.symbols[0].clone()),
        Schema::Union(u) => Avro::Union(0, Box::new(zero_record(&u.variants()[0], text))),
        Schema::Record(r) => Avro::Record(
            r.fields
                .iter()
                .map(|f| (f.name.clone(), zero_record(&f.schema, text)))
                .collect(),
        ),
        _ => Avro::Null,
    }
}

/// A value every check passes: `id` for each id, now for each time, 1 for each number, `text`
/// for each string, the first enum symbol, the first union branch (null: optional fields
/// absent).
fn possible_value(
    schema: &apache_avro::Schema,
    text: &str,
    id: uuid::Uuid,
) -> apache_avro::types::Value {
    use apache_avro::types::Value as Avro;
    use apache_avro::Schema;
    match schema {
        Schema::Int => Avro::Int(1),
        Schema::Long => Avro::Long(1),
        Schema::String => Avro::String(text.to_owned()),
        Schema::Uuid => Avro::Uuid(id),
        Schema::TimestampMillis => Avro::TimestampMillis(chrono::Utc::now().timestamp_millis()),
        Schema::Union(u) => Avro::Union(0, Box::new(possible_value(&u.variants()[0], text, id))),
        other => zero_record(other, text),
    }
}

/// Schema-valid records of `schema` with a fresh event id, each with exactly one field set to
/// a value no producer writes (a nil id, a time in 1970, version 0, an empty text): the field's
/// name and the record, with the id used for every other id in it.
fn one_field_impossible(
    schema: &apache_avro::Schema,
    text: &str,
) -> Vec<(String, apache_avro::types::Value, uuid::Uuid)> {
    use apache_avro::types::Value as Avro;
    use apache_avro::Schema;
    let Schema::Record(record) = schema else {
        panic!("contract schemas are records")
    };
    let mut cases = Vec::new();
    for broken in &record.fields {
        let impossible = match (&broken.schema, broken.name.as_str()) {
            (_, "event_id") => continue,
            (Schema::Uuid, _) => Avro::Uuid(uuid::Uuid::nil()),
            (Schema::TimestampMillis, _) => Avro::TimestampMillis(0),
            (Schema::Int, "appointment_version") => Avro::Int(0),
            (Schema::String, _) => Avro::String(String::new()),
            _ => continue,
        };
        let id = uuid::Uuid::now_v7();
        let fields = record
            .fields
            .iter()
            .map(|f| {
                let value = if f.name == broken.name {
                    impossible.clone()
                } else {
                    possible_value(&f.schema, text, id)
                };
                (f.name.clone(), value)
            })
            .collect();
        cases.push((broken.name.clone(), Avro::Record(fields), id));
    }
    cases
}

/// The dead-letter records on `topic`.dlq: each one's `dlq_reason` header.
async fn dead_letter_reasons(bootstrap: &str, topic: &str) -> Vec<String> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::{Headers, Message};
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("fault-suite-{}", uuid::Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer
        .subscribe(&[&messaging::topics::dead_letter_topic(topic)])
        .expect("subscribe");
    let mut reasons = Vec::new();
    while let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await
    {
        let reason = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == "dlq_reason")
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        });
        reasons.push(reason.unwrap_or_default());
    }
    reasons
}

/// Tables that anything decoded from a topic can reach (the write side and every projection).
const REACHABLE: [&str; 9] = [
    "appointments",
    "saga_state",
    "saga_timeline",
    "confirmation_emails",
    "calls",
    "appointment_summary",
    "metrics_appointments",
    "metrics_hourly",
    "call_summary",
];

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn poison_records_on_every_input_topic_go_to_its_dead_letter_topic_and_the_pipeline_goes_on(
    pool: PgPool,
) {
    let _alone = one_scenario_at_a_time().await;
    let stack = stack(pool).await;
    let registry = &stack.api.registry;
    let patient = &store::demo::patients(chrono::Utc::now().date_naive())[3];
    let phone = patient.phone.clone().expect("a phone number");
    let personal = format!("{} <{}> {phone}", patient.name, patient.email);
    let mappings = esm::mappings_from_template(&template_path()).expect("template");
    let mut topics: Vec<String> = mappings.iter().map(|m| m.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    let (before, after) = halves();
    let mut posted = book_retrying(&stack, before).await;
    // Per topic: the reason fragments its dead-letter records must carry, one per poison record.
    let mut expected: Vec<(String, Vec<String>)> = Vec::new();
    let mut poison_ids = vec![uuid::Uuid::nil()];
    for topic in &topics {
        let info = contract::record_for_topic(topic).expect("a contract record");
        let version = registry.version_id(info.name).await.expect("registered");
        let datum = |value| apache_avro::to_avro_datum(info.schema(), value).expect("schema-valid");
        let mut poison = vec![
            (
                "Glue Schema Registry frame".to_owned(),
                b"\x00garbage, not a Glue frame".to_vec(),
            ),
            (
                "unknown to the schema registry".to_owned(),
                contract::frame(uuid::Uuid::now_v7(), b"\x02"),
            ),
            (
                format!("impossible record: {}.event_id is the nil UUID", info.name),
                contract::frame(version, &datum(zero_record(info.schema(), &personal))),
            ),
        ];
        for (field, record, id) in one_field_impossible(info.schema(), &personal) {
            poison_ids.push(id);
            poison.push((
                format!("impossible record: {}.{field} ", info.name),
                contract::frame(version, &datum(record)),
            ));
        }
        let mut reasons = Vec::new();
        for (reason, record) in poison {
            stack.produce(topic, "poison", &record).await;
            reasons.push(reason);
        }
        expected.push((topic.clone(), reasons));
    }
    // The pipeline goes on: the second half of the bookings flows through every topic.
    posted.extend(book_retrying(&stack, after).await);
    settled_and_consistent(&stack, &posted).await;
    for (topic, fragments) in &expected {
        let reasons = dead_letter_reasons(&stack.tansu.bootstrap, topic).await;
        let consumers = mappings.iter().filter(|m| &m.topic == topic).count();
        assert_eq!(
            reasons.len(),
            fragments.len() * consumers,
            "{topic}: {reasons:?}"
        );
        for fragment in fragments {
            assert_eq!(
                reasons
                    .iter()
                    .filter(|r| r.contains(fragment.as_str()))
                    .count(),
                consumers,
                "{topic}: {fragment}: {reasons:?}"
            );
        }
        for reason in &reasons {
            assert!(
                !reason.contains(&patient.name)
                    && !reason.contains(&patient.email)
                    && !reason.contains(&phone),
                "{topic}: a dead-letter reason repeats patient data"
            );
        }
    }
    // Nothing of the schema-valid poison was applied anywhere.
    let patterns: Vec<String> = poison_ids.iter().map(|id| format!("%{id}%")).collect();
    for table in REACHABLE {
        let reached: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} t WHERE t::text LIKE ANY($1)"
        ))
        .bind(&patterns)
        .fetch_one(&stack.api.pool)
        .await
        .expect("count");
        assert_eq!(reached, 0, "a poison record reached {table}");
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_email_service_down_for_a_minute_delays_emails_but_loses_and_doubles_none(
    pool: PgPool,
) {
    let _alone = one_scenario_at_a_time().await;
    let moto: std::net::SocketAddr = testkit::shared_moto()
        .endpoint
        .trim_start_matches("http://")
        .parse()
        .expect("moto address");
    let ses_proxy = proxy::Proxy::start(moto).await;
    // The sender identity is created while SES is reachable; then it goes away for a minute.
    let ses = ses_at(&ses_proxy.url()).await;
    send_confirmation::ensure_sender_identity(&ses, send_confirmation::DEFAULT_SENDER)
        .await
        .expect("sender identity");
    let function = send_confirmation::SendConfirmationFn::new(
        ses,
        send_confirmation::DEFAULT_SENDER.to_owned(),
    );
    let stack = stack_with(pool, function).await;
    ses_proxy.down();
    let (before, during) = halves();
    let mut posted = book_retrying(&stack, before).await;
    posted.extend(book_retrying(&stack, during).await);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let retried: u64 = stack
        .runtime()
        .status()
        .iter()
        .filter(|m| {
            m.function == <send_confirmation::SendConfirmationFn as messaging::KafkaFunction>::NAME
        })
        .map(|m| m.retries)
        .sum();
    assert!(
        retried > 0,
        "send-confirmation was never retried: no email was attempted while SES was down"
    );
    let pool = &stack.api.pool;
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM confirmation_emails WHERE status = 'SENT'"
        )
        .await,
        0,
        "no email can have been sent while SES was unreachable"
    );
    ses_proxy.up().await;
    settled_and_consistent(&stack, &posted).await;
    no_dead_letters(&stack).await;
    assert!(
        count(
            pool,
            "SELECT count(*) FROM appointments WHERE status = 'CONFIRMED'"
        )
        .await
            > 0,
        "some bookings were confirmed once SES was back"
    );
}
