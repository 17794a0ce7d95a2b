//! Appointment commands: requests to the write side to schedule, cancel, confirm or complete.

use chrono::{DateTime, Utc};
use domain::ids::{AppointmentId, ClinicId, EventId, PatientId, ProviderId, SagaId};
use domain::AppointmentType;
use serde::{Deserialize, Serialize};

use crate::record::impl_record;

/// Book an appointment; starts a booking saga. Topic `appointments.commands.schedule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleAppointment {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
    #[serde(with = "crate::wire::id")]
    pub clinic_id: ClinicId,
    #[serde(with = "crate::wire::id")]
    pub patient_id: PatientId,
    /// `None` lets the clinic pick a provider.
    #[serde(with = "crate::wire::opt_id")]
    pub provider_id: Option<ProviderId>,
    #[serde(with = "crate::wire::millis")]
    pub scheduled_for: DateTime<Utc>,
    pub r#type: AppointmentType,
    pub notes: Option<String>,
}

impl_record!(
    ScheduleAppointment,
    topic: "appointments.commands.schedule",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .id("saga_id", r.saga_id)
            .id("clinic_id", r.clinic_id)
            .id("patient_id", r.patient_id)
            .optional_id("provider_id", r.provider_id)
            .instant("scheduled_for", r.scheduled_for);
    },
);

/// Cancel an appointment that is not yet completed. Topic `appointments.commands.cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelAppointment {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
    pub reason: String,
    /// An agent id, or [`CancelAppointment::REQUESTED_BY_SAGA`] for a compensation.
    pub requested_by: String,
}

impl CancelAppointment {
    /// `requested_by` of a cancellation the saga sends as compensation.
    pub const REQUESTED_BY_SAGA: &'static str = "saga";
}

impl_record!(
    CancelAppointment,
    topic: "appointments.commands.cancel",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .id("saga_id", r.saga_id)
            .text("reason", &r.reason)
            .text("requested_by", &r.requested_by);
    },
);

/// Sent by the saga: confirm an appointment whose checks passed. Topic `appointments.commands.confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmAppointment {
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
    ConfirmAppointment,
    topic: "appointments.commands.confirm",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .id("saga_id", r.saga_id);
    },
);

/// Mark a confirmed appointment as completed. Topic `appointments.commands.complete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteAppointment {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
    /// The agent id of the requester.
    pub requested_by: String,
}

impl_record!(
    CompleteAppointment,
    topic: "appointments.commands.complete",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .id("saga_id", r.saga_id)
            .text("requested_by", &r.requested_by);
    },
);
