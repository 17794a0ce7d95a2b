//! Appointment events: what the write side recorded about an appointment, with its version.

use chrono::{DateTime, Utc};
use domain::ids::{AppointmentId, ClinicId, EventId, PatientId, ProviderId, SagaId};
use domain::AppointmentType;
use serde::{Deserialize, Serialize};

use crate::record::impl_record;

/// An appointment was booked and awaits insurance verification. Topic `appointments.appointments.created`.
///
/// Carries the names and email the read model and the notifier need; these are personal data
/// and must never be logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentCreated {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    /// Aggregate version after this change (1 for a creation).
    pub appointment_version: i32,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
    #[serde(with = "crate::wire::id")]
    pub clinic_id: ClinicId,
    pub clinic_name: String,
    #[serde(with = "crate::wire::id")]
    pub provider_id: ProviderId,
    pub provider_name: String,
    #[serde(with = "crate::wire::id")]
    pub patient_id: PatientId,
    pub patient_name: String,
    pub patient_email: String,
    #[serde(with = "crate::wire::millis")]
    pub scheduled_for: DateTime<Utc>,
    pub duration_minutes: i32,
    pub r#type: AppointmentType,
    pub notes: Option<String>,
}

impl_record!(
    AppointmentCreated,
    topic: "appointments.appointments.created",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .version("appointment_version", r.appointment_version)
            .id("saga_id", r.saga_id)
            .id("clinic_id", r.clinic_id)
            .text("clinic_name", &r.clinic_name)
            .id("provider_id", r.provider_id)
            .text("provider_name", &r.provider_name)
            .id("patient_id", r.patient_id)
            .text("patient_name", &r.patient_name)
            .text("patient_email", &r.patient_email)
            .instant("scheduled_for", r.scheduled_for)
            .duration("duration_minutes", r.duration_minutes);
    },
);

/// An appointment passed its checks and is confirmed. Topic `appointments.appointments.confirmed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentConfirmed {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    pub appointment_version: i32,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
}

impl_record!(
    AppointmentConfirmed,
    topic: "appointments.appointments.confirmed",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .version("appointment_version", r.appointment_version)
            .id("saga_id", r.saga_id);
    },
);

/// An appointment was cancelled. Topic `appointments.appointments.cancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentCancelled {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    pub appointment_version: i32,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
    pub reason: String,
}

impl_record!(
    AppointmentCancelled,
    topic: "appointments.appointments.cancelled",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .version("appointment_version", r.appointment_version)
            .id("saga_id", r.saga_id)
            .text("reason", &r.reason);
    },
);

/// An appointment took place and is completed. Topic `appointments.appointments.completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentCompleted {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    pub appointment_version: i32,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
}

impl_record!(
    AppointmentCompleted,
    topic: "appointments.appointments.completed",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .version("appointment_version", r.appointment_version)
            .id("saga_id", r.saga_id);
    },
);
