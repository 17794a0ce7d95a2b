//! A clinic's calendar rules: its time zone and weekly opening hours, and which start times they allow.

use crate::AppointmentType;
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

/// Opening hours for one weekday, in the clinic's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpeningHours {
    pub weekday: Weekday,
    pub opens: NaiveTime,
    pub closes: NaiveTime,
}

/// Why a start time cannot be booked at this clinic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    #[error("the appointment time is in the past")]
    InPast,
    #[error("the appointment time is more than two years ahead")]
    TooFarAhead,
    #[error("the clinic is closed on {0}")]
    ClosedThatDay(Weekday),
    #[error("the appointment must start at or after {opens} and end by {closes} (clinic time)")]
    OutsideOpeningHours { opens: NaiveTime, closes: NaiveTime },
}

/// How far ahead an exam may be booked. Decision: two years, which covers a yearly recall
/// booked well in advance; it also keeps every computation on a start time (its end, its local
/// day) far inside chrono's range, whatever date a caller sends.
pub const BOOKING_HORIZON: Duration = Duration::days(731);

/// Time zone plus opening hours: everything needed to judge a slot without I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicCalendar {
    pub time_zone: Tz,
    pub hours: Vec<OpeningHours>,
}

impl ClinicCalendar {
    fn hours_on(&self, day: Weekday) -> Option<&OpeningHours> {
        self.hours.iter().find(|h| h.weekday == day)
    }

    /// Checks that an exam of `kind` starting at `start` lies in the future, within
    /// [`BOOKING_HORIZON`], and inside one day's opening hours (it must end by closing time).
    pub fn check_slot(
        &self,
        start: DateTime<Utc>,
        kind: AppointmentType,
        now: DateTime<Utc>,
    ) -> Result<(), SlotError> {
        if start <= now {
            return Err(SlotError::InPast);
        }
        if start - now > BOOKING_HORIZON {
            return Err(SlotError::TooFarAhead);
        }
        let local_start = start.with_timezone(&self.time_zone);
        let day = local_start.weekday();
        let hours = self.hours_on(day).ok_or(SlotError::ClosedThatDay(day))?;
        let local_end = (start + kind.duration()).with_timezone(&self.time_zone);
        let fits = local_start.time() >= hours.opens
            && local_end.date_naive() == local_start.date_naive()
            && local_end.time() <= hours.closes;
        if fits {
            Ok(())
        } else {
            Err(SlotError::OutsideOpeningHours {
                opens: hours.opens,
                closes: hours.closes,
            })
        }
    }

    /// Every start time on `date` (clinic-local) at which an exam of `kind` fits the opening
    /// hours, on a grid of `step_minutes` from opening time, later than `now`.
    pub fn candidate_starts(
        &self,
        date: NaiveDate,
        kind: AppointmentType,
        step_minutes: i64,
        now: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let Some(hours) = self.hours_on(date.weekday()) else {
            return Vec::new();
        };
        let mut starts = Vec::new();
        let mut local = date.and_time(hours.opens);
        let last = date.and_time(hours.closes) - kind.duration();
        while local <= last {
            // Skip wall-clock times that do not exist or are ambiguous (DST changes).
            if let LocalResult::Single(t) = self.time_zone.from_local_datetime(&local) {
                let t = t.with_timezone(&Utc);
                if self.check_slot(t, kind, now).is_ok() {
                    starts.push(t);
                }
            }
            local += Duration::minutes(step_minutes);
        }
        starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::Los_Angeles;

    fn weekday_calendar() -> ClinicCalendar {
        let h = |weekday| OpeningHours {
            weekday,
            opens: NaiveTime::from_hms_opt(9, 0, 0).expect("time"),
            closes: NaiveTime::from_hms_opt(17, 0, 0).expect("time"),
        };
        ClinicCalendar {
            time_zone: Los_Angeles,
            hours: vec![
                h(Weekday::Mon),
                h(Weekday::Tue),
                h(Weekday::Wed),
                h(Weekday::Thu),
                h(Weekday::Fri),
            ],
        }
    }

    fn la(s: &str) -> DateTime<Utc> {
        crate::values::parse_start_time(s, Los_Angeles).expect("test time")
    }

    /// A "now" before every slot these tests judge, and within the booking horizon of them.
    fn early_november() -> DateTime<Utc> {
        la("2026-11-01T00:00")
    }

    #[test]
    fn a_slot_inside_opening_hours_is_accepted() {
        // Monday 2026-11-23.
        assert_eq!(
            weekday_calendar().check_slot(
                la("2026-11-23T09:00"),
                AppointmentType::Routine,
                early_november()
            ),
            Ok(())
        );
        assert_eq!(
            weekday_calendar().check_slot(
                la("2026-11-23T16:30"),
                AppointmentType::Routine,
                early_november()
            ),
            Ok(())
        );
    }

    #[test]
    fn a_slot_that_runs_past_closing_is_refused() {
        let err = weekday_calendar().check_slot(
            la("2026-11-23T16:30"),
            AppointmentType::ContactLens,
            early_november(),
        );
        assert!(matches!(err, Err(SlotError::OutsideOpeningHours { .. })));
        let err = weekday_calendar().check_slot(
            la("2026-11-23T08:59"),
            AppointmentType::FollowUp,
            early_november(),
        );
        assert!(matches!(err, Err(SlotError::OutsideOpeningHours { .. })));
    }

    #[test]
    fn closed_days_and_past_times_are_refused() {
        let cal = weekday_calendar();
        assert_eq!(
            cal.check_slot(
                la("2026-11-22T10:00"),
                AppointmentType::Routine,
                early_november()
            ),
            Err(SlotError::ClosedThatDay(Weekday::Sun))
        );
        let now = la("2026-11-23T10:00");
        assert_eq!(
            cal.check_slot(la("2026-11-23T09:30"), AppointmentType::Routine, now),
            Err(SlotError::InPast)
        );
        assert_eq!(
            cal.check_slot(now, AppointmentType::Routine, now),
            Err(SlotError::InPast)
        );
    }

    #[test]
    fn starts_beyond_the_booking_horizon_are_refused_even_at_chronos_limit() {
        let cal = weekday_calendar();
        let now = la("2026-11-23T10:00");
        // Monday 2028-11-20 is within two years; Monday 2028-11-27 is not.
        assert_eq!(
            cal.check_slot(la("2028-11-20T10:00"), AppointmentType::Routine, now),
            Ok(())
        );
        assert_eq!(
            cal.check_slot(la("2028-11-27T10:00"), AppointmentType::Routine, now),
            Err(SlotError::TooFarAhead)
        );
        // The last minute chrono can hold: refused, where adding the exam's length would panic.
        let last = DateTime::<Utc>::MAX_UTC - Duration::seconds(59);
        assert_eq!(
            cal.check_slot(last, AppointmentType::Routine, now),
            Err(SlotError::TooFarAhead)
        );
    }

    #[test]
    fn candidate_starts_fill_the_day_on_the_grid() {
        let cal = weekday_calendar();
        let starts = cal.candidate_starts(
            NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"),
            AppointmentType::Routine,
            30,
            early_november(),
        );
        // 09:00 .. 16:30 every 30 minutes.
        assert_eq!(starts.len(), 16);
        assert_eq!(starts.first().copied(), Some(la("2026-11-23T09:00")));
        assert_eq!(starts.last().copied(), Some(la("2026-11-23T16:30")));
        let sunday = cal.candidate_starts(
            NaiveDate::from_ymd_opt(2026, 11, 22).expect("date"),
            AppointmentType::Routine,
            30,
            early_november(),
        );
        assert!(sunday.is_empty());
    }

    #[test]
    fn candidate_starts_skip_the_past() {
        let cal = weekday_calendar();
        let now = la("2026-11-23T12:10");
        let starts = cal.candidate_starts(
            NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"),
            AppointmentType::Routine,
            30,
            now,
        );
        assert_eq!(starts.first().copied(), Some(la("2026-11-23T12:30")));
    }
}
