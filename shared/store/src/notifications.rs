//! The booking confirmation email: what it says (the appointment with its clinic, provider and
//! patient) and the one-email-per-saga claim in `confirmation_emails`. The claim is written only
//! through the pool, each statement committed at once, never inside a caller's transaction: it
//! must outlive a rollback or a crash of the attempt that made it (see send-confirmation).

use crate::StoreError;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use domain::{AppointmentId, AppointmentStatus, AppointmentType, SagaId};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

/// Everything the confirmation email says, and the appointment's current status.
#[derive(Clone)]
pub struct Confirmation {
    pub saga_id: SagaId,
    pub status: AppointmentStatus,
    pub kind: AppointmentType,
    pub scheduled_for: DateTime<Utc>,
    pub clinic_name: String,
    pub time_zone: Tz,
    pub provider_name: String,
    pub patient_name: String,
    pub patient_email: String,
}

/// Ids and status only: the patient's name and email are PHI and stay out of logs.
impl std::fmt::Debug for Confirmation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmation")
            .field("saga_id", &self.saga_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

#[derive(FromRow)]
struct Row {
    saga_id: Uuid,
    status: String,
    r#type: String,
    scheduled_for: DateTime<Utc>,
    clinic_name: String,
    time_zone: String,
    provider_name: String,
    patient_name: String,
    patient_email: String,
}

impl TryFrom<Row> for Confirmation {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Confirmation {
            saga_id: SagaId(r.saga_id),
            status: r
                .status
                .parse()
                .map_err(|_| StoreError::Corrupt("unknown appointment status"))?,
            kind: r
                .r#type
                .parse()
                .map_err(|_| StoreError::Corrupt("unknown appointment type"))?,
            scheduled_for: r.scheduled_for,
            clinic_name: r.clinic_name,
            time_zone: r
                .time_zone
                .parse()
                .map_err(|_| StoreError::Corrupt("clinic time zone is not an IANA name"))?,
            provider_name: r.provider_name,
            patient_name: r.patient_name,
            patient_email: r.patient_email,
        })
    }
}

/// The appointment's confirmation details (read without a lock: the claim, not this read,
/// decides whether the email goes out; see [`claim`]).
pub async fn load_for_confirmation(
    pool: &PgPool,
    id: AppointmentId,
) -> Result<Option<Confirmation>, StoreError> {
    let row = sqlx::query_as::<_, Row>(
        "SELECT a.saga_id, a.status, a.type, a.scheduled_for, c.name AS clinic_name, c.time_zone,
                pr.name AS provider_name, pa.name AS patient_name, pa.email AS patient_email
         FROM appointments a
         JOIN clinics c ON c.id = a.clinic_id
         JOIN providers pr ON pr.id = a.provider_id
         JOIN patients pa ON pa.id = a.patient_id
         WHERE a.id = $1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    row.map(Confirmation::try_from).transpose()
}

/// Who may send a saga's confirmation email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This attempt inserted the claim: it, and only it, sends.
    Won,
    /// An earlier attempt holds it; the provider's id for its email, when recorded (None: still
    /// SENDING, or SENT with an unknown outcome).
    Taken { message_id: Option<String> },
    /// Nobody holds it and the booking no longer goes ahead: the appointment was cancelled, or
    /// the saga compensated (or is missing), so no email may go out.
    BookingEnded,
}

/// The saga steps in which a confirmation email may be claimed: the one that sends it, and
/// COMPLETED, which the sweeper reaches from it when a claim was held at the deadline (a claim
/// released after that, its email surely not sent, may then be taken again).
const CLAIMABLE_STEPS: &str = "'SENDING_CONFIRMATION', 'COMPLETED'";

/// Whether the booking still goes ahead: its saga in a claimable step and its appointment not
/// cancelled. `{lock}` is empty or a locking clause for both rows.
fn goes_ahead(lock: &str) -> String {
    format!(
        "SELECT 1 FROM saga_state s JOIN appointments a ON a.id = $2
         WHERE s.saga_id = $1 AND s.step IN ({CLAIMABLE_STEPS}) AND a.status <> 'CANCELLED' {lock}"
    )
}

/// Claims the saga's confirmation email (committed at once). The claim is the moment the email
/// is decided: it is inserted only while the booking goes ahead, checked in the same statement
/// under share locks on the saga and appointment rows. A sweeper holding the saga row (see
/// [`crate::saga::load_for_update`]) or a cancellation holding the appointment row makes the
/// claim wait for its decision and then see it; a cancellation after the claim no longer stops
/// the email.
pub async fn claim(
    pool: &PgPool,
    saga_id: SagaId,
    appointment_id: AppointmentId,
    now: DateTime<Utc>,
) -> Result<Claim, StoreError> {
    loop {
        let inserted = sqlx::query(&format!(
            "INSERT INTO confirmation_emails (saga_id, appointment_id, status, claimed_at)
             SELECT $1, $2, 'SENDING', $3 FROM ({}) booking
             ON CONFLICT (saga_id) DO NOTHING",
            goes_ahead("FOR SHARE OF s, a")
        ))
        .bind(saga_id.0)
        .bind(appointment_id.0)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Claim::Won);
        }
        let existing: Option<Option<String>> =
            sqlx::query_scalar("SELECT message_id FROM confirmation_emails WHERE saga_id = $1")
                .bind(saga_id.0)
                .fetch_optional(pool)
                .await?;
        if let Some(message_id) = existing {
            return Ok(Claim::Taken { message_id });
        }
        let goes_ahead: bool = sqlx::query_scalar(&format!("SELECT EXISTS ({})", goes_ahead("")))
            .bind(saga_id.0)
            .bind(appointment_id.0)
            .fetch_one(pool)
            .await?;
        if !goes_ahead {
            return Ok(Claim::BookingEnded);
        }
        // The holder released it between our statements (its email surely did not go out):
        // claim again. Each pass needs another attempt's fresh claim and release.
    }
}

/// Whether the saga's confirmation email is claimed (sending, sent, or its outcome unknown).
pub async fn claimed(db: &mut PgConnection, saga_id: SagaId) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM confirmation_emails WHERE saga_id = $1)")
            .bind(saga_id.0)
            .fetch_one(db)
            .await?,
    )
}

/// Records that the saga's email went out (committed at once), with the provider's message id
/// when known. A known id is never replaced by an unknown one.
pub async fn mark_sent(
    pool: &PgPool,
    saga_id: SagaId,
    message_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE confirmation_emails
         SET status = 'SENT', message_id = COALESCE($2, message_id), sent_at = COALESCE(sent_at, $3)
         WHERE saga_id = $1",
    )
    .bind(saga_id.0)
    .bind(message_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// The saga's sent confirmation email, if one went out: its provider message id (None when its
/// outcome was never recorded). Read in the transaction that emits ConfirmationSent.
pub async fn sent(
    db: &mut PgConnection,
    saga_id: SagaId,
) -> Result<Option<Option<String>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT message_id FROM confirmation_emails WHERE saga_id = $1 AND status = 'SENT'",
    )
    .bind(saga_id.0)
    .fetch_optional(db)
    .await?)
}

/// Gives up a claim whose email surely did not go out (committed at once), so a retry sends it.
pub async fn release(pool: &PgPool, saga_id: SagaId) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM confirmation_emails WHERE saga_id = $1 AND status = 'SENDING'")
        .bind(saga_id.0)
        .execute(pool)
        .await?;
    Ok(())
}
