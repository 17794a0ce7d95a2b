//! The fault suite: the whole pipeline (API → tansu → every function → PostgreSQL, emails in
//! moto) keeps its promises while something breaks. Each scenario books a few hundred
//! appointments while the fault happens, waits until everything has settled, and checks:
//! every saga terminal, no accepted booking lost, the read model equal to the write model,
//! exactly one email per CONFIRMED booking and none per CANCELLED one, and no patient data in
//! the logs. Every wait has a deadline, so the suite is bounded in time.

mod logs;
mod proxy;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use clinic_tests::stack::*;
use domain::AppointmentId;
use futures::StreamExt;
use local::stack::{template_path, Invocation};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Bookings per scenario: half before the fault, half while it lasts.
const BOOKINGS: usize = 200;

/// Posts bookings like a client that retries what the server could not take (503, a lost
/// connection). A retry refused as a taken slot means an earlier attempt went through after all;
/// its appointment is found by the invariant checks, which cover every stored appointment.
async fn book_retrying(stack: &Stack, bodies: Bookings) -> Vec<AppointmentId> {
    futures::stream::iter(bodies)
        .map(|(_, body)| async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            let mut retried = false;
            loop {
                let reply = stack.api.post("/api/v1/appointments", &body).await;
                match reply.status {
                    StatusCode::ACCEPTED => {
                        return reply.body["appointmentId"]
                            .as_str()
                            .and_then(|id| id.parse().ok())
                            .map(AppointmentId)
                    }
                    StatusCode::CONFLICT if retried => return None,
                    StatusCode::SERVICE_UNAVAILABLE | StatusCode::INTERNAL_SERVER_ERROR => {
                        assert!(
                            tokio::time::Instant::now() < deadline,
                            "booking never accepted"
                        );
                        retried = true;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    other => panic!("booking refused with {other}: {}", reply.body),
                }
            }
        })
        .buffer_unordered(16)
        .filter_map(|id| async move { id })
        .collect()
        .await
}

async fn rows(pool: &PgPool, sql: &str) -> BTreeSet<(uuid::Uuid, String, i32)> {
    sqlx::query_as(sql)
        .fetch_all(pool)
        .await
        .expect("rows")
        .into_iter()
        .collect()
}

/// Waits until the pipeline has settled, then checks every promise.
async fn settled_and_consistent(stack: &Stack, accepted: &[AppointmentId]) {
    let pool = &stack.api.pool;
    eventually(300, "every saga terminal", || async {
        let open = count(
            pool,
            "SELECT count(*) FROM appointments a LEFT JOIN saga_state s ON s.saga_id = a.saga_id
             WHERE s.step IS NULL OR s.step NOT IN ('COMPLETED', 'CANCELLED')",
        )
        .await;
        (open == 0).then_some(())
    })
    .await;
    all_published(stack).await;
    let write_side = "SELECT id, status, version FROM appointments";
    let read_side = "SELECT appointment_id, status, version FROM appointment_summary";
    eventually(120, "the read model equal to the write model", || async {
        (rows(pool, write_side).await == rows(pool, read_side).await).then_some(())
    })
    .await;
    let stored = rows(pool, write_side).await;
    let stored_ids: BTreeSet<uuid::Uuid> = stored.iter().map(|(id, _, _)| *id).collect();
    for id in accepted {
        assert!(stored_ids.contains(&id.0), "accepted booking {id} was lost");
    }
    let sent = sent_per_appointment().await;
    for (id, status, _) in &stored {
        let emails = sent.get(&AppointmentId(*id)).copied().unwrap_or_default();
        match status.as_str() {
            "CONFIRMED" => assert_eq!(emails, 1, "{id} is CONFIRMED"),
            "CANCELLED" => assert_eq!(emails, 0, "{id} is CANCELLED"),
            other => panic!("{id} ended {other}"),
        }
    }
    logs::assert_no_phi();
}

fn halves() -> (Bookings, Bookings) {
    let mut first = spread_bookings(BOOKINGS);
    let second = first.split_off(BOOKINGS / 2);
    (first, second)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_broker_killed_and_restarted_mid_run_loses_and_doubles_nothing(pool: PgPool) {
    logs::capture();
    let mut stack = stack(pool).await;
    let (before, during) = halves();
    let mut accepted = book_retrying(&stack, before).await;
    // Sagas are in flight: kill the broker as a crash would, and book while it is away (the
    // API commits to the outbox; publishing waits for the broker).
    stack.tansu.kill();
    accepted.extend(book_retrying(&stack, during).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.tansu.restart();
    settled_and_consistent(&stack, &accepted).await;
    assert_eq!(accepted.len(), BOOKINGS);
}

#[tokio::test]
async fn postgres_restarted_mid_run_loses_and_doubles_nothing() {
    logs::capture();
    let cluster = Arc::new(testkit::Postgres::start());
    let pool = local::prepare_database(&cluster.url)
        .await
        .expect("migrated database");
    let stack = stack(pool).await;
    let (before, during) = halves();
    let mut accepted = book_retrying(&stack, before).await;
    let restart = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(500));
            cluster.restart()
        })
    };
    accepted.extend(book_retrying(&stack, during).await);
    restart.await.expect("restart task").expect("restart");
    settled_and_consistent(&stack, &accepted).await;
    assert!(
        accepted.len() >= BOOKINGS - 16,
        "{} accepted",
        accepted.len()
    );
}

/// A Lambda Invoke API in front of the in-process functions that "crashes" once: on
/// `crash_on`'s `nth` invocation it runs the function (its transaction commits) and then never
/// answers, as a function process dying before it could report success.
#[derive(Clone)]
struct CrashingLambda {
    functions: local::functions::InProcessInvoker,
    crash_on: &'static str,
    nth: usize,
    calls: Arc<AtomicUsize>,
    crashed: Arc<Notify>,
}

async fn invoke(
    State(lambda): State<CrashingLambda>,
    Path(function): Path<String>,
    Json(event): Json<aws_lambda_events::event::kafka::KafkaEvent>,
) -> Result<Json<Value>, StatusCode> {
    use esm::Invoker;
    let response = lambda
        .functions
        .invoke(&function, &event)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    if function == lambda.crash_on && lambda.calls.fetch_add(1, Ordering::SeqCst) + 1 == lambda.nth
    {
        lambda.crashed.notify_one();
        std::future::pending::<()>().await;
    }
    Ok(Json(response))
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_function_dying_after_its_commit_and_before_the_offset_commit_changes_nothing_twice(
    pool: PgPool,
) {
    logs::capture();
    let mut stack = stack(pool).await;
    let lambda = CrashingLambda {
        functions: stack.functions.clone(),
        crash_on: <send_confirmation::SendConfirmationFn as messaging::KafkaFunction>::NAME,
        nth: 3,
        calls: Arc::default(),
        crashed: Arc::default(),
    };
    let crashed = lambda.crashed.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let app = Router::new()
            .route("/2015-03-31/functions/{function}/invocations", post(invoke))
            .with_state(lambda);
        let _ = axum::serve(listener, app).await;
    });
    stack.restart_pipeline_with(&Invocation::Http(url)).await;
    let (before, during) = halves();
    let mut accepted = book_retrying(&stack, before).await;
    tokio::time::timeout(Duration::from_secs(120), crashed.notified())
        .await
        .expect("the crash happened");
    // The process is gone with its batch uncommitted; the runtime comes back and redelivers.
    stack.restart_pipeline().await;
    server.abort();
    accepted.extend(book_retrying(&stack, during).await);
    settled_and_consistent(&stack, &accepted).await;
    assert_eq!(accepted.len(), BOOKINGS);
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

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn poison_records_on_every_input_topic_go_to_its_dead_letter_topic_and_the_pipeline_goes_on(
    pool: PgPool,
) {
    logs::capture();
    let stack = stack(pool).await;
    let registry = &stack.api.registry;
    let patient = &store::demo::patients(chrono::Utc::now().date_naive())[3];
    let mut topics: Vec<String> = esm::mappings_from_template(&template_path())
        .expect("template")
        .into_iter()
        .map(|m| m.topic)
        .collect();
    topics.sort();
    topics.dedup();
    let (before, after) = halves();
    let mut accepted = book_retrying(&stack, before).await;
    for topic in &topics {
        let info = contract::record_for_topic(topic).expect("a contract record");
        let version = registry.version_id(info.name).await.expect("registered");
        let impossible = apache_avro::to_avro_datum(
            info.schema(),
            zero_record(
                info.schema(),
                &format!("{} <{}>", patient.name, patient.email),
            ),
        )
        .expect("schema-valid datum");
        let poison = [
            b"\x00garbage, not a Glue frame".to_vec(),
            contract::frame(uuid::Uuid::now_v7(), b"\x02"),
            contract::frame(version, &impossible),
        ];
        for record in poison {
            stack.produce(topic, "poison", &record).await;
        }
    }
    // The pipeline goes on: the second half of the bookings flows through every topic.
    accepted.extend(book_retrying(&stack, after).await);
    settled_and_consistent(&stack, &accepted).await;
    for topic in &topics {
        let reasons = dead_letter_reasons(&stack.tansu.bootstrap, topic).await;
        let consumers = esm::mappings_from_template(&template_path())
            .expect("template")
            .into_iter()
            .filter(|m| &m.topic == topic)
            .count();
        assert_eq!(reasons.len(), 3 * consumers, "{topic}: {reasons:?}");
        for expected in [
            "Glue Schema Registry frame",
            "unknown to the schema registry",
            "nil UUID",
        ] {
            assert_eq!(
                reasons.iter().filter(|r| r.contains(expected)).count(),
                consumers,
                "{topic}: {expected}: {reasons:?}"
            );
        }
        for reason in &reasons {
            assert!(
                !reason.contains(&patient.name) && !reason.contains(&patient.email),
                "{topic}: a dead-letter reason repeats patient data"
            );
        }
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_email_service_down_for_a_minute_delays_emails_but_loses_and_doubles_none(
    pool: PgPool,
) {
    logs::capture();
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
    let mut accepted = book_retrying(&stack, before).await;
    accepted.extend(book_retrying(&stack, during).await);
    tokio::time::sleep(Duration::from_secs(60)).await;
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
    settled_and_consistent(&stack, &accepted).await;
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
