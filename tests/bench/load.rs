//! The booking load generator: `POST /api/v1/appointments` over HTTP, closed-loop (N requests,
//! C at a time, as fast as the API answers) or open-loop (a fixed rate whatever the answers;
//! latency counts from the scheduled send time, so a slow answer cannot hide the queue behind
//! it). Every request books a distinct (provider, slot) from [`crate::stack::Slots`].

use crate::stack::BenchStack;
use futures::StreamExt;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// One booking request's outcome.
#[derive(Debug, Clone)]
pub struct Booked {
    /// When it was (to be) sent.
    pub scheduled: Instant,
    pub answered: Instant,
    /// 0 when no HTTP answer came.
    pub status: u16,
    pub appointment_id: Option<Uuid>,
}

impl Booked {
    pub fn latency(&self) -> Duration {
        self.answered - self.scheduled
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(mut samples: Vec<Duration>) -> Percentiles {
        samples.sort();
        let at = |q: f64| {
            if samples.is_empty() {
                return 0.0;
            }
            let i = ((samples.len() - 1) as f64 * q).round() as usize;
            samples[i].as_secs_f64() * 1000.0
        };
        Percentiles {
            count: samples.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    pub fn new(stack: &BenchStack) -> anyhow::Result<Client> {
        Ok(Client {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .timeout(Duration::from_secs(30))
                .build()?,
            url: format!("{}/api/v1/appointments", stack.api_url),
            token: stack.token.clone(),
        })
    }

    async fn book(&self, body: serde_json::Value, scheduled: Instant) -> Booked {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await;
        let (status, appointment_id) = match response {
            Ok(r) => {
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let id = body["appointmentId"]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok());
                (status, id)
            }
            Err(_) => (0, None),
        };
        Booked {
            scheduled,
            answered: Instant::now(),
            status,
            appointment_id,
        }
    }
}

/// `n` bookings, `concurrency` in flight at a time.
pub async fn closed_loop(
    stack: &BenchStack,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Booked>> {
    let client = Client::new(stack)?;
    let client = &client;
    Ok(futures::stream::iter(0..n)
        .map(|_| {
            let body = stack.slots.next_booking();
            async move { client.book(body, Instant::now()).await }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await)
}

/// Bookings at `rate` per second for `duration`, each sent at its scheduled time.
pub async fn open_loop(
    stack: &BenchStack,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Vec<Booked>> {
    let client = std::sync::Arc::new(Client::new(stack)?);
    let n = (rate * duration.as_secs_f64()).round() as usize;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled).await;
        let body = stack.slots.next_booking();
        let client = client.clone();
        tasks.push(tokio::spawn(
            async move { client.book(body, scheduled).await },
        ));
    }
    let mut booked = Vec::with_capacity(n);
    for task in tasks {
        booked.push(task.await?);
    }
    Ok(booked)
}

/// The accepted bookings' appointment ids; errors if any booking was refused.
pub fn accepted(booked: &[Booked]) -> anyhow::Result<Vec<Uuid>> {
    let refused: Vec<u16> = booked
        .iter()
        .filter(|b| b.status != 202)
        .map(|b| b.status)
        .collect();
    anyhow::ensure!(
        refused.is_empty(),
        "{} of {} bookings were not accepted (statuses {:?}…)",
        refused.len(),
        booked.len(),
        &refused[..refused.len().min(5)]
    );
    Ok(booked.iter().filter_map(|b| b.appointment_id).collect())
}

/// A drain's rates from when each of its `total` items ended (at least one): steady, the
/// completions between the 10th and 90th percentile end over that time; and overall, all of
/// them over the time from `started` to the last end.
pub fn drain_rates(mut ends: Vec<Instant>, started: Instant, total: usize) -> (f64, f64) {
    ends.sort();
    let (p10, p90) = (ends[ends.len() / 10], ends[ends.len() * 9 / 10]);
    let steady = (ends.len() * 8 / 10) as f64 / (p90 - p10).as_secs_f64();
    let overall = total as f64 / (ends[ends.len() - 1] - started).as_secs_f64();
    (steady, overall)
}
