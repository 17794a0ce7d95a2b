//! The kinds of eye exam a clinic offers, and how long each takes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Exam type. The wire form (Avro enum symbol, JSON, database) is the SCREAMING_SNAKE_CASE name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppointmentType {
    Routine,
    FollowUp,
    Emergency,
    ContactLens,
}

impl AppointmentType {
    pub const ALL: [AppointmentType; 4] = [
        AppointmentType::Routine,
        AppointmentType::FollowUp,
        AppointmentType::Emergency,
        AppointmentType::ContactLens,
    ];

    /// How long the provider is booked for this exam.
    pub fn duration_minutes(self) -> i64 {
        match self {
            AppointmentType::Routine => 30,
            AppointmentType::FollowUp => 20,
            AppointmentType::Emergency => 30,
            AppointmentType::ContactLens => 45,
        }
    }

    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::minutes(self.duration_minutes())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentType::Routine => "ROUTINE",
            AppointmentType::FollowUp => "FOLLOW_UP",
            AppointmentType::Emergency => "EMERGENCY",
            AppointmentType::ContactLens => "CONTACT_LENS",
        }
    }

    /// Words a patient reads in an email.
    pub fn label(self) -> &'static str {
        match self {
            AppointmentType::Routine => "Routine eye exam",
            AppointmentType::FollowUp => "Follow-up visit",
            AppointmentType::Emergency => "Emergency eye care",
            AppointmentType::ContactLens => "Contact lens fitting",
        }
    }
}

impl fmt::Display for AppointmentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The input named no known appointment type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of ROUTINE, FOLLOW_UP, EMERGENCY, CONTACT_LENS")]
pub struct UnknownAppointmentType;

impl FromStr for AppointmentType {
    type Err = UnknownAppointmentType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AppointmentType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(UnknownAppointmentType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_through_from_str_and_serde() {
        for t in AppointmentType::ALL {
            assert_eq!(t.as_str().parse::<AppointmentType>(), Ok(t));
            let json = serde_json::to_string(&t).expect("serialize");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert_eq!(
            "routine".parse::<AppointmentType>(),
            Err(UnknownAppointmentType)
        );
    }

    #[test]
    fn durations_follow_the_exam_type() {
        assert_eq!(AppointmentType::Routine.duration_minutes(), 30);
        assert_eq!(AppointmentType::FollowUp.duration_minutes(), 20);
        assert_eq!(AppointmentType::Emergency.duration_minutes(), 30);
        assert_eq!(AppointmentType::ContactLens.duration_minutes(), 45);
    }
}
