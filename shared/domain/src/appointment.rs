//! The appointment aggregate: a pure `handle(state, command) -> events` and an `apply` without rules.
//!
//! Status machine (DESIGN.md): PENDING_INSURANCE → AWAITING_CONFIRMATION → CONFIRMED →
//! COMPLETED, and any non-terminal status → CANCELLED. Every event carries the aggregate
//! version after the change (1 for creation), which projections use to ignore stale events.

use crate::values::{CancelReason, Notes};
use crate::{AppointmentId, AppointmentType, ClinicId, PatientId, ProviderId, SagaId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppointmentStatus {
    PendingInsurance,
    AwaitingConfirmation,
    Confirmed,
    Completed,
    Cancelled,
}

impl AppointmentStatus {
    pub const ALL: [AppointmentStatus; 5] = [
        AppointmentStatus::PendingInsurance,
        AppointmentStatus::AwaitingConfirmation,
        AppointmentStatus::Confirmed,
        AppointmentStatus::Completed,
        AppointmentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::PendingInsurance => "PENDING_INSURANCE",
            AppointmentStatus::AwaitingConfirmation => "AWAITING_CONFIRMATION",
            AppointmentStatus::Confirmed => "CONFIRMED",
            AppointmentStatus::Completed => "COMPLETED",
            AppointmentStatus::Cancelled => "CANCELLED",
        }
    }

    /// COMPLETED and CANCELLED end an appointment's life; nothing changes it afterwards.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Completed | AppointmentStatus::Cancelled
        )
    }
}

impl fmt::Display for AppointmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of PENDING_INSURANCE, AWAITING_CONFIRMATION, CONFIRMED, COMPLETED, CANCELLED")]
pub struct UnknownStatus;

impl FromStr for AppointmentStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AppointmentStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or(UnknownStatus)
    }
}

/// What a booking is for; the API and the schedule-appointment function build it after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub appointment_id: AppointmentId,
    pub saga_id: SagaId,
    pub clinic_id: ClinicId,
    pub provider_id: ProviderId,
    pub patient_id: PatientId,
    pub kind: AppointmentType,
    pub scheduled_for: DateTime<Utc>,
    pub notes: Option<Notes>,
}

/// The aggregate's state, rebuilt by `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    pub booking: Booking,
    pub status: AppointmentStatus,
    pub version: i32,
    pub cancel_reason: Option<CancelReason>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppointmentCommand {
    Schedule(Booking),
    /// The saga saw the patient's insurance verified; the booking now waits for its confirmation email.
    MarkInsuranceVerified,
    Confirm,
    Cancel {
        reason: CancelReason,
    },
    Complete,
}

/// Which command, without its data: what a refusal names, so callers match it exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandKind {
    Schedule,
    MarkInsuranceVerified,
    Confirm,
    Cancel,
    Complete,
}

impl fmt::Display for CommandKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommandKind::Schedule => "schedule",
            CommandKind::MarkInsuranceVerified => "mark insurance verified",
            CommandKind::Confirm => "confirm",
            CommandKind::Cancel => "cancel",
            CommandKind::Complete => "complete",
        })
    }
}

impl AppointmentCommand {
    pub fn kind(&self) -> CommandKind {
        match self {
            AppointmentCommand::Schedule(_) => CommandKind::Schedule,
            AppointmentCommand::MarkInsuranceVerified => CommandKind::MarkInsuranceVerified,
            AppointmentCommand::Confirm => CommandKind::Confirm,
            AppointmentCommand::Cancel { .. } => CommandKind::Cancel,
            AppointmentCommand::Complete => CommandKind::Complete,
        }
    }
}

/// Past-tense facts. `version` is the aggregate version after the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppointmentEvent {
    Created { booking: Booking, version: i32 },
    InsuranceVerified { version: i32 },
    Confirmed { version: i32 },
    Cancelled { reason: CancelReason, version: i32 },
    Completed { version: i32 },
}

impl AppointmentEvent {
    pub fn version(&self) -> i32 {
        match self {
            AppointmentEvent::Created { version, .. }
            | AppointmentEvent::InsuranceVerified { version }
            | AppointmentEvent::Confirmed { version }
            | AppointmentEvent::Cancelled { version, .. }
            | AppointmentEvent::Completed { version } => *version,
        }
    }

    /// The status the appointment has after this event.
    pub fn status(&self) -> AppointmentStatus {
        match self {
            AppointmentEvent::Created { .. } => AppointmentStatus::PendingInsurance,
            AppointmentEvent::InsuranceVerified { .. } => AppointmentStatus::AwaitingConfirmation,
            AppointmentEvent::Confirmed { .. } => AppointmentStatus::Confirmed,
            AppointmentEvent::Cancelled { .. } => AppointmentStatus::Cancelled,
            AppointmentEvent::Completed { .. } => AppointmentStatus::Completed,
        }
    }
}

/// Business rule violations. No technical errors live here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the appointment already exists")]
    AlreadyScheduled,
    #[error("the appointment does not exist")]
    NotScheduled,
    #[error("cannot {command} an appointment that is {from}")]
    InvalidTransition {
        command: CommandKind,
        from: AppointmentStatus,
    },
}

/// Decides which events a command causes, or refuses it. Pure: same input, same answer.
pub fn handle(
    state: Option<&Appointment>,
    command: AppointmentCommand,
) -> Result<Vec<AppointmentEvent>, DomainError> {
    use AppointmentCommand as C;
    use AppointmentStatus as S;
    let Some(current) = state else {
        return match command {
            C::Schedule(booking) => Ok(vec![AppointmentEvent::Created {
                booking,
                version: 1,
            }]),
            _ => Err(DomainError::NotScheduled),
        };
    };
    let version = current.version + 1;
    let refuse = |command: &C| DomainError::InvalidTransition {
        command: command.kind(),
        from: current.status,
    };
    let event = match (&command, current.status) {
        (C::Schedule(_), _) => return Err(DomainError::AlreadyScheduled),
        (C::MarkInsuranceVerified, S::PendingInsurance) => {
            AppointmentEvent::InsuranceVerified { version }
        }
        (C::Confirm, S::AwaitingConfirmation) => AppointmentEvent::Confirmed { version },
        (C::Complete, S::Confirmed) => AppointmentEvent::Completed { version },
        (C::Cancel { reason }, status) if !status.is_terminal() => AppointmentEvent::Cancelled {
            reason: reason.clone(),
            version,
        },
        _ => return Err(refuse(&command)),
    };
    Ok(vec![event])
}

/// Folds an event into the state. No rules: `handle` already decided.
pub fn apply(state: Option<Appointment>, event: &AppointmentEvent) -> Option<Appointment> {
    if let AppointmentEvent::Created { booking, version } = event {
        return Some(Appointment {
            booking: booking.clone(),
            status: AppointmentStatus::PendingInsurance,
            version: *version,
            cancel_reason: None,
        });
    }
    let mut appointment = state?;
    appointment.status = event.status();
    appointment.version = event.version();
    if let AppointmentEvent::Cancelled { reason, .. } = event {
        appointment.cancel_reason = Some(reason.clone());
    }
    Some(appointment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AppointmentCommand as C;
    use AppointmentStatus as S;

    fn booking() -> Booking {
        Booking {
            appointment_id: AppointmentId::new(),
            saga_id: SagaId::new(),
            clinic_id: ClinicId::new(),
            provider_id: ProviderId::new(),
            patient_id: PatientId::new(),
            kind: AppointmentType::Routine,
            scheduled_for: DateTime::<Utc>::UNIX_EPOCH,
            notes: None,
        }
    }

    fn reason() -> CancelReason {
        CancelReason::parse("Patient asked to cancel").expect("valid reason")
    }

    /// given(events): the state they fold into.
    fn given(events: &[AppointmentEvent]) -> Option<Appointment> {
        events.iter().fold(None, apply)
    }

    fn created() -> AppointmentEvent {
        AppointmentEvent::Created {
            booking: booking(),
            version: 1,
        }
    }

    /// The history that leads to each status.
    fn history_to(status: S) -> Vec<AppointmentEvent> {
        let mut h = vec![created()];
        let steps = match status {
            S::PendingInsurance => vec![],
            S::AwaitingConfirmation => vec![AppointmentEvent::InsuranceVerified { version: 2 }],
            S::Confirmed => vec![
                AppointmentEvent::InsuranceVerified { version: 2 },
                AppointmentEvent::Confirmed { version: 3 },
            ],
            S::Completed => vec![
                AppointmentEvent::InsuranceVerified { version: 2 },
                AppointmentEvent::Confirmed { version: 3 },
                AppointmentEvent::Completed { version: 4 },
            ],
            S::Cancelled => vec![AppointmentEvent::Cancelled {
                reason: reason(),
                version: 2,
            }],
        };
        h.extend(steps);
        h
    }

    #[test]
    fn schedule_creates_version_one_pending_insurance() {
        let b = booking();
        let events = handle(None, C::Schedule(b.clone())).expect("accepted");
        assert_eq!(
            events,
            vec![AppointmentEvent::Created {
                booking: b,
                version: 1
            }]
        );
        let state = given(&events).expect("exists");
        assert_eq!((state.status, state.version), (S::PendingInsurance, 1));
    }

    #[test]
    fn scheduling_twice_is_refused() {
        let state = given(&[created()]);
        assert_eq!(
            handle(state.as_ref(), C::Schedule(booking())),
            Err(DomainError::AlreadyScheduled)
        );
    }

    #[test]
    fn commands_on_a_missing_appointment_are_refused() {
        for cmd in [
            C::MarkInsuranceVerified,
            C::Confirm,
            C::Complete,
            C::Cancel { reason: reason() },
        ] {
            assert_eq!(handle(None, cmd), Err(DomainError::NotScheduled));
        }
    }

    #[test]
    fn the_happy_path_walks_every_status_with_rising_versions() {
        let mut events = vec![created()];
        for (cmd, expected) in [
            (
                C::MarkInsuranceVerified,
                AppointmentEvent::InsuranceVerified { version: 2 },
            ),
            (C::Confirm, AppointmentEvent::Confirmed { version: 3 }),
            (C::Complete, AppointmentEvent::Completed { version: 4 }),
        ] {
            let new = handle(given(&events).as_ref(), cmd).expect("valid transition");
            assert_eq!(new, vec![expected]);
            events.extend(new);
        }
        let state = given(&events).expect("exists");
        assert_eq!((state.status, state.version), (S::Completed, 4));
    }

    #[test]
    fn every_non_terminal_status_can_be_cancelled_with_its_reason() {
        for status in [S::PendingInsurance, S::AwaitingConfirmation, S::Confirmed] {
            let history = history_to(status);
            let state = given(&history);
            let events =
                handle(state.as_ref(), C::Cancel { reason: reason() }).expect("cancel allowed");
            let next_version = history.len() as i32 + 1;
            assert_eq!(
                events,
                vec![AppointmentEvent::Cancelled {
                    reason: reason(),
                    version: next_version
                }]
            );
            let after = events.iter().fold(state, apply).expect("exists");
            assert_eq!(after.status, S::Cancelled);
            assert_eq!(after.cancel_reason, Some(reason()));
        }
    }

    /// The full transition table: every (status, command) pair not on the happy path or a
    /// cancellation of a live appointment is refused, naming the current status.
    #[test]
    fn every_other_transition_is_refused() {
        let allowed = |status: S, cmd: &C| {
            matches!(
                (cmd, status),
                (C::MarkInsuranceVerified, S::PendingInsurance)
                    | (C::Confirm, S::AwaitingConfirmation)
                    | (C::Complete, S::Confirmed)
            ) || (matches!(cmd, C::Cancel { .. }) && !status.is_terminal())
        };
        for status in S::ALL {
            let state = given(&history_to(status));
            assert_eq!(state.as_ref().map(|s| s.status), Some(status));
            for cmd in [
                C::MarkInsuranceVerified,
                C::Confirm,
                C::Complete,
                C::Cancel { reason: reason() },
            ] {
                let result = handle(state.as_ref(), cmd.clone());
                if allowed(status, &cmd) {
                    assert!(result.is_ok(), "{status} should accept {}", cmd.kind());
                } else {
                    assert_eq!(
                        result,
                        Err(DomainError::InvalidTransition {
                            command: cmd.kind(),
                            from: status
                        }),
                        "{status} should refuse {}",
                        cmd.kind()
                    );
                }
            }
        }
    }

    #[test]
    fn a_completed_appointment_cannot_be_cancelled() {
        let state = given(&history_to(S::Completed));
        let err = handle(state.as_ref(), C::Cancel { reason: reason() }).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "cannot cancel an appointment that is COMPLETED"
        );
    }

    #[test]
    fn status_names_round_trip() {
        for s in S::ALL {
            assert_eq!(s.as_str().parse::<S>(), Ok(s));
        }
        assert_eq!("DONE".parse::<S>(), Err(UnknownStatus));
    }
}
