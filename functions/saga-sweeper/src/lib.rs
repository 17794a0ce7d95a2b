//! saga-sweeper: runs on a schedule (EventBridge in the cloud, every few seconds in the local
//! stack) and compensates every booking saga whose current step passed its deadline: the
//! saga goes to COMPENSATING and CancelAppointment is sent with the reason (e.g. "Insurance
//! verification did not answer in time"). Each saga is handled in its own transaction with the
//! saga's optimistic concurrency, so a reply arriving at the same moment wins or loses cleanly,
//! and two sweepers running at once compensate a saga once.

use chrono::{DateTime, Utc};
use domain::saga::{SagaDeadlines, SagaInput};
use messaging::saga::{advance_loaded, Reply};
use messaging::{FunctionContext, HandlerError};

/// Sagas handled per sweep; a longer backlog is taken by the next sweeps.
pub const SWEEP_LIMIT: i64 = 500;

/// Compensates the sagas due at `now`; returns how many were compensated.
pub async fn sweep(
    ctx: &FunctionContext,
    deadlines: &SagaDeadlines,
    now: DateTime<Utc>,
) -> Result<usize, HandlerError> {
    let due = store::saga::due(&mut *ctx.pool.acquire().await?, now, SWEEP_LIMIT).await?;
    let mut compensated = 0;
    for candidate in due {
        let mut tx = ctx.pool.begin().await?;
        // Read again inside the transaction: a reply may have moved the saga since the query.
        let Some(saga) = store::saga::load(&mut tx, candidate.saga_id).await? else {
            continue;
        };
        let Some(deadline) = saga.deadline.filter(|d| *d <= now) else {
            continue;
        };
        let (saga_id, appointment_id) = (saga.saga_id, saga.appointment_id);
        let reply = Reply {
            saga_id,
            appointment_id,
            input: SagaInput::DeadlinePassed,
            detail: Some(format!("deadline {} passed", deadline.to_rfc3339())),
        };
        // Boxed: the orchestrator's future is deep, and the sweeper nests it in a loop.
        match Box::pin(advance_loaded(
            ctx, &mut tx, saga, reply, None, deadlines, now,
        ))
        .await
        {
            Ok(()) => {
                tx.commit().await?;
                compensated += 1;
            }
            Err(e) => {
                tracing::warn!(%saga_id, error = %e, "could not compensate; the next sweep retries")
            }
        }
    }
    if compensated > 0 {
        messaging::Publisher::publish_after_commit(ctx.publisher.as_ref()).await;
    }
    Ok(compensated)
}
