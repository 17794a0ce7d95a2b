//! The projections that can be rebuilt from the topics: which function writes them and which
//! tables they own. A rebuild empties those tables and forgets which records the function has
//! processed, so replaying its topics from the earliest offset writes everything again.

use crate::StoreError;
use sqlx::PgPool;

/// A read model written by one Kafka-triggered function and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Projection {
    /// The function (its consumer name in `processed_messages`, and its mappings' function).
    pub function: &'static str,
    /// Every table only this projection writes.
    pub tables: &'static [&'static str],
}

pub const PROJECTIONS: [Projection; 3] = [
    Projection {
        function: "project-appointments",
        tables: &["appointment_summary"],
    },
    Projection {
        function: "project-metrics",
        tables: &["metrics_hourly", "metrics_appointments"],
    },
    Projection {
        function: "project-calls",
        tables: &["call_summary"],
    },
];

/// The projection written by `function`.
pub fn projection(function: &str) -> Option<Projection> {
    PROJECTIONS.into_iter().find(|p| p.function == function)
}

impl Projection {
    /// Empties the projection's tables and its processed-record markers, in one transaction.
    /// Records it emitted keep their outbox rows: a replay re-decides them with the same event
    /// ids, so nothing is published twice.
    pub async fn reset(&self, pool: &PgPool) -> Result<(), StoreError> {
        let mut tx = pool.begin().await?;
        sqlx::query(&format!("TRUNCATE {}", self.tables.join(", ")))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM processed_messages WHERE consumer = $1")
            .bind(self.function)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
