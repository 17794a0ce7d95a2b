//! Realistic sample records, covering every enum symbol and both arms of every optional field.

use chrono::{DateTime, TimeZone, Utc};
use contract::*;
use domain::ids::*;
use domain::AppointmentType;

/// A UTC instant with millisecond precision (what `timestamp-millis` can carry).
pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("valid instant")
        + chrono::Duration::milliseconds(ms)
}

pub fn schedule(
    t: AppointmentType,
    provider: Option<ProviderId>,
    notes: Option<&str>,
) -> ScheduleAppointment {
    ScheduleAppointment {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 9, 26, 53, 589),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
        clinic_id: ClinicId::new(),
        patient_id: PatientId::new(),
        provider_id: provider,
        scheduled_for: at(2025, 3, 21, 15, 30, 0, 0),
        r#type: t,
        notes: notes.map(str::to_owned),
    }
}

pub fn created(t: AppointmentType, notes: Option<&str>) -> AppointmentCreated {
    AppointmentCreated {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 9, 26, 54, 2),
        appointment_id: AppointmentId::new(),
        appointment_version: 1,
        saga_id: SagaId::new(),
        clinic_id: ClinicId::new(),
        clinic_name: "Lakeside Vision Center – Zürich".into(),
        provider_id: ProviderId::new(),
        provider_name: "Dr. Amara Okafor, OD".into(),
        patient_id: PatientId::new(),
        patient_name: "José Ñúñez-O'Brien".into(),
        patient_email: "jose.nunez@example.org".into(),
        scheduled_for: at(2025, 3, 21, 15, 30, 0, 0),
        duration_minutes: i32::try_from(t.duration_minutes()).expect("fits"),
        r#type: t,
        notes: notes.map(str::to_owned),
    }
}

pub fn cancel() -> CancelAppointment {
    CancelAppointment {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 15, 11, 0, 7, 420),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
        reason: "Insurance policy lapsed".into(),
        requested_by: CancelAppointment::REQUESTED_BY_SAGA.into(),
    }
}

pub fn confirm() -> ConfirmAppointment {
    ConfirmAppointment {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 9, 27, 1, 1),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
    }
}

pub fn complete() -> CompleteAppointment {
    CompleteAppointment {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 21, 16, 2, 44, 999),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
        requested_by: "agent-0042".into(),
    }
}

pub fn verify(t: AppointmentType) -> VerifyInsurance {
    VerifyInsurance {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 9, 26, 55, 300),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
        patient_id: PatientId::new(),
        clinic_id: ClinicId::new(),
        scheduled_for: at(2025, 3, 21, 15, 30, 0, 0),
        r#type: t,
    }
}

pub fn confirmed() -> AppointmentConfirmed {
    AppointmentConfirmed {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 9, 27, 2, 0),
        appointment_id: AppointmentId::new(),
        appointment_version: 2,
        saga_id: SagaId::new(),
    }
}

pub fn cancelled() -> AppointmentCancelled {
    AppointmentCancelled {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 15, 11, 0, 8, 5),
        appointment_id: AppointmentId::new(),
        appointment_version: 3,
        saga_id: SagaId::new(),
        reason: "Patient called to cancel".into(),
    }
}

pub fn completed() -> AppointmentCompleted {
    AppointmentCompleted {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 21, 16, 2, 45, 100),
        appointment_id: AppointmentId::new(),
        appointment_version: i32::MAX,
        saga_id: SagaId::new(),
    }
}

pub fn verified() -> InsuranceVerified {
    InsuranceVerified {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 9, 26, 58, 250),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
        payer: "VSP Vision Care".into(),
    }
}

pub fn insurance_failed() -> InsuranceFailed {
    InsuranceFailed {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 9, 26, 58, 251),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
        reason: "Member ID not found".into(),
    }
}

pub fn send_confirmation() -> SendConfirmation {
    SendConfirmation {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 9, 26, 59, 0),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
    }
}

pub fn confirmation_sent() -> ConfirmationSent {
    ConfirmationSent {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 9, 27, 0, 640),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
        message_id: "0100018e3c7b2f1a-5d6b0c2e-4a1f-4a8e-9d3c-7f1e2b3a4c5d-000000".into(),
    }
}

pub fn call_started() -> CallStarted {
    CallStarted {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 9, 20, 11, 17),
        call_id: CallId::new(),
        clinic_id: ClinicId::new(),
        agent_id: "agent-0042".into(),
    }
}

pub fn call_ended(outcome: CallOutcome, appointment: Option<AppointmentId>) -> CallEnded {
    CallEnded {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 9, 27, 30, 808),
        call_id: CallId::new(),
        clinic_id: ClinicId::new(),
        agent_id: "agent-0042".into(),
        outcome,
        appointment_id: appointment,
    }
}

pub fn hourly_count(count: i64) -> HourlyCount {
    HourlyCount {
        event_id: EventId::new(),
        occurred_at: at(2025, 3, 14, 10, 0, 0, 12),
        clinic_id: ClinicId::new(),
        window_start: at(2025, 3, 14, 9, 0, 0, 0),
        count,
    }
}
