//! Insurance eligibility for an eye exam, decided from the patient's policy.
//!
//! The rule (a stand-in for a clearinghouse, which can replace it behind the checker trait):
//! - a policy must be on file;
//! - it must be active on the appointment's date (in the clinic's time zone), inclusive;
//! - ROUTINE exams and CONTACT_LENS fittings are vision benefits: they need vision coverage;
//!   FOLLOW_UP and EMERGENCY visits are medical eye care, covered by any active policy.
//!
//! Reasons are written for a call-center agent to read out; they hold no member ids.

use crate::AppointmentType;
use chrono::NaiveDate;

/// A patient's insurance policy as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsurancePolicy {
    pub payer: String,
    pub member_id: String,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub vision_coverage: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    Eligible { payer: String },
    Ineligible { reason: String },
}

/// Whether `policy` covers an exam of `kind` on `date`.
pub fn check_eligibility(
    policy: Option<&InsurancePolicy>,
    kind: AppointmentType,
    date: NaiveDate,
) -> Eligibility {
    let ineligible = |reason: String| Eligibility::Ineligible { reason };
    let Some(policy) = policy else {
        return ineligible("no insurance policy on file for the patient".to_owned());
    };
    if policy.valid_from.is_some_and(|from| date < from) {
        return ineligible(format!(
            "the {} policy is not active yet on {date}",
            policy.payer
        ));
    }
    if policy.valid_to.is_some_and(|to| date > to) {
        return ineligible(format!("the {} policy expired before {date}", policy.payer));
    }
    let needs_vision = matches!(
        kind,
        AppointmentType::Routine | AppointmentType::ContactLens
    );
    if needs_vision && !policy.vision_coverage {
        return ineligible(format!(
            "the {} policy has no vision coverage for a {}",
            policy.payer,
            kind.label().to_lowercase()
        ));
    }
    Eligibility::Eligible {
        payer: policy.payer.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2030, 1, d).expect("date")
    }

    fn policy(vision: bool) -> InsurancePolicy {
        InsurancePolicy {
            payer: "VSP".to_owned(),
            member_id: "M1".to_owned(),
            valid_from: Some(day(1)),
            valid_to: Some(day(20)),
            vision_coverage: vision,
        }
    }

    fn reason(e: Eligibility) -> String {
        match e {
            Eligibility::Ineligible { reason } => reason,
            Eligibility::Eligible { .. } => panic!("expected ineligible"),
        }
    }

    #[test]
    fn an_active_vision_policy_covers_every_exam_type() {
        for kind in AppointmentType::ALL {
            assert_eq!(
                check_eligibility(Some(&policy(true)), kind, day(10)),
                Eligibility::Eligible {
                    payer: "VSP".into()
                }
            );
        }
    }

    #[test]
    fn validity_bounds_are_inclusive() {
        assert!(matches!(
            check_eligibility(Some(&policy(true)), AppointmentType::Routine, day(1)),
            Eligibility::Eligible { .. }
        ));
        assert!(matches!(
            check_eligibility(Some(&policy(true)), AppointmentType::Routine, day(20)),
            Eligibility::Eligible { .. }
        ));
        assert!(reason(check_eligibility(
            Some(&policy(true)),
            AppointmentType::Routine,
            day(21)
        ))
        .contains("expired"));
        let later = InsurancePolicy {
            valid_from: Some(day(15)),
            ..policy(true)
        };
        assert!(reason(check_eligibility(
            Some(&later),
            AppointmentType::Routine,
            day(14)
        ))
        .contains("not active yet"));
    }

    #[test]
    fn vision_benefits_need_vision_coverage_but_medical_visits_do_not() {
        let medical_only = policy(false);
        assert!(reason(check_eligibility(
            Some(&medical_only),
            AppointmentType::Routine,
            day(10)
        ))
        .contains("no vision coverage"));
        assert!(reason(check_eligibility(
            Some(&medical_only),
            AppointmentType::ContactLens,
            day(10)
        ))
        .contains("contact lens fitting"));
        for kind in [AppointmentType::FollowUp, AppointmentType::Emergency] {
            assert!(matches!(
                check_eligibility(Some(&medical_only), kind, day(10)),
                Eligibility::Eligible { .. }
            ));
        }
    }

    #[test]
    fn a_missing_policy_is_ineligible_with_a_plain_reason() {
        assert_eq!(
            reason(check_eligibility(None, AppointmentType::Emergency, day(10))),
            "no insurance policy on file for the patient"
        );
    }
}
