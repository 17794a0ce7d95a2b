//! The application layer: each write-side use case is one plain async function named after
//! the business step. It takes the caller's transaction and typed inputs, lets the pure domain
//! decide, stores the result through `store` (SQL only) and puts the records that describe it
//! in the outbox through the one [`Outbox`], and returns a typed outcome. Who calls it (the
//! API, a Kafka-triggered function, the sweeper) commits.
//!
//! - [`booking::book`]: a new appointment (API and schedule-appointment);
//! - [`appointments`]: confirm, cancel, complete;
//! - [`saga`]: the booking saga's start, its replies, and its deadlines (the sweeper);
//! - [`insurance::verify`]: eligibility against the policy on file;
//! - [`notifications::record_confirmation`]: ConfirmationSent once the email is out;
//! - [`calls`]: start and end a call-center call;
//! - [`projections`]: the read model's writes that read contract records.

pub mod appointments;
pub mod booking;
pub mod calls;
pub mod insurance;
pub mod notifications;
pub mod outbox;
pub mod projections;
pub mod saga;

pub use outbox::Outbox;

use chrono::{DateTime, Utc};
use domain::appointment::DomainError;
use domain::{EventId, SagaId};
use store::StoreError;

/// Who asks for a change and when: the input record that carried it (None for an agent in the
/// API, or the sweeper's own deadline) and the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    pub causation: Option<EventId>,
    pub now: DateTime<Utc>,
}

impl Cause {
    /// The input record `event_id`, handled now.
    pub fn record(event_id: EventId) -> Cause {
        Cause {
            causation: Some(event_id),
            now: Utc::now(),
        }
    }

    /// An agent's request through the API, handled now.
    pub fn agent() -> Cause {
        Cause {
            causation: None,
            now: Utc::now(),
        }
    }
}

/// Why a use case failed, as a typed cause; [`Error::is_retryable`] says whether the same input
/// may succeed later. Messages name the problem, never data values (PHI).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database; retryable when the connection or a conflict caused it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record could not be encoded for the outbox; retryable when the registry did not answer.
    #[error("could not encode a record for the outbox: {0}")]
    Encode(#[from] contract::EncodeError),
    /// The input names something that is not stored: an appointment, a clinic, a saga.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The input's appointment and saga do not belong together.
    #[error("the appointment and the saga do not belong together")]
    SagaMismatch,
    /// Another step changed the saga between this step's read and its write: retryable, and
    /// decided again against the new state.
    #[error("saga {0} changed concurrently")]
    SagaChanged(SagaId),
    /// The appointment refused what the saga needed of it.
    #[error(transparent)]
    Refused(DomainError),
}

impl Error {
    /// Whether the same input may succeed later (the cause is outside the input).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(e) => e.is_retryable(),
            Error::Encode(e) => e.is_retryable(),
            Error::SagaChanged(_) => true,
            Error::NotFound(_) | Error::SagaMismatch | Error::Refused(_) => false,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Store(e.into())
    }
}

impl From<contract::RegistryError> for Error {
    fn from(e: contract::RegistryError) -> Self {
        Error::Encode(e.into())
    }
}
