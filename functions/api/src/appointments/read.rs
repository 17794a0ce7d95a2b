//! `GET /api/v1/appointments` and `GET /api/v1/appointments/{id}`: the read model, with the
//! booking saga's timeline; each answer that carries patient data is recorded in the access
//! audit before it leaves.

use crate::auth::Agent;
use crate::extract::StrictQuery;
use crate::fields::{instant_field, path_uuid, uuid_field};
use crate::problem::{ApiError, FieldError};
use crate::AppState;
use axum::extract::{MatchedPath, Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use domain::{AppointmentId, AppointmentStatus, ClinicId, PatientId, SagaId};
use serde::{Deserialize, Serialize};
use store::audit::{self, Action, Outcome};
use store::read_model::{self, AppointmentSummary, SummaryFilter};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

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
