//! Appointment commands on the write side (confirm, cancel, complete): load the aggregate under
//! a row lock, let the pure domain decide, store the new status and version, and put the event
//! in the outbox, all in the caller's transaction. A refused transition changes nothing.

use crate::outbox::{self, OutboxRecord};
use crate::StoreError;
use chrono::{DateTime, Utc};
use contract::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, Record, SchemaRegistry,
};
use domain::appointment::{
    apply, handle, Appointment, AppointmentCommand, AppointmentEvent, Booking, DomainError,
};
use domain::values::{CancelReason, Notes};
use domain::{AppointmentId, AppointmentStatus, EventId};
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// The command was applied; the appointment is now in this status and version.
    Applied {
        status: AppointmentStatus,
        version: i32,
    },
    /// The domain refused it; nothing changed.
    Refused(DomainError),
}

/// Applies `command` to appointment `id` inside `tx`. `causation` is the input record.
pub async fn apply_command(
    tx: &mut PgConnection,
    registry: &SchemaRegistry,
    id: AppointmentId,
    command: AppointmentCommand,
    causation: Option<EventId>,
    now: DateTime<Utc>,
) -> Result<CommandOutcome, StoreError> {
    // The schema of the record the command may emit, looked up before the row lock, so a cold
    // registry call never holds it.
    let emits = match command {
        AppointmentCommand::Confirm => Some(AppointmentConfirmed::NAME),
        AppointmentCommand::Cancel { .. } => Some(AppointmentCancelled::NAME),
        AppointmentCommand::Complete => Some(AppointmentCompleted::NAME),
        AppointmentCommand::Schedule(_) | AppointmentCommand::MarkInsuranceVerified => None,
    };
    if let Some(name) = emits {
        registry
            .version_id(name)
            .await
            .map_err(contract::EncodeError::from)?;
    }
    let current = load_for_update(tx, id).await?;
    let events = match handle(current.as_ref(), command) {
        Ok(events) => events,
        Err(refused) => return Ok(CommandOutcome::Refused(refused)),
    };
    let Some(before) = current else {
        return Err(StoreError::Corrupt(
            "a command created an appointment outside the booking use case",
        ));
    };
    let saga_id = before.booking.saga_id;
    let mut state = Some(before);
    for event in &events {
        let record = match event {
            AppointmentEvent::Confirmed { version } => {
                let e = AppointmentConfirmed {
                    event_id: EventId::new(),
                    occurred_at: now,
                    appointment_id: id,
                    appointment_version: *version,
                    saga_id,
                };
                Some(OutboxRecord::encode(registry, &e, causation).await?)
            }
            AppointmentEvent::Cancelled { reason, version } => {
                let e = AppointmentCancelled {
                    event_id: EventId::new(),
                    occurred_at: now,
                    appointment_id: id,
                    appointment_version: *version,
                    saga_id,
                    reason: reason.as_str().to_owned(),
                };
                Some(OutboxRecord::encode(registry, &e, causation).await?)
            }
            AppointmentEvent::Completed { version } => {
                let e = AppointmentCompleted {
                    event_id: EventId::new(),
                    occurred_at: now,
                    appointment_id: id,
                    appointment_version: *version,
                    saga_id,
                };
                Some(OutboxRecord::encode(registry, &e, causation).await?)
            }
            // Created never reaches this point (a command on a missing appointment is refused
            // above; booking is `crate::booking`). InsuranceVerified has no topic: the saga's
            // SendConfirmation carries that step, so the state change alone is stored.
            AppointmentEvent::Created { .. } | AppointmentEvent::InsuranceVerified { .. } => None,
        };
        state = apply(state, event);
        if let Some(record) = record {
            outbox::append(tx, &[record]).await?;
        }
    }
    let after = state.ok_or(StoreError::Corrupt(
        "an applied event removed the appointment",
    ))?;
    sqlx::query("UPDATE appointments SET status = $2, version = $3, cancel_reason = $4, updated_at = $5 WHERE id = $1")
        .bind(id.0)
        .bind(after.status.as_str())
        .bind(after.version)
        .bind(after.cancel_reason.as_ref().map(CancelReason::as_str))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Ok(CommandOutcome::Applied {
        status: after.status,
        version: after.version,
    })
}
