//! The projections' writes that read contract records: each turns its record into what the
//! read model stores (`store::read_model`, `store::calls`).

use crate::Error;
use contract::{AppointmentCreated, CallEnded, CallStarted};
use sqlx::PgConnection;
use store::calls::CallSeen;
use store::read_model::Booked;

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
