//! [`verify`]: decides a booking's insurance eligibility and answers the saga with
//! InsuranceVerified or InsuranceFailed (with a reason an agent can read out).

use crate::{Error, Outbox};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contract::VerifyInsurance;
use domain::insurance::{check_eligibility, Eligibility};
use domain::{AppointmentType, ClinicId, PatientId};
use sqlx::PgConnection;

/// Decides eligibility for one exam, reading what it needs through the record's transaction.
/// `Err` means the checker could not answer (retry later).
#[async_trait]
pub trait InsuranceChecker: Send + Sync {
    async fn check(
        &self,
        db: &mut PgConnection,
        patient: PatientId,
        clinic: ClinicId,
        kind: AppointmentType,
        scheduled_for: DateTime<Utc>,
    ) -> Result<Eligibility, Error>;
}

/// `domain::insurance::check_eligibility` applied to the policy stored with the patient, on the
/// exam's date in the clinic's zone.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyOnFile;

#[async_trait]
impl InsuranceChecker for PolicyOnFile {
    async fn check(
        &self,
        db: &mut PgConnection,
        patient: PatientId,
        clinic: ClinicId,
        kind: AppointmentType,
        scheduled_for: DateTime<Utc>,
    ) -> Result<Eligibility, Error> {
        let clinic = store::catalog::load_clinic(db, clinic)
            .await?
            .ok_or(Error::NotFound("clinic"))?;
        let Some(patient) = store::catalog::load_patient(&mut *db, patient).await? else {
            return Ok(Eligibility::Ineligible {
                reason: "the patient is not on file".to_owned(),
            });
        };
        let date = scheduled_for
            .with_timezone(&clinic.calendar.time_zone)
            .date_naive();
        Ok(check_eligibility(patient.insurance.as_ref(), kind, date))
    }
}

/// Answers `command` with the checker's decision, through the outbox.
pub async fn verify(
    tx: &mut PgConnection,
    outbox: Outbox<'_>,
    checker: &dyn InsuranceChecker,
    command: &VerifyInsurance,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let eligibility = checker
        .check(
            tx,
            command.patient_id,
            command.clinic_id,
            command.r#type,
            command.scheduled_for,
        )
        .await?;
    outbox
        .append_eligibility(tx, command, eligibility, now)
        .await
}
