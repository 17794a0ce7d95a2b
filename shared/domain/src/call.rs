//! Call-center calls: how a call ends.

use serde::{Deserialize, Serialize};

/// How a call ended. Wire form: the SCREAMING_SNAKE_CASE Avro enum symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallOutcome {
    Booked,
    Rescheduled,
    Cancelled,
    Information,
    Abandoned,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 5] = [
        CallOutcome::Booked,
        CallOutcome::Rescheduled,
        CallOutcome::Cancelled,
        CallOutcome::Information,
        CallOutcome::Abandoned,
    ];

    /// The Avro symbol, e.g. `"BOOKED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Booked => "BOOKED",
            CallOutcome::Rescheduled => "RESCHEDULED",
            CallOutcome::Cancelled => "CANCELLED",
            CallOutcome::Information => "INFORMATION",
            CallOutcome::Abandoned => "ABANDONED",
        }
    }
}

impl std::fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The input named no known call outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of BOOKED, RESCHEDULED, CANCELLED, INFORMATION, ABANDONED")]
pub struct UnknownCallOutcome;

impl std::str::FromStr for CallOutcome {
    type Err = UnknownCallOutcome;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CallOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or(UnknownCallOutcome)
    }
}
