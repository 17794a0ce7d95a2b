//! Reference data the call center books against: clinics (time zone, opening hours), their
//! providers (optometrists), and patients with their insurance policy.

use crate::StoreError;
use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use domain::clinic::{ClinicCalendar, OpeningHours};
pub use domain::insurance::InsurancePolicy;
use domain::{ClinicId, PatientId, ProviderId};
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Clinic {
    pub id: ClinicId,
    pub name: String,
    pub calendar: ClinicCalendar,
    pub providers: Vec<Provider>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub id: ProviderId,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Patient {
    pub id: PatientId,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub insurance: Option<InsurancePolicy>,
    /// The clinic the patient registered at (None: registered by the call center itself).
    pub home_clinic: Option<ClinicId>,
}

#[derive(FromRow)]
struct ClinicRow {
    id: Uuid,
    name: String,
    time_zone: String,
}

#[derive(FromRow)]
struct HoursRow {
    clinic_id: Uuid,
    iso_weekday: i16,
    opens: NaiveTime,
    closes: NaiveTime,
}

#[derive(FromRow)]
struct ProviderRow {
    id: Uuid,
    clinic_id: Uuid,
    name: String,
}

#[derive(FromRow)]
struct PatientRow {
    id: Uuid,
    name: String,
    email: String,
    phone: Option<String>,
    insurance_payer: Option<String>,
    insurance_member_id: Option<String>,
    insurance_valid_from: Option<NaiveDate>,
    insurance_valid_to: Option<NaiveDate>,
    vision_coverage: bool,
    home_clinic_id: Option<Uuid>,
}

impl From<PatientRow> for Patient {
    fn from(r: PatientRow) -> Self {
        let insurance = r
            .insurance_payer
            .zip(r.insurance_member_id)
            .map(|(payer, member_id)| InsurancePolicy {
                payer,
                member_id,
                valid_from: r.insurance_valid_from,
                valid_to: r.insurance_valid_to,
                vision_coverage: r.vision_coverage,
            });
        Patient {
            id: PatientId(r.id),
            name: r.name,
            email: r.email,
            phone: r.phone,
            insurance,
            home_clinic: r.home_clinic_id.map(ClinicId),
        }
    }
}

fn weekday(iso: i16) -> Result<Weekday, StoreError> {
    let days = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    usize::try_from(iso - 1)
        .ok()
        .and_then(|i| days.get(i).copied())
        .ok_or(StoreError::Corrupt("opening hours weekday out of range"))
}

fn assemble(
    clinics: Vec<ClinicRow>,
    hours: Vec<HoursRow>,
    providers: Vec<ProviderRow>,
) -> Result<Vec<Clinic>, StoreError> {
    clinics
        .into_iter()
        .map(|c| {
            let time_zone: Tz = c
                .time_zone
                .parse()
                .map_err(|_| StoreError::Corrupt("clinic time zone is not an IANA name"))?;
            let hours = hours
                .iter()
                .filter(|h| h.clinic_id == c.id)
                .map(|h| {
                    Ok(OpeningHours {
                        weekday: weekday(h.iso_weekday)?,
                        opens: h.opens,
                        closes: h.closes,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let providers = providers
                .iter()
                .filter(|p| p.clinic_id == c.id)
                .map(|p| Provider {
                    id: ProviderId(p.id),
                    name: p.name.clone(),
                })
                .collect();
            Ok(Clinic {
                id: ClinicId(c.id),
                name: c.name,
                calendar: ClinicCalendar { time_zone, hours },
                providers,
            })
        })
        .collect()
}

/// Every clinic with its hours and providers, ordered by name.
pub async fn list_clinics(pool: &PgPool) -> Result<Vec<Clinic>, StoreError> {
    load_clinics(&mut *pool.acquire().await?, None).await
}

pub async fn load_clinic(
    db: &mut PgConnection,
    id: ClinicId,
) -> Result<Option<Clinic>, StoreError> {
    Ok(load_clinics(db, Some(id)).await?.into_iter().next())
}

async fn load_clinics(
    db: &mut PgConnection,
    only: Option<ClinicId>,
) -> Result<Vec<Clinic>, StoreError> {
    let only = only.map(|c| c.0);
    let clinics = sqlx::query_as::<_, ClinicRow>(
        "SELECT id, name, time_zone FROM clinics WHERE $1::uuid IS NULL OR id = $1 ORDER BY name",
    )
    .bind(only)
    .fetch_all(&mut *db)
    .await?;
    let hours = sqlx::query_as::<_, HoursRow>(
        "SELECT clinic_id, iso_weekday, opens, closes FROM clinic_opening_hours
         WHERE $1::uuid IS NULL OR clinic_id = $1 ORDER BY iso_weekday",
    )
    .bind(only)
    .fetch_all(&mut *db)
    .await?;
    let providers = sqlx::query_as::<_, ProviderRow>(
        "SELECT id, clinic_id, name FROM providers WHERE $1::uuid IS NULL OR clinic_id = $1 ORDER BY name",
    )
    .bind(only)
    .fetch_all(&mut *db)
    .await?;
    assemble(clinics, hours, providers)
}

const PATIENT_COLUMNS: &str = "id, name, email, phone, insurance_payer, insurance_member_id, \
     insurance_valid_from, insurance_valid_to, vision_coverage, home_clinic_id";

pub async fn load_patient<'e>(
    db: impl PgExecutor<'e>,
    id: PatientId,
) -> Result<Option<Patient>, StoreError> {
    let row = sqlx::query_as::<_, PatientRow>(&format!(
        "SELECT {PATIENT_COLUMNS} FROM patients WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Patient::from))
}

/// Whose patients a search sees.
#[derive(Debug, Clone, Copy)]
pub enum Directory<'a> {
    /// Patients linked to one of these clinics: registered there (home clinic) or booked there.
    LinkedTo(&'a [ClinicId]),
    /// Every patient (a supervisor's search).
    Whole,
}

/// Patients of `directory` whose name contains `query` (case-insensitive), by name, for the
/// booking form. The name match is served by the `patients_name_trgm` index.
pub async fn search_patients(
    pool: &PgPool,
    directory: Directory<'_>,
    query: &str,
    limit: i64,
) -> Result<Vec<Patient>, StoreError> {
    let clinics: Option<Vec<Uuid>> = match directory {
        Directory::LinkedTo(clinics) => Some(clinics.iter().map(|c| c.0).collect()),
        Directory::Whole => None,
    };
    let pattern = format!(
        "%{}%",
        query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows = sqlx::query_as::<_, PatientRow>(&search_sql())
        .bind(pattern)
        .bind(limit)
        .bind(clinics)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(Patient::from).collect())
}

/// The search's statement: $1 the escaped `ILIKE` pattern, $2 the limit, $3 the clinics whose
/// patients it may see (NULL: every patient). Public so a test can `EXPLAIN` it.
pub fn search_sql() -> String {
    format!(
        "SELECT {PATIENT_COLUMNS} FROM patients p
          WHERE name ILIKE $1 AND ($3::uuid[] IS NULL OR {})
          ORDER BY name, id LIMIT $2",
        linked_to("$3")
    )
}

/// The condition that patient `p` is linked to one of the clinics `clinics` (a uuid[]
/// parameter): registered at one of them, or booked at one of them.
fn linked_to(clinics: &str) -> String {
    format!(
        "(p.home_clinic_id = ANY({clinics}) OR EXISTS (
            SELECT 1 FROM appointments a WHERE a.patient_id = p.id AND a.clinic_id = ANY({clinics})))"
    )
}

/// Whether `patient` exists and is linked to one of `clinics` (see [`Directory::LinkedTo`]).
pub async fn is_linked<'e>(
    db: impl PgExecutor<'e>,
    patient: PatientId,
    clinics: &[ClinicId],
) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM patients p WHERE p.id = $1 AND {})",
        linked_to("$2")
    );
    Ok(sqlx::query_scalar(&sql)
        .bind(patient.0)
        .bind(clinics.iter().map(|c| c.0).collect::<Vec<_>>())
        .fetch_one(db)
        .await?)
}

/// Inserts a clinic with its hours and providers (demo data and tests).
pub async fn insert_clinic(db: &mut PgConnection, clinic: &Clinic) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO clinics (id, name, time_zone) VALUES ($1, $2, $3)")
        .bind(clinic.id.0)
        .bind(&clinic.name)
        .bind(clinic.calendar.time_zone.name())
        .execute(&mut *db)
        .await?;
    for h in &clinic.calendar.hours {
        sqlx::query("INSERT INTO clinic_opening_hours (clinic_id, iso_weekday, opens, closes) VALUES ($1, $2, $3, $4)")
            .bind(clinic.id.0)
            .bind(h.weekday.number_from_monday() as i16)
            .bind(h.opens)
            .bind(h.closes)
            .execute(&mut *db)
            .await?;
    }
    for p in &clinic.providers {
        sqlx::query("INSERT INTO providers (id, clinic_id, name) VALUES ($1, $2, $3)")
            .bind(p.id.0)
            .bind(clinic.id.0)
            .bind(&p.name)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// Inserts a patient (demo data and tests).
pub async fn insert_patient(db: &mut PgConnection, patient: &Patient) -> Result<(), StoreError> {
    let policy = patient.insurance.as_ref();
    sqlx::query(&format!(
        "INSERT INTO patients ({PATIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(patient.id.0)
    .bind(&patient.name)
    .bind(&patient.email)
    .bind(&patient.phone)
    .bind(policy.map(|p| p.payer.clone()))
    .bind(policy.map(|p| p.member_id.clone()))
    .bind(policy.and_then(|p| p.valid_from))
    .bind(policy.and_then(|p| p.valid_to))
    .bind(policy.is_some_and(|p| p.vision_coverage))
    .bind(patient.home_clinic.map(|c| c.0))
    .execute(db)
    .await?;
    Ok(())
}
