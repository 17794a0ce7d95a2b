//! Rebuilding a projection from its topics, on the running local stack: pause the function's
//! mappings, empty its tables and markers, rewind its consumer groups to the earliest offsets,
//! resume, and wait until it has caught up. Served at `POST /_local/projections/{function}/rebuild`
//! and run by `clinic-local rebuild`.
//!
//! In AWS the same steps are: disable the function's event-source mappings, run the reset
//! (`store::projections::Projection::reset`) against Aurora, reset the consumer groups to the
//! earliest offsets (`kafka-consumer-groups --reset-offsets --to-earliest`), enable the
//! mappings again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::projections::{projection, PROJECTIONS};

/// What a rebuild did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildReport {
    pub function: String,
    /// Records the function processed while catching up.
    pub replayed_records: u64,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("no projection is written by `{0}`; projections: {known}", known = PROJECTIONS.map(|p| p.function).join(", "))]
    UnknownProjection(String),
    #[error(transparent)]
    Runtime(#[from] esm::EsmError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

fn processed(runtime: &esm::Runtime, function: &str) -> u64 {
    runtime
        .status()
        .iter()
        .filter(|m| m.function == function)
        .map(|m| m.processed_records)
        .sum()
}

/// Rebuilds the projection written by `function` and returns once it has caught up with its
/// topics. The mappings are resumed even when a step fails.
pub async fn rebuild(
    runtime: &esm::Runtime,
    pool: &PgPool,
    function: &str,
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
    while runtime.lag(function).await? > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = RebuildReport {
        function: function.to_owned(),
        replayed_records: processed(runtime, function) - before,
        seconds: started.elapsed().as_secs_f64(),
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

/// `POST /{function}/rebuild`: rebuilds and answers with the [`RebuildReport`].
pub fn router(runtime: Arc<esm::Runtime>, pool: PgPool) -> Router {
    Router::new()
        .route(
            "/{function}/rebuild",
            post(
                |State(state): State<RebuildState>, Path(function): Path<String>| async move {
                    match rebuild(&state.runtime, &state.pool, &function).await {
                        Ok(report) => Ok(Json(report)),
                        Err(e @ RebuildError::UnknownProjection(_)) => {
                            Err((StatusCode::NOT_FOUND, e.to_string()))
                        }
                        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
                    }
                },
            ),
        )
        .with_state(RebuildState { runtime, pool })
}
