//! Each function's Lambda binary as Lambda runs it: started against a local Runtime API (the
//! `/2018-06-01/runtime/...` endpoints a Lambda sandbox serves), timed from exec until it asks
//! for its first event (init: tracing, config, database pool, SDK clients), given one event,
//! and measured: peak RSS after that invocation, stripped binary size, and the deployment
//! zip (`cargo lambda build --release --arm64 --output-format zip`, when built).

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The workspace's function crates (each builds one binary of the same name).
pub fn functions() -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(testkit::workspace_root().join("functions"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("src/main.rs").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// What the Runtime API saw.
#[derive(Debug)]
enum Seen {
    /// The function asked for an event (the first time: init is over).
    Next,
    Response,
    Error(String),
}

#[derive(Clone)]
struct RuntimeApi {
    event: Arc<Vec<u8>>,
    served: Arc<Mutex<bool>>,
    seen: mpsc::UnboundedSender<(Seen, Instant)>,
}

async fn next(State(api): State<RuntimeApi>) -> Result<(HeaderMap, Vec<u8>), StatusCode> {
    let _ = api.seen.send((Seen::Next, Instant::now()));
    let first = {
        let mut served = api
            .served
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        !std::mem::replace(&mut *served, true)
    };
    if !first {
        // One invocation per process: the second wait lasts until the process is stopped.
        std::future::pending::<()>().await;
    }
    let mut headers = HeaderMap::new();
    let deadline = (chrono::Utc::now() + chrono::Duration::seconds(60)).timestamp_millis();
    for (name, value) in [
        (
            "lambda-runtime-aws-request-id",
            "bench-request-1".to_owned(),
        ),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:bench".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_owned(),
        ),
        ("content-type", "application/json".to_owned()),
    ] {
        headers.insert(
            name,
            HeaderValue::from_str(&value).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?,
        );
    }
    Ok((headers, api.event.as_ref().clone()))
}

async fn response(State(api): State<RuntimeApi>, Path(_id): Path<String>) -> StatusCode {
    let _ = api.seen.send((Seen::Response, Instant::now()));
    StatusCode::ACCEPTED
}

async fn error(State(api): State<RuntimeApi>, body: String) -> StatusCode {
    let _ = api.seen.send((Seen::Error(body), Instant::now()));
    StatusCode::ACCEPTED
}

/// The environment every function is started with (the local stack's services).
#[derive(Debug, Clone)]
pub struct FunctionEnv {
    pub database_url: String,
    pub aws_endpoint: String,
    pub kafka_bootstrap: String,
}

/// The api function fetches its JWKS at the first token, not at start; the health check the
/// bench invokes needs none, so nothing has to listen here.
const UNUSED_JWKS_URL: &str = "http://127.0.0.1:9/jwks.json";

/// The event a function gets for its one invocation.
fn event_for(function: &str) -> anyhow::Result<Vec<u8>> {
    let fixtures = testkit::workspace_root().join("tests/fixtures");
    Ok(match function {
        "api" => std::fs::read(fixtures.join("apigw-http-health.json"))?,
        // EventBridge schedules: the scheduled event's body is not read.
        "outbox-relay" | "saga-sweeper" | "purge-expired" => b"{}".to_vec(),
        // AWS's example record: not Glue-framed Avro, so the adapter dead-letters it through the
        // outbox (a real transaction) at once.
        _ => std::fs::read(fixtures.join("example-kafka-event.json"))?,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct LambdaFigures {
    pub function: String,
    /// Median over the runs: exec → first `GET /runtime/invocation/next`.
    pub init_ms: f64,
    pub init_runs_ms: Vec<f64>,
    /// The one invocation: event handed out → response posted.
    pub invoke_ms: f64,
    /// VmHWM after the invocation.
    pub peak_rss_mib: f64,
    /// The native (x86_64) release binary, stripped by the release profile.
    pub binary_mib: f64,
    /// The arm64 `bootstrap.zip` from `cargo lambda build`, when present.
    pub arm64_zip_mib: Option<f64>,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// One cold start of `binary`: (init, invoke, peak RSS in KiB).
async fn run_once(
    function: &str,
    binary: &PathBuf,
    env: &FunctionEnv,
) -> anyhow::Result<(Duration, Duration, u64)> {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let api = RuntimeApi {
        event: Arc::new(event_for(function)?),
        served: Arc::new(Mutex::new(false)),
        seen: seen_tx,
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_ENDPOINT_URL", &env.aws_endpoint)
        .env("DATABASE_URL", &env.database_url)
        .env("KAFKA_BOOTSTRAP_SERVERS", &env.kafka_bootstrap)
        .env("AUTH_ISSUER", "https://bench.local")
        .env("AUTH_AUDIENCE", local::auth::AUDIENCE)
        .env("AUTH_JWKS_URL", UNUSED_JWKS_URL)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id().context("no pid")?;
    let mut ready = None;
    let result = loop {
        let Ok(Some((what, at))) = tokio::time::timeout(Duration::from_secs(30), seen.recv()).await
        else {
            break Err(anyhow::anyhow!("{function}: no answer from the function"));
        };
        match what {
            Seen::Next if ready.is_none() => ready = Some(at),
            Seen::Next => {}
            Seen::Response => {
                let init = ready.map_or(Duration::ZERO, |r| r - started);
                let invoke = ready.map_or(Duration::ZERO, |r| at - r);
                // Let the function finish its bookkeeping and ask for the next event.
                tokio::time::sleep(Duration::from_millis(50)).await;
                break Ok((init, invoke, peak_rss_kib(pid).unwrap_or(0)));
            }
            Seen::Error(body) => {
                break Err(anyhow::anyhow!("{function} reported an error: {body}"))
            }
        }
    };
    let _ = child.kill().await;
    let stderr = match child.stderr.take() {
        Some(mut s) => {
            let mut text = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut s, &mut text).await;
            text
        }
        None => String::new(),
    };
    server.abort();
    result.with_context(|| format!("stderr: {}", stderr.chars().take(2000).collect::<String>()))
}

/// Measures every function's release binary in `bin_dir`, `runs` cold starts each.
pub async fn measure(
    bin_dir: &std::path::Path,
    env: &FunctionEnv,
    runs: usize,
) -> anyhow::Result<Vec<LambdaFigures>> {
    let lambda_dir = testkit::workspace_root().join("target/lambda");
    let mut figures = Vec::new();
    for function in functions()? {
        let binary = bin_dir.join(&function);
        anyhow::ensure!(
            binary.exists(),
            "{} is not built (scripts/bench.sh builds it)",
            binary.display()
        );
        let mut inits = Vec::new();
        let (mut invoke, mut rss) = (Duration::ZERO, 0);
        for _ in 0..runs {
            let (init, i, r) = run_once(&function, &binary, env).await?;
            inits.push(init.as_secs_f64() * 1000.0);
            (invoke, rss) = (i, rss.max(r));
        }
        let mut sorted = inits.clone();
        sorted.sort_by(f64::total_cmp);
        let zip = lambda_dir.join(&function).join("bootstrap.zip");
        figures.push(LambdaFigures {
            function,
            init_ms: sorted[sorted.len() / 2],
            init_runs_ms: inits,
            invoke_ms: invoke.as_secs_f64() * 1000.0,
            peak_rss_mib: rss as f64 / 1024.0,
            binary_mib: mib(std::fs::metadata(&binary)?.len()),
            arm64_zip_mib: std::fs::metadata(&zip).ok().map(|m| mib(m.len())),
        });
    }
    Ok(figures)
}
