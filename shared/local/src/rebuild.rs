//! Rebuilding a projection from its topics, on the running local stack: pause the function's
//! mappings, empty its tables and markers, rewind its consumer groups to the earliest offsets,
//! resume, and wait until it has caught up (at most a timeout: 10 minutes unless told, then an
//! error naming the lag left). Served at `POST /_local/projections/{function}/rebuild`
//! (`?timeoutSeconds=N`) and run by `clinic-local rebuild` (`--timeout-seconds`,
//! `REBUILD_TIMEOUT_SECONDS`).
//!
//! In AWS the same steps are: disable the function's event-source mappings, run the reset
//! (`store::projections::Projection::reset`) against Aurora, reset the consumer groups to the
//! earliest offsets (`kafka-consumer-groups --reset-offsets --to-earliest`), enable the
//! mappings again.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::projections::{projection, PROJECTIONS};

/// How long a rebuild waits for its projection to catch up unless told otherwise: generous, as
/// a rebuild replays everything its topics hold.
pub const DEFAULT_CATCH_UP_TIMEOUT: Duration = Duration::from_secs(600);

/// What a rebuild did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildReport {
    pub function: String,
    /// Records the function processed while catching up.
    pub replayed_records: u64,
    /// The whole rebuild: pause, reset, rewind, the consumers rejoining their groups, replay.
    pub seconds: f64,
    /// From the first replayed record to caught up: the replay itself (measured every 50 ms).
    pub replay_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("no projection is written by `{0}`; projections: {known}", known = PROJECTIONS.map(|p| p.function).join(", "))]
    UnknownProjection(String),
    #[error(transparent)]
    Runtime(#[from] esm::EsmError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(
        "{function} has not caught up after {waited_seconds} s: {lag} records left to replay \
         ({per_topic}); its mappings keep running (see /_local/esm/status), or rebuild again with \
         a longer timeout"
    )]
    CatchUpTimedOut {
        function: String,
        waited_seconds: u64,
        /// Records the function's mappings had yet to commit when the time was up.
        lag: i64,
        /// The same, per topic with lag: `"<topic> <lag>"`, comma-separated.
        per_topic: String,
    },
}

fn processed(runtime: &esm::Runtime, function: &str) -> u64 {
    runtime
        .status()
        .iter()
        .filter(|m| m.function == function)
        .map(|m| m.processed_records)
        .sum()
}

/// Waits until `function`'s mappings have committed everything on their topics, at most
/// `timeout`; then [`RebuildError::CatchUpTimedOut`] with the lag left.
pub async fn wait_caught_up(
    runtime: &esm::Runtime,
    function: &str,
    timeout: Duration,
) -> Result<(), RebuildError> {
    catch_up(runtime, function, timeout, || {}).await
}

/// [`wait_caught_up`], calling `on_poll` at every look at the lag (every 50 ms).
async fn catch_up(
    runtime: &esm::Runtime,
    function: &str,
    timeout: Duration,
    mut on_poll: impl FnMut(),
) -> Result<(), RebuildError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // A busy broker may not answer one measurement in time: look again until the deadline.
        let lag = match runtime.lag(function).await {
            Ok(lag) => lag,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(function, "cannot measure the lag, trying again: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        on_poll();
        if lag <= 0 {
            return Ok(());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            // lag() has just measured every mapping, so their statuses hold this lag.
            let per_topic = runtime
                .status()
                .into_iter()
                .filter(|m| m.function == function && m.lag.is_some_and(|l| l > 0))
                .map(|m| format!("{} {}", m.topic, m.lag.unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(RebuildError::CatchUpTimedOut {
                function: function.to_owned(),
                waited_seconds: timeout.as_secs(),
                lag,
                per_topic,
            });
        }
        tokio::time::sleep(Duration::from_millis(50).min(deadline - now)).await;
    }
}

/// Rebuilds the projection written by `function` and returns once it has caught up with its
/// topics, waiting at most [`DEFAULT_CATCH_UP_TIMEOUT`] for that.
pub async fn rebuild(
    runtime: &esm::Runtime,
    pool: &PgPool,
    function: &str,
) -> Result<RebuildReport, RebuildError> {
    rebuild_within(runtime, pool, function, DEFAULT_CATCH_UP_TIMEOUT).await
}

/// [`rebuild`], waiting at most `catch_up_timeout` for the catch-up. The mappings are resumed
/// even when a step fails, and stay resumed after a timeout (they go on catching up).
pub async fn rebuild_within(
    runtime: &esm::Runtime,
    pool: &PgPool,
    function: &str,
    catch_up_timeout: Duration,
) -> Result<RebuildReport, RebuildError> {
    let projection =
        projection(function).ok_or_else(|| RebuildError::UnknownProjection(function.to_owned()))?;
    let started = Instant::now();
    runtime.pause(function).await?;
    let before = processed(runtime, function);
    let reset = async {
        projection.reset(pool).await?;
        runtime.rewind(function).await?;
        Ok::<_, RebuildError>(())
    }
    .await;
    runtime.resume(function)?;
    reset?;
    let mut replay_started = None;
    catch_up(runtime, function, catch_up_timeout, || {
        if processed(runtime, function) > before {
            replay_started.get_or_insert_with(Instant::now);
        }
    })
    .await?;
    let report = RebuildReport {
        function: function.to_owned(),
        replayed_records: processed(runtime, function) - before,
        seconds: started.elapsed().as_secs_f64(),
        replay_seconds: replay_started.map_or(0.0, |s| s.elapsed().as_secs_f64()),
    };
    tracing::info!(
        function,
        replayed = report.replayed_records,
        seconds = report.seconds,
        "projection rebuilt"
    );
    Ok(report)
}

#[derive(Clone)]
struct RebuildState {
    runtime: Arc<esm::Runtime>,
    pool: PgPool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RebuildParams {
    /// How long to wait for the catch-up; default [`DEFAULT_CATCH_UP_TIMEOUT`].
    timeout_seconds: Option<u64>,
}

/// `POST /{function}/rebuild[?timeoutSeconds=N]`: rebuilds and answers with the
/// [`RebuildReport`]; 504 with the lag left when the catch-up takes longer than the timeout.
pub fn router(runtime: Arc<esm::Runtime>, pool: PgPool) -> Router {
    Router::new()
        .route(
            "/{function}/rebuild",
            post(
                |State(state): State<RebuildState>,
                 Path(function): Path<String>,
                 Query(params): Query<RebuildParams>| async move {
                    let timeout = params
                        .timeout_seconds
                        .map_or(DEFAULT_CATCH_UP_TIMEOUT, Duration::from_secs);
                    match rebuild_within(&state.runtime, &state.pool, &function, timeout).await {
                        Ok(report) => Ok(Json(report)),
                        Err(e @ RebuildError::UnknownProjection(_)) => {
                            Err((StatusCode::NOT_FOUND, e.to_string()))
                        }
                        Err(e @ RebuildError::CatchUpTimedOut { .. }) => {
                            Err((StatusCode::GATEWAY_TIMEOUT, e.to_string()))
                        }
                        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
                    }
                },
            ),
        )
        .with_state(RebuildState { runtime, pool })
}
