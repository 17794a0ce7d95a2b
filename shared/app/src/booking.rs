//! Booking, shared by `POST /api/v1/appointments` and the schedule-appointment function:
//! validate against the clinic's calendar, pick or check the provider, and store the
//! appointment with its AppointmentCreated record in the caller's transaction.

use crate::{Error, Outbox};
use chrono::{DateTime, Utc};
use domain::appointment::{handle, AppointmentCommand, AppointmentEvent, Booking};
use domain::clinic::SlotError;
use domain::values::{parse_start_time, InvalidValue, Notes};
use domain::{
    AppointmentId, AppointmentStatus, AppointmentType, ClinicId, EventId, PatientId, ProviderId,
    SagaId,
};
use sqlx::{Acquire, PgConnection};
use store::booking::{free_providers, insert_appointment, Inserted};
use store::catalog::{self, Provider};
use store::StoreError;

/// The start as the caller gave it: text from the API (read in the clinic's zone), or an
/// instant from a ScheduleAppointment record.
#[derive(Debug, Clone)]
pub enum RequestedStart {
    Text(String),
    Instant(DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub struct ScheduleRequest {
    pub appointment_id: AppointmentId,
    pub saga_id: SagaId,
    pub clinic_id: ClinicId,
    pub patient_id: PatientId,
    /// None: the first free provider of the clinic, least booked that day first.
    pub provider_id: Option<ProviderId>,
    pub start: RequestedStart,
    pub kind: AppointmentType,
    pub notes: Option<Notes>,
    /// The input record that asked for this booking (None for an API call).
    pub causation: Option<EventId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub appointment_id: AppointmentId,
    pub saga_id: SagaId,
    pub provider_id: ProviderId,
    pub scheduled_for: DateTime<Utc>,
    pub status: AppointmentStatus,
}

/// Why a booking was not made: a rule of the booking, or a failure.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("unknown clinic")]
    UnknownClinic,
    #[error("unknown patient")]
    UnknownPatient,
    #[error("unknown provider at this clinic")]
    UnknownProvider,
    #[error("invalid start time: {0}")]
    InvalidStart(InvalidValue),
    #[error("{0}")]
    Slot(SlotError),
    #[error("the requested time is already taken")]
    SlotTaken,
    #[error("the appointment already exists")]
    AlreadyExists,
    #[error(transparent)]
    Failed(#[from] Error),
}

impl From<StoreError> for BookingError {
    fn from(e: StoreError) -> Self {
        BookingError::Failed(e.into())
    }
}

impl From<sqlx::Error> for BookingError {
    fn from(e: sqlx::Error) -> Self {
        BookingError::Failed(e.into())
    }
}

/// Books an appointment inside `tx` (the caller commits). Each provider attempt runs in a
/// savepoint, so a lost race for one provider (the exclusion constraint) moves on to the next.
pub async fn book(
    tx: &mut PgConnection,
    outbox: Outbox<'_>,
    request: ScheduleRequest,
    now: DateTime<Utc>,
) -> Result<Scheduled, BookingError> {
    let clinic = catalog::load_clinic(tx, request.clinic_id)
        .await?
        .ok_or(BookingError::UnknownClinic)?;
    let start = match &request.start {
        RequestedStart::Text(text) => {
            parse_start_time(text, clinic.calendar.time_zone).map_err(BookingError::InvalidStart)?
        }
        RequestedStart::Instant(t) => *t,
    };
    let patient = catalog::load_patient(&mut *tx, request.patient_id)
        .await?
        .ok_or(BookingError::UnknownPatient)?;
    clinic
        .calendar
        .check_slot(start, request.kind, now)
        .map_err(BookingError::Slot)?;
    let end = start + request.kind.duration();

    let candidates: Vec<Provider> = match request.provider_id {
        Some(id) => vec![clinic
            .providers
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or(BookingError::UnknownProvider)?],
        None => free_providers(tx, &clinic, start, end).await?,
    };

    for provider in candidates {
        let booking = Booking {
            appointment_id: request.appointment_id,
            saga_id: request.saga_id,
            clinic_id: clinic.id,
            provider_id: provider.id,
            patient_id: patient.id,
            kind: request.kind,
            scheduled_for: start,
            notes: request.notes.clone(),
        };
        let events = handle(None, AppointmentCommand::Schedule(booking.clone()))
            .map_err(|_| StoreError::Corrupt("a new appointment was refused by the domain"))?;
        let [AppointmentEvent::Created { version, .. }] = events.as_slice() else {
            return Err(StoreError::Corrupt(
                "scheduling must yield exactly one AppointmentCreated",
            )
            .into());
        };
        let names = (&clinic, &provider, &patient);
        let created = outbox
            .appointment_created(&booking, *version, names, request.causation, now)
            .await?;

        let mut attempt = tx.begin().await?;
        match insert_appointment(&mut attempt, &booking, end, *version).await? {
            Inserted::Stored => {}
            Inserted::ProviderBusy => {
                attempt.rollback().await?;
                continue;
            }
            Inserted::AlreadyExists => return Err(BookingError::AlreadyExists),
        }
        store::outbox::append(&mut attempt, &[created]).await?;
        attempt.commit().await?;
        return Ok(Scheduled {
            appointment_id: booking.appointment_id,
            saga_id: booking.saga_id,
            provider_id: provider.id,
            scheduled_for: start,
            status: AppointmentStatus::PendingInsurance,
        });
    }
    Err(BookingError::SlotTaken)
}
