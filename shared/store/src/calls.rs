//! Call-center calls: the write side's rows (`calls`; the rules of starting and ending one are
//! in `app::calls`), the `call_summary` projection written by project-calls, and the call
//! metrics behind `GET /api/v1/metrics`.

use crate::metrics::MetricsScope;
use crate::StoreError;
use chrono::{DateTime, Utc};
use domain::call::CallOutcome;
use domain::{AppointmentId, CallId, ClinicId};
use sqlx::{FromRow, PgConnection, PgPool};

/// Stores a started call.
pub async fn insert_call(
    tx: &mut PgConnection,
    call_id: CallId,
    clinic_id: ClinicId,
    agent_id: &str,
    started_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO calls (id, clinic_id, agent_id, started_at) VALUES ($1, $2, $3, $4)")
        .bind(call_id.0)
        .bind(clinic_id.0)
        .bind(agent_id)
        .bind(started_at)
        .execute(tx)
        .await?;
    Ok(())
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

/// A call on the write side, locked for the rest of the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedCall {
    pub clinic_id: ClinicId,
    pub agent_id: String,
    pub started_at: DateTime<Utc>,
    /// None while the call goes on.
    pub outcome: Option<CallOutcome>,
}

/// The call, locked for the rest of the transaction, if it exists.
pub async fn load_for_update(
    tx: &mut PgConnection,
    call_id: CallId,
) -> Result<Option<LockedCall>, StoreError> {
    let row: Option<(uuid::Uuid, String, DateTime<Utc>, Option<String>)> = sqlx::query_as(
        "SELECT clinic_id, agent_id, started_at, outcome FROM calls WHERE id = $1 FOR UPDATE",
    )
    .bind(call_id.0)
    .fetch_optional(tx)
    .await?;
    row.map(|(clinic_id, agent_id, started_at, outcome)| {
        Ok(LockedCall {
            clinic_id: ClinicId(clinic_id),
            agent_id,
            started_at,
            outcome: outcome
                .map(|o| o.parse())
                .transpose()
                .map_err(|_| StoreError::Corrupt("unknown call outcome"))?,
        })
    })
    .transpose()
}

/// Whether appointment `id` is at `clinic`.
pub async fn appointment_is_at(
    tx: &mut PgConnection,
    id: AppointmentId,
    clinic: ClinicId,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM appointments WHERE id = $1 AND clinic_id = $2)",
    )
    .bind(id.0)
    .bind(clinic.0)
    .fetch_one(tx)
    .await?)
}

/// Stores how a call ended.
pub async fn finish_call(
    tx: &mut PgConnection,
    call_id: CallId,
    ended_at: DateTime<Utc>,
    outcome: CallOutcome,
    appointment_id: Option<AppointmentId>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE calls SET ended_at = $2, outcome = $3, appointment_id = $4 WHERE id = $1")
        .bind(call_id.0)
        .bind(ended_at)
        .bind(outcome.as_str())
        .bind(appointment_id.map(|a| a.0))
        .execute(tx)
        .await?;
    Ok(())
}

/// A call as the `call_summary` projection stores it: the start or the end, whichever record
/// arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSeen {
    pub call_id: CallId,
    pub clinic_id: ClinicId,
    pub agent_id: String,
    pub at: DateTime<Utc>,
}

/// project-calls: a CallStarted fills the start; it may arrive after the CallEnded.
pub async fn apply_call_started(tx: &mut PgConnection, e: &CallSeen) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO call_summary (call_id, clinic_id, agent_id, started_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (call_id) DO UPDATE SET started_at = EXCLUDED.started_at",
    )
    .bind(e.call_id.0)
    .bind(e.clinic_id.0)
    .bind(&e.agent_id)
    .bind(e.at)
    .execute(tx)
    .await?;
    Ok(())
}

/// project-calls: a CallEnded fills the end, in any order with its CallStarted.
pub async fn apply_call_ended(
    tx: &mut PgConnection,
    e: &CallSeen,
    outcome: CallOutcome,
    appointment_id: Option<AppointmentId>,
) -> Result<(), StoreError> {
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
    .bind(e.at)
    .bind(outcome.as_str())
    .bind(appointment_id.map(|a| a.0))
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
