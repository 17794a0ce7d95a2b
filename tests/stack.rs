//! The whole local pipeline for end-to-end tests: its own tansu, the test's database, the
//! shared moto (Glue registry and SES), every Kafka-triggered function in process, the outbox
//! relay and the saga sweeper, exactly as `clinic-local up` runs them; the API on the same
//! database with publish-after-commit. Waits poll with deadlines.

use crate::support::*;
use domain::saga::SagaDeadlines;
use domain::AppointmentId;
use local::functions::InProcessInvoker;
use local::stack::{start_pipeline, template_path, Invocation, Pipeline};
use messaging::{FunctionContext, Publisher};
use rdkafka::producer::{FutureProducer, FutureRecord};
use send_confirmation::{ensure_sender_identity, SendConfirmationFn, DEFAULT_SENDER};
use serde_json::Value;
use sqlx::PgPool;
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

fn fast() -> esm::RuntimeOptions {
    esm::RuntimeOptions {
        retry_backoff_initial: StdDuration::from_millis(20),
        retry_backoff_max: StdDuration::from_millis(200),
        status_interval: StdDuration::from_secs(5),
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

pub async fn stack(pool: PgPool) -> Stack {
    let tansu = testkit::Tansu::start();
    let mut api = test_api(pool.clone()).await;
    let publisher = Publisher::new(pool.clone(), &tansu.bootstrap).expect("publisher");
    let functions = InProcessInvoker {
        ctx: FunctionContext {
            pool,
            registry: api.registry.clone(),
            publisher: Some(publisher.clone()),
        },
        deadlines: SagaDeadlines::default(),
        send_confirmation: confirmation_function().await,
    };
    api.app = api::app(api::AppState {
        pool: functions.ctx.pool.clone(),
        registry: functions.ctx.registry.clone(),
        publisher: Some(publisher),
    });
    let producer = messaging::publisher::producer_config(&tansu.bootstrap)
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
    }

    /// Stops the pipeline abruptly (as a crash would: uncommitted work is redelivered) and
    /// starts it again; also the first start.
    pub async fn restart_pipeline(&mut self) {
        self.pipeline = None;
        self.pipeline = Some(
            start_pipeline(
                self.functions.clone(),
                &self.tansu.bootstrap,
                &template_path(),
                3,
                &Invocation::InProcess,
                fast(),
            )
            .await
            .expect("pipeline"),
        );
    }

    fn pipeline(&self) -> &Pipeline {
        self.pipeline.as_ref().expect("a running pipeline")
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
