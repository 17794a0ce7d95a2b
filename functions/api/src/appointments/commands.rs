//! Agent commands on one appointment: cancel and complete.
//!
//! Each is applied synchronously on the write side, in one PostgreSQL transaction: the row is
//! locked, the pure domain decides, and the new status, version and the event (in the outbox)
//! are stored together; after commit the outbox rows are published (or left to the relay).
//! A transition the domain refuses changes nothing and answers 409 with the current status.
//!
//! Who asked: the agent of the bearer token, who must work for the appointment's clinic (an
//! appointment elsewhere answers 404, as an unknown one does). The agent's id is logged with
//! the outcome and in the access audit (`store::audit`); the records themselves do not carry it.

use crate::auth::Agent;
use crate::extract::{OptionalStrictJson, StrictJson};
use crate::fields::path_uuid;
use crate::problem::{ApiError, FieldError};
use crate::AppState;
use app::appointments::{self, CommandOutcome};
use app::Cause;
use axum::extract::{MatchedPath, Path, State};
use axum::Json;
use domain::appointment::{CommandKind, DomainError};
use domain::values::CancelReason;
use domain::{AppointmentId, AppointmentStatus};
use serde::{Deserialize, Serialize};
use store::audit::{self, Action, Actor, Outcome};
use utoipa::ToSchema;
use uuid::Uuid;

/// Why the appointment is cancelled, as the agent records it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelAppointmentRequest {
    /// 1 to 500 characters, not only blanks, no control characters. Required.
    #[schema(value_type = String, example = "Patient called to cancel", required = true, max_length = 500, pattern = "\\S")]
    pub reason: Option<String>,
}

impl CancelAppointmentRequest {
    fn validate(&self) -> Result<CancelReason, ApiError> {
        match self.reason.as_deref() {
            None => Err(ApiError::Invalid(vec![FieldError::new(
                "reason",
                "is required",
            )])),
            Some(text) => {
                CancelReason::parse(text).map_err(|e| ApiError::invalid("reason", e.to_string()))
            }
        }
    }
}

/// Completing takes no input; the body may be empty or `{}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteAppointmentRequest {}

/// The appointment after an applied command, straight from the write side.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentCommandResult {
    pub appointment_id: Uuid,
    /// The status after the command: CANCELLED or COMPLETED.
    #[schema(example = "CANCELLED")]
    pub status: String,
    /// The aggregate version after the command.
    pub version: i32,
    /// Present when the appointment was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
}

/// A refused command in words a call-center agent understands, with a stable problem type.
/// Both matches are exhaustive: a new command or status does not compile until it is mapped.
fn refused(error: DomainError) -> ApiError {
    use AppointmentStatus as S;
    use CommandKind as K;
    let (command, from) = match error {
        DomainError::InvalidTransition { command, from } => (command, from),
        DomainError::NotScheduled => {
            return ApiError::NotFound {
                what: "appointment",
                field: None,
            }
        }
        // The API sends neither Schedule nor the saga's commands through this path.
        DomainError::AlreadyScheduled => {
            tracing::error!(%error, "unexpected refusal of an appointment command");
            return ApiError::Internal;
        }
    };
    let (kind, title, detail): (&str, &str, String) = match (command, from) {
        (K::Cancel, S::Completed) => (
            "appointment-completed",
            "A completed appointment cannot be cancelled",
            "This appointment has already taken place and is completed, so it can no longer be \
             cancelled."
                .to_owned(),
        ),
        (K::Cancel, S::Cancelled) => (
            "already-cancelled",
            "The appointment is already cancelled",
            "This appointment was already cancelled; nothing was changed.".to_owned(),
        ),
        (K::Complete, S::Completed) => (
            "already-completed",
            "The appointment is already completed",
            "This appointment was already completed; nothing was changed.".to_owned(),
        ),
        (K::Complete, S::Cancelled) => (
            "appointment-cancelled",
            "A cancelled appointment cannot be completed",
            "This appointment was cancelled, so it cannot be completed.".to_owned(),
        ),
        (K::Complete, S::PendingInsurance | S::AwaitingConfirmation) => (
            "not-confirmed",
            "The appointment must be confirmed first",
            format!(
                "Only a confirmed appointment can be completed; this one is {} ({}).",
                from,
                match from {
                    S::PendingInsurance => "its insurance is still being verified",
                    _ => "it is still waiting for its confirmation",
                }
            ),
        ),
        // What the domain accepts today; should a rule change refuse them, say so plainly.
        (K::Cancel, S::PendingInsurance | S::AwaitingConfirmation | S::Confirmed)
        | (K::Complete, S::Confirmed)
        | (K::Schedule | K::MarkInsuranceVerified | K::Confirm, _) => (
            "invalid-transition",
            "The appointment's status does not allow this change",
            format!("Cannot {command} an appointment that is {from}."),
        ),
    };
    ApiError::TransitionRefused {
        kind,
        title,
        detail,
        appointment_status: from.as_str(),
    }
}

/// What an agent asks of an appointment.
#[derive(Debug, Clone)]
enum AgentCommand {
    Cancel(CancelReason),
    Complete,
}

/// Applies `command` in one transaction with its access-audit entry, commits, then publishes
/// the outbox rows. A refusal is audited too (the agent learnt the appointment's status).
async fn run(
    state: &AppState,
    actor: Actor<'_>,
    agent: &Agent,
    id: AppointmentId,
    command: AgentCommand,
) -> Result<(AppointmentStatus, i32), ApiError> {
    // An appointment never moves to another clinic, so checking before the transaction holds.
    agent.reveal(
        store::appointments::clinic_of(&state.pool, id).await?,
        "appointment",
    )?;
    let mut tx = state.pool.begin().await.map_err(store::StoreError::from)?;
    let (outbox, cause) = (state.outbox(), Cause::agent());
    let outcome = match command {
        AgentCommand::Cancel(reason) => {
            appointments::cancel(&mut tx, outbox, id, reason, cause).await?
        }
        AgentCommand::Complete => appointments::complete(&mut tx, outbox, id, cause).await?,
    };
    let (status, version) = match outcome {
        CommandOutcome::Applied { status, version } => (status, version),
        CommandOutcome::Refused(error) => {
            tracing::info!(appointment_id = %id, agent = %agent.id, %error, "appointment command refused");
            tx.rollback().await.map_err(store::StoreError::from)?;
            audit::append_for_appointment(&state.pool, actor, id, Outcome::Refused).await?;
            return Err(refused(error));
        }
    };
    audit::append_for_appointment(&mut *tx, actor, id, Outcome::Served).await?;
    tx.commit().await.map_err(store::StoreError::from)?;
    messaging::Publisher::publish_for_request(state.publisher.as_ref(), &[id.to_string()]).await;
    tracing::info!(appointment_id = %id, agent = %agent.id, %status, version, "appointment command applied");
    Ok((status, version))
}

/// Cancel an appointment that has not ended yet (any status but COMPLETED or CANCELLED).
///
/// Stores the new status and the AppointmentCancelled event in one transaction.
#[utoipa::path(
    post,
    path = "/api/v1/appointments/{id}/cancel",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "Appointment id")),
    request_body = CancelAppointmentRequest,
    responses(
        (status = 200, description = "Cancelled", body = AppointmentCommandResult),
        (status = 400, description = "Invalid id or reason"),
        (status = 404, description = "Unknown appointment, or not at one of the agent's clinics"),
        (status = 409, description = "Already completed or already cancelled; `appointmentStatus` names the current status"),
    )
)]
pub async fn cancel_appointment(
    State(state): State<AppState>,
    agent: Agent,
    route: MatchedPath,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<CancelAppointmentRequest>,
) -> Result<Json<AppointmentCommandResult>, ApiError> {
    let id = AppointmentId(path_uuid(&id, "id")?);
    let reason = body.validate()?;
    let cancel_reason = reason.as_str().to_owned();
    let actor = agent.actor(Action::AppointmentCancel, &route);
    let (status, version) = run(&state, actor, &agent, id, AgentCommand::Cancel(reason)).await?;
    Ok(Json(AppointmentCommandResult {
        appointment_id: id.0,
        status: status.as_str().to_owned(),
        version,
        cancel_reason: Some(cancel_reason),
    }))
}

/// Mark a CONFIRMED appointment as completed (the exam took place).
///
/// Stores the new status and the AppointmentCompleted event in one transaction. The body may be
/// empty or `{}`.
#[utoipa::path(
    post,
    path = "/api/v1/appointments/{id}/complete",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "Appointment id")),
    request_body(content = Option<CompleteAppointmentRequest>, description = "Optional; empty or `{}`"),
    responses(
        (status = 200, description = "Completed", body = AppointmentCommandResult),
        (status = 400, description = "Invalid id or body"),
        (status = 404, description = "Unknown appointment, or not at one of the agent's clinics"),
        (status = 409, description = "Not confirmed yet, cancelled or already completed; `appointmentStatus` names the current status"),
    )
)]
pub async fn complete_appointment(
    State(state): State<AppState>,
    agent: Agent,
    route: MatchedPath,
    Path(id): Path<String>,
    OptionalStrictJson(_body): OptionalStrictJson<CompleteAppointmentRequest>,
) -> Result<Json<AppointmentCommandResult>, ApiError> {
    let id = AppointmentId(path_uuid(&id, "id")?);
    let actor = agent.actor(Action::AppointmentComplete, &route);
    let (status, version) = run(&state, actor, &agent, id, AgentCommand::Complete).await?;
    Ok(Json(AppointmentCommandResult {
        appointment_id: id.0,
        status: status.as_str().to_owned(),
        version,
        cancel_reason: None,
    }))
}
