//! The booking saga's state machine (orchestration): which step a booking is in, and what
//! the orchestrator sends next when a reply arrives.
//!
//! AppointmentCreated → INSURANCE_VERIFICATION (send VerifyInsurance) → InsuranceVerified →
//! SENDING_CONFIRMATION (send SendConfirmation) → ConfirmationSent → COMPLETED (send
//! ConfirmAppointment). InsuranceFailed or a passed deadline → COMPENSATING (send
//! CancelAppointment with the reason) → AppointmentCancelled → CANCELLED; except that a
//! confirmation email already claimed when its deadline passes (sent, or its outcome unknown)
//! lets the booking go ahead: compensating then would cancel an appointment the patient may
//! have been told is booked. A reply that does not
//! fit the current step (a duplicate, a late one) is `Ignored` and only noted on the timeline.

use crate::values::CancelReason;
use crate::{AppointmentId, SagaId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SagaStep {
    InsuranceVerification,
    SendingConfirmation,
    Completed,
    Compensating,
    Cancelled,
}

impl SagaStep {
    pub const ALL: [SagaStep; 5] = [
        SagaStep::InsuranceVerification,
        SagaStep::SendingConfirmation,
        SagaStep::Completed,
        SagaStep::Compensating,
        SagaStep::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SagaStep::InsuranceVerification => "INSURANCE_VERIFICATION",
            SagaStep::SendingConfirmation => "SENDING_CONFIRMATION",
            SagaStep::Completed => "COMPLETED",
            SagaStep::Compensating => "COMPENSATING",
            SagaStep::Cancelled => "CANCELLED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, SagaStep::Completed | SagaStep::Cancelled)
    }
}

impl fmt::Display for SagaStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown saga step")]
pub struct UnknownSagaStep;

impl FromStr for SagaStep {
    type Err = UnknownSagaStep;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SagaStep::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or(UnknownSagaStep)
    }
}

/// How long a step may wait for its reply before the sweeper compensates the booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SagaDeadlines {
    pub insurance_verification: Duration,
    pub sending_confirmation: Duration,
}

impl Default for SagaDeadlines {
    fn default() -> Self {
        Self {
            insurance_verification: Duration::minutes(5),
            sending_confirmation: Duration::minutes(10),
        }
    }
}

impl SagaDeadlines {
    fn for_step(&self, step: SagaStep, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match step {
            SagaStep::InsuranceVerification => Some(now + self.insurance_verification),
            SagaStep::SendingConfirmation => Some(now + self.sending_confirmation),
            _ => None,
        }
    }
}

/// A reply (or the clock) reaching the orchestrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaInput {
    InsuranceVerified,
    InsuranceFailed {
        reason: String,
    },
    ConfirmationSent,
    AppointmentCancelled,
    /// The sweeper found the step past its deadline. `email_claimed`: an attempt had already
    /// claimed the booking's confirmation email (send-confirmation's claim), so the email may
    /// have gone out.
    DeadlinePassed {
        email_claimed: bool,
    },
}

impl SagaInput {
    pub fn name(&self) -> &'static str {
        match self {
            SagaInput::InsuranceVerified => "InsuranceVerified",
            SagaInput::InsuranceFailed { .. } => "InsuranceFailed",
            SagaInput::ConfirmationSent => "ConfirmationSent",
            SagaInput::AppointmentCancelled => "AppointmentCancelled",
            SagaInput::DeadlinePassed { .. } => "DeadlinePassed",
        }
    }
}

/// A command the orchestrator sends next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaAction {
    VerifyInsurance,
    SendConfirmation,
    ConfirmAppointment,
    CancelAppointment { reason: CancelReason },
}

impl SagaAction {
    /// The name of the record the action sends.
    pub fn name(&self) -> &'static str {
        match self {
            SagaAction::VerifyInsurance => "VerifyInsurance",
            SagaAction::SendConfirmation => "SendConfirmation",
            SagaAction::ConfirmAppointment => "ConfirmAppointment",
            SagaAction::CancelAppointment { .. } => "CancelAppointment",
        }
    }
}

/// Persisted saga state; `version` backs optimistic concurrency in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saga {
    pub saga_id: SagaId,
    pub appointment_id: AppointmentId,
    pub step: SagaStep,
    pub version: i32,
    pub deadline: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaOutcome {
    Advanced {
        saga: Saga,
        actions: Vec<SagaAction>,
    },
    /// Not valid in the current step: recorded on the timeline, nothing changes.
    Ignored { step: SagaStep },
}

fn compensation(reason: String) -> SagaAction {
    // Reasons are built here from known words, so they always parse; fall back defensively.
    let reason = CancelReason::parse(&reason)
        .or_else(|_| CancelReason::parse("Booking could not be completed"))
        .expect("the fallback reason is valid");
    SagaAction::CancelAppointment { reason }
}

impl Saga {
    /// AppointmentCreated starts the saga.
    pub fn start(
        saga_id: SagaId,
        appointment_id: AppointmentId,
        now: DateTime<Utc>,
        deadlines: &SagaDeadlines,
    ) -> (Saga, Vec<SagaAction>) {
        let step = SagaStep::InsuranceVerification;
        let saga = Saga {
            saga_id,
            appointment_id,
            step,
            version: 1,
            deadline: deadlines.for_step(step, now),
        };
        (saga, vec![SagaAction::VerifyInsurance])
    }

    pub fn advance(
        &self,
        input: &SagaInput,
        now: DateTime<Utc>,
        deadlines: &SagaDeadlines,
    ) -> SagaOutcome {
        use SagaInput as I;
        use SagaStep as S;
        let (step, actions) = match (self.step, input) {
            (S::InsuranceVerification, I::InsuranceVerified) => {
                (S::SendingConfirmation, vec![SagaAction::SendConfirmation])
            }
            (S::InsuranceVerification, I::InsuranceFailed { reason }) => (
                S::Compensating,
                vec![compensation(format!(
                    "Insurance verification failed: {reason}"
                ))],
            ),
            (S::SendingConfirmation, I::ConfirmationSent) => {
                (S::Completed, vec![SagaAction::ConfirmAppointment])
            }
            (S::InsuranceVerification, I::DeadlinePassed { .. }) => (
                S::Compensating,
                vec![compensation(
                    "Insurance verification did not answer in time".to_owned(),
                )],
            ),
            (
                S::SendingConfirmation,
                I::DeadlinePassed {
                    email_claimed: true,
                },
            ) => (S::Completed, vec![SagaAction::ConfirmAppointment]),
            (
                S::SendingConfirmation,
                I::DeadlinePassed {
                    email_claimed: false,
                },
            ) => (
                S::Compensating,
                vec![compensation(
                    "Confirmation email could not be sent in time".to_owned(),
                )],
            ),
            // The appointment was cancelled (by an agent, or by our compensation): close the saga.
            (step, I::AppointmentCancelled) if !step.is_terminal() => (S::Cancelled, vec![]),
            (step, _) => return SagaOutcome::Ignored { step },
        };
        let saga = Saga {
            step,
            version: self.version + 1,
            deadline: deadlines.for_step(step, now),
            ..self.clone()
        };
        SagaOutcome::Advanced { saga, actions }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SagaInput as I;
    use SagaStep as S;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000)
    }

    fn saga_in(step: S) -> Saga {
        let (mut saga, _) = Saga::start(
            SagaId::new(),
            AppointmentId::new(),
            now(),
            &SagaDeadlines::default(),
        );
        saga.step = step;
        saga
    }

    fn cancel_reason(outcome: &SagaOutcome) -> Option<String> {
        match outcome {
            SagaOutcome::Advanced { actions, .. } => actions.iter().find_map(|a| match a {
                SagaAction::CancelAppointment { reason } => Some(reason.as_str().to_owned()),
                _ => None,
            }),
            SagaOutcome::Ignored { .. } => None,
        }
    }

    #[test]
    fn start_asks_for_insurance_verification_with_a_deadline() {
        let (saga, actions) = Saga::start(
            SagaId::new(),
            AppointmentId::new(),
            now(),
            &SagaDeadlines::default(),
        );
        assert_eq!(saga.step, S::InsuranceVerification);
        assert_eq!(saga.version, 1);
        assert_eq!(saga.deadline, Some(now() + Duration::minutes(5)));
        assert_eq!(actions, vec![SagaAction::VerifyInsurance]);
    }

    #[test]
    fn happy_path_sends_confirmation_then_confirms() {
        let d = SagaDeadlines::default();
        let s1 = saga_in(S::InsuranceVerification);
        let SagaOutcome::Advanced { saga: s2, actions } =
            s1.advance(&I::InsuranceVerified, now(), &d)
        else {
            panic!("verified must advance");
        };
        assert_eq!(
            (s2.step, s2.version, actions),
            (
                S::SendingConfirmation,
                2,
                vec![SagaAction::SendConfirmation]
            )
        );
        assert_eq!(s2.deadline, Some(now() + Duration::minutes(10)));
        let SagaOutcome::Advanced { saga: s3, actions } =
            s2.advance(&I::ConfirmationSent, now(), &d)
        else {
            panic!("sent must advance");
        };
        assert_eq!(
            (s3.step, s3.version, actions),
            (S::Completed, 3, vec![SagaAction::ConfirmAppointment])
        );
        assert_eq!(s3.deadline, None);
    }

    #[test]
    fn failed_insurance_compensates_with_the_reason() {
        let outcome = saga_in(S::InsuranceVerification).advance(
            &I::InsuranceFailed {
                reason: "policy expired".into(),
            },
            now(),
            &SagaDeadlines::default(),
        );
        assert_eq!(
            cancel_reason(&outcome).as_deref(),
            Some("Insurance verification failed: policy expired")
        );
        assert!(matches!(
            outcome,
            SagaOutcome::Advanced {
                saga: Saga {
                    step: S::Compensating,
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn passed_deadlines_compensate_pending_steps() {
        let unclaimed = I::DeadlinePassed {
            email_claimed: false,
        };
        for step in [S::InsuranceVerification, S::SendingConfirmation] {
            let outcome = saga_in(step).advance(&unclaimed, now(), &SagaDeadlines::default());
            assert!(
                cancel_reason(&outcome).is_some(),
                "{step} past its deadline must be compensated"
            );
        }
    }

    /// Once the email is claimed the patient may have been told "booked": no cancellation.
    #[test]
    fn a_deadline_passing_after_the_email_was_claimed_confirms_the_booking() {
        let claimed = I::DeadlinePassed {
            email_claimed: true,
        };
        let outcome =
            saga_in(S::SendingConfirmation).advance(&claimed, now(), &SagaDeadlines::default());
        assert!(
            matches!(&outcome, SagaOutcome::Advanced { saga: Saga { step: S::Completed, deadline: None, .. }, actions } if *actions == [SagaAction::ConfirmAppointment]),
            "{outcome:?}"
        );
    }

    #[test]
    fn appointment_cancelled_closes_any_live_saga() {
        for step in [
            S::InsuranceVerification,
            S::SendingConfirmation,
            S::Compensating,
        ] {
            let outcome =
                saga_in(step).advance(&I::AppointmentCancelled, now(), &SagaDeadlines::default());
            assert!(
                matches!(&outcome, SagaOutcome::Advanced { saga: Saga { step: S::Cancelled, .. }, actions } if actions.is_empty()),
                "{step}: {outcome:?}"
            );
        }
    }

    /// Everything off the table above (duplicates, late replies, replies to terminal sagas) is ignored.
    #[test]
    fn inputs_that_do_not_fit_the_step_are_ignored() {
        let inputs = [
            I::InsuranceVerified,
            I::InsuranceFailed { reason: "x".into() },
            I::ConfirmationSent,
            I::AppointmentCancelled,
            I::DeadlinePassed {
                email_claimed: false,
            },
            I::DeadlinePassed {
                email_claimed: true,
            },
        ];
        let fits = |step: S, input: &I| match (step, input) {
            (
                S::InsuranceVerification,
                I::InsuranceVerified | I::InsuranceFailed { .. } | I::DeadlinePassed { .. },
            ) => true,
            (S::SendingConfirmation, I::ConfirmationSent | I::DeadlinePassed { .. }) => true,
            (step, I::AppointmentCancelled) => !step.is_terminal(),
            _ => false,
        };
        for step in S::ALL {
            for input in &inputs {
                let outcome = saga_in(step).advance(input, now(), &SagaDeadlines::default());
                if fits(step, input) {
                    assert!(
                        matches!(outcome, SagaOutcome::Advanced { .. }),
                        "{step} + {}",
                        input.name()
                    );
                } else {
                    assert_eq!(
                        outcome,
                        SagaOutcome::Ignored { step },
                        "{step} + {}",
                        input.name()
                    );
                }
            }
        }
    }

    #[test]
    fn step_names_round_trip() {
        for s in S::ALL {
            assert_eq!(s.as_str().parse::<S>(), Ok(s));
        }
    }
}
