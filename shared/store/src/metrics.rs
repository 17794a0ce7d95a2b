//! The metrics projection (`metrics_hourly`, `metrics_appointments`), written by
//! project-metrics, and the queries behind `GET /api/v1/metrics`.
//!
//! Everything is keyed by event time (`occurred_at` of each event), never by when a record was
//! processed, so duplicates (dropped by event id upstream), out-of-order delivery, late events
//! and a rebuild from the earliest offset all give the same numbers.
//!
//! Lateness: there is no limit. Windows are rows, not in-memory state that has to be closed,
//! so an event is counted in its own window however late it arrives, and the window's
//! HourlyCount is emitted again with the new total.

use crate::StoreError;
use chrono::{DateTime, Utc};
use domain::metrics::{window_start, FUNNEL_WINDOW, HOUR};
use domain::{AppointmentId, ClinicId};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

/// A funnel stage after creation; each has its own event-time column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Confirmed,
    Cancelled,
    Completed,
}

impl Stage {
    fn column(self) -> &'static str {
        match self {
            Stage::Confirmed => "confirmed_at",
            Stage::Cancelled => "cancelled_at",
            Stage::Completed => "completed_at",
        }
    }
}

/// Any number unique to the metrics writers among our advisory locks.
const METRICS_WRITERS_LOCK: i64 = 7_346_003;

/// Makes `tx` the only metrics writer until it ends. Kafka mappings invoke the batches of
/// different partitions at once (in AWS as in the local runtime), and each batch upserts the
/// same hot counter rows (a clinic's hour) in its own order, so two batches deadlock (seen in
/// the bench). Serialising them costs little: a batch is a few upserts.
pub async fn lock_writers(tx: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(METRICS_WRITERS_LOCK)
        .execute(tx)
        .await?;
    Ok(())
}

/// Records an AppointmentCreated: the appointment's clinic and funnel window, and one more in
/// its clinic's hour. Returns the hour window and its new count (for the HourlyCount record).
pub async fn apply_created(
    tx: &mut PgConnection,
    appointment_id: AppointmentId,
    clinic_id: ClinicId,
    occurred_at: DateTime<Utc>,
) -> Result<(DateTime<Utc>, i64), StoreError> {
    sqlx::query(
        "INSERT INTO metrics_appointments (appointment_id, clinic_id, created_at, funnel_window)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (appointment_id) DO UPDATE SET
             clinic_id = EXCLUDED.clinic_id, created_at = EXCLUDED.created_at,
             funnel_window = EXCLUDED.funnel_window",
    )
    .bind(appointment_id.0)
    .bind(clinic_id.0)
    .bind(occurred_at)
    .bind(window_start(occurred_at, FUNNEL_WINDOW))
    .execute(&mut *tx)
    .await?;
    let hour = window_start(occurred_at, HOUR);
    let (count,): (i64,) = sqlx::query_as(
        "INSERT INTO metrics_hourly (clinic_id, window_start, count) VALUES ($1, $2, 1)
         ON CONFLICT (clinic_id, window_start) DO UPDATE SET count = metrics_hourly.count + 1
         RETURNING count",
    )
    .bind(clinic_id.0)
    .bind(hour)
    .fetch_one(&mut *tx)
    .await?;
    Ok((hour, count))
}

/// Records when an appointment reached `stage` (the first time; the write side emits each
/// stage at most once per appointment).
pub async fn apply_stage(
    tx: &mut PgConnection,
    appointment_id: AppointmentId,
    stage: Stage,
    occurred_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let column = stage.column();
    sqlx::query(&format!(
        "INSERT INTO metrics_appointments (appointment_id, {column}) VALUES ($1, $2)
         ON CONFLICT (appointment_id) DO UPDATE SET
             {column} = LEAST(metrics_appointments.{column}, EXCLUDED.{column})"
    ))
    .bind(appointment_id.0)
    .bind(occurred_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// What the metrics queries cover: these clinics, event times in `[from, to)`. With `from`
/// and `to` on whole hours (as the API gives them) the hourly counts add up to `created`.
#[derive(Debug, Clone)]
pub struct MetricsScope {
    pub clinics: Vec<ClinicId>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl MetricsScope {
    pub(crate) fn clinic_ids(&self) -> Vec<Uuid> {
        self.clinics.iter().map(|c| c.0).collect()
    }
}

/// Funnel events in the scope, each counted at its own event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, FromRow)]
pub struct StageTotals {
    pub created: i64,
    pub confirmed: i64,
    pub cancelled: i64,
    pub completed: i64,
}

pub async fn stage_totals(pool: &PgPool, scope: &MetricsScope) -> Result<StageTotals, StoreError> {
    Ok(sqlx::query_as(
        "SELECT count(*) FILTER (WHERE created_at >= $2 AND created_at < $3) AS created,
             count(*) FILTER (WHERE confirmed_at >= $2 AND confirmed_at < $3) AS confirmed,
             count(*) FILTER (WHERE cancelled_at >= $2 AND cancelled_at < $3) AS cancelled,
             count(*) FILTER (WHERE completed_at >= $2 AND completed_at < $3) AS completed
         FROM metrics_appointments WHERE clinic_id = ANY($1)",
    )
    .bind(scope.clinic_ids())
    .bind(scope.from)
    .bind(scope.to)
    .fetch_one(pool)
    .await?)
}

/// Appointments created per hour over the scope's clinics, for the hours that have any.
pub async fn hourly_created(
    pool: &PgPool,
    scope: &MetricsScope,
) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT window_start, sum(count)::bigint FROM metrics_hourly
         WHERE clinic_id = ANY($1) AND window_start >= $2 AND window_start < $3
         GROUP BY window_start ORDER BY window_start",
    )
    .bind(scope.clinic_ids())
    .bind(scope.from)
    .bind(scope.to)
    .fetch_all(pool)
    .await?)
}

/// One 30-minute booking cohort: the appointments created in the window, and how many of
/// them have been confirmed, cancelled and completed since (whenever that happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, FromRow)]
pub struct FunnelWindow {
    pub window_start: DateTime<Utc>,
    pub created: i64,
    pub confirmed: i64,
    pub cancelled: i64,
    pub completed: i64,
}

/// The funnel windows of the scope that have bookings, in time order.
pub async fn funnel(pool: &PgPool, scope: &MetricsScope) -> Result<Vec<FunnelWindow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT funnel_window AS window_start, count(*) AS created, count(confirmed_at) AS confirmed,
                count(cancelled_at) AS cancelled, count(completed_at) AS completed
         FROM metrics_appointments
         WHERE clinic_id = ANY($1) AND funnel_window >= $2 AND funnel_window < $3
         GROUP BY funnel_window ORDER BY funnel_window",
    )
    .bind(scope.clinic_ids())
    .bind(scope.from)
    .bind(scope.to)
    .fetch_all(pool)
    .await?)
}
