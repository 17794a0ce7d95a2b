//! The booking saga's orchestrator, used by the saga step functions (one per reply topic) and
//! the saga-sweeper: load the saga, let `domain::saga` decide, send the next command through
//! the outbox, save the saga with optimistic concurrency, and note the input on the timeline,
//! all in the caller's transaction.
//!
//! - A reply that does not fit the current step (a duplicate with a new event id, a late
//!   reply, one for a closed saga) is noted on the timeline as IGNORED and changes nothing.
//! - If another step advanced the saga between our read and our write, `store::saga::save`
//!   finds a newer version: the step fails with a retryable error, its transaction rolls back, and the
//!   event-source mapping redelivers the reply, which is then decided against the new state.
//! - Commands the saga sends have event ids derived from (saga, version, command), so a step
//!   that is retried after a crash re-sends the same ids and the outbox keeps one of each.
//! - Sending SendConfirmation also moves the appointment to AWAITING_CONFIRMATION (the
//!   appointment aggregate's MarkInsuranceVerified), in the same transaction: no topic carries
//!   that command. If the appointment refuses (an agent cancelled it meanwhile), the saga does
//!   not advance; the AppointmentCancelled reply closes it.

use crate::appointments::{self, CommandOutcome};
use crate::{Cause, Error, Outbox};
use chrono::{DateTime, Utc};
use contract::AppointmentCreated;
use contract::Record;
use domain::appointment::DomainError;
use domain::saga::{Saga, SagaAction, SagaDeadlines, SagaInput, SagaOutcome, SagaStep};
use domain::{AppointmentId, SagaId};
use sqlx::PgConnection;
use store::saga::{TimelineEntry, TimelineOutcome};

/// A reply reaching the orchestrator, with what the timeline should say about it (no PHI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub saga_id: SagaId,
    pub appointment_id: AppointmentId,
    pub input: SagaInput,
    pub detail: Option<String>,
}

/// AppointmentCreated starts the saga and sends VerifyInsurance. A saga that already exists
/// (closed by an early AppointmentCancelled, or a re-published AppointmentCreated) is left alone.
pub async fn start(
    outbox: Outbox<'_>,
    tx: &mut PgConnection,
    created: &AppointmentCreated,
    deadlines: &SagaDeadlines,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let (saga, actions) = Saga::start(created.saga_id, created.appointment_id, now, deadlines);
    let cause = Cause {
        causation: Some(Record::event_id(created)),
        now,
    };
    let input = "AppointmentCreated";
    if !store::saga::insert(tx, &saga, now).await? {
        // No saga of this id, yet the insert found one: another saga runs for the appointment.
        let existing = store::saga::load(tx, saga.saga_id)
            .await?
            .ok_or(Error::SagaMismatch)?;
        let detail = "the saga already exists".to_owned();
        return note(
            tx,
            &existing,
            input,
            TimelineOutcome::Ignored,
            Some(detail),
            now,
        )
        .await;
    }
    match send(outbox, tx, &saga, &actions, cause).await? {
        Sent::Commands(sent) => note(tx, &saga, input, TimelineOutcome::Applied, sent, now).await,
        Sent::Refused(refused) => Err(Error::Refused(refused)),
    }
}

/// Applies a reply to its saga; `cause` names the reply's record.
pub async fn advance(
    outbox: Outbox<'_>,
    tx: &mut PgConnection,
    reply: Reply,
    cause: Cause,
    deadlines: &SagaDeadlines,
) -> Result<(), Error> {
    let now = cause.now;
    let Some(saga) = store::saga::load(tx, reply.saga_id).await? else {
        return match reply.input {
            // The agent cancelled before the saga started: record it closed, so the late
            // AppointmentCreated finds it and sends nothing.
            SagaInput::AppointmentCancelled => {
                let closed = Saga {
                    saga_id: reply.saga_id,
                    appointment_id: reply.appointment_id,
                    step: SagaStep::Cancelled,
                    version: 1,
                    deadline: None,
                };
                store::saga::insert(tx, &closed, now).await?;
                let name = reply.input.name();
                note(
                    tx,
                    &closed,
                    name,
                    TimelineOutcome::Applied,
                    reply.detail,
                    now,
                )
                .await
            }
            _ => Err(Error::NotFound("saga")),
        };
    };
    advance_loaded(outbox, tx, saga, reply, cause, deadlines).await
}

/// Applies a reply to a saga the caller has already loaded (the sweeper checks its deadline).
pub async fn advance_loaded(
    outbox: Outbox<'_>,
    tx: &mut PgConnection,
    saga: Saga,
    reply: Reply,
    cause: Cause,
    deadlines: &SagaDeadlines,
) -> Result<(), Error> {
    let (input, now) = (reply.input.name(), cause.now);
    if saga.appointment_id != reply.appointment_id {
        return Err(Error::SagaMismatch);
    }
    let ignored = match saga.advance(&reply.input, now, deadlines) {
        SagaOutcome::Ignored { step } => format!("does not fit step {step}"),
        SagaOutcome::Advanced {
            saga: next,
            actions,
        } => match send(outbox, tx, &next, &actions, cause).await? {
            Sent::Refused(refused) => refused.to_string(),
            Sent::Commands(sent) => {
                if !store::saga::save(tx, &next, now).await? {
                    return Err(Error::SagaChanged(saga.saga_id));
                }
                let detail = join(reply.detail, sent);
                return note(tx, &next, input, TimelineOutcome::Applied, detail, now).await;
            }
        },
    };
    let detail = join(reply.detail, Some(ignored));
    note(tx, &saga, input, TimelineOutcome::Ignored, detail, now).await
}

/// "first; second", or whichever is present.
fn join(first: Option<String>, second: Option<String>) -> Option<String> {
    match (first, second) {
        (Some(first), Some(second)) => Some(format!("{first}; {second}")),
        (first, second) => first.or(second),
    }
}

async fn note(
    tx: &mut PgConnection,
    saga: &Saga,
    input: &str,
    outcome: TimelineOutcome,
    detail: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let entry = TimelineEntry {
        input: input.to_owned(),
        outcome,
        step: saga.step,
        detail,
        occurred_at: now,
    };
    Ok(store::saga::append_timeline(tx, saga.saga_id, &entry).await?)
}

/// What sending a saga's next commands came to.
enum Sent {
    /// The commands are in the outbox; what was sent, for the timeline.
    Commands(Option<String>),
    /// The appointment refused the move that sending requires; nothing was sent.
    Refused(DomainError),
}

/// Puts the saga's next commands in the outbox.
async fn send(
    outbox: Outbox<'_>,
    tx: &mut PgConnection,
    saga: &Saga,
    actions: &[SagaAction],
    cause: Cause,
) -> Result<Sent, Error> {
    if actions.is_empty() {
        return Ok(Sent::Commands(None));
    }
    // The records' schemas, looked up before the appointment's row lock is taken below, so a
    // cold registry call never holds it.
    outbox.prepare(actions.iter().map(SagaAction::name)).await?;
    let mut records = Vec::with_capacity(actions.len());
    for action in actions {
        let booking = match action {
            SagaAction::VerifyInsurance => {
                let appointment = store::appointments::load_for_update(tx, saga.appointment_id)
                    .await?
                    .ok_or(Error::NotFound("appointment"))?;
                Some(appointment.booking)
            }
            SagaAction::SendConfirmation => {
                let verified =
                    appointments::mark_insurance_verified(tx, outbox, saga.appointment_id, cause);
                if let CommandOutcome::Refused(refused) = verified.await? {
                    return Ok(Sent::Refused(refused));
                }
                None
            }
            SagaAction::ConfirmAppointment | SagaAction::CancelAppointment { .. } => None,
        };
        let record = outbox.saga_command(saga, action, booking.as_ref(), cause);
        records.push(record.await?);
    }
    store::outbox::append(tx, &records).await?;
    let names: Vec<&str> = actions.iter().map(SagaAction::name).collect();
    Ok(Sent::Commands(Some(format!("sent {}", names.join(", ")))))
}
