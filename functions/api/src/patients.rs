//! Patient search for the booking form, scoped to the agent's clinics: an agent finds the
//! patients registered at (home clinic) or booked at one of them; a supervisor finds anyone
//! (to book a patient at a clinic they have not visited yet). Only the id and the name are
//! returned, never contact details or insurance. And a patient's access log, for supervisors.

use crate::extract::StrictQuery;
use crate::fields::path_uuid;
use crate::problem::{ApiError, FieldError};
use crate::AppState;
use axum::extract::{MatchedPath, Path, State};
use axum::Json;
use domain::PatientId;
use serde::{Deserialize, Serialize};
use store::audit::{self, Action, Outcome};
use store::catalog::Directory;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The most matches one search returns.
pub const MAX_MATCHES: i64 = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PatientSearch {
    /// Part of the patient's name, 2 to 100 characters once blanks around it are trimmed.
    /// Required.
    #[param(value_type = String, required = true, min_length = 2, max_length = 100, pattern = "\\S.*\\S")]
    pub q: Option<String>,
    /// How many matches, 1..=50 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50)]
    pub size: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatientMatch {
    pub patient_id: Uuid,
    pub name: String,
}

/// Patients whose name contains `q`, by name: of the agent's clinics (registered or booked
/// there), or any patient for a supervisor.
#[utoipa::path(
    get,
    path = "/api/v1/patients",
    tag = "patients",
    params(PatientSearch),
    responses(
        (status = 200, body = [PatientMatch]),
        (status = 400, description = "Invalid parameter"),
    )
)]
pub async fn search_patients(
    State(state): State<AppState>,
    agent: crate::auth::Agent,
    route: MatchedPath,
    StrictQuery(params): StrictQuery<PatientSearch>,
) -> Result<Json<Vec<PatientMatch>>, ApiError> {
    let mut errors = Vec::new();
    let q = params.q.as_deref().map(str::trim).unwrap_or_default();
    if !(2..=100).contains(&q.chars().count()) {
        errors.push(FieldError::new("q", "must be 2 to 100 characters"));
    }
    let size = match params.size.as_deref().map(str::parse::<i64>) {
        None => 10,
        Some(Ok(n)) if (1..=MAX_MATCHES).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError::new(
                "size",
                format!("must be an integer from 1 to {MAX_MATCHES}"),
            ));
            10
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let directory = if agent.supervisor {
        Directory::Whole
    } else {
        Directory::LinkedTo(&agent.clinics)
    };
    let patients = store::catalog::search_patients(&state.pool, directory, q, size).await?;
    if !patients.is_empty() {
        let ids: Vec<PatientId> = patients.iter().map(|p| p.id).collect();
        let actor = agent.actor(Action::PatientSearch, &route);
        audit::append(
            &state.pool,
            actor,
            &agent.clinics,
            &ids,
            &[],
            Outcome::Served,
        )
        .await?;
    }
    Ok(Json(
        patients
            .into_iter()
            .map(|p| PatientMatch {
                patient_id: p.id.0,
                name: p.name,
            })
            .collect(),
    ))
}

/// The most entries one access-log answer holds: the newest.
pub const MAX_TRAIL: i64 = 200;

/// One access to a patient's data, as the access audit recorded it: ids only.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntryView {
    pub at: chrono::DateTime<chrono::Utc>,
    /// The token subject of the agent who read or changed the data.
    pub agent_id: String,
    /// What the agent did: patient.search, appointment.list, appointment.read,
    /// appointment.book, appointment.cancel, appointment.complete or access-log.read.
    pub action: String,
    /// The route template that served it.
    pub route: String,
    /// SERVED, or REFUSED (a change the appointment's status did not allow).
    pub outcome: String,
    /// The clinics the agent acted for.
    pub clinic_ids: Vec<Uuid>,
    /// The appointments involved.
    pub appointment_ids: Vec<Uuid>,
}

/// Who read or changed this patient's data through the API: the newest 200 access-audit
/// entries made for the supervisor's clinics, newest first. Supervisors only; reading it is
/// audited as well.
#[utoipa::path(
    get,
    path = "/api/v1/patients/{id}/access-log",
    tag = "patients",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 200, body = [AccessEntryView]),
        (status = 403, description = "Only a supervisor reads an access log; or the token names no clinic"),
        (status = 404, description = "Unknown patient, or not registered or booked at one of the supervisor's clinics"),
    )
)]
pub async fn access_log(
    State(state): State<AppState>,
    agent: crate::auth::Agent,
    route: MatchedPath,
    Path(id): Path<String>,
) -> Result<Json<Vec<AccessEntryView>>, ApiError> {
    let patient = PatientId(path_uuid(&id, "id")?);
    if !agent.supervisor {
        return Err(ApiError::NotPermitted(
            "only a supervisor reads a patient's access log",
        ));
    }
    if !store::catalog::is_linked(&state.pool, patient, &agent.clinics).await? {
        return Err(ApiError::NotFound {
            what: "patient",
            field: None,
        });
    }
    let entries = audit::trail(&state.pool, patient, &agent.clinics, MAX_TRAIL).await?;
    let actor = agent.actor(Action::AccessLogRead, &route);
    audit::append(
        &state.pool,
        actor,
        &agent.clinics,
        &[patient],
        &[],
        Outcome::Served,
    )
    .await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AccessEntryView {
                at: e.at,
                agent_id: e.agent_id,
                action: e.action,
                route: e.route,
                outcome: e.outcome,
                clinic_ids: e.clinic_ids,
                appointment_ids: e.appointment_ids,
            })
            .collect(),
    ))
}
