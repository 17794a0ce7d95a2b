//! Insurance verification: the saga's request and the verifier's two possible answers.

use chrono::{DateTime, Utc};
use domain::ids::{AppointmentId, ClinicId, EventId, PatientId, SagaId};
use domain::AppointmentType;
use serde::{Deserialize, Serialize};

use crate::record::impl_record;

/// Sent by the saga: check the patient's insurance covers the exam. Topic `insurance.commands.verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyInsurance {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
    #[serde(with = "crate::wire::id")]
    pub patient_id: PatientId,
    #[serde(with = "crate::wire::id")]
    pub clinic_id: ClinicId,
    #[serde(with = "crate::wire::millis")]
    pub scheduled_for: DateTime<Utc>,
    pub r#type: AppointmentType,
}

impl_record!(
    VerifyInsurance,
    topic: "insurance.commands.verify",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .id("saga_id", r.saga_id)
            .id("patient_id", r.patient_id)
            .id("clinic_id", r.clinic_id)
            .instant("scheduled_for", r.scheduled_for);
    },
);

/// The patient's insurance covers the appointment. Topic `insurance.events.verified`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsuranceVerified {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
    /// The insurer that covers the exam.
    pub payer: String,
}

impl_record!(
    InsuranceVerified,
    topic: "insurance.events.verified",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .id("saga_id", r.saga_id)
            .text("payer", &r.payer);
    },
);

/// The insurance could not be verified; the saga compensates. Topic `insurance.events.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsuranceFailed {
    #[serde(with = "crate::wire::id")]
    pub event_id: EventId,
    #[serde(with = "crate::wire::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::id")]
    pub appointment_id: AppointmentId,
    #[serde(with = "crate::wire::id")]
    pub saga_id: SagaId,
    pub reason: String,
}

impl_record!(
    InsuranceFailed,
    topic: "insurance.events.failed",
    key: |r| r.appointment_id.to_string(),
    saga: |r| Some(r.saga_id),
    check: |r, c| {
        c.id("appointment_id", r.appointment_id)
            .id("saga_id", r.saga_id)
            .text("reason", &r.reason);
    },
);
