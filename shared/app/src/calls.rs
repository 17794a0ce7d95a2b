//! Call-center calls: [`start_call`] and [`end_call`], each with its record in the outbox, in
//! the caller's transaction.

use crate::{Error, Outbox};
use chrono::{DateTime, Utc};
use contract::{CallEnded, CallStarted};
use domain::call::CallOutcome;
use domain::{AppointmentId, CallId, ClinicId, EventId};
use sqlx::PgConnection;
use store::calls::LockedCall;
use store::StoreError;

/// Why a call could not be ended.
#[derive(Debug, thiserror::Error)]
pub enum EndCallError {
    #[error("no such call")]
    UnknownCall,
    #[error("the call has already ended")]
    AlreadyEnded { outcome: CallOutcome },
    #[error("no such appointment at the call's clinic")]
    UnknownAppointment,
    #[error(transparent)]
    Failed(#[from] Error),
}

impl From<StoreError> for EndCallError {
    fn from(e: StoreError) -> Self {
        EndCallError::Failed(e.into())
    }
}

/// Starts a call: the row and its CallStarted record.
pub async fn start_call(
    tx: &mut PgConnection,
    outbox: Outbox<'_>,
    clinic_id: ClinicId,
    agent_id: &str,
    now: DateTime<Utc>,
) -> Result<CallStarted, Error> {
    let started = CallStarted {
        event_id: EventId::new(),
        occurred_at: now,
        call_id: CallId::new(),
        clinic_id,
        agent_id: agent_id.to_owned(),
    };
    let record = outbox.encode(&started, None).await?;
    store::calls::insert_call(tx, started.call_id, clinic_id, agent_id, now).await?;
    store::outbox::append(tx, &[record]).await?;
    Ok(started)
}

/// When `call` ends if asked to at `now`: refused if it already ended; never before it started
/// (a clock step backwards must not make a negative handle time).
fn end_time(call: &LockedCall, now: DateTime<Utc>) -> Result<DateTime<Utc>, EndCallError> {
    match call.outcome {
        Some(outcome) => Err(EndCallError::AlreadyEnded { outcome }),
        None => Ok(now.max(call.started_at)),
    }
}

/// Ends a started call once, with its outcome and the appointment it was about (which must be
/// at the call's clinic); stores the CallEnded record. Returns it with the call's start.
pub async fn end_call(
    tx: &mut PgConnection,
    outbox: Outbox<'_>,
    call_id: CallId,
    outcome: CallOutcome,
    appointment_id: Option<AppointmentId>,
    now: DateTime<Utc>,
) -> Result<(CallEnded, DateTime<Utc>), EndCallError> {
    outbox
        .prepare([<CallEnded as contract::Record>::NAME])
        .await?;
    let call = store::calls::load_for_update(tx, call_id)
        .await?
        .ok_or(EndCallError::UnknownCall)?;
    let ended_at = end_time(&call, now)?;
    if let Some(appointment) = appointment_id {
        if !store::calls::appointment_is_at(tx, appointment, call.clinic_id).await? {
            return Err(EndCallError::UnknownAppointment);
        }
    }
    let ended = CallEnded {
        event_id: EventId::new(),
        occurred_at: ended_at,
        call_id,
        clinic_id: call.clinic_id,
        agent_id: call.agent_id,
        outcome,
        appointment_id,
    };
    store::calls::finish_call(tx, call_id, ended_at, outcome, appointment_id).await?;
    outbox.append(tx, &ended, None).await?;
    Ok((ended, call.started_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn call(started_at: DateTime<Utc>, outcome: Option<CallOutcome>) -> LockedCall {
        LockedCall {
            clinic_id: ClinicId(uuid::Uuid::from_u128(1)),
            agent_id: "agent-7".to_owned(),
            started_at,
            outcome,
        }
    }

    #[test]
    fn a_call_ends_now_but_never_before_it_started_and_only_once() {
        let started = Utc::now();
        let later = started + Duration::minutes(4);
        assert_eq!(end_time(&call(started, None), later).ok(), Some(later));
        let clock_stepped_back = started - Duration::seconds(30);
        assert_eq!(
            end_time(&call(started, None), clock_stepped_back).ok(),
            Some(started)
        );
        let ended = call(started, Some(CallOutcome::Booked));
        assert!(matches!(
            end_time(&ended, later),
            Err(EndCallError::AlreadyEnded {
                outcome: CallOutcome::Booked
            })
        ));
    }
}
