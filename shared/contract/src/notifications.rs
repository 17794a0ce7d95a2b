//! Booking confirmations: the saga's request to notify the patient and the notifier's receipt.

use chrono::{DateTime, Utc};
use domain::ids::{AppointmentId, EventId, SagaId};
use serde::{Deserialize, Serialize};

use crate::record::impl_record;

/// Sent by the saga: email the patient a booking confirmation. Topic `notifications.commands.send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendConfirmation {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
}

impl_record!(
    SendConfirmation,
    topic: "notifications.commands.send",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .id("saga_id", r.saga_id);
    },
);

/// The confirmation was sent to the patient. Topic `notifications.events.sent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationSent {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
    /// Id the mail provider gave the sent message.
    pub message_id: String,
}

impl_record!(
    ConfirmationSent,
    topic: "notifications.events.sent",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .id("saga_id", r.saga_id)
            .text("message_id", &r.message_id);
    },
);
