//! Event-time windows for the metrics projections, and the clinic-local label of a window.
//!
//! Windows are tumbling and aligned to the Unix epoch in UTC: an hour window starts on the
//! hour, a funnel window on the hour or the half hour. An instant belongs to the window that
//! starts at or before it and ends after it, so 09:59:59.999 is in the 09:00 hour and
//! 10:00:00.000 in the 10:00 hour.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The appointments-created-per-hour window.
pub const HOUR: Duration = Duration::hours(1);
/// The booking-funnel window.
pub const FUNNEL_WINDOW: Duration = Duration::minutes(30);

/// The start of the `width` window holding `at`. `width` must be a positive whole number of
/// milliseconds that divides a day (an hour, 30 minutes).
pub fn window_start(at: DateTime<Utc>, width: Duration) -> DateTime<Utc> {
    let width_ms = width.num_milliseconds().max(1);
    let ms = at.timestamp_millis();
    let start = ms - ms.rem_euclid(width_ms);
    Utc.timestamp_millis_opt(start).single().unwrap_or(at)
}

/// Every window start of `width` from the window holding `from` up to (excluding) `to`.
pub fn window_starts(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    width: Duration,
) -> Vec<DateTime<Utc>> {
    let mut starts = Vec::new();
    let mut at = window_start(from, width);
    while at < to {
        starts.push(at);
        at += width;
    }
    starts
}

/// A window's start as the clinic's wall clock shows it, e.g. `2026-03-08T01:00` in
/// Los Angeles for 09:00 UTC. Near a daylight-saving change two windows can share a label
/// hour's number (the repeated hour) or skip one: the UTC start stays the identity.
pub fn local_label(start: DateTime<Utc>, zone: Tz) -> NaiveDateTime {
    start.with_timezone(&zone).naive_local()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("RFC 3339")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_last_millisecond_of_an_hour_is_in_that_hour_and_the_next_instant_is_not() {
        assert_eq!(
            window_start(at("2026-12-02T09:59:59.999Z"), HOUR),
            at("2026-12-02T09:00:00Z")
        );
        assert_eq!(
            window_start(at("2026-12-02T10:00:00.000Z"), HOUR),
            at("2026-12-02T10:00:00Z")
        );
    }

    #[test]
    fn funnel_windows_split_the_hour_at_the_half() {
        assert_eq!(
            window_start(at("2026-12-02T09:29:59.999Z"), FUNNEL_WINDOW),
            at("2026-12-02T09:00:00Z")
        );
        assert_eq!(
            window_start(at("2026-12-02T09:30:00Z"), FUNNEL_WINDOW),
            at("2026-12-02T09:30:00Z")
        );
    }

    #[test]
    fn instants_before_the_epoch_fall_in_the_window_below_them() {
        assert_eq!(
            window_start(at("1969-12-31T23:59:59.999Z"), HOUR),
            at("1969-12-31T23:00:00Z")
        );
    }

    #[test]
    fn window_starts_cover_the_range_from_the_window_holding_from() {
        let starts = window_starts(at("2026-12-02T09:10:00Z"), at("2026-12-02T11:00:00Z"), HOUR);
        assert_eq!(
            starts,
            vec![at("2026-12-02T09:00:00Z"), at("2026-12-02T10:00:00Z")]
        );
        assert!(
            window_starts(at("2026-12-02T11:00:00Z"), at("2026-12-02T11:00:00Z"), HOUR).is_empty()
        );
    }

    #[test]
    fn local_labels_follow_each_clinics_zone_and_daylight_saving() {
        let la: Tz = "America/Los_Angeles".parse().expect("zone");
        let ny: Tz = "America/New_York".parse().expect("zone");
        let winter = at("2026-12-02T17:00:00Z");
        assert_eq!(local_label(winter, la).to_string(), "2026-12-02 09:00:00");
        assert_eq!(local_label(winter, ny).to_string(), "2026-12-02 12:00:00");
        // 2026-03-08: US clocks spring forward at 02:00 local; 10:00Z is 03:00 PDT, 09:00Z 01:00 PST.
        assert_eq!(
            local_label(at("2026-03-08T09:00:00Z"), la).to_string(),
            "2026-03-08 01:00:00"
        );
        assert_eq!(
            local_label(at("2026-03-08T10:00:00Z"), la).to_string(),
            "2026-03-08 03:00:00"
        );
    }
}
