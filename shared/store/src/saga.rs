//! Booking saga persistence: `saga_state` with optimistic concurrency (a `version` column the
//! update must still find), the saga timeline, and the sweeper's query for passed deadlines.

use crate::StoreError;
use chrono::{DateTime, Utc};
use domain::saga::{Saga, SagaStep};
use domain::{AppointmentId, SagaId};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

#[derive(FromRow)]
struct Row {
    saga_id: Uuid,
    appointment_id: Uuid,
    step: String,
    version: i32,
    deadline: Option<DateTime<Utc>>,
}

impl TryFrom<Row> for Saga {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Saga {
            saga_id: SagaId(r.saga_id),
            appointment_id: AppointmentId(r.appointment_id),
            step: r
                .step
                .parse()
                .map_err(|_| StoreError::Corrupt("unknown saga step"))?,
            version: r.version,
            deadline: r.deadline,
        })
    }
}

const COLUMNS: &str = "saga_id, appointment_id, step, version, deadline";

pub async fn load(db: &mut PgConnection, saga_id: SagaId) -> Result<Option<Saga>, StoreError> {
    fetch(db, saga_id, "").await
}

/// [`load`], with the row locked for the rest of the transaction: the sweeper holds it while it
/// decides, so a confirmation-email claim (which locks the row to check the step) either comes
/// before the decision and is seen by it, or after it and finds the saga moved on.
pub async fn load_for_update(
    db: &mut PgConnection,
    saga_id: SagaId,
) -> Result<Option<Saga>, StoreError> {
    fetch(db, saga_id, " FOR UPDATE").await
}

async fn fetch(
    db: &mut PgConnection,
    saga_id: SagaId,
    lock: &str,
) -> Result<Option<Saga>, StoreError> {
    sqlx::query_as::<_, Row>(&format!(
        "SELECT {COLUMNS} FROM saga_state WHERE saga_id = $1{lock}"
    ))
    .bind(saga_id.0)
    .fetch_optional(db)
    .await?
    .map(Saga::try_from)
    .transpose()
}

/// Stores a new saga; false when one with this id (or for this appointment) already exists.
pub async fn insert(
    db: &mut PgConnection,
    saga: &Saga,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO saga_state (saga_id, appointment_id, step, version, deadline, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
    )
    .bind(saga.saga_id.0)
    .bind(saga.appointment_id.0)
    .bind(saga.step.as_str())
    .bind(saga.version)
    .bind(saga.deadline)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Saves `saga` if the stored row still has the version it was derived from (`saga.version - 1`).
/// False: someone else advanced it first; the caller's transaction must not commit its effects.
pub async fn save(
    db: &mut PgConnection,
    saga: &Saga,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let updated = sqlx::query(
        "UPDATE saga_state SET step = $2, version = $3, deadline = $4, updated_at = $5
         WHERE saga_id = $1 AND version = $3 - 1",
    )
    .bind(saga.saga_id.0)
    .bind(saga.step.as_str())
    .bind(saga.version)
    .bind(saga.deadline)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Sagas whose current step passed its deadline, oldest first.
pub async fn due(
    db: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Saga>, StoreError> {
    sqlx::query_as::<_, Row>(&format!(
        "SELECT {COLUMNS} FROM saga_state WHERE deadline <= $1 ORDER BY deadline LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(Saga::try_from)
    .collect()
}

/// Whether an input moved the saga or was only noted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineOutcome {
    Applied,
    Ignored,
}

impl TimelineOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineOutcome::Applied => "APPLIED",
            TimelineOutcome::Ignored => "IGNORED",
        }
    }
}

/// One line of the saga timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// What reached the saga: AppointmentCreated, InsuranceVerified, …, DeadlinePassed.
    pub input: String,
    pub outcome: TimelineOutcome,
    /// The step after the input (unchanged when ignored).
    pub step: SagaStep,
    /// Why it was ignored, the reason of a failure, the command sent, … (never PHI).
    pub detail: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

pub async fn append_timeline(
    db: &mut PgConnection,
    saga_id: SagaId,
    entry: &TimelineEntry,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO saga_timeline (saga_id, input, outcome, step, detail, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(saga_id.0)
    .bind(&entry.input)
    .bind(entry.outcome.as_str())
    .bind(entry.step.as_str())
    .bind(&entry.detail)
    .bind(entry.occurred_at)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(FromRow)]
struct TimelineRow {
    input: String,
    outcome: String,
    step: String,
    detail: Option<String>,
    occurred_at: DateTime<Utc>,
}

/// The saga's timeline in the order it happened.
pub async fn timeline(
    db: &mut PgConnection,
    saga_id: SagaId,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let rows = sqlx::query_as::<_, TimelineRow>(
        "SELECT input, outcome, step, detail, occurred_at FROM saga_timeline WHERE saga_id = $1 ORDER BY id",
    )
    .bind(saga_id.0)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(TimelineEntry {
                input: r.input,
                outcome: match r.outcome.as_str() {
                    "APPLIED" => TimelineOutcome::Applied,
                    "IGNORED" => TimelineOutcome::Ignored,
                    _ => return Err(StoreError::Corrupt("unknown timeline outcome")),
                },
                step: r
                    .step
                    .parse()
                    .map_err(|_| StoreError::Corrupt("unknown saga step"))?,
                detail: r.detail,
                occurred_at: r.occurred_at,
            })
        })
        .collect()
}
