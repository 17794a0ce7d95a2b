//! Appointment routes: book (write side, 202 + saga), list and read (the read model). Each
//! answer that carries patient data is recorded in the access audit (`store::audit`).

use crate::auth::Agent;
use crate::extract::{IdempotencyKey, StrictJson, StrictQuery};
use crate::problem::{ApiError, FieldError};
use crate::AppState;
use axum::extract::{MatchedPath, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use domain::clinic::SlotError;
use domain::values::Notes;
use domain::{
    AppointmentId, AppointmentStatus, AppointmentType, ClinicId, PatientId, ProviderId, SagaId,
};
use serde::{Deserialize, Serialize};
use store::audit::{self, Action, Outcome};
use store::booking::{self, BookingError, RequestedStart, ScheduleRequest};
use store::idempotency::{self, Claim};
use store::read_model::{self, AppointmentSummary, SummaryFilter};
use utoipa::{IntoParams, ToSchema};
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

fn required<'a>(
    value: &'a Option<String>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Some(v),
        _ => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
    }
}

pub(crate) fn uuid_field(
    value: Option<&str>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Uuid> {
    let v = value?;
    Uuid::parse_str(v)
        .map_err(|_| errors.push(FieldError::new(field, "must be a UUID")))
        .ok()
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
            BookingError::Store(e) => e.into(),
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
    let scheduled =
        booking::schedule_appointment(&mut tx, &state.registry, request, Utc::now()).await?;
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

/// An appointment as the read model shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentView {
    pub appointment_id: Uuid,
    pub saga_id: Option<Uuid>,
    pub clinic_id: Option<Uuid>,
    pub clinic_name: Option<String>,
    pub clinic_time_zone: Option<String>,
    pub provider_id: Option<Uuid>,
    pub provider_name: Option<String>,
    pub patient_id: Option<Uuid>,
    pub patient_name: Option<String>,
    /// Start instant (UTC).
    pub scheduled_for: Option<DateTime<Utc>>,
    /// The same instant in the clinic's time zone, with its offset.
    pub scheduled_for_local: Option<String>,
    pub duration_minutes: Option<i32>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: String,
    pub cancel_reason: Option<String>,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

impl From<AppointmentSummary> for AppointmentView {
    fn from(s: AppointmentSummary) -> Self {
        let zone: Option<Tz> = s.clinic_time_zone.as_deref().and_then(|z| z.parse().ok());
        let local = s
            .scheduled_for
            .zip(zone)
            .map(|(t, z)| t.with_timezone(&z).to_rfc3339());
        Self {
            appointment_id: s.appointment_id,
            saga_id: s.saga_id,
            clinic_id: s.clinic_id,
            clinic_name: s.clinic_name,
            clinic_time_zone: s.clinic_time_zone,
            provider_id: s.provider_id,
            provider_name: s.provider_name,
            patient_id: s.patient_id,
            patient_name: s.patient_name,
            scheduled_for: s.scheduled_for,
            scheduled_for_local: local,
            duration_minutes: s.duration_minutes,
            kind: s.r#type,
            status: s.status,
            cancel_reason: s.cancel_reason,
            version: s.version,
            updated_at: s.updated_at,
        }
    }
}

/// One appointment with its booking saga.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentDetail {
    #[serde(flatten)]
    pub appointment: AppointmentView,
    /// The booking saga: absent until it has started. Read from the saga's own state, so it
    /// can be a step ahead of the projected `status`.
    pub saga: Option<SagaView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SagaView {
    /// INSURANCE_VERIFICATION, SENDING_CONFIRMATION, COMPLETED, COMPENSATING or CANCELLED.
    pub step: String,
    /// When the current step is compensated if its reply has not arrived.
    pub deadline: Option<DateTime<Utc>>,
    /// Every input the saga received, in order, applied or ignored.
    pub timeline: Vec<TimelineEntryView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntryView {
    /// What reached the saga, e.g. InsuranceVerified, or DeadlinePassed from the sweeper.
    pub input: String,
    /// APPLIED (the saga moved) or IGNORED (a duplicate, a late reply, not valid in the step).
    pub outcome: String,
    /// The step after this input.
    pub step: String,
    /// The reason, the command sent, or why it was ignored.
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

async fn saga_view(state: &AppState, saga_id: SagaId) -> Result<Option<SagaView>, ApiError> {
    let mut db = state
        .pool
        .acquire()
        .await
        .map_err(store::StoreError::from)?;
    let Some(saga) = store::saga::load(&mut db, saga_id).await? else {
        return Ok(None);
    };
    let timeline = store::saga::timeline(&mut db, saga_id)
        .await?
        .into_iter()
        .map(|e| TimelineEntryView {
            input: e.input,
            outcome: e.outcome.as_str().to_owned(),
            step: e.step.as_str().to_owned(),
            detail: e.detail,
            at: e.occurred_at,
        })
        .collect();
    Ok(Some(SagaView {
        step: saga.step.as_str().to_owned(),
        deadline: saga.deadline,
        timeline,
    }))
}

/// Largest page a caller may ask for.
pub const MAX_PAGE_SIZE: i64 = 100;
/// The last page a list serves (at most 100,100 rows skipped, a bounded OFFSET); further back,
/// narrow the list with `from`/`to`, `status` or `clinicId`.
pub const MAX_PAGE: i64 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 0-based page number, 0..=1000 (default 0).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1000)]
    pub page: Option<String>,
    /// Page size, 1..=100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub size: Option<String>,
    /// Only this clinic (UUID).
    #[param(format = Uuid)]
    pub clinic_id: Option<String>,
    /// Only this status.
    #[param(schema_with = crate::schemas::appointment_status)]
    pub status: Option<String>,
    /// Appointments starting at or after: RFC 3339, or a date (UTC midnight); years 1900-9999.
    #[param(schema_with = crate::schemas::query_instant)]
    pub from: Option<String>,
    /// Appointments starting before: RFC 3339, or a date (UTC midnight); years 1900-9999.
    #[param(schema_with = crate::schemas::query_instant)]
    pub to: Option<String>,
}

/// The dates a query parameter may name: years 1900 through 9999. Wider than any appointment
/// or metric the product holds, and narrow enough that every computation on it (a day back, an
/// hour up) stays inside chrono's and PostgreSQL's ranges, which a date like `-262143-01-01`
/// (valid RFC 3339 to chrono) does not.
pub(crate) const QUERY_YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// A date-time query parameter: RFC 3339, or a date (UTC midnight), inside [`QUERY_YEARS`];
/// anything else is a field error.
pub(crate) fn instant_field(
    value: Option<&str>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    let v = value?;
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .filter(|t| QUERY_YEARS.contains(&t.year()))
        .or_else(|| {
            errors.push(FieldError::new(
                field,
                format!("must be RFC 3339 or YYYY-MM-DD, {}", in_query_years()),
            ));
            None
        })
}

/// How a field error names [`QUERY_YEARS`].
pub(crate) fn in_query_years() -> String {
    format!(
        "in the years {} to {}",
        QUERY_YEARS.start(),
        QUERY_YEARS.end()
    )
}

impl ListParams {
    fn validate(&self, agent: &Agent) -> Result<(SummaryFilter, i64, i64), ApiError> {
        let mut errors = Vec::new();
        let mut number =
            |value: &Option<String>, field: &str, min: i64, max: i64, default: i64| match value {
                None => default,
                Some(v) => match v.parse::<i64>() {
                    Ok(n) if (min..=max).contains(&n) => n,
                    _ => {
                        errors.push(FieldError::new(
                            field,
                            format!("must be an integer from {min} to {max}"),
                        ));
                        default
                    }
                },
            };
        let page = number(&self.page, "page", 0, MAX_PAGE, 0);
        let size = number(&self.size, "size", 1, MAX_PAGE_SIZE, 20);
        let clinic_id =
            uuid_field(self.clinic_id.as_deref(), "clinicId", &mut errors).map(ClinicId);
        let status = self.status.as_deref().and_then(|s| {
            s.parse::<AppointmentStatus>()
                .map_err(|e| errors.push(FieldError::new("status", e.to_string())))
                .ok()
        });
        let from = instant_field(self.from.as_deref(), "from", &mut errors);
        let to = instant_field(self.to.as_deref(), "to", &mut errors);
        if errors.is_empty() {
            let clinics = match clinic_id {
                Some(clinic) => {
                    agent.require(clinic, "clinicId")?;
                    vec![clinic]
                }
                None => agent.clinics.clone(),
            };
            Ok((
                SummaryFilter {
                    clinics,
                    status,
                    from,
                    to,
                },
                page,
                size,
            ))
        } else {
            Err(ApiError::Invalid(errors))
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentPage {
    pub items: Vec<AppointmentView>,
    pub page: i64,
    pub size: i64,
    pub total_items: i64,
    pub total_pages: i64,
}

/// Appointments at the agent's clinics from the read model, most recently booked first.
#[utoipa::path(
    get,
    path = "/api/v1/appointments",
    tag = "appointments",
    params(ListParams),
    responses(
        (status = 200, body = AppointmentPage),
        (status = 400, description = "Invalid parameter"),
        (status = 403, description = "Not one of the agent's clinics"),
    )
)]
pub async fn list_appointments(
    State(state): State<AppState>,
    agent: Agent,
    route: MatchedPath,
    StrictQuery(params): StrictQuery<ListParams>,
) -> Result<Json<AppointmentPage>, ApiError> {
    let (filter, page, size) = params.validate(&agent)?;
    let (items, total) = read_model::list_summaries(&state.pool, &filter, page, size).await?;
    if !items.is_empty() {
        let appointments: Vec<AppointmentId> = items
            .iter()
            .map(|i| AppointmentId(i.appointment_id))
            .collect();
        let patients: Vec<PatientId> = items
            .iter()
            .filter_map(|i| i.patient_id)
            .map(PatientId)
            .collect();
        let actor = agent.actor(Action::AppointmentList, &route);
        audit::append(
            &state.pool,
            actor,
            &filter.clinics,
            &patients,
            &appointments,
            Outcome::Served,
        )
        .await?;
    }
    Ok(Json(AppointmentPage {
        items: items.into_iter().map(AppointmentView::from).collect(),
        page,
        size,
        total_items: total,
        total_pages: (total + size - 1) / size,
    }))
}

pub(crate) fn path_uuid(raw: &str, field: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid(field, "must be a UUID"))
}

/// One appointment from the read model.
#[utoipa::path(
    get,
    path = "/api/v1/appointments/{id}",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "Appointment id")),
    responses(
        (status = 200, body = AppointmentDetail),
        (status = 404, description = "Unknown (or not yet projected) appointment, or not at one of the agent's clinics"),
    )
)]
pub async fn get_appointment(
    State(state): State<AppState>,
    agent: Agent,
    route: MatchedPath,
    Path(id): Path<String>,
) -> Result<Json<AppointmentDetail>, ApiError> {
    let id = AppointmentId(path_uuid(&id, "id")?);
    let summary = read_model::get_summary(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "appointment",
            field: None,
        })?;
    agent.reveal(summary.clinic_id.map(ClinicId), "appointment")?;
    let saga = match summary.saga_id {
        Some(saga_id) => saga_view(&state, SagaId(saga_id)).await?,
        None => None,
    };
    let patients: Vec<PatientId> = summary.patient_id.map(PatientId).into_iter().collect();
    let clinics: Vec<ClinicId> = summary.clinic_id.map(ClinicId).into_iter().collect();
    let actor = agent.actor(Action::AppointmentRead, &route);
    audit::append(
        &state.pool,
        actor,
        &clinics,
        &patients,
        &[id],
        Outcome::Served,
    )
    .await?;
    Ok(Json(AppointmentDetail {
        appointment: summary.into(),
        saga,
    }))
}
