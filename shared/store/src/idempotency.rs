//! Idempotency keys of bookings (`Idempotency-Key` on `POST /api/v1/appointments`).
//!
//! The key is claimed in the booking's own transaction, before the appointment is written: a
//! booking that fails (a taken slot) rolls its key back with it, and a second request with the
//! same key waits at the claim until the first commits or rolls back. Only a SHA-256 of the
//! request's canonical form is stored, never the request.

use crate::StoreError;
use domain::{AppointmentId, SagaId};
use sqlx::PgConnection;

/// How long a key answers with its first booking: the same key and request within this time
/// get the same answer; afterwards the key books anew.
pub const KEY_RETENTION_HOURS: i32 = 24;

/// What a claimed key means for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or expired): book, with the ids given to [`claim`].
    New,
    /// The same request was booked under this key: answer with its ids, book nothing.
    Replay {
        appointment_id: AppointmentId,
        saga_id: SagaId,
    },
    /// The key was used for another request.
    Reused,
}

/// Claims `key` for `agent`'s request (its canonical form `request`) that would book
/// `appointment_id` / `saga_id`. Run it in the booking's transaction.
pub async fn claim(
    tx: &mut PgConnection,
    agent: &str,
    key: &str,
    request: &str,
    appointment_id: AppointmentId,
    saga_id: SagaId,
) -> Result<Claim, StoreError> {
    // An expired row is taken over in the same statement; a live one is left as it is.
    let claimed = sqlx::query(
        "INSERT INTO booking_requests (agent_id, idempotency_key, request_hash, appointment_id, saga_id)
         VALUES ($1, $2, sha256(convert_to($3, 'UTF8')), $4, $5)
         ON CONFLICT (agent_id, idempotency_key) DO UPDATE
            SET request_hash = EXCLUDED.request_hash, appointment_id = EXCLUDED.appointment_id,
                saga_id = EXCLUDED.saga_id, created_at = now()
          WHERE booking_requests.created_at < now() - make_interval(hours => $6)",
    )
    .bind(agent)
    .bind(key)
    .bind(request)
    .bind(appointment_id.0)
    .bind(saga_id.0)
    .bind(KEY_RETENTION_HOURS)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed == 1 {
        return Ok(Claim::New);
    }
    let (same, appointment, saga): (bool, uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "SELECT request_hash = sha256(convert_to($3, 'UTF8')), appointment_id, saga_id
           FROM booking_requests WHERE agent_id = $1 AND idempotency_key = $2",
    )
    .bind(agent)
    .bind(key)
    .bind(request)
    .fetch_one(&mut *tx)
    .await?;
    Ok(if same {
        Claim::Replay {
            appointment_id: AppointmentId(appointment),
            saga_id: SagaId(saga),
        }
    } else {
        Claim::Reused
    })
}
