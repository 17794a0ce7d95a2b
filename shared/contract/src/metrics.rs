//! Derived metrics published by the projections for anyone to consume.

use chrono::{DateTime, Utc};
use domain::ids::{ClinicId, EventId};
use serde::{Deserialize, Serialize};

use crate::record::impl_record;

/// Appointments created at one clinic in one event-time hour. Topic `appointments.metrics.hourly-counts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourlyCount {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub clinic_id: ClinicId,
    /// Start of the hour (on the hour, UTC).
    #[serde(with = "crate::wire::millis")]
    pub window_start: DateTime<Utc>,
    pub count: i64,
}

impl_record!(
    HourlyCount,
    topic: "appointments.metrics.hourly-counts",
    key: |r| r.clinic_id.to_string(),
    saga: |_| None,
    check: |r, c| {
        c.id("clinic_id", r.clinic_id)
            .instant("window_start", r.window_start)
            .count("count", r.count);
    },
);
