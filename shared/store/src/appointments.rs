//! The appointment aggregate's rows on the write side: load one under a row lock, save its new
//! status and version. The commands' rules are in the application layer (`app::appointments`).

use crate::StoreError;
use chrono::{DateTime, Utc};
use domain::appointment::{Appointment, Booking};
use domain::values::{CancelReason, Notes};
use domain::AppointmentId;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

#[derive(FromRow)]
struct Row {
    id: Uuid,
    saga_id: Uuid,
    clinic_id: Uuid,
    provider_id: Uuid,
    patient_id: Uuid,
    r#type: String,
    notes: Option<String>,
    status: String,
    version: i32,
    scheduled_for: DateTime<Utc>,
    cancel_reason: Option<String>,
}

impl TryFrom<Row> for Appointment {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Appointment {
            booking: Booking {
                appointment_id: AppointmentId(r.id),
                saga_id: r.saga_id.into(),
                clinic_id: r.clinic_id.into(),
                provider_id: r.provider_id.into(),
                patient_id: r.patient_id.into(),
                kind: r
                    .r#type
                    .parse()
                    .map_err(|_| StoreError::Corrupt("unknown appointment type"))?,
                scheduled_for: r.scheduled_for,
                notes: r
                    .notes
                    .as_deref()
                    .map(Notes::parse)
                    .transpose()
                    .map_err(|_| StoreError::Corrupt("invalid notes"))?,
            },
            status: r
                .status
                .parse()
                .map_err(|_| StoreError::Corrupt("unknown appointment status"))?,
            version: r.version,
            cancel_reason: r
                .cancel_reason
                .as_deref()
                .map(CancelReason::parse)
                .transpose()
                .map_err(|_| StoreError::Corrupt("invalid cancel reason"))?,
        })
    }
}

/// The clinic of an appointment on the write side, if it exists (for authorisation checks).
pub async fn clinic_of(
    pool: &sqlx::PgPool,
    id: AppointmentId,
) -> Result<Option<domain::ClinicId>, StoreError> {
    let row: Option<(Uuid,)> = sqlx::query_as("SELECT clinic_id FROM appointments WHERE id = $1")
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|(c,)| domain::ClinicId(c)))
}

/// The appointment, locked for the rest of the transaction.
pub async fn load_for_update(
    tx: &mut PgConnection,
    id: AppointmentId,
) -> Result<Option<Appointment>, StoreError> {
    let row = sqlx::query_as::<_, Row>(
        "SELECT id, saga_id, clinic_id, provider_id, patient_id, type, notes, status, version, scheduled_for, cancel_reason
         FROM appointments WHERE id = $1 FOR UPDATE",
    )
    .bind(id.0)
    .fetch_optional(tx)
    .await?;
    row.map(Appointment::try_from).transpose()
}

/// Stores an appointment's new status, version and cancel reason.
pub async fn save(
    tx: &mut PgConnection,
    appointment: &Appointment,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE appointments SET status = $2, version = $3, cancel_reason = $4, updated_at = $5 WHERE id = $1")
        .bind(appointment.booking.appointment_id.0)
        .bind(appointment.status.as_str())
        .bind(appointment.version)
        .bind(appointment.cancel_reason.as_ref().map(CancelReason::as_str))
        .bind(now)
        .execute(tx)
        .await?;
    Ok(())
}
