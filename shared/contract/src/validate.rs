//! What a decoded record must hold beyond its schema: values no producer of ours ever writes.
//!
//! Avro says an id is a UUID string and a time is a number of milliseconds; it cannot say that
//! the nil UUID names nothing, that no appointment was booked in 1970, or that a version starts
//! at 1. [`crate::SchemaRegistry::decode`] (the one record decoder) runs these checks on every
//! record it decodes, so a schema-valid record with an impossible value is a permanent error
//! (it goes to its dead-letter topic) before any function applies it. A failure names the
//! record, the field and what is wrong, never the value: values can be patient data.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// The earliest instant a record may carry (occurred_at, scheduled_for, window_start).
pub const EARLIEST: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d,
    None => panic!("a valid date"),
};

/// Instants from here on are refused as absurd: far beyond any booking horizon, and most
/// likely seconds or microseconds written where milliseconds belong.
pub const LATEST: NaiveDate = match NaiveDate::from_ymd_opt(2100, 1, 1) {
    Some(d) => d,
    None => panic!("a valid date"),
};

/// The longest exam a record may describe (a whole day).
pub const MAX_DURATION_MINUTES: i32 = 24 * 60;

/// A decoded record holds a value no producer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{record}.{field} {problem}")]
pub struct Impossible {
    pub record: &'static str,
    pub field: &'static str,
    /// What is wrong, without the value (e.g. "is the nil UUID", "is empty").
    pub problem: &'static str,
}

/// The checks of one record; keeps the first failure (fields are checked in schema order).
#[derive(Debug)]
pub struct Checks {
    record: &'static str,
    failed: Option<Impossible>,
}

impl Checks {
    pub fn new(record: &'static str) -> Checks {
        Checks {
            record,
            failed: None,
        }
    }

    fn check(&mut self, ok: bool, field: &'static str, problem: &'static str) -> &mut Self {
        if !ok && self.failed.is_none() {
            self.failed = Some(Impossible {
                record: self.record,
                field,
                problem,
            });
        }
        self
    }

    /// An id: never the nil UUID.
    pub fn id(&mut self, field: &'static str, id: impl Into<Uuid>) -> &mut Self {
        self.check(!id.into().is_nil(), field, "is the nil UUID")
    }

    /// An optional id: absent, or not the nil UUID.
    pub fn optional_id(&mut self, field: &'static str, id: Option<impl Into<Uuid>>) -> &mut Self {
        match id {
            Some(id) => self.id(field, id),
            None => self,
        }
    }

    /// An instant between [`EARLIEST`] and [`LATEST`].
    pub fn instant(&mut self, field: &'static str, at: DateTime<Utc>) -> &mut Self {
        let day = at.date_naive();
        self.check(day >= EARLIEST, field, "is before 2000-01-01")
            .check(day < LATEST, field, "is not before 2100-01-01")
    }

    /// A required text: not empty, not only whitespace.
    pub fn text(&mut self, field: &'static str, text: &str) -> &mut Self {
        self.check(!text.trim().is_empty(), field, "is empty")
    }

    /// An aggregate version: 1 for a creation, counting up from there.
    pub fn version(&mut self, field: &'static str, version: i32) -> &mut Self {
        self.check(version >= 1, field, "is below 1")
    }

    /// An exam length: positive and at most a day.
    pub fn duration(&mut self, field: &'static str, minutes: i32) -> &mut Self {
        self.check(
            (1..=MAX_DURATION_MINUTES).contains(&minutes),
            field,
            "is not between 1 and 1440 minutes",
        )
    }

    /// A count: never negative.
    pub fn count(&mut self, field: &'static str, count: i64) -> &mut Self {
        self.check(count >= 0, field, "is negative")
    }

    pub fn finish(&mut self) -> Result<(), Impossible> {
        self.failed.take().map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_first_failure_wins_and_names_record_and_field_only() {
        let err = Checks::new("Example")
            .id("event_id", Uuid::now_v7())
            .text("patient_name", "  ")
            .id("clinic_id", Uuid::nil())
            .finish()
            .expect_err("impossible");
        assert_eq!(err.to_string(), "Example.patient_name is empty");
    }

    #[test]
    fn instants_must_lie_in_this_century() {
        let at = |y| {
            Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0)
                .single()
                .expect("instant")
        };
        let check = |y| Checks::new("R").instant("occurred_at", at(y)).finish();
        assert!(check(2000).is_ok());
        assert!(check(2099).is_ok());
        assert_eq!(
            check(1970).expect_err("1970").problem,
            "is before 2000-01-01"
        );
        assert_eq!(
            check(2100).expect_err("2100").problem,
            "is not before 2100-01-01"
        );
    }

    #[test]
    fn versions_durations_and_counts_have_their_ranges() {
        let mut ok = Checks::new("R");
        ok.version("v", 1)
            .duration("d", 30)
            .count("c", 0)
            .optional_id("o", None::<Uuid>);
        assert!(ok.finish().is_ok());
        assert!(Checks::new("R").version("v", 0).finish().is_err());
        assert!(Checks::new("R").duration("d", 0).finish().is_err());
        assert!(Checks::new("R").duration("d", 1441).finish().is_err());
        assert!(Checks::new("R").count("c", -1).finish().is_err());
        assert!(Checks::new("R")
            .optional_id("o", Some(Uuid::nil()))
            .finish()
            .is_err());
    }
}
