//! The projections' writes that read contract records: each turns its record into what the
//! read model stores (`store::read_model`, `store::calls`, `store::metrics`).

use crate::{Error, Outbox};
use chrono::{DateTime, Utc};
use contract::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, AppointmentCreated,
    CallEnded, CallStarted, InsuranceVerified,
};
use domain::{AppointmentId, AppointmentStatus};
use sqlx::PgConnection;
use store::calls::CallSeen;
use store::metrics::Stage;
use store::read_model::{Booked, StatusChange};

/// project-appointments: a booking fills `appointment_summary`'s descriptive columns, whenever
/// it arrives. Returns whether the row changed.
pub async fn appointment_created(
    tx: &mut PgConnection,
    e: &AppointmentCreated,
) -> Result<bool, Error> {
    let booked = Booked {
        appointment_id: e.appointment_id,
        saga_id: e.saga_id,
        version: e.appointment_version,
        clinic_id: e.clinic_id,
        clinic_name: e.clinic_name.clone(),
        provider_id: e.provider_id,
        provider_name: e.provider_name.clone(),
        patient_id: e.patient_id,
        patient_name: e.patient_name.clone(),
        scheduled_for: e.scheduled_for,
        duration_minutes: e.duration_minutes,
        kind: e.r#type,
        occurred_at: e.occurred_at,
    };
    Ok(store::read_model::apply_created(tx, &booked).await?)
}

/// project-appointments: the status a record says the appointment reached (confirmed,
/// cancelled with its reason, completed), applied only if newer than the row.
pub async fn status_changed<R: StatusRecord>(tx: &mut PgConnection, e: &R) -> Result<bool, Error> {
    Ok(store::read_model::apply_status_change(tx, &e.status_change()).await?)
}

/// A record that moves an appointment to a status, as the read model stores the move.
pub trait StatusRecord {
    fn status_change(&self) -> StatusChange;
}

/// Implements [`StatusRecord`] for each `record => status, cancel reason` given.
macro_rules! status_records {
    ($($record:ty => $status:expr, $reason:expr;)+) => {
        $(impl StatusRecord for $record {
            fn status_change(&self) -> StatusChange {
                StatusChange {
                    appointment_id: self.appointment_id,
                    saga_id: self.saga_id,
                    version: self.appointment_version,
                    status: $status,
                    cancel_reason: ($reason)(self),
                    occurred_at: self.occurred_at,
                }
            }
        })+
    };
}

status_records! {
    AppointmentConfirmed => AppointmentStatus::Confirmed, |_| None;
    AppointmentCancelled => AppointmentStatus::Cancelled,
        |e: &AppointmentCancelled| Some(e.reason.clone());
    AppointmentCompleted => AppointmentStatus::Completed, |_| None;
}

/// project-appointments: a pending booking's insurance verified (AWAITING_CONFIRMATION).
pub async fn insurance_verified(
    tx: &mut PgConnection,
    e: &InsuranceVerified,
) -> Result<bool, Error> {
    let verified =
        store::read_model::apply_insurance_verified(tx, e.appointment_id, e.saga_id, e.occurred_at);
    Ok(verified.await?)
}

/// project-metrics: a booking counts in its clinic's event-time hour and opens its funnel
/// window; the hour's new count goes out as HourlyCount.
pub async fn count_booking(
    tx: &mut PgConnection,
    outbox: Outbox<'_>,
    e: &AppointmentCreated,
) -> Result<(), Error> {
    store::metrics::lock_writers(tx).await?;
    let (window_start, count) =
        store::metrics::apply_created(tx, e.appointment_id, e.clinic_id, e.occurred_at).await?;
    let record = Outbox::hourly_count(e.clinic_id, window_start, count, e.occurred_at);
    outbox.append(tx, &record, Some(e.event_id)).await
}

/// project-metrics: the appointment reached `stage` of the booking funnel at `at`.
pub async fn count_stage(
    tx: &mut PgConnection,
    appointment_id: AppointmentId,
    stage: Stage,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    store::metrics::lock_writers(tx).await?;
    Ok(store::metrics::apply_stage(tx, appointment_id, stage, at).await?)
}

/// project-calls: a started call, in any order with its end.
pub async fn call_started(tx: &mut PgConnection, e: &CallStarted) -> Result<(), Error> {
    let seen = CallSeen {
        call_id: e.call_id,
        clinic_id: e.clinic_id,
        agent_id: e.agent_id.clone(),
        at: e.occurred_at,
    };
    Ok(store::calls::apply_call_started(tx, &seen).await?)
}

/// project-calls: an ended call, in any order with its start.
pub async fn call_ended(tx: &mut PgConnection, e: &CallEnded) -> Result<(), Error> {
    let seen = CallSeen {
        call_id: e.call_id,
        clinic_id: e.clinic_id,
        agent_id: e.agent_id.clone(),
        at: e.occurred_at,
    };
    Ok(store::calls::apply_call_ended(tx, &seen, e.outcome, e.appointment_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{EventId, SagaId};

    #[test]
    fn each_status_record_moves_the_row_to_its_own_status_at_its_version() {
        let (appointment_id, saga_id) = (AppointmentId::new(), SagaId::new());
        let occurred_at = Utc::now();
        let cancelled = AppointmentCancelled {
            event_id: EventId::new(),
            occurred_at,
            appointment_id,
            appointment_version: 3,
            saga_id,
            reason: "Patient request".to_owned(),
        };
        let change = cancelled.status_change();
        assert_eq!(
            (change.appointment_id, change.saga_id, change.version),
            (appointment_id, saga_id, 3)
        );
        assert_eq!(change.status, AppointmentStatus::Cancelled);
        assert_eq!(change.cancel_reason.as_deref(), Some("Patient request"));
        assert_eq!(change.occurred_at, occurred_at);
        let completed = AppointmentCompleted {
            event_id: EventId::new(),
            occurred_at,
            appointment_id,
            appointment_version: 4,
            saga_id,
        };
        let change = completed.status_change();
        assert_eq!(
            (change.status, change.version),
            (AppointmentStatus::Completed, 4)
        );
        assert_eq!(change.cancel_reason, None);
    }
}
