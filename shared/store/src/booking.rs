//! The booking use case shared by `POST /api/v1/appointments` and the schedule-appointment
//! function: validate against the clinic's calendar, pick or check the provider, and store the
//! appointment with its AppointmentCreated outbox record in the caller's transaction.

use crate::catalog::{self, Clinic, Provider};
use crate::outbox::{self, OutboxRecord};
use crate::StoreError;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use contract::{AppointmentCreated, SchemaRegistry};
use domain::appointment::{handle, AppointmentCommand, AppointmentEvent, Booking};
use domain::clinic::SlotError;
use domain::values::{parse_start_time, InvalidValue, Notes};
use domain::{
    AppointmentId, AppointmentStatus, AppointmentType, ClinicId, EventId, PatientId, ProviderId,
    SagaId,
};
use sqlx::{Acquire, PgConnection};

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
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for BookingError {
    fn from(e: sqlx::Error) -> Self {
        BookingError::Store(e.into())
    }
}

fn is_violation(e: &sqlx::Error, code: &str) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == code)
}

/// Books an appointment inside `tx` (the caller commits). Each provider attempt runs in a
/// savepoint, so a lost race for one provider (the exclusion constraint) moves on to the next.
pub async fn schedule_appointment(
    tx: &mut PgConnection,
    registry: &SchemaRegistry,
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
        let record = AppointmentCreated {
            event_id: EventId::new(),
            occurred_at: now,
            appointment_id: booking.appointment_id,
            appointment_version: *version,
            saga_id: booking.saga_id,
            clinic_id: clinic.id,
            clinic_name: clinic.name.clone(),
            provider_id: provider.id,
            provider_name: provider.name.clone(),
            patient_id: patient.id,
            patient_name: patient.name.clone(),
            patient_email: patient.email.clone(),
            scheduled_for: start,
            duration_minutes: request.kind.duration_minutes() as i32,
            r#type: request.kind,
            notes: booking.notes.as_ref().map(|n| n.as_str().to_owned()),
        };
        let outbox_record = OutboxRecord::encode(registry, &record, request.causation).await?;

        let mut attempt = tx.begin().await?;
        match insert_appointment(&mut attempt, &booking, end, *version).await {
            Ok(()) => {}
            Err(e) if is_violation(&e, "23P01") => {
                attempt.rollback().await?;
                continue;
            }
            Err(e) if is_violation(&e, "23505") => return Err(BookingError::AlreadyExists),
            Err(e) => return Err(e.into()),
        }
        outbox::append(&mut attempt, &[outbox_record]).await?;
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

async fn insert_appointment(
    tx: &mut PgConnection,
    booking: &Booking,
    ends_at: DateTime<Utc>,
    version: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO appointments
            (id, saga_id, clinic_id, provider_id, patient_id, type, notes, status, version, scheduled_for, ends_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(booking.appointment_id.0)
    .bind(booking.saga_id.0)
    .bind(booking.clinic_id.0)
    .bind(booking.provider_id.0)
    .bind(booking.patient_id.0)
    .bind(booking.kind.as_str())
    .bind(booking.notes.as_ref().map(Notes::as_str))
    .bind(AppointmentStatus::PendingInsurance.as_str())
    .bind(version)
    .bind(booking.scheduled_for)
    .bind(ends_at)
    .execute(tx)
    .await
    .map(|_| ())
}

/// The clinic-local calendar day around `t`, as UTC bounds.
fn local_day(clinic: &Clinic, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let zone = clinic.calendar.time_zone;
    let midnight = t.with_timezone(&zone).date_naive().and_time(NaiveTime::MIN);
    let start = zone
        .from_local_datetime(&midnight)
        .earliest()
        .map_or(t - Duration::hours(12), |d| d.with_timezone(&Utc));
    (start, start + Duration::days(1))
}

/// Providers of the clinic with nothing booked over [start, end), least busy that day first.
async fn free_providers(
    tx: &mut PgConnection,
    clinic: &Clinic,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Provider>, BookingError> {
    let (day_start, day_end) = local_day(clinic, start);
    let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT p.id, p.name FROM providers p
         WHERE p.clinic_id = $1
           AND NOT EXISTS (SELECT 1 FROM appointments a
                           WHERE a.provider_id = p.id AND a.status <> 'CANCELLED'
                             AND tstzrange(a.scheduled_for, a.ends_at) && tstzrange($2, $3))
         ORDER BY (SELECT count(*) FROM appointments a
                   WHERE a.provider_id = p.id AND a.status <> 'CANCELLED'
                     AND a.scheduled_for >= $4 AND a.scheduled_for < $5), p.name, p.id",
    )
    .bind(clinic.id.0)
    .bind(start)
    .bind(end)
    .bind(day_start)
    .bind(day_end)
    .fetch_all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| Provider {
            id: ProviderId(id),
            name,
        })
        .collect())
}

/// A provider's booked (non-cancelled) time ranges over [from, to), for availability.
async fn booked_ranges(
    db: &mut PgConnection,
    clinic_id: ClinicId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(ProviderId, DateTime<Utc>, DateTime<Utc>)>, StoreError> {
    let rows: Vec<(uuid::Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT provider_id, scheduled_for, ends_at FROM appointments
         WHERE clinic_id = $1 AND status <> 'CANCELLED' AND tstzrange(scheduled_for, ends_at) && tstzrange($2, $3)",
    )
    .bind(clinic_id.0)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(p, s, e)| (ProviderId(p), s, e))
        .collect())
}

/// Free start times per provider on a clinic-local `date`, on a 15-minute grid, for an exam
/// of `kind`: inside opening hours, in the future, and not overlapping a booked appointment.
pub async fn availability(
    db: &mut PgConnection,
    clinic: &Clinic,
    date: chrono::NaiveDate,
    kind: AppointmentType,
    now: DateTime<Utc>,
) -> Result<Vec<(Provider, Vec<DateTime<Utc>>)>, StoreError> {
    const GRID_MINUTES: i64 = 15;
    let starts = clinic
        .calendar
        .candidate_starts(date, kind, GRID_MINUTES, now);
    let (Some(first), Some(last)) = (starts.first(), starts.last()) else {
        return Ok(clinic
            .providers
            .iter()
            .map(|p| (p.clone(), Vec::new()))
            .collect());
    };
    let booked = booked_ranges(db, clinic.id, *first, *last + kind.duration()).await?;
    Ok(clinic
        .providers
        .iter()
        .map(|p| {
            let free = starts
                .iter()
                .copied()
                .filter(|s| {
                    let e = *s + kind.duration();
                    !booked
                        .iter()
                        .any(|(bp, bs, be)| *bp == p.id && *bs < e && *s < *be)
                })
                .collect();
            (p.clone(), free)
        })
        .collect())
}
