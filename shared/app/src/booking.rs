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
use store::catalog::{self, Clinic, Provider};
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

/// What a booking asks of its clinic, decided from the clinic alone.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RequestedSlot {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// The provider the request names; None: any free one.
    provider: Option<Provider>,
}

/// Reads the request's start (text in the clinic's zone), checks the slot against the clinic's
/// calendar at `now`, and finds the provider it names among the clinic's.
fn requested_slot(
    clinic: &Clinic,
    request: &ScheduleRequest,
    now: DateTime<Utc>,
) -> Result<RequestedSlot, BookingError> {
    let start = match &request.start {
        RequestedStart::Text(text) => {
            parse_start_time(text, clinic.calendar.time_zone).map_err(BookingError::InvalidStart)?
        }
        RequestedStart::Instant(t) => *t,
    };
    clinic
        .calendar
        .check_slot(start, request.kind, now)
        .map_err(BookingError::Slot)?;
    let provider = match request.provider_id {
        Some(id) => Some(
            clinic
                .providers
                .iter()
                .find(|p| p.id == id)
                .cloned()
                .ok_or(BookingError::UnknownProvider)?,
        ),
        None => None,
    };
    Ok(RequestedSlot {
        start,
        end: start + request.kind.duration(),
        provider,
    })
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
    let RequestedSlot {
        start,
        end,
        provider,
    } = requested_slot(&clinic, &request, now)?;
    let patient = catalog::load_patient(&mut *tx, request.patient_id)
        .await?
        .ok_or(BookingError::UnknownPatient)?;
    let candidates: Vec<Provider> = match provider {
        Some(provider) => vec![provider],
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone, Weekday};
    use domain::clinic::{ClinicCalendar, OpeningHours};
    use uuid::Uuid;

    /// A Los Angeles clinic open 09:00-17:00 on weekdays, with two providers.
    fn clinic() -> Clinic {
        let (opens, closes) = (
            NaiveTime::from_hms_opt(9, 0, 0).expect("time"),
            NaiveTime::from_hms_opt(17, 0, 0).expect("time"),
        );
        let weekdays = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ];
        Clinic {
            id: ClinicId(Uuid::from_u128(1)),
            name: "Harbor Vision".to_owned(),
            calendar: ClinicCalendar {
                time_zone: chrono_tz::America::Los_Angeles,
                hours: weekdays
                    .map(|weekday| OpeningHours {
                        weekday,
                        opens,
                        closes,
                    })
                    .to_vec(),
            },
            providers: [2, 3]
                .map(|n| Provider {
                    id: ProviderId(Uuid::from_u128(n)),
                    name: format!("Dr. {n}"),
                })
                .to_vec(),
        }
    }

    fn request(start: RequestedStart, provider_id: Option<ProviderId>) -> ScheduleRequest {
        ScheduleRequest {
            appointment_id: AppointmentId(Uuid::from_u128(10)),
            saga_id: SagaId(Uuid::from_u128(11)),
            clinic_id: ClinicId(Uuid::from_u128(1)),
            patient_id: PatientId(Uuid::from_u128(12)),
            provider_id,
            start,
            kind: AppointmentType::Routine,
            notes: None,
            causation: None,
        }
    }

    /// Monday 2026-12-07, 08:00 in Los Angeles.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 16, 0, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn a_local_start_is_read_in_the_clinic_zone_and_any_free_provider_may_take_it() {
        let text = RequestedStart::Text("2026-12-08T10:00".to_owned());
        let slot = requested_slot(&clinic(), &request(text, None), now()).expect("bookable");
        let start = Utc
            .with_ymd_and_hms(2026, 12, 8, 18, 0, 0)
            .single()
            .expect("time");
        assert_eq!(slot.start, start);
        assert_eq!(slot.end, start + AppointmentType::Routine.duration());
        assert_eq!(slot.provider, None);
    }

    #[test]
    fn a_named_provider_must_work_at_the_clinic() {
        let start = RequestedStart::Instant(now() + chrono::Duration::hours(2));
        let named = ProviderId(Uuid::from_u128(3));
        let slot = requested_slot(&clinic(), &request(start.clone(), Some(named)), now());
        assert_eq!(slot.expect("bookable").provider.map(|p| p.id), Some(named));
        let stranger = Some(ProviderId(Uuid::from_u128(99)));
        let refused = requested_slot(&clinic(), &request(start, stranger), now());
        assert!(matches!(refused, Err(BookingError::UnknownProvider)));
    }

    #[test]
    fn an_unreadable_past_or_closed_start_is_refused_before_any_lookup() {
        let clinic = clinic();
        let refused = |start| requested_slot(&clinic, &request(start, None), now()).err();
        let text = RequestedStart::Text("next tuesday".to_owned());
        assert!(matches!(refused(text), Some(BookingError::InvalidStart(_))));
        let past = RequestedStart::Instant(now() - chrono::Duration::minutes(1));
        assert!(matches!(
            refused(past),
            Some(BookingError::Slot(SlotError::InPast))
        ));
        let saturday = RequestedStart::Text("2026-12-12T10:00".to_owned());
        assert!(matches!(
            refused(saturday),
            Some(BookingError::Slot(SlotError::ClosedThatDay(Weekday::Sat)))
        ));
    }
}
