//! The whole local pipeline for end-to-end tests: its own tansu, the test's database, the
//! shared moto (Glue registry and SES), every Kafka-triggered function in process, the outbox
//! relay and the saga sweeper, exactly as `clinic-local up` runs them; the API on the same
//! database with publish-after-commit. Waits poll with deadlines.

use crate::support::*;
use chrono::{Duration, NaiveDate, Weekday};
use domain::saga::SagaDeadlines;
use domain::AppointmentId;
use futures::StreamExt;
use local::functions::InProcessInvoker;
use local::stack::{start_pipeline, template_path, Invocation, Pipeline};
use messaging::{FunctionContext, Publisher};
use rdkafka::producer::{FutureProducer, FutureRecord};
use send_confirmation::{ensure_sender_identity, SendConfirmationFn, DEFAULT_SENDER};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration as StdDuration;

/// Fields drop in declaration order: the pipeline's consumers and the producer close while
/// tansu still runs (closing against a dead broker can block the test runtime's shutdown).
pub struct Stack {
    pub pipeline: Option<Pipeline>,
    producer: FutureProducer,
    pub functions: InProcessInvoker,
    pub api: TestApi,
    pub tansu: testkit::Tansu,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("bootstrap", &self.tansu.bootstrap)
            .finish_non_exhaustive()
    }
}

fn fast() -> esm::RuntimeOptions {
    esm::RuntimeOptions {
        retry_backoff_initial: StdDuration::from_millis(20),
        retry_backoff_max: StdDuration::from_millis(200),
        status_interval: StdDuration::from_secs(5),
        ..esm::RuntimeOptions::default()
    }
}

/// An SES client for a local endpoint.
pub async fn ses_at(endpoint: &str) -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(&local::moto::sdk_config(endpoint).await)
}

/// send-confirmation on the shared moto, its sender identity created.
pub async fn confirmation_function() -> SendConfirmationFn {
    let ses = ses_at(&testkit::shared_moto().endpoint).await;
    ensure_sender_identity(&ses, DEFAULT_SENDER)
        .await
        .expect("sender identity");
    SendConfirmationFn::new(ses, DEFAULT_SENDER.to_owned())
}

/// Every email the shared moto accepted (its `ses` → `Message` list).
pub async fn sent_emails() -> Vec<Value> {
    let url = format!("{}/moto-api/data.json", testkit::shared_moto().endpoint);
    let data: Value = reqwest::get(url)
        .await
        .expect("moto data")
        .json()
        .await
        .expect("JSON");
    data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The emails moto accepted whose body carries `id` (the appointment reference).
pub async fn emails(id: AppointmentId) -> Vec<Value> {
    let reference = id.to_string();
    sent_emails()
        .await
        .into_iter()
        .filter(|m| m["body"].as_str().is_some_and(|b| b.contains(&reference)))
        .collect()
}

/// Every email the shared moto accepted, counted per appointment reference.
pub async fn sent_per_appointment() -> HashMap<AppointmentId, usize> {
    let mut sent = HashMap::new();
    for message in sent_emails().await {
        let body = message["body"].as_str().unwrap_or_default();
        let reference = body
            .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
            .find_map(|word| word.parse::<uuid::Uuid>().ok());
        if let Some(id) = reference {
            *sent.entry(AppointmentId(id)).or_default() += 1;
        }
    }
    sent
}

pub async fn stack(pool: PgPool) -> Stack {
    stack_with(pool, confirmation_function().await).await
}

/// The stack with this send-confirmation (e.g. one whose SES endpoint a test takes down).
pub async fn stack_with(pool: PgPool, send_confirmation: SendConfirmationFn) -> Stack {
    let tansu = testkit::Tansu::start();
    let mut api = test_api(pool.clone()).await;
    let kafka = messaging::KafkaConfig::plaintext(&tansu.bootstrap);
    let publisher = Publisher::new(pool.clone(), &kafka).expect("publisher");
    let functions = InProcessInvoker {
        ctx: FunctionContext::new(pool, api.registry.clone(), Some(publisher.clone())),
        deadlines: SagaDeadlines::default(),
        send_confirmation,
    };
    api.app = api::app(app_state(
        functions.ctx.pool.clone(),
        functions.ctx.registry.clone(),
        Some(publisher),
        &api.issuer,
    ));
    let producer = messaging::publisher::producer_config(&kafka)
        .create()
        .expect("producer");
    let mut stack = Stack {
        pipeline: None,
        producer,
        functions,
        api,
        tansu,
    };
    stack.restart_pipeline().await;
    stack
}

impl Stack {
    pub fn ctx(&self) -> &FunctionContext {
        &self.functions.ctx
    }

    pub async fn produce(&self, topic: &str, key: &str, value: &[u8]) {
        self.producer
            .send(
                FutureRecord::to(topic).key(key).payload(value),
                StdDuration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
        // Records from outside the outbox: nothing else tells a dozing mapping about them.
        if let Some(pipeline) = &self.pipeline {
            pipeline.runtime.wake();
        }
    }

    /// Stops the pipeline abruptly (as a crash would: uncommitted work is redelivered) and
    /// starts it again; also the first start.
    pub async fn restart_pipeline(&mut self) {
        self.restart_pipeline_with(&Invocation::InProcess).await;
    }

    /// Like [`Stack::restart_pipeline`], reaching the functions through `invocation`.
    pub async fn restart_pipeline_with(&mut self, invocation: &Invocation) {
        self.pipeline = None;
        self.pipeline = Some(
            start_pipeline(
                self.functions.clone(),
                &self.tansu.bootstrap,
                &template_path(),
                3,
                invocation,
                fast(),
            )
            .await
            .expect("pipeline"),
        );
    }

    fn pipeline(&self) -> &Pipeline {
        self.pipeline.as_ref().expect("a running pipeline")
    }

    pub fn runtime(&self) -> std::sync::Arc<esm::Runtime> {
        self.pipeline().runtime.clone()
    }

    /// Records `function` has processed since the pipeline (re)started.
    pub fn processed(&self, function: &str) -> u64 {
        self.pipeline()
            .runtime
            .status()
            .iter()
            .filter(|m| m.function == function)
            .map(|m| m.processed_records)
            .sum()
    }

    pub async fn pause(&self, function: &str) {
        self.pipeline()
            .runtime
            .pause(function)
            .await
            .expect("pause");
    }

    pub fn resume(&self, function: &str) {
        self.pipeline().runtime.resume(function).expect("resume");
    }
}

/// Polls `check` until it yields Some, or panics after `seconds`.
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    seconds: u64,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(pool).await.expect("count");
    n
}

/// Waits until the relay (or publish-after-commit) has published every outbox row.
pub async fn all_published(stack: &Stack) {
    let pool = &stack.api.pool;
    eventually(60, "every outbox row published", || async {
        (count(
            pool,
            "SELECT count(*) FROM outbox WHERE published_at IS NULL",
        )
        .await
            == 0)
            .then_some(())
    })
    .await;
}

/// Tuesday to Friday of the next two weeks, when every demo clinic is open 10:00–17:00.
fn open_days() -> Vec<NaiveDate> {
    let tuesday = next(Weekday::Tue);
    [0, 1, 2, 3, 7, 8, 9, 10]
        .into_iter()
        .map(|d| tuesday + Duration::days(d))
        .collect()
}

/// Booking requests: each one's demo patient number and request body.
pub type Bookings = Vec<(u128, Value)>;

/// `n` ROUTINE exam bookings, one hour apart per provider (so the double-booking rule is not
/// what is exercised) and cycling through the demo patients.
pub fn spread_bookings(n: usize) -> Bookings {
    let mut slots = Vec::new();
    for day in open_days() {
        for hour in 10..16 {
            for clinic in store::demo::clinics() {
                for provider in &clinic.providers {
                    slots.push((clinic.id, provider.id, format!("{day}T{hour}:00")));
                }
            }
        }
    }
    assert!(slots.len() >= n, "only {} distinct slots", slots.len());
    slots
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(i, (clinic, provider, at))| {
            let patient = 1 + (i as u128) % store::demo::PATIENTS;
            let body = json!({
                "clinicId": clinic.to_string(), "patientId": patient_id(patient).to_string(),
                "providerId": provider.to_string(), "dateTime": at, "type": "ROUTINE"
            });
            (patient, body)
        })
        .collect()
}

/// Books [`spread_bookings`] through the API, 32 at a time; each must be accepted. Returns each
/// booking's demo patient number and appointment.
pub async fn book_spread(stack: &Stack, n: usize) -> Vec<(u128, AppointmentId)> {
    let bodies = spread_bookings(n);
    let booked: Vec<(u128, AppointmentId)> = futures::stream::iter(bodies)
        .map(|(patient, body)| async move { (patient, book(&stack.api, &body).await.0) })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(booked.len(), n);
    booked
}
