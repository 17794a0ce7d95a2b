//! Patient search for the booking form. Patients are not tied to a clinic (a call center books
//! anyone anywhere), so any signed-in agent may search; only the id and the name are returned,
//! never contact details or insurance.

use crate::extract::StrictQuery;
use crate::problem::{ApiError, FieldError};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
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

/// Patients whose name contains `q`, by name.
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
    _agent: crate::auth::Agent,
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
    let patients = store::catalog::search_patients(&state.pool, q, size).await?;
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
