//! Helpers for the ESM tests: a scripted invoker, producing to and reading from a real broker,
//! and polling with deadlines.

use async_trait::async_trait;
use aws_lambda_events::event::kafka::KafkaEvent;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use esm::{InvokeError, Invoker, Mapping, Runtime, RuntimeOptions};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Short backoffs and frequent status, so tests are quick.
pub fn options() -> RuntimeOptions {
    RuntimeOptions {
        retry_backoff_initial: Duration::from_millis(10),
        retry_backoff_max: Duration::from_millis(100),
        status_interval: Duration::from_millis(200),
        ..RuntimeOptions::default()
    }
}

/// A mapping with a short batching window.
pub fn mapping(function: &str, topic: &str) -> Mapping {
    Mapping {
        batching_window: Duration::from_millis(200),
        ..Mapping::new(function, topic)
    }
}

pub fn start(mappings: Vec<Mapping>, bootstrap: &str, invoker: Arc<TestInvoker>) -> Runtime {
    Runtime::start(mappings, bootstrap, invoker, options()).expect("start the runtime")
}

/// What the scripted function does with one call.
#[derive(Debug)]
pub enum Reply {
    Ok(serde_json::Value),
    Fail(String),
    /// Never returns (a function still running when the runtime dies).
    Hang,
    /// Succeeds after this long.
    Slow(Duration),
    /// The function panics.
    Panic,
}

type Script = dyn Fn(usize, &[Delivered]) -> Reply + Send + Sync;

/// A function that records every event it is called with and answers as its script says
/// (given the call's index and its records).
pub struct TestInvoker {
    calls: Mutex<Vec<KafkaEvent>>,
    script: Box<Script>,
    /// Invocations running now, and the most that ever ran at once.
    running: AtomicUsize,
    most_running: AtomicUsize,
}

impl TestInvoker {
    pub fn new(
        script: impl Fn(usize, &[Delivered]) -> Reply + Send + Sync + 'static,
    ) -> Arc<TestInvoker> {
        Arc::new(TestInvoker {
            calls: Mutex::new(Vec::new()),
            script: Box::new(script),
            running: AtomicUsize::new(0),
            most_running: AtomicUsize::new(0),
        })
    }

    pub fn succeeding() -> Arc<TestInvoker> {
        TestInvoker::new(|_, _| Reply::Ok(serde_json::Value::Null))
    }

    /// The most invocations that ever ran at the same time.
    pub fn most_running(&self) -> usize {
        self.most_running.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> Vec<KafkaEvent> {
        self.calls.lock().expect("calls lock").clone()
    }

    /// The records of every call, call by call.
    pub fn batches(&self) -> Vec<Vec<Delivered>> {
        self.calls().iter().map(delivered).collect()
    }

    /// Every record delivered, in delivery order, repeats included.
    pub fn all_delivered(&self) -> Vec<Delivered> {
        self.batches().into_iter().flatten().collect()
    }
}

#[async_trait]
impl Invoker for TestInvoker {
    async fn invoke(
        &self,
        _function: &str,
        event: &KafkaEvent,
        _deadline: tokio::time::Instant,
    ) -> Result<serde_json::Value, InvokeError> {
        let index = {
            let mut calls = self.calls.lock().expect("calls lock");
            calls.push(event.clone());
            calls.len() - 1
        };
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(running, Ordering::SeqCst);
        let _running = Running(&self.running);
        match (self.script)(index, &delivered(event)) {
            Reply::Ok(value) => Ok(value),
            Reply::Fail(message) => Err(InvokeError::Function(message)),
            Reply::Hang => std::future::pending().await,
            Reply::Slow(wait) => {
                tokio::time::sleep(wait).await;
                Ok(serde_json::Value::Null)
            }
            Reply::Panic => panic!("the scripted function panics"),
        }
    }
}

/// Counts an invocation out when it ends, however it ends (returns, is cancelled, panics).
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A record as the function saw it, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
}

/// The records of an event, partition by partition (ascending), each in the event's order.
pub fn delivered(event: &KafkaEvent) -> Vec<Delivered> {
    let mut keys: Vec<&String> = event.records.keys().collect();
    keys.sort();
    let decode = |text: &Option<String>| {
        text.as_ref()
            .map(|t| String::from_utf8(BASE64.decode(t).expect("base64")).expect("utf-8"))
    };
    keys.into_iter()
        .flat_map(|k| &event.records[k])
        .map(|r| Delivered {
            partition: i32::try_from(r.partition).expect("partition"),
            offset: r.offset,
            key: decode(&r.key),
            value: decode(&r.value),
        })
        .collect()
}

pub fn values(records: &[Delivered]) -> Vec<String> {
    records.iter().filter_map(|r| r.value.clone()).collect()
}

pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    esm::ensure_topics(bootstrap, &[topic.to_owned()], partitions)
        .await
        .expect("create topic");
}

pub fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "10000")
        .create()
        .expect("producer")
}

/// One record to produce.
#[derive(Debug, Clone, Default)]
pub struct Out {
    pub partition: i32,
    pub key: String,
    pub value: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp_ms: Option<i64>,
}

impl Out {
    pub fn new(partition: i32, key: &str, value: &str) -> Out {
        Out {
            partition,
            key: key.to_owned(),
            value: value.to_owned(),
            ..Out::default()
        }
    }
}

/// Produces `records` one after the other (so offsets follow their order per partition).
pub async fn produce(bootstrap: &str, topic: &str, records: &[Out]) {
    let producer = producer(bootstrap);
    for out in records {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &out.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_slice()),
            });
        }
        let mut record = FutureRecord::to(topic)
            .partition(out.partition)
            .key(&out.key)
            .payload(&out.value)
            .headers(headers);
        if let Some(ms) = out.timestamp_ms {
            record = record.timestamp(ms);
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }
}

/// `n` records `v0..` with keys `k0..`, spread round-robin over `partitions`.
pub fn numbered(n: usize, partitions: i32) -> Vec<Out> {
    (0..n)
        .map(|i| {
            let partition = i32::try_from(i).expect("small") % partitions;
            Out::new(partition, &format!("k{i}"), &format!("v{i}"))
        })
        .collect()
}

/// Reads `n` records of `topic` from the beginning (own consumer group).
pub async fn read_topic(bootstrap: &str, topic: &str, n: usize) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{topic}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut messages = Vec::new();
    while messages.len() < n {
        let message = tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} records in {topic}", messages.len()))
            .expect("consume");
        messages.push(message.detach());
    }
    messages
}

pub fn header<'a>(message: &'a OwnedMessage, name: &str) -> Option<&'a [u8]> {
    use rdkafka::message::Headers;
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
}

pub fn header_text(message: &OwnedMessage, name: &str) -> String {
    String::from_utf8_lossy(header(message, name).unwrap_or_else(|| panic!("no header {name}")))
        .into_owned()
}

/// Polls `condition` until true; panics with `what` after [`DEADLINE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The status of the runtime's only mapping for `function`.
pub fn status(runtime: &Runtime, function: &str) -> esm::MappingStatus {
    runtime
        .status()
        .into_iter()
        .find(|s| s.function == function)
        .expect("mapping status")
}

/// Records with their offsets, for comparing deliveries.
pub fn coordinates(records: &[Delivered]) -> Vec<(i32, i64)> {
    records.iter().map(|r| (r.partition, r.offset)).collect()
}

pub fn message_value(message: &OwnedMessage) -> String {
    String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned()
}
