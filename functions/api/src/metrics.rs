//! `GET /api/v1/metrics`: the dashboard's KPIs, the hourly created series, the 30-minute
//! booking funnel and the call metrics, from the metrics and calls projections.
//!
//! Decisions: the range is `[from, to)` in event time with `from` rounded down and `to` rounded
//! up to whole hours (so the current hour is included and the hourly counts add up to
//! `created`); it defaults to the 24 hours before now and may span at most 31 days. Every hour
//! and every 30-minute window of the range is listed, zeros included, so a chart needs no gap
//! filling. `localHour` is the hour's start on the clinic's wall clock and is only given for
//! one clinic (clinics in other zones do not share local hours).

use crate::auth::Agent;
use crate::extract::StrictQuery;
use crate::fields::{instant_field, uuid_field};
use crate::problem::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use domain::metrics::{local_label, window_start, window_starts, FUNNEL_WINDOW, HOUR};
use domain::ClinicId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use store::metrics::MetricsScope;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The longest range one request may ask for.
pub const MAX_RANGE: Duration = Duration::days(31);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetricsParams {
    /// Only this clinic (UUID); default: every clinic of the agent.
    #[param(format = Uuid)]
    pub clinic_id: Option<String>,
    /// Start of the range (RFC 3339 or YYYY-MM-DD, UTC; years 1900-9999); rounded down to the hour. Default: `to` − 24 h.
    #[param(schema_with = crate::schemas::query_instant)]
    pub from: Option<String>,
    /// End of the range, exclusive (RFC 3339 or YYYY-MM-DD, UTC; years 1900-9999); rounded up to the hour. Default: now.
    #[param(schema_with = crate::schemas::query_instant)]
    pub to: Option<String>,
}

struct Range {
    clinic: Option<ClinicId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// `at` rounded up to a whole hour.
fn hour_ceiling(at: DateTime<Utc>) -> DateTime<Utc> {
    let start = window_start(at, HOUR);
    if start == at {
        at
    } else {
        start + HOUR
    }
}

impl MetricsParams {
    fn validate(&self, now: DateTime<Utc>) -> Result<Range, ApiError> {
        let mut errors = Vec::new();
        let clinic = uuid_field(self.clinic_id.as_deref(), "clinicId", &mut errors).map(ClinicId);
        let from = instant_field(self.from.as_deref(), "from", &mut errors);
        let to = instant_field(self.to.as_deref(), "to", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        let to = hour_ceiling(to.unwrap_or(now));
        let from = window_start(from.unwrap_or(to - Duration::hours(24)), HOUR);
        if from >= to {
            return Err(ApiError::invalid("to", "must be after `from`"));
        }
        if to - from > MAX_RANGE {
            return Err(ApiError::invalid(
                "from",
                format!(
                    "must be at most {} days before `to` (default: now)",
                    MAX_RANGE.num_days()
                ),
            ));
        }
        Ok(Range { clinic, from, to })
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HourlyPoint {
    /// Start of the hour (UTC).
    pub hour: DateTime<Utc>,
    /// The same instant on the clinic's wall clock (`YYYY-MM-DDTHH:MM`); only for one clinic.
    pub local_hour: Option<String>,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunnelPoint {
    /// Start of the 30-minute window the bookings were made in (UTC).
    pub window_start: DateTime<Utc>,
    /// Appointments booked in the window.
    pub created: i64,
    /// Of those, how many are confirmed / cancelled / completed by now.
    pub confirmed: i64,
    pub cancelled: i64,
    pub completed: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallHour {
    pub hour: DateTime<Utc>,
    /// Calls started in the hour.
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallMetrics {
    /// Calls started in the range.
    pub started: i64,
    /// Calls ended in the range.
    pub ended: i64,
    /// Calls started in the range and not ended.
    pub in_progress: i64,
    /// Mean handle time of the calls ended in the range; null when none ended.
    pub average_handle_seconds: Option<f64>,
    /// Share (0..1) of the calls ended in the range whose outcome was BOOKED; null when none ended.
    pub booked_share: Option<f64>,
    pub hourly: Vec<CallHour>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub clinic_id: Option<Uuid>,
    /// The clinic's IANA time zone; only for one clinic.
    pub time_zone: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Appointments booked in the range (event time).
    pub created: i64,
    /// Confirmations, completions and cancellations that happened in the range.
    pub confirmed: i64,
    pub completed: i64,
    pub cancelled: i64,
    /// Appointments booked per hour, every hour of the range.
    pub hourly: Vec<HourlyPoint>,
    /// The booking funnel per 30-minute window of the range.
    pub funnel30m: Vec<FunnelPoint>,
    pub calls: CallMetrics,
}

/// Every window of `width` in the range, with what the query found for it, if anything.
fn filled<T>(
    range: &Range,
    width: Duration,
    found: Vec<(DateTime<Utc>, T)>,
) -> impl Iterator<Item = (DateTime<Utc>, Option<T>)> {
    let mut found: HashMap<DateTime<Utc>, T> = found.into_iter().collect();
    window_starts(range.from, range.to, width)
        .into_iter()
        .map(move |start| (start, found.remove(&start)))
}

/// Dashboard metrics: KPIs, hourly bookings, the 30-minute funnel and calls.
#[utoipa::path(
    get,
    path = "/api/v1/metrics",
    tag = "metrics",
    params(MetricsParams),
    responses(
        (status = 200, body = Metrics),
        (status = 400, description = "Invalid parameter"),
        (status = 403, description = "Not one of the agent's clinics"),
    )
)]
pub async fn get_metrics(
    State(state): State<AppState>,
    agent: Agent,
    StrictQuery(params): StrictQuery<MetricsParams>,
) -> Result<Json<Metrics>, ApiError> {
    let range = params.validate(Utc::now())?;
    let (clinics, zone): (Vec<ClinicId>, Option<Tz>) = match range.clinic {
        None => (agent.clinics.clone(), None),
        Some(id) => {
            agent.require(id, "clinicId")?;
            let clinics = store::catalog::list_clinics(&state.pool).await?;
            let clinic = clinics
                .iter()
                .find(|c| c.id == id)
                .ok_or(ApiError::NotFound {
                    what: "clinic",
                    field: Some("clinicId"),
                })?;
            (vec![id], Some(clinic.calendar.time_zone))
        }
    };
    let scope = MetricsScope {
        clinics,
        from: range.from,
        to: range.to,
    };
    let pool = &state.pool;
    let (totals, hourly, funnel, calls, call_hours) = tokio::try_join!(
        store::metrics::stage_totals(pool, &scope),
        store::metrics::hourly_created(pool, &scope),
        store::metrics::funnel(pool, &scope),
        store::calls::call_totals(pool, &scope),
        store::calls::hourly_calls(pool, &scope),
    )?;
    let funnel = funnel.into_iter().map(|w| (w.window_start, w)).collect();
    let funnel30m = filled(&range, FUNNEL_WINDOW, funnel)
        .map(|(window_start, w)| {
            let w = w.unwrap_or_default();
            FunnelPoint {
                window_start,
                created: w.created,
                confirmed: w.confirmed,
                cancelled: w.cancelled,
                completed: w.completed,
            }
        })
        .collect();
    let hourly = filled(&range, HOUR, hourly)
        .map(|(hour, count)| HourlyPoint {
            hour,
            local_hour: zone.map(|z| local_label(hour, z).format("%Y-%m-%dT%H:%M").to_string()),
            count: count.unwrap_or(0),
        })
        .collect();
    let call_hours = filled(&range, HOUR, call_hours)
        .map(|(hour, count)| CallHour {
            hour,
            count: count.unwrap_or(0),
        })
        .collect();
    Ok(Json(Metrics {
        clinic_id: range.clinic.map(|c| c.0),
        time_zone: zone.map(|z| z.name().to_owned()),
        from: range.from,
        to: range.to,
        created: totals.created,
        confirmed: totals.confirmed,
        completed: totals.completed,
        cancelled: totals.cancelled,
        hourly,
        funnel30m,
        calls: CallMetrics {
            started: calls.started,
            ended: calls.ended,
            in_progress: calls.in_progress,
            average_handle_seconds: calls.average_handle_seconds,
            booked_share: (calls.ended > 0).then(|| calls.booked as f64 / calls.ended as f64),
            hourly: call_hours,
        },
    }))
}
