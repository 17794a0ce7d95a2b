//! The booking saga's orchestrator, shared by the saga step functions (one per reply topic) and
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

use crate::adapter::{FunctionContext, HandlerError, KafkaFunction};
use crate::config::{ConfigError, Env};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use contract::{
    AppointmentCreated, CancelAppointment, ConfirmAppointment, Record, SendConfirmation,
    VerifyInsurance,
};
use domain::appointment::{AppointmentCommand, DomainError};
use domain::saga::{Saga, SagaAction, SagaDeadlines, SagaInput, SagaOutcome, SagaStep};
use domain::{AppointmentId, EventId, SagaId};
use sqlx::PgConnection;
use store::appointments::{apply_command, load_for_update, CommandOutcome};
use store::outbox::{self, OutboxRecord};
use store::saga::{TimelineEntry, TimelineOutcome};
use store::StoreError;
use uuid::Uuid;

/// Step deadlines from `SAGA_INSURANCE_DEADLINE_SECONDS` (default 300) and
/// `SAGA_CONFIRMATION_DEADLINE_SECONDS` (default 600), whole seconds of at least 1.
pub fn deadlines_from_env(env: &Env) -> Result<SagaDeadlines, ConfigError> {
    let defaults = SagaDeadlines::default();
    let seconds = |name: &'static str, default: Duration| {
        env.positive(name)
            .map(|set| set.map_or(default, |seconds| Duration::seconds(i64::from(seconds))))
    };
    Ok(SagaDeadlines {
        insurance_verification: seconds(
            "SAGA_INSURANCE_DEADLINE_SECONDS",
            defaults.insurance_verification,
        )?,
        sending_confirmation: seconds(
            "SAGA_CONFIRMATION_DEADLINE_SECONDS",
            defaults.sending_confirmation,
        )?,
    })
}

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
    ctx: &FunctionContext,
    tx: &mut PgConnection,
    created: &AppointmentCreated,
    deadlines: &SagaDeadlines,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    let (saga, actions) = Saga::start(created.saga_id, created.appointment_id, now, deadlines);
    let causation = Some(Record::event_id(created));
    let input = "AppointmentCreated";
    if !store::saga::insert(tx, &saga, now).await? {
        // No saga of this id, yet the insert found one: another saga runs for the appointment.
        let existing = store::saga::load(tx, saga.saga_id)
            .await?
            .ok_or(HandlerError::SagaMismatch)?;
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
    match send(ctx, tx, &saga, &actions, causation, now).await? {
        Sent::Commands(sent) => note(tx, &saga, input, TimelineOutcome::Applied, sent, now).await,
        Sent::Refused(refused) => Err(HandlerError::Refused(refused)),
    }
}

/// Applies a reply to its saga. `causation` is the reply's event id.
pub async fn advance(
    ctx: &FunctionContext,
    tx: &mut PgConnection,
    reply: Reply,
    causation: Option<EventId>,
    deadlines: &SagaDeadlines,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
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
            _ => Err(HandlerError::NotFound("saga")),
        };
    };
    advance_loaded(ctx, tx, saga, reply, causation, deadlines, now).await
}

/// Applies a reply to a saga the caller has already loaded (the sweeper checks its deadline).
pub async fn advance_loaded(
    ctx: &FunctionContext,
    tx: &mut PgConnection,
    saga: Saga,
    reply: Reply,
    causation: Option<EventId>,
    deadlines: &SagaDeadlines,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    let input = reply.input.name();
    if saga.appointment_id != reply.appointment_id {
        return Err(HandlerError::SagaMismatch);
    }
    let ignored = match saga.advance(&reply.input, now, deadlines) {
        SagaOutcome::Ignored { step } => format!("does not fit step {step}"),
        SagaOutcome::Advanced {
            saga: next,
            actions,
        } => match send(ctx, tx, &next, &actions, causation, now).await? {
            Sent::Refused(refused) => refused.to_string(),
            Sent::Commands(sent) => {
                if !store::saga::save(tx, &next, now).await? {
                    return Err(HandlerError::SagaChanged(saga.saga_id));
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
) -> Result<(), HandlerError> {
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
    ctx: &FunctionContext,
    tx: &mut PgConnection,
    saga: &Saga,
    actions: &[SagaAction],
    causation: Option<EventId>,
    now: DateTime<Utc>,
) -> Result<Sent, HandlerError> {
    let (appointment_id, saga_id) = (saga.appointment_id, saga.saga_id);
    // The records' schemas, looked up before the appointment's row lock is taken below, so a
    // cold registry call never holds it.
    for action in actions {
        ctx.registry
            .version_id(action.name())
            .await
            .map_err(|e| StoreError::from(contract::EncodeError::from(e)))?;
    }
    let mut records = Vec::with_capacity(actions.len());
    for action in actions {
        let name = action.name();
        let key = format!("{}/{name}", saga.version);
        let event_id = EventId(Uuid::new_v5(&saga_id.0, key.as_bytes()));
        let registry = &ctx.registry;
        let record = match action {
            SagaAction::VerifyInsurance => {
                let appointment = load_for_update(tx, appointment_id)
                    .await?
                    .ok_or(HandlerError::NotFound("appointment"))?;
                let booking = appointment.booking;
                let command = VerifyInsurance {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    saga_id,
                    patient_id: booking.patient_id,
                    clinic_id: booking.clinic_id,
                    scheduled_for: booking.scheduled_for,
                    r#type: booking.kind,
                };
                OutboxRecord::encode(registry, &command, causation).await?
            }
            SagaAction::SendConfirmation => {
                let verified = AppointmentCommand::MarkInsuranceVerified;
                match apply_command(tx, registry, appointment_id, verified, causation, now).await? {
                    CommandOutcome::Applied { .. } => {}
                    CommandOutcome::Refused(refused) => return Ok(Sent::Refused(refused)),
                }
                let command = SendConfirmation {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    saga_id,
                };
                OutboxRecord::encode(registry, &command, causation).await?
            }
            SagaAction::ConfirmAppointment => {
                let command = ConfirmAppointment {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    saga_id,
                };
                OutboxRecord::encode(registry, &command, causation).await?
            }
            SagaAction::CancelAppointment { reason } => {
                let command = CancelAppointment {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    saga_id,
                    reason: reason.as_str().to_owned(),
                    requested_by: CancelAppointment::REQUESTED_BY_SAGA.to_owned(),
                };
                OutboxRecord::encode(registry, &command, causation).await?
            }
        };
        records.push(record);
    }
    outbox::append(tx, &records).await?;
    let names: Vec<&str> = actions.iter().map(SagaAction::name).collect();
    Ok(Sent::Commands(
        (!names.is_empty()).then(|| format!("sent {}", names.join(", "))),
    ))
}

/// What one saga reply function adds: its name, its record, and the reply it carries.
pub trait SagaReplySpec: Send + Sync + 'static {
    const NAME: &'static str;
    type Record: Record;
    fn reply(record: &Self::Record) -> Reply;
}

/// A Kafka function feeding one reply topic to the orchestrator.
#[derive(Debug, Clone, Copy)]
pub struct SagaReplyFn<S> {
    pub spec: S,
    pub deadlines: SagaDeadlines,
}

impl<S: Default> SagaReplyFn<S> {
    pub fn new(deadlines: SagaDeadlines) -> Self {
        Self {
            spec: S::default(),
            deadlines,
        }
    }
}

#[async_trait]
impl<S: SagaReplySpec> KafkaFunction for SagaReplyFn<S> {
    const NAME: &'static str = S::NAME;
    type Input = S::Record;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        input: Self::Input,
    ) -> Result<(), HandlerError> {
        let reply = S::reply(&input);
        let causation = Some(Record::event_id(&input));
        advance(ctx, tx, reply, causation, &self.deadlines, Utc::now()).await
    }
}
