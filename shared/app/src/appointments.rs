//! The appointment commands: [`confirm`], [`cancel`], [`complete`], and the saga's
//! [`mark_insurance_verified`]. Each loads the aggregate under a row lock, lets the pure domain
//! decide, stores the new status and version and puts the event in the outbox, all in the
//! caller's transaction. A refused transition changes nothing.

use crate::{Cause, Error, Outbox};
use domain::appointment::{apply, handle, AppointmentCommand, DomainError};
use domain::values::CancelReason;
use domain::{AppointmentId, AppointmentStatus};
use sqlx::PgConnection;
use store::StoreError;

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

impl CommandOutcome {
    /// Logs what a Kafka-triggered `function` made of a command for appointment `id`: a
    /// refusal (a late or duplicate command, e.g. confirming a cancelled appointment) changes
    /// nothing and is not an error to retry or dead-letter.
    pub fn log(&self, function: &str, id: AppointmentId) {
        match self {
            CommandOutcome::Applied { status, version } => {
                tracing::info!(function, appointment_id = %id, %status, version, "appointment updated");
            }
            CommandOutcome::Refused(reason) => {
                tracing::warn!(function, appointment_id = %id, %reason, "command refused; nothing changed");
            }
        }
    }
}

/// AWAITING_CONFIRMATION → CONFIRMED, with AppointmentConfirmed.
pub async fn confirm(
    tx: &mut PgConnection,
    outbox: Outbox<'_>,
    id: AppointmentId,
    cause: Cause,
) -> Result<CommandOutcome, Error> {
    decide(tx, outbox, id, AppointmentCommand::Confirm, cause).await
}

/// Any live status → CANCELLED with `reason`, with AppointmentCancelled; the slot is free again.
pub async fn cancel(
    tx: &mut PgConnection,
    outbox: Outbox<'_>,
    id: AppointmentId,
    reason: CancelReason,
    cause: Cause,
) -> Result<CommandOutcome, Error> {
    decide(tx, outbox, id, AppointmentCommand::Cancel { reason }, cause).await
}

/// CONFIRMED → COMPLETED, with AppointmentCompleted.
pub async fn complete(
    tx: &mut PgConnection,
    outbox: Outbox<'_>,
    id: AppointmentId,
    cause: Cause,
) -> Result<CommandOutcome, Error> {
    decide(tx, outbox, id, AppointmentCommand::Complete, cause).await
}

/// PENDING_INSURANCE → AWAITING_CONFIRMATION, when the saga sends SendConfirmation. No record:
/// the saga's command carries the step.
pub async fn mark_insurance_verified(
    tx: &mut PgConnection,
    outbox: Outbox<'_>,
    id: AppointmentId,
    cause: Cause,
) -> Result<CommandOutcome, Error> {
    decide(
        tx,
        outbox,
        id,
        AppointmentCommand::MarkInsuranceVerified,
        cause,
    )
    .await
}

/// Applies `command` to appointment `id` inside `tx`.
async fn decide(
    tx: &mut PgConnection,
    outbox: Outbox<'_>,
    id: AppointmentId,
    command: AppointmentCommand,
    cause: Cause,
) -> Result<CommandOutcome, Error> {
    outbox
        .prepare(Outbox::change_record(command.kind()))
        .await?;
    let current = store::appointments::load_for_update(tx, id).await?;
    let events = match handle(current.as_ref(), command) {
        Ok(events) => events,
        Err(refused) => return Ok(CommandOutcome::Refused(refused)),
    };
    let Some(before) = current else {
        return Err(StoreError::Corrupt(
            "a command created an appointment outside the booking use case",
        )
        .into());
    };
    let saga_id = before.booking.saga_id;
    let mut state = Some(before);
    for event in &events {
        outbox
            .append_appointment_event(tx, saga_id, id, event, cause.causation, cause.now)
            .await?;
        state = apply(state, event);
    }
    let after = state.ok_or(StoreError::Corrupt(
        "an applied event removed the appointment",
    ))?;
    store::appointments::save(tx, &after, cause.now).await?;
    Ok(CommandOutcome::Applied {
        status: after.status,
        version: after.version,
    })
}
