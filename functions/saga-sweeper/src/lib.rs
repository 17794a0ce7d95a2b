//! saga-sweeper: runs on a schedule (EventBridge in the cloud, every few seconds in the local
//! stack) and compensates every booking saga whose current step passed its deadline: the
//! saga goes to COMPENSATING and CancelAppointment is sent with the reason (e.g. "Insurance
//! verification did not answer in time"). Each saga is handled in its own transaction with the
//! saga's optimistic concurrency, so a reply arriving at the same moment wins or loses cleanly,
//! and two sweepers running at once compensate a saga once.
//!
//! A saga in SENDING_CONFIRMATION whose email send-confirmation has already claimed is not
//! compensated: the email may have gone out, so the booking goes ahead (COMPLETED, with
//! ConfirmAppointment). The saga row stays locked from the read to the commit, and a claim
//! checks the saga's step under that lock, so a claim and a compensation never both happen.

use app::saga::{advance_loaded, Reply};
use app::Cause;
use chrono::{DateTime, Utc};
use domain::saga::{SagaDeadlines, SagaInput, SagaStep};
use messaging::{FunctionContext, HandlerError};

/// Sagas handled per sweep; a longer backlog is taken by the next sweeps.
pub const SWEEP_LIMIT: i64 = 500;

/// Moves on the sagas due at `now` (compensated, or gone ahead with a claimed email); returns
/// how many.
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
        let Some(saga) = store::saga::load_for_update(&mut tx, candidate.saga_id).await? else {
            continue;
        };
        let Some(deadline) = saga.deadline.filter(|d| *d <= now) else {
            continue;
        };
        let (saga_id, appointment_id) = (saga.saga_id, saga.appointment_id);
        let email_claimed = saga.step == SagaStep::SendingConfirmation
            && store::notifications::claimed(&mut tx, saga_id).await?;
        let mut detail = format!("deadline {} passed", deadline.to_rfc3339());
        if email_claimed {
            detail.push_str(" with the confirmation email claimed (sent, or its outcome unknown)");
        }
        let reply = Reply {
            saga_id,
            appointment_id,
            input: SagaInput::DeadlinePassed { email_claimed },
            detail: Some(detail),
        };
        // Boxed: the orchestrator's future is deep, and the sweeper nests it in a loop.
        let cause = Cause {
            causation: None,
            now,
        };
        match Box::pin(advance_loaded(
            ctx.outbox(),
            &mut tx,
            saga,
            reply,
            cause,
            deadlines,
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
