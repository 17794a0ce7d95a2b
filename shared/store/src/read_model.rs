//! The `appointment_summary` read model: version-gated upserts used by project-appointments,
//! and the paged queries behind `GET /api/v1/appointments`.
//!
//! Arrival order does not matter: AppointmentCreated fills the descriptive columns whenever
//! it arrives, and status/version/cancel_reason only ever move to a higher version. Timestamps
//! come from the events, so a rebuild from the topics yields identical rows.

use crate::StoreError;
use chrono::{DateTime, Utc};
use domain::{
    AppointmentId, AppointmentStatus, AppointmentType, ClinicId, PatientId, ProviderId, SagaId,
};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AppointmentSummary {
    pub appointment_id: Uuid,
    pub saga_id: Option<Uuid>,
    pub clinic_id: Option<Uuid>,
    pub clinic_name: Option<String>,
    pub provider_id: Option<Uuid>,
    pub provider_name: Option<String>,
    pub patient_id: Option<Uuid>,
    pub patient_name: Option<String>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i32>,
    pub r#type: Option<String>,
    pub status: String,
    pub cancel_reason: Option<String>,
    pub version: i32,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Joined from the clinic, so callers can show local times.
    pub clinic_time_zone: Option<String>,
}

/// A status change carried by AppointmentConfirmed / Cancelled / Completed (or any later event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub appointment_id: AppointmentId,
    pub saga_id: SagaId,
    pub version: i32,
    pub status: AppointmentStatus,
    pub cancel_reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// What AppointmentCreated tells the read model: the descriptive columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booked {
    pub appointment_id: AppointmentId,
    pub saga_id: SagaId,
    pub version: i32,
    pub clinic_id: ClinicId,
    pub clinic_name: String,
    pub provider_id: ProviderId,
    pub provider_name: String,
    pub patient_id: PatientId,
    pub patient_name: String,
    pub scheduled_for: DateTime<Utc>,
    pub duration_minutes: i32,
    pub kind: AppointmentType,
    pub occurred_at: DateTime<Utc>,
}

/// Applies a booking (AppointmentCreated). Returns whether the row changed.
pub async fn apply_created(db: &mut PgConnection, e: &Booked) -> Result<bool, StoreError> {
    let changed = sqlx::query(
        "INSERT INTO appointment_summary AS s
            (appointment_id, saga_id, clinic_id, clinic_name, provider_id, provider_name, patient_id, patient_name,
             scheduled_for, duration_minutes, type, status, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
         ON CONFLICT (appointment_id) DO UPDATE SET
             saga_id = EXCLUDED.saga_id, clinic_id = EXCLUDED.clinic_id, clinic_name = EXCLUDED.clinic_name,
             provider_id = EXCLUDED.provider_id, provider_name = EXCLUDED.provider_name,
             patient_id = EXCLUDED.patient_id, patient_name = EXCLUDED.patient_name,
             scheduled_for = EXCLUDED.scheduled_for, duration_minutes = EXCLUDED.duration_minutes,
             type = EXCLUDED.type, created_at = EXCLUDED.created_at,
             version = GREATEST(s.version, EXCLUDED.version)
         WHERE s.created_at IS NULL",
    )
    .bind(e.appointment_id.0)
    .bind(e.saga_id.0)
    .bind(e.clinic_id.0)
    .bind(&e.clinic_name)
    .bind(e.provider_id.0)
    .bind(&e.provider_name)
    .bind(e.patient_id.0)
    .bind(&e.patient_name)
    .bind(e.scheduled_for)
    .bind(e.duration_minutes)
    .bind(e.kind.as_str())
    .bind(AppointmentStatus::PendingInsurance.as_str())
    .bind(e.version)
    .bind(e.occurred_at)
    .execute(db)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Applies a status change if it is newer than the row. Returns whether the row changed.
pub async fn apply_status_change(
    db: &mut PgConnection,
    c: &StatusChange,
) -> Result<bool, StoreError> {
    let changed = sqlx::query(
        "INSERT INTO appointment_summary AS s (appointment_id, saga_id, status, cancel_reason, version, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (appointment_id) DO UPDATE SET
             status = EXCLUDED.status, cancel_reason = EXCLUDED.cancel_reason,
             version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
         WHERE EXCLUDED.version > s.version",
    )
    .bind(c.appointment_id.0)
    .bind(c.saga_id.0)
    .bind(c.status.as_str())
    .bind(&c.cancel_reason)
    .bind(c.version)
    .bind(c.occurred_at)
    .execute(db)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Applies InsuranceVerified: records the fact, and a row still PENDING_INSURANCE becomes
/// AWAITING_CONFIRMATION (the write side's MarkInsuranceVerified, which no appointment event
/// carries). A row seen first gets version 0, so every appointment event still applies after.
/// Returns whether the row changed.
pub async fn apply_insurance_verified(
    db: &mut PgConnection,
    appointment_id: AppointmentId,
    saga_id: SagaId,
    occurred_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = sqlx::query(
        "INSERT INTO appointment_summary AS s (appointment_id, saga_id, status, version, updated_at, insurance_verified_at)
         VALUES ($1, $2, $3, 0, $5, $5)
         ON CONFLICT (appointment_id) DO UPDATE SET
             insurance_verified_at = EXCLUDED.insurance_verified_at,
             status = CASE WHEN s.status = $4 THEN $3 ELSE s.status END
         WHERE s.insurance_verified_at IS NULL",
    )
    .bind(appointment_id.0)
    .bind(saga_id.0)
    .bind(AppointmentStatus::AwaitingConfirmation.as_str())
    .bind(AppointmentStatus::PendingInsurance.as_str())
    .bind(occurred_at)
    .execute(db)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

const SELECT_SUMMARY: &str = "SELECT s.*, c.time_zone AS clinic_time_zone
     FROM appointment_summary s LEFT JOIN clinics c ON c.id = s.clinic_id";

#[derive(Debug, Clone, Default)]
pub struct SummaryFilter {
    /// Only these clinics (the caller's, or the one asked for).
    pub clinics: Vec<ClinicId>,
    pub status: Option<AppointmentStatus>,
    /// Appointments starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Appointments starting before this instant.
    pub to: Option<DateTime<Utc>>,
}

/// One page (0-based) of summaries, most recently booked first, and the total count.
pub async fn list_summaries(
    pool: &PgPool,
    filter: &SummaryFilter,
    page: i64,
    size: i64,
) -> Result<(Vec<AppointmentSummary>, i64), StoreError> {
    const WHERE: &str = "WHERE s.clinic_id = ANY($1) AND ($2::text IS NULL OR s.status = $2)
          AND ($3::timestamptz IS NULL OR s.scheduled_for >= $3) AND ($4::timestamptz IS NULL OR s.scheduled_for < $4)";
    let clinic: Vec<Uuid> = filter.clinics.iter().map(|c| c.0).collect();
    let status = filter.status.map(AppointmentStatus::as_str);
    let items = sqlx::query_as::<_, AppointmentSummary>(&format!(
        "{SELECT_SUMMARY} {WHERE}
         ORDER BY s.created_at DESC NULLS LAST, s.appointment_id DESC LIMIT $5 OFFSET $6"
    ))
    .bind(&clinic)
    .bind(status)
    .bind(filter.from)
    .bind(filter.to)
    .bind(size)
    .bind(page.saturating_mul(size))
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(*) FROM appointment_summary s {WHERE}"
    ))
    .bind(clinic)
    .bind(status)
    .bind(filter.from)
    .bind(filter.to)
    .fetch_one(pool)
    .await?;
    Ok((items, total))
}

pub async fn get_summary(
    pool: &PgPool,
    id: AppointmentId,
) -> Result<Option<AppointmentSummary>, StoreError> {
    Ok(sqlx::query_as::<_, AppointmentSummary>(&format!(
        "{SELECT_SUMMARY} WHERE s.appointment_id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await?)
}
