//! Demo data for the local stack and the dashboard: clinics in four US time zones, their
//! optometrists, and 50 patients, including policies that are missing, expired, or without
//! vision coverage so every saga outcome can be seen. Ids are fixed so data survives reseeding.

use crate::catalog::{self, Clinic, InsurancePolicy, Patient, Provider};
use crate::StoreError;
use chrono::{Duration, NaiveDate, NaiveTime, Weekday};
use domain::clinic::{ClinicCalendar, OpeningHours};
use domain::{ClinicId, PatientId, ProviderId};
use sqlx::PgPool;
use uuid::Uuid;

/// Number of demo patients.
pub const PATIENTS: u128 = 50;

fn hours(days: &[Weekday], opens: (u32, u32), closes: (u32, u32)) -> Vec<OpeningHours> {
    let t = |(h, m)| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
    days.iter()
        .map(|&weekday| OpeningHours {
            weekday,
            opens: t(opens),
            closes: t(closes),
        })
        .collect()
}

/// Stable demo ids: clinics 0x0c.., providers 0x0d.., patients 0x0e.. (easy to spot in logs).
pub fn clinic_id(n: u128) -> ClinicId {
    ClinicId(Uuid::from_u128(
        0x0c00_0000_0000_4000_8000_0000_0000_0000 + n,
    ))
}

pub fn provider_id(n: u128) -> ProviderId {
    ProviderId(Uuid::from_u128(
        0x0d00_0000_0000_4000_8000_0000_0000_0000 + n,
    ))
}

pub fn patient_id(n: u128) -> PatientId {
    PatientId(Uuid::from_u128(
        0x0e00_0000_0000_4000_8000_0000_0000_0000 + n,
    ))
}

pub fn clinics() -> Vec<Clinic> {
    use Weekday::*;
    let weekdays = [Mon, Tue, Wed, Thu, Fri];
    let spec: [(&str, chrono_tz::Tz, Vec<OpeningHours>, &[&str]); 4] = [
        (
            "Bayview Eye Care",
            chrono_tz::America::Los_Angeles,
            {
                let mut h = hours(&weekdays, (8, 0), (18, 0));
                h.extend(hours(&[Sat], (9, 0), (13, 0)));
                h
            },
            &["Dr. Maya Chen", "Dr. Luis Ortega", "Dr. Priya Nair"],
        ),
        (
            "Hudson Vision Center",
            chrono_tz::America::New_York,
            hours(&weekdays, (9, 0), (17, 0)),
            &["Dr. Sarah Goldberg", "Dr. James Whitfield"],
        ),
        (
            "Lakeshore Optometry",
            chrono_tz::America::Chicago,
            hours(&[Mon, Tue, Wed, Thu, Fri, Sat], (8, 30), (17, 30)),
            &["Dr. Aisha Bello", "Dr. Tom Kowalski"],
        ),
        (
            "Front Range Eye Clinic",
            chrono_tz::America::Denver,
            hours(&[Tue, Wed, Thu, Fri, Sat], (10, 0), (19, 0)),
            &["Dr. Elena Petrova"],
        ),
    ];
    let mut provider_n = 0;
    spec.into_iter()
        .enumerate()
        .map(|(i, (name, time_zone, hours, doctors))| Clinic {
            id: clinic_id(i as u128 + 1),
            name: name.to_owned(),
            calendar: ClinicCalendar { time_zone, hours },
            providers: doctors
                .iter()
                .map(|d| {
                    provider_n += 1;
                    Provider {
                        id: provider_id(provider_n),
                        name: (*d).to_owned(),
                    }
                })
                .collect(),
        })
        .collect()
}

/// Patient n's policy: every 10th has none, then one expired, one without vision coverage;
/// the rest are active with vision coverage. Validity is relative to `today`.
pub fn patients(today: NaiveDate) -> Vec<Patient> {
    const FIRST: [&str; 10] = [
        "Ana", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jamal",
    ];
    const LAST: [&str; 5] = ["Lee", "Martin", "Novak", "Okafor", "Patel"];
    const PAYERS: [&str; 5] = [
        "VSP",
        "EyeMed",
        "Davis Vision",
        "Aetna Vision",
        "Blue View Vision",
    ];
    (1..=PATIENTS)
        .map(|n| {
            let i = (n - 1) as usize;
            let (first, last) = (FIRST[i % FIRST.len()], LAST[i / FIRST.len() % LAST.len()]);
            let policy = |valid_to: NaiveDate, vision_coverage: bool| InsurancePolicy {
                payer: PAYERS[i % PAYERS.len()].to_owned(),
                member_id: format!("M{:07}", 1_000_000 + n),
                valid_from: Some(today - Duration::days(365)),
                valid_to: Some(valid_to),
                vision_coverage,
            };
            let insurance = match n % 10 {
                0 => None,
                1 => Some(policy(today - Duration::days(30), true)),
                2 => Some(policy(today + Duration::days(730), false)),
                _ => Some(policy(today + Duration::days(730), true)),
            };
            Patient {
                id: patient_id(n),
                name: format!("{first} {last}"),
                email: format!(
                    "{}.{}{n}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase()
                ),
                phone: Some(format!("+1-555-01{:02}", n % 100)),
                insurance,
                home_clinic: Some(home_clinic(n)),
            }
        })
        .collect()
}

/// Patient n's home clinic: the demo clinics in turn (patient 1 at clinic 1, 2 at 2, …).
pub fn home_clinic(n: u128) -> ClinicId {
    clinic_id((n - 1) % clinics().len() as u128 + 1)
}

/// Loads the demo data once: does nothing when clinics already exist. Returns whether it loaded.
pub async fn seed(pool: &PgPool, today: NaiveDate) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    // Serialise concurrent seeders (two stacks starting at once) on one advisory lock.
    sqlx::query("SELECT pg_advisory_xact_lock(7346001)")
        .execute(&mut *tx)
        .await?;
    let (existing,): (i64,) = sqlx::query_as("SELECT count(*) FROM clinics")
        .fetch_one(&mut *tx)
        .await?;
    if existing > 0 {
        return Ok(false);
    }
    for clinic in clinics() {
        catalog::insert_clinic(&mut tx, &clinic).await?;
    }
    for patient in patients(today) {
        catalog::insert_patient(&mut tx, &patient).await?;
    }
    tx.commit().await?;
    Ok(true)
}
