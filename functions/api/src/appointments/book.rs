//! `POST /api/v1/appointments`: book (write side, 202 + saga), safe to retry with an
//! `Idempotency-Key`; the booking is recorded in the access audit in its transaction.

use crate::auth::Agent;
use crate::extract::{IdempotencyKey, StrictJson};
use crate::fields::{required, uuid_field};
use crate::problem::{ApiError, FieldError};
use crate::AppState;
use app::booking::{book, BookingError, RequestedStart, ScheduleRequest};
use axum::extract::{MatchedPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use domain::clinic::SlotError;
use domain::values::Notes;
use domain::{AppointmentId, AppointmentType, ClinicId, PatientId, ProviderId, SagaId};
use serde::{Deserialize, Serialize};
use store::audit::{self, Action, Outcome};
use store::idempotency::{self, Claim};
use utoipa::ToSchema;
use uuid::Uuid;

/// A booking as an agent submits it. Fields are read as text and validated together, so one
/// answer names every invalid field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BookAppointmentRequest {
    /// Clinic id (UUID). Required.
    #[schema(value_type = String, format = Uuid, required = true)]
    pub clinic_id: Option<String>,
    /// Patient id (UUID). Required.
    #[schema(value_type = String, format = Uuid, required = true)]
    pub patient_id: Option<String>,
    /// Optometrist id (UUID). Omit to let the clinic's least busy free provider take it.
    #[schema(format = Uuid)]
    pub provider_id: Option<String>,
    /// Start: clinic-local `2026-11-23T09:30`, or RFC 3339 with an offset; on a whole minute,
    /// and not in a daylight-saving gap or overlap of the clinic's time zone. Required.
    #[schema(schema_with = crate::schemas::booking_start, required = true)]
    pub date_time: Option<String>,
    /// ROUTINE, FOLLOW_UP, EMERGENCY or CONTACT_LENS. Required.
    #[serde(rename = "type")]
    #[schema(schema_with = crate::schemas::appointment_type, required = true)]
    pub kind: Option<String>,
    /// Up to 1000 characters, no control characters but newlines and tabs.
    #[schema(max_length = 1000)]
    pub notes: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingAccepted {
    pub appointment_id: Uuid,
    pub saga_id: Uuid,
    /// Always PROCESSING: the saga decides CONFIRMED or CANCELLED; poll the appointment.
    #[schema(example = "PROCESSING")]
    pub status: &'static str,
}

impl BookAppointmentRequest {
    /// The request as its idempotency key compares it: every field, blanks around each trimmed.
    fn canonical(&self) -> String {
        let fields = [
            &self.clinic_id,
            &self.patient_id,
            &self.provider_id,
            &self.date_time,
            &self.kind,
            &self.notes,
        ]
        .map(|f| f.as_deref().map(str::trim));
        serde_json::to_string(&fields).unwrap_or_default()
    }

    /// Checks every field; returns the request for the use case, or all field errors at once.
    fn validate(&self) -> Result<ScheduleRequest, ApiError> {
        let mut errors = Vec::new();
        let clinic = uuid_field(
            required(&self.clinic_id, "clinicId", &mut errors),
            "clinicId",
            &mut errors,
        );
        let patient = uuid_field(
            required(&self.patient_id, "patientId", &mut errors),
            "patientId",
            &mut errors,
        );
        let provider = uuid_field(self.provider_id.as_deref(), "providerId", &mut errors);
        let date_time = required(&self.date_time, "dateTime", &mut errors);
        let kind = required(&self.kind, "type", &mut errors).and_then(|k| {
            k.parse::<AppointmentType>()
                .map_err(|e| errors.push(FieldError::new("type", e.to_string())))
                .ok()
        });
        let notes = match self.notes.as_deref() {
            None => None,
            Some(n) => Notes::parse(n)
                .map_err(|e| errors.push(FieldError::new("notes", e.to_string())))
                .ok(),
        };
        match (clinic, patient, date_time, kind) {
            (Some(clinic), Some(patient), Some(date_time), Some(kind)) if errors.is_empty() => {
                Ok(ScheduleRequest {
                    appointment_id: AppointmentId::new(),
                    saga_id: SagaId::new(),
                    clinic_id: ClinicId(clinic),
                    patient_id: PatientId(patient),
                    provider_id: provider.map(ProviderId),
                    start: RequestedStart::Text(date_time.to_owned()),
                    kind,
                    notes: notes.filter(|n| !n.as_str().is_empty()),
                    causation: None,
                })
            }
            _ => Err(ApiError::Invalid(errors)),
        }
    }
}

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        match e {
            BookingError::UnknownClinic => ApiError::NotFound {
                what: "clinic",
                field: Some("clinicId"),
            },
            BookingError::UnknownPatient => ApiError::NotFound {
                what: "patient",
                field: Some("patientId"),
            },
            BookingError::UnknownProvider => ApiError::NotFound {
                what: "provider at this clinic",
                field: Some("providerId"),
            },
            BookingError::InvalidStart(reason) => ApiError::invalid("dateTime", reason.to_string()),
            BookingError::Slot(rule) => ApiError::Unprocessable {
                field: "dateTime",
                detail: match rule {
                    SlotError::InPast => "The appointment time is in the past.".to_owned(),
                    SlotError::TooFarAhead => {
                        "The appointment time is more than two years ahead.".to_owned()
                    }
                    other => format!("Outside opening hours: {other}."),
                },
            },
            BookingError::SlotTaken => ApiError::Conflict {
                kind: "slot-taken",
                detail: "That time is already booked for the provider; pick another slot."
                    .to_owned(),
            },
            BookingError::AlreadyExists => ApiError::Conflict {
                kind: "already-exists",
                detail: "This appointment already exists.".to_owned(),
            },
            BookingError::Failed(e) => e.into(),
        }
    }
}

/// Book an eye exam. Stores the appointment and its AppointmentCreated event in one transaction
/// and starts the booking saga.
///
/// Safe to retry with an `Idempotency-Key`: the same key and body (from the same agent) within
/// 24 hours answer the first booking's 202 again and book nothing; the same key with another
/// body is refused with 422. Without a key, every request books.
#[utoipa::path(
    post,
    path = "/api/v1/appointments",
    tag = "appointments",
    request_body = BookAppointmentRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
         description = "Makes the booking safe to retry: 1 to 255 visible ASCII characters, e.g. a UUID. The same key and body within 24 hours answer the first booking again."),
    ),
    responses(
        (status = 202, description = "Accepted; the saga is running (or was started by an earlier request with this Idempotency-Key and body)", body = BookingAccepted),
        (status = 400, description = "Invalid fields or Idempotency-Key"),
        (status = 403, description = "Not one of the agent's clinics"),
        (status = 404, description = "Unknown clinic, patient or provider"),
        (status = 409, description = "The slot is taken"),
        (status = 422, description = "In the past or outside opening hours; or the Idempotency-Key was used for another request"),
    )
)]
pub async fn book_appointment(
    State(state): State<AppState>,
    agent: Agent,
    route: MatchedPath,
    IdempotencyKey(key): IdempotencyKey,
    StrictJson(body): StrictJson<BookAppointmentRequest>,
) -> Result<Response, ApiError> {
    let request = body.validate()?;
    agent.require(request.clinic_id, "clinicId")?;
    let actor = agent.actor(Action::AppointmentBook, &route);
    let (clinic, patient) = (request.clinic_id, request.patient_id);
    let mut tx = state.pool.begin().await.map_err(store::StoreError::from)?;
    if let Some(key) = &key {
        let claim = idempotency::claim(
            &mut tx,
            &agent.id,
            key,
            &body.canonical(),
            request.appointment_id,
            request.saga_id,
        )
        .await?;
        match claim {
            Claim::New => {}
            Claim::Replay {
                appointment_id,
                saga_id,
            } => {
                // The agent is shown the booking again: audited as a booking served.
                audit::append_for_appointment(&mut *tx, actor, appointment_id, Outcome::Served)
                    .await?;
                tx.commit().await.map_err(store::StoreError::from)?;
                tracing::info!(%appointment_id, agent = %agent.id, "booking replayed for its idempotency key");
                return Ok(accepted(appointment_id, saga_id));
            }
            Claim::Reused => return Err(ApiError::KeyReused),
        }
    }
    let outbox = state.outbox();
    let scheduled = book(&mut tx, outbox, request, Utc::now()).await?;
    let booked = [scheduled.appointment_id];
    audit::append(
        &mut *tx,
        actor,
        &[clinic],
        &[patient],
        &booked,
        Outcome::Served,
    )
    .await?;
    tx.commit().await.map_err(store::StoreError::from)?;
    messaging::Publisher::publish_for_request(
        state.publisher.as_ref(),
        &[scheduled.appointment_id.to_string()],
    )
    .await;
    tracing::info!(appointment_id = %scheduled.appointment_id, saga_id = %scheduled.saga_id, agent = %agent.id, "appointment booked");
    Ok(accepted(scheduled.appointment_id, scheduled.saga_id))
}

/// 202 with the appointment's address and the saga it started.
fn accepted(appointment_id: AppointmentId, saga_id: SagaId) -> Response {
    let location = format!("/api/v1/appointments/{appointment_id}");
    let body = BookingAccepted {
        appointment_id: appointment_id.0,
        saga_id: saga_id.0,
        status: "PROCESSING",
    };
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response()
}
