//! verify-insurance: triggered by `insurance.commands.verify` (VerifyInsurance, sent by the
//! booking saga); emits InsuranceVerified or InsuranceFailed (with a reason an agent can read
//! out) through the outbox. Eligibility comes from an `InsuranceChecker`: `PolicyOnFile` applies
//! `domain::insurance::check_eligibility` to the policy stored with the patient, read through
//! the record's transaction.

use async_trait::async_trait;
use contract::{InsuranceFailed, InsuranceVerified, VerifyInsurance};
use domain::insurance::{check_eligibility, Eligibility};
use domain::{AppointmentType, ClinicId, EventId, PatientId};
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;
use store::outbox::{self, OutboxRecord};

/// Decides eligibility for one exam. `Err` means the checker could not answer (retry later).
#[async_trait]
pub trait InsuranceChecker: Send + Sync {
    async fn check(
        &self,
        db: &mut PgConnection,
        patient: PatientId,
        clinic: ClinicId,
        kind: AppointmentType,
        scheduled_for: chrono::DateTime<chrono::Utc>,
    ) -> Result<Eligibility, HandlerError>;
}

/// The rules applied to the policy on file in the patients table.
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
        scheduled_for: chrono::DateTime<chrono::Utc>,
    ) -> Result<Eligibility, HandlerError> {
        let clinic = store::catalog::load_clinic(db, clinic)
            .await?
            .ok_or(HandlerError::NotFound("clinic"))?;
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

pub struct VerifyInsuranceFn {
    pub checker: Box<dyn InsuranceChecker>,
}

impl Default for VerifyInsuranceFn {
    fn default() -> Self {
        Self {
            checker: Box::new(PolicyOnFile),
        }
    }
}

impl std::fmt::Debug for VerifyInsuranceFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyInsuranceFn").finish_non_exhaustive()
    }
}

#[async_trait]
impl KafkaFunction for VerifyInsuranceFn {
    const NAME: &'static str = "verify-insurance";
    type Input = VerifyInsurance;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        cmd: Self::Input,
    ) -> Result<(), HandlerError> {
        let eligibility = self
            .checker
            .check(
                tx,
                cmd.patient_id,
                cmd.clinic_id,
                cmd.r#type,
                cmd.scheduled_for,
            )
            .await?;
        let (event_id, occurred_at) = (EventId::new(), chrono::Utc::now());
        let (appointment_id, saga_id) = (cmd.appointment_id, cmd.saga_id);
        let record = match eligibility {
            Eligibility::Eligible { payer } => {
                let e = InsuranceVerified {
                    event_id,
                    occurred_at,
                    appointment_id,
                    saga_id,
                    payer,
                };
                OutboxRecord::encode(&ctx.registry, &e, Some(cmd.event_id)).await?
            }
            Eligibility::Ineligible { reason } => {
                let e = InsuranceFailed {
                    event_id,
                    occurred_at,
                    appointment_id,
                    saga_id,
                    reason,
                };
                OutboxRecord::encode(&ctx.registry, &e, Some(cmd.event_id)).await?
            }
        };
        outbox::append(tx, &[record]).await?;
        Ok(())
    }
}
