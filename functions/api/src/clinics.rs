//! Clinic routes: the clinic list (hours, providers) and free slots per provider for a day.

use crate::auth::Agent;
use crate::extract::StrictQuery;
use crate::fields::{in_query_years, path_uuid, QUERY_YEARS};
use crate::problem::ApiError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use domain::{AppointmentType, ClinicId};
use serde::{Deserialize, Serialize};
use store::catalog::{self, Clinic};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpeningHoursView {
    /// MONDAY .. SUNDAY
    pub weekday: String,
    /// Local opening time, HH:MM.
    pub opens: String,
    /// Local closing time, HH:MM.
    pub closes: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClinicView {
    pub id: Uuid,
    pub name: String,
    /// IANA time zone, e.g. America/Los_Angeles.
    pub time_zone: String,
    pub opening_hours: Vec<OpeningHoursView>,
    pub providers: Vec<ProviderView>,
}

fn weekday_name(day: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match day {
        Mon => "MONDAY",
        Tue => "TUESDAY",
        Wed => "WEDNESDAY",
        Thu => "THURSDAY",
        Fri => "FRIDAY",
        Sat => "SATURDAY",
        Sun => "SUNDAY",
    }
}

impl From<Clinic> for ClinicView {
    fn from(c: Clinic) -> Self {
        Self {
            id: c.id.0,
            name: c.name,
            time_zone: c.calendar.time_zone.name().to_owned(),
            opening_hours: c
                .calendar
                .hours
                .iter()
                .map(|h| OpeningHoursView {
                    weekday: weekday_name(h.weekday).to_owned(),
                    opens: h.opens.format("%H:%M").to_string(),
                    closes: h.closes.format("%H:%M").to_string(),
                })
                .collect(),
            providers: c
                .providers
                .into_iter()
                .map(|p| ProviderView {
                    id: p.id.0,
                    name: p.name,
                })
                .collect(),
        }
    }
}

/// Every clinic with its time zone, opening hours and optometrists.
#[utoipa::path(get, path = "/api/v1/clinics", tag = "clinics", responses((status = 200, body = Vec<ClinicView>)))]
pub async fn list_clinics(
    State(state): State<AppState>,
    agent: Agent,
) -> Result<Json<Vec<ClinicView>>, ApiError> {
    let clinics = catalog::list_clinics(&state.pool).await?;
    Ok(Json(
        clinics
            .into_iter()
            .filter(|c| agent.works_for(c.id))
            .map(ClinicView::from)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityParams {
    /// The clinic-local day, YYYY-MM-DD (years 1900-9999). Required.
    #[param(schema_with = crate::schemas::query_date, required = true)]
    pub date: Option<String>,
    /// Exam type, which sets the slot length (default ROUTINE).
    #[serde(rename = "type")]
    #[param(rename = "type", schema_with = crate::schemas::appointment_type)]
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlotView {
    /// Start instant (UTC).
    pub start: DateTime<Utc>,
    /// Clinic-local start time, HH:MM.
    pub local_time: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAvailability {
    pub provider_id: Uuid,
    pub name: String,
    pub slots: Vec<SlotView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub clinic_id: Uuid,
    pub date: NaiveDate,
    pub time_zone: String,
    #[serde(rename = "type")]
    #[schema(example = "ROUTINE")]
    pub kind: String,
    pub duration_minutes: i64,
    pub providers: Vec<ProviderAvailability>,
}

/// Free start times per provider on a clinic-local day (15-minute grid), for one exam type.
#[utoipa::path(
    get,
    path = "/api/v1/clinics/{id}/availability",
    tag = "clinics",
    params(("id" = Uuid, Path, description = "Clinic id"), AvailabilityParams),
    responses(
        (status = 200, body = Availability),
        (status = 400, description = "Invalid parameter"),
        (status = 404, description = "Unknown clinic"),
    )
)]
pub async fn availability(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    StrictQuery(params): StrictQuery<AvailabilityParams>,
) -> Result<Json<Availability>, ApiError> {
    let id = ClinicId(path_uuid(&id, "id")?);
    agent.reveal(Some(id), "clinic")?;
    let date = match params.date.as_deref() {
        None => return Err(ApiError::invalid("date", "is required")),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .ok()
            .filter(|d| QUERY_YEARS.contains(&d.year()))
            .ok_or_else(|| {
                ApiError::invalid("date", format!("must be YYYY-MM-DD, {}", in_query_years()))
            })?,
    };
    let kind = match params.kind.as_deref() {
        None => AppointmentType::Routine,
        Some(k) => k
            .parse()
            .map_err(|e: domain::appointment_type::UnknownAppointmentType| {
                ApiError::invalid("type", e.to_string())
            })?,
    };
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(store::StoreError::from)?;
    let clinic = catalog::load_clinic(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "clinic",
            field: None,
        })?;
    let zone = clinic.calendar.time_zone;
    let free = store::booking::availability(&mut conn, &clinic, date, kind, Utc::now()).await?;
    Ok(Json(Availability {
        clinic_id: clinic.id.0,
        date,
        time_zone: zone.name().to_owned(),
        kind: kind.as_str().to_owned(),
        duration_minutes: kind.duration_minutes(),
        providers: free
            .into_iter()
            .map(|(p, slots)| ProviderAvailability {
                provider_id: p.id.0,
                name: p.name,
                slots: slots
                    .into_iter()
                    .map(|s| SlotView {
                        start: s,
                        local_time: s.with_timezone(&zone).format("%H:%M").to_string(),
                    })
                    .collect(),
            })
            .collect(),
    }))
}
