//! Call-center calls: the write side (`calls`: start and end, each with its record in the
//! outbox, in the caller's transaction), the `call_summary` projection written by
//! project-calls, and the call metrics behind `GET /api/v1/metrics`.

use crate::metrics::MetricsScope;
use crate::outbox::{self, OutboxRecord};
use crate::StoreError;
use chrono::{DateTime, Utc};
use contract::{CallEnded, CallOutcome, CallStarted, SchemaRegistry};
use domain::{AppointmentId, CallId, ClinicId, EventId};
use sqlx::{FromRow, PgConnection, PgPool};

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
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for EndCallError {
    fn from(e: sqlx::Error) -> Self {
        EndCallError::Store(e.into())
    }
}

/// Starts a call: the row and its CallStarted record.
pub async fn start_call(
    tx: &mut PgConnection,
    registry: &SchemaRegistry,
    clinic_id: ClinicId,
    agent_id: &str,
    now: DateTime<Utc>,
) -> Result<CallStarted, StoreError> {
    let started = CallStarted {
        event_id: EventId::new(),
        occurred_at: now,
        call_id: CallId::new(),
        clinic_id,
        agent_id: agent_id.to_owned(),
    };
    let record = OutboxRecord::encode(registry, &started, None).await?;
    sqlx::query("INSERT INTO calls (id, clinic_id, agent_id, started_at) VALUES ($1, $2, $3, $4)")
        .bind(started.call_id.0)
        .bind(clinic_id.0)
        .bind(agent_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    outbox::append(tx, &[record]).await?;
    Ok(started)
}

/// The clinic of a call and the agent who started it, if it exists (for the caller's
/// authorisation check).
pub async fn call_clinic_and_agent(
    pool: &PgPool,
    call_id: CallId,
) -> Result<Option<(ClinicId, String)>, StoreError> {
    let row: Option<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT clinic_id, agent_id FROM calls WHERE id = $1")
            .bind(call_id.0)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(clinic, agent)| (ClinicId(clinic), agent)))
}

/// Ends a started call once, with its outcome and the appointment it was about (which must be
/// at the call's clinic); stores the CallEnded record.
pub async fn end_call(
    tx: &mut PgConnection,
    registry: &SchemaRegistry,
    call_id: CallId,
    outcome: CallOutcome,
    appointment_id: Option<AppointmentId>,
    now: DateTime<Utc>,
) -> Result<(CallEnded, DateTime<Utc>), EndCallError> {
    let row: Option<(uuid::Uuid, String, DateTime<Utc>, Option<String>)> = sqlx::query_as(
        "SELECT clinic_id, agent_id, started_at, outcome FROM calls WHERE id = $1 FOR UPDATE",
    )
    .bind(call_id.0)
    .fetch_optional(&mut *tx)
    .await?;
    let (clinic_id, agent_id, started_at, previous) = row.ok_or(EndCallError::UnknownCall)?;
    if let Some(previous) = previous {
        let outcome = previous
            .parse()
            .map_err(|_| StoreError::Corrupt("unknown call outcome"))?;
        return Err(EndCallError::AlreadyEnded { outcome });
    }
    if let Some(appointment) = appointment_id {
        let known: Option<(i32,)> =
            sqlx::query_as("SELECT 1 FROM appointments WHERE id = $1 AND clinic_id = $2")
                .bind(appointment.0)
                .bind(clinic_id)
                .fetch_optional(&mut *tx)
                .await?;
        if known.is_none() {
            return Err(EndCallError::UnknownAppointment);
        }
    }
    // A clock step backwards must not make a negative handle time.
    let ended_at = now.max(started_at);
    let ended = CallEnded {
        event_id: EventId::new(),
        occurred_at: ended_at,
        call_id,
        clinic_id: ClinicId(clinic_id),
        agent_id,
        outcome,
        appointment_id,
    };
    let record = OutboxRecord::encode(registry, &ended, None).await?;
    sqlx::query("UPDATE calls SET ended_at = $2, outcome = $3, appointment_id = $4 WHERE id = $1")
        .bind(call_id.0)
        .bind(ended_at)
        .bind(outcome.as_str())
        .bind(appointment_id.map(|a| a.0))
        .execute(&mut *tx)
        .await?;
    outbox::append(tx, &[record]).await?;
    Ok((ended, started_at))
}

/// project-calls: a CallStarted fills the start; it may arrive after the CallEnded.
pub async fn apply_call_started(tx: &mut PgConnection, e: &CallStarted) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO call_summary (call_id, clinic_id, agent_id, started_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (call_id) DO UPDATE SET started_at = EXCLUDED.started_at",
    )
    .bind(e.call_id.0)
    .bind(e.clinic_id.0)
    .bind(&e.agent_id)
    .bind(e.occurred_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// project-calls: a CallEnded fills the end, in any order with its CallStarted.
pub async fn apply_call_ended(tx: &mut PgConnection, e: &CallEnded) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO call_summary (call_id, clinic_id, agent_id, ended_at, outcome, appointment_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (call_id) DO UPDATE SET
             ended_at = EXCLUDED.ended_at, outcome = EXCLUDED.outcome,
             appointment_id = EXCLUDED.appointment_id",
    )
    .bind(e.call_id.0)
    .bind(e.clinic_id.0)
    .bind(&e.agent_id)
    .bind(e.occurred_at)
    .bind(e.outcome.as_str())
    .bind(e.appointment_id.map(|a| a.0))
    .execute(tx)
    .await?;
    Ok(())
}

/// Calls in the scope: started and ended in it, still open, how long the ended ones took and
/// how many of them ended with a booking.
#[derive(Debug, Clone, Copy, PartialEq, Default, FromRow)]
pub struct CallTotals {
    /// Calls started in the range.
    pub started: i64,
    /// Calls ended in the range.
    pub ended: i64,
    /// Calls started in the range that have not ended (as far as the topics tell).
    pub in_progress: i64,
    /// Mean of end − start over the calls ended in the range whose start is known.
    pub average_handle_seconds: Option<f64>,
    /// Calls ended in the range with outcome BOOKED.
    pub booked: i64,
}

pub async fn call_totals(pool: &PgPool, scope: &MetricsScope) -> Result<CallTotals, StoreError> {
    Ok(sqlx::query_as(
        "SELECT count(*) FILTER (WHERE started_at >= $2 AND started_at < $3) AS started,
                count(*) FILTER (WHERE ended_at >= $2 AND ended_at < $3) AS ended,
                count(*) FILTER (WHERE started_at >= $2 AND started_at < $3 AND ended_at IS NULL) AS in_progress,
                (avg(extract(epoch FROM ended_at - started_at))
                    FILTER (WHERE ended_at >= $2 AND ended_at < $3 AND started_at IS NOT NULL))::float8
                    AS average_handle_seconds,
                count(*) FILTER (WHERE ended_at >= $2 AND ended_at < $3 AND outcome = 'BOOKED') AS booked
         FROM call_summary WHERE clinic_id = ANY($1)",
    )
    .bind(scope.clinic_ids())
    .bind(scope.from)
    .bind(scope.to)
    .fetch_one(pool)
    .await?)
}

/// Calls started per hour over the scope's clinics, for the hours that have any.
pub async fn hourly_calls(
    pool: &PgPool,
    scope: &MetricsScope,
) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT date_bin('1 hour', started_at, TIMESTAMPTZ 'epoch') AS hour, count(*) FROM call_summary
         WHERE clinic_id = ANY($1) AND started_at >= $2 AND started_at < $3
         GROUP BY hour ORDER BY hour",
    )
    .bind(scope.clinic_ids())
    .bind(scope.from)
    .bind(scope.to)
    .fetch_all(pool)
    .await?)
}
