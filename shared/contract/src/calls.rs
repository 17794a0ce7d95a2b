//! Call-center calls: started and ended, keyed by call; not part of any booking saga.

use chrono::{DateTime, Utc};
use domain::ids::{AppointmentId, CallId, ClinicId, EventId};
use serde::{Deserialize, Serialize};

use crate::record::impl_record;

pub use domain::call::CallOutcome;

/// A call-center call started. Topic `calls.calls.started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStarted {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub call_id: CallId,
    #[serde(with = "crate::wire::id")]
    pub clinic_id: ClinicId,
    pub agent_id: String,
}

impl_record!(
    CallStarted,
    topic: "calls.calls.started",
    key: |r| r.call_id.to_string(),
    saga: |_| None,
    check: |r, c| {
        c.id("call_id", r.call_id)
            .id("clinic_id", r.clinic_id)
            .text("agent_id", &r.agent_id);
    },
);

/// A call-center call ended. Topic `calls.calls.ended`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEnded {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub call_id: CallId,
    #[serde(with = "crate::wire::id")]
    pub clinic_id: ClinicId,
    pub agent_id: String,
    pub outcome: CallOutcome,
    /// The appointment booked, changed or cancelled during the call, if any.
    #[serde(with = "crate::wire::opt_id")]
    pub appointment_id: Option<AppointmentId>,
}

impl_record!(
    CallEnded,
    topic: "calls.calls.ended",
    key: |r| r.call_id.to_string(),
    saga: |_| None,
    check: |r, c| {
        c.id("call_id", r.call_id)
            .id("clinic_id", r.clinic_id)
            .text("agent_id", &r.agent_id)
            .optional_id("appointment_id", r.appointment_id);
    },
);
