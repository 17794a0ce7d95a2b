//! The booking's SQL: storing a new appointment, the providers free over a range, and the
//! free start times behind `GET /api/v1/clinics/{id}/availability`. The booking's rules are in
//! the application layer (`app::booking`).

use crate::catalog::{Clinic, Provider};
use crate::StoreError;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use domain::appointment::Booking;
use domain::values::Notes;
use domain::{AppointmentStatus, AppointmentType, ClinicId, ProviderId};
use sqlx::PgConnection;

/// What inserting a new appointment came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Stored,
    /// The provider has an overlapping appointment (the exclusion constraint); the caller's
    /// savepoint must be rolled back.
    ProviderBusy,
    /// An appointment with this id exists.
    AlreadyExists,
}

fn is_violation(e: &sqlx::Error, code: &str) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == code)
}

/// Inserts a new appointment in PENDING_INSURANCE at `version`.
pub async fn insert_appointment(
    tx: &mut PgConnection,
    booking: &Booking,
    ends_at: DateTime<Utc>,
    version: i32,
) -> Result<Inserted, StoreError> {
    let inserted = sqlx::query(
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
    .await;
    match inserted {
        Ok(_) => Ok(Inserted::Stored),
        Err(e) if is_violation(&e, "23P01") => Ok(Inserted::ProviderBusy),
        Err(e) if is_violation(&e, "23505") => Ok(Inserted::AlreadyExists),
        Err(e) => Err(e.into()),
    }
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
pub async fn free_providers(
    tx: &mut PgConnection,
    clinic: &Clinic,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Provider>, StoreError> {
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
