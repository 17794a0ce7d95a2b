//! Call-center call routes: an agent starts a call for a clinic and ends it with its outcome.
//! Each is one transaction on the write side with its CallStarted / CallEnded record in the
//! outbox; project-calls turns the records into the call metrics. The agent is the bearer
//! token's subject; a call is ended by the agent who started it, or by a supervisor.

use crate::auth::Agent;
use crate::extract::StrictJson;
use crate::fields::{path_uuid, uuid_field};
use crate::problem::{ApiError, FieldError};
use crate::AppState;
use app::calls::EndCallError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use contract::CallOutcome;
use domain::{AppointmentId, CallId, ClinicId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartCallRequest {
    /// The clinic the caller is calling about (UUID). Required.
    #[schema(value_type = String, format = Uuid, required = true)]
    pub clinic_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallStartedView {
    pub call_id: Uuid,
    pub clinic_id: Uuid,
    pub agent_id: String,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndCallRequest {
    /// BOOKED, RESCHEDULED, CANCELLED, INFORMATION or ABANDONED. Required.
    #[schema(schema_with = crate::schemas::call_outcome, required = true)]
    pub outcome: Option<String>,
    /// The appointment booked, changed or cancelled in the call; required when BOOKED.
    #[schema(format = Uuid)]
    pub appointment_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallEndedView {
    pub call_id: Uuid,
    #[schema(example = "BOOKED")]
    pub outcome: String,
    pub appointment_id: Option<Uuid>,
    pub ended_at: DateTime<Utc>,
    /// Seconds from start to end.
    pub handle_seconds: f64,
}

impl EndCallRequest {
    fn validate(&self) -> Result<(CallOutcome, Option<AppointmentId>), ApiError> {
        let mut errors = Vec::new();
        let outcome = match self.outcome.as_deref() {
            None => {
                errors.push(FieldError::new("outcome", "is required"));
                None
            }
            Some(o) => o
                .parse::<CallOutcome>()
                .map_err(|e| errors.push(FieldError::new("outcome", e.to_string())))
                .ok(),
        };
        let appointment = uuid_field(self.appointment_id.as_deref(), "appointmentId", &mut errors)
            .map(AppointmentId);
        if outcome == Some(CallOutcome::Booked) && self.appointment_id.is_none() {
            errors.push(FieldError::new(
                "appointmentId",
                "is required when the outcome is BOOKED",
            ));
        }
        match outcome {
            Some(outcome) if errors.is_empty() => Ok((outcome, appointment)),
            _ => Err(ApiError::Invalid(errors)),
        }
    }
}

/// Start a call for one of the agent's clinics.
#[utoipa::path(
    post,
    path = "/api/v1/calls",
    tag = "calls",
    request_body = StartCallRequest,
    responses(
        (status = 201, description = "Started", body = CallStartedView),
        (status = 400, description = "Invalid fields"),
        (status = 403, description = "Not one of the agent's clinics"),
    )
)]
pub async fn start_call(
    State(state): State<AppState>,
    agent: Agent,
    StrictJson(body): StrictJson<StartCallRequest>,
) -> Result<(StatusCode, Json<CallStartedView>), ApiError> {
    let mut errors = Vec::new();
    let clinic = match body.clinic_id.as_deref() {
        None => {
            errors.push(FieldError::new("clinicId", "is required"));
            None
        }
        some => uuid_field(some, "clinicId", &mut errors).map(ClinicId),
    };
    let clinic = clinic.ok_or(ApiError::Invalid(errors))?;
    agent.require(clinic, "clinicId")?;
    let mut tx = state.pool.begin().await.map_err(store::StoreError::from)?;
    let outbox = state.outbox();
    let started = app::calls::start_call(&mut tx, outbox, clinic, &agent.id, Utc::now()).await?;
    tx.commit().await.map_err(store::StoreError::from)?;
    messaging::Publisher::publish_for_request(
        state.publisher.as_ref(),
        &[started.call_id.to_string()],
    )
    .await;
    tracing::info!(call_id = %started.call_id, agent = %agent.id, "call started");
    Ok((
        StatusCode::CREATED,
        Json(CallStartedView {
            call_id: started.call_id.0,
            clinic_id: clinic.0,
            agent_id: started.agent_id,
            started_at: started.occurred_at,
        }),
    ))
}

/// End a call once, with its outcome.
#[utoipa::path(
    post,
    path = "/api/v1/calls/{id}/end",
    tag = "calls",
    params(("id" = Uuid, Path, description = "Call id")),
    request_body = EndCallRequest,
    responses(
        (status = 200, description = "Ended", body = CallEndedView),
        (status = 400, description = "Invalid fields"),
        (status = 403, description = "The call was started by another agent (only they or a supervisor may end it)"),
        (status = 404, description = "Unknown call (or not at one of the agent's clinics), or unknown appointment at the call's clinic"),
        (status = 409, description = "The call has already ended"),
    )
)]
pub async fn end_call(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<EndCallRequest>,
) -> Result<Json<CallEndedView>, ApiError> {
    let call = CallId(path_uuid(&id, "id")?);
    let (outcome, appointment) = body.validate()?;
    // A call never moves to another clinic or agent, so checking before the transaction holds.
    let started = store::calls::call_clinic_and_agent(&state.pool, call).await?;
    agent.reveal(started.as_ref().map(|(clinic, _)| *clinic), "call")?;
    if started.is_some_and(|(_, by)| by != agent.id) && !agent.supervisor {
        return Err(ApiError::NotPermitted(
            "Only the agent who started this call, or a supervisor, may end it",
        ));
    }
    let mut tx = state.pool.begin().await.map_err(store::StoreError::from)?;
    let (ended, started_at) = app::calls::end_call(
        &mut tx,
        state.outbox(),
        call,
        outcome,
        appointment,
        Utc::now(),
    )
    .await
    .map_err(|e| match e {
        EndCallError::UnknownCall => ApiError::NotFound {
            what: "call",
            field: None,
        },
        EndCallError::AlreadyEnded { outcome } => ApiError::Conflict {
            kind: "call-already-ended",
            detail: format!("This call has already ended ({outcome}); nothing was changed."),
        },
        EndCallError::UnknownAppointment => ApiError::NotFound {
            what: "appointment at the call's clinic",
            field: Some("appointmentId"),
        },
        EndCallError::Failed(e) => e.into(),
    })?;
    tx.commit().await.map_err(store::StoreError::from)?;
    messaging::Publisher::publish_for_request(state.publisher.as_ref(), &[call.to_string()]).await;
    tracing::info!(call_id = %call, agent = %agent.id, %outcome, "call ended");
    Ok(Json(CallEndedView {
        call_id: call.0,
        outcome: outcome.as_str().to_owned(),
        appointment_id: appointment.map(|a| a.0),
        ended_at: ended.occurred_at,
        handle_seconds: (ended.occurred_at - started_at).num_milliseconds() as f64 / 1000.0,
    }))
}
