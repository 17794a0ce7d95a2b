//! The access audit: one append-only row (`access_audit`) each time the API serves patient data
//! or changes it: who (the token's subject), for which clinics, which patients and
//! appointments (ids only), what (action and route template), when and with what outcome. A
//! write's row is appended in the write's own transaction; a read's before its answer leaves.
//! The table refuses UPDATE, DELETE and TRUNCATE to everyone (its migration's trigger).

use crate::StoreError;
use chrono::{DateTime, Utc};
use domain::{AppointmentId, ClinicId, PatientId};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// What the agent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PatientSearch,
    AppointmentList,
    AppointmentRead,
    AppointmentBook,
    AppointmentCancel,
    AppointmentComplete,
    AccessLogRead,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::PatientSearch => "patient.search",
            Action::AppointmentList => "appointment.list",
            Action::AppointmentRead => "appointment.read",
            Action::AppointmentBook => "appointment.book",
            Action::AppointmentCancel => "appointment.cancel",
            Action::AppointmentComplete => "appointment.complete",
            Action::AccessLogRead => "access-log.read",
        }
    }
}

/// Whether the data was served (read, or the change committed), or the change was refused
/// (a command the appointment's state does not allow: the agent still saw its status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Served,
    Refused,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Served => "SERVED",
            Outcome::Refused => "REFUSED",
        }
    }
}

/// Who did what, at which route.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub agent_id: &'a str,
    pub action: Action,
    /// The route template (`/api/v1/appointments/{id}`), never the path as sent.
    pub route: &'a str,
}

/// Appends one entry for patients and appointments the caller names.
pub async fn append<'e>(
    db: impl PgExecutor<'e>,
    actor: Actor<'_>,
    clinics: &[ClinicId],
    patients: &[PatientId],
    appointments: &[AppointmentId],
    outcome: Outcome,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_audit (agent_id, clinic_ids, action, route, patient_ids, appointment_ids, outcome)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(actor.agent_id)
    .bind(clinics.iter().map(|c| c.0).collect::<Vec<_>>())
    .bind(actor.action.as_str())
    .bind(actor.route)
    .bind(patients.iter().map(|p| p.0).collect::<Vec<_>>())
    .bind(appointments.iter().map(|a| a.0).collect::<Vec<_>>())
    .bind(outcome.as_str())
    .execute(db)
    .await?;
    Ok(())
}

/// Appends one entry for an appointment, its clinic and patient read from the appointment row.
pub async fn append_for_appointment<'e>(
    db: impl PgExecutor<'e>,
    actor: Actor<'_>,
    appointment: AppointmentId,
    outcome: Outcome,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_audit (agent_id, clinic_ids, action, route, patient_ids, appointment_ids, outcome)
         SELECT $1, ARRAY[clinic_id], $2, $3, ARRAY[patient_id], ARRAY[id], $5
           FROM appointments WHERE id = $4",
    )
    .bind(actor.agent_id)
    .bind(actor.action.as_str())
    .bind(actor.route)
    .bind(appointment.0)
    .bind(outcome.as_str())
    .execute(db)
    .await?;
    Ok(())
}

/// One entry of a patient's trail.
#[derive(Debug, Clone, FromRow)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub agent_id: String,
    pub clinic_ids: Vec<Uuid>,
    pub action: String,
    pub route: String,
    pub appointment_ids: Vec<Uuid>,
    pub outcome: String,
}

/// The newest `limit` entries naming `patient` that were made for one of `clinics`, newest first.
pub async fn trail<'e>(
    db: impl PgExecutor<'e>,
    patient: PatientId,
    clinics: &[ClinicId],
    limit: i64,
) -> Result<Vec<Entry>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT at, agent_id, clinic_ids, action, route, appointment_ids, outcome
           FROM access_audit
          WHERE patient_ids @> ARRAY[$1] AND clinic_ids && $2
          ORDER BY id DESC LIMIT $3",
    )
    .bind(patient.0)
    .bind(clinics.iter().map(|c| c.0).collect::<Vec<_>>())
    .bind(limit)
    .fetch_all(db)
    .await?)
}
