//! Validated values: parsed once at the edge, so an invalid one cannot exist further in.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused. The text is safe to show to a caller: it never repeats the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub &'static str);

/// The shared plumbing of a validated string: serde goes through `parse`, `as_str` reads it.
macro_rules! string_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

/// A patient's email address, trimmed, with a lower-case domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PatientEmail(String);

impl PatientEmail {
    /// Longest address SMTP allows (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim();
        if s.is_empty() {
            return Err(InvalidValue("must not be empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(InvalidValue("must be at most 254 characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidValue("must not contain spaces"));
        }
        let (local, domain) = s.split_once('@').ok_or(InvalidValue(
            "must be an email address like name@example.com",
        ))?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(InvalidValue(
                "must be an email address like name@example.com",
            ));
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }
}

string_value!(PatientEmail);

/// Free text an agent adds to a booking; bounded so one record cannot grow without limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Notes(String);

impl Notes {
    pub const MAX_CHARS: usize = 1000;

    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim();
        if s.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue("must be at most 1000 characters"));
        }
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(InvalidValue("must not contain control characters"));
        }
        Ok(Self(s.to_owned()))
    }
}

string_value!(Notes);

/// Why an appointment was cancelled, as a call-center agent or the saga states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CancelReason(String);

impl CancelReason {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim();
        if s.is_empty() {
            return Err(InvalidValue("must not be empty"));
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue("must be at most 500 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidValue("must not contain control characters"));
        }
        Ok(Self(s.to_owned()))
    }
}

string_value!(CancelReason);

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads an appointment start time.
///
/// Decision: callers may send either an RFC 3339 instant with an offset
/// (`2026-11-23T09:30:00-08:00`) or a local wall-clock time without offset
/// (`2026-11-23T09:30`), which is read in the clinic's time zone, the way an agent
/// on the phone talks about it. A local time that falls in a daylight-saving gap or
/// overlap is refused rather than guessed. Appointments start on a whole minute.
pub fn parse_start_time(input: &str, clinic_zone: Tz) -> Result<DateTime<Utc>, InvalidValue> {
    let s = input.trim();
    let instant = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else {
        let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
            .map_err(|_| {
                InvalidValue("must be a date-time like 2026-11-23T09:30 (clinic time) or RFC 3339")
            })?;
        match clinic_zone.from_local_datetime(&local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(..) => {
                return Err(InvalidValue(
                    "is ambiguous in the clinic's time zone (clocks go back); add an offset",
                ))
            }
            LocalResult::None => {
                return Err(InvalidValue(
                    "does not exist in the clinic's time zone (clocks go forward)",
                ))
            }
        }
    };
    if instant.second() != 0 || instant.nanosecond() != 0 {
        return Err(InvalidValue("must be on a whole minute"));
    }
    Ok(instant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::{Los_Angeles, New_York};

    #[test]
    fn email_is_trimmed_and_domain_lower_cased() {
        let e = PatientEmail::parse("  Ana.Lee@Example.COM ").expect("valid");
        assert_eq!(e.as_str(), "Ana.Lee@example.com");
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for bad in [
            "",
            "no-at-sign",
            "a@b",
            "@example.com",
            "a@@example.com",
            "a b@example.com",
            "a@example..com",
            "a@.example.com",
        ] {
            assert!(
                PatientEmail::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(PatientEmail::parse(&long).is_err());
    }

    #[test]
    fn notes_are_bounded_and_printable() {
        assert!(Notes::parse(&"x".repeat(1000)).is_ok());
        assert_eq!(
            Notes::parse(&"x".repeat(1001)),
            Err(InvalidValue("must be at most 1000 characters"))
        );
        assert!(Notes::parse("line one\nline two").is_ok());
        assert!(Notes::parse("bell\u{7}").is_err());
    }

    #[test]
    fn cancel_reason_must_say_something() {
        assert!(CancelReason::parse("   ").is_err());
        assert_eq!(
            CancelReason::parse(" Patient called ")
                .expect("valid")
                .as_str(),
            "Patient called"
        );
    }

    #[test]
    fn local_time_is_read_in_the_clinic_zone() {
        let la = parse_start_time("2026-11-23T09:30", Los_Angeles).expect("valid");
        let ny = parse_start_time("2026-11-23T09:30", New_York).expect("valid");
        assert_eq!(la.to_rfc3339(), "2026-11-23T17:30:00+00:00");
        assert_eq!(ny.to_rfc3339(), "2026-11-23T14:30:00+00:00");
    }

    #[test]
    fn explicit_offset_wins_over_the_clinic_zone() {
        let t = parse_start_time("2026-11-23T09:30:00-05:00", Los_Angeles).expect("valid");
        assert_eq!(t.to_rfc3339(), "2026-11-23T14:30:00+00:00");
    }

    #[test]
    fn daylight_saving_gaps_and_overlaps_are_refused() {
        // 2026-03-08 02:30 does not exist in New York; 2026-11-01 01:30 happens twice.
        assert!(parse_start_time("2026-03-08T02:30", New_York).is_err());
        assert!(parse_start_time("2026-11-01T01:30", New_York).is_err());
    }

    #[test]
    fn start_time_must_be_a_whole_minute_and_well_formed() {
        assert!(parse_start_time("2026-11-23T09:30:15", New_York).is_err());
        assert!(parse_start_time("tomorrow at nine", New_York).is_err());
    }
}
