//! Request fields every route reads the same way: required text, UUIDs (in a body, a query or
//! the path) and instants in query parameters, each refused with a field error naming it.

use crate::problem::{ApiError, FieldError};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use uuid::Uuid;

pub(crate) fn required<'a>(
    value: &'a Option<String>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Some(v),
        _ => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
    }
}

pub(crate) fn uuid_field(
    value: Option<&str>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Uuid> {
    let v = value?;
    Uuid::parse_str(v)
        .map_err(|_| errors.push(FieldError::new(field, "must be a UUID")))
        .ok()
}

/// The dates a query parameter may name: years 1900 through 9999. Wider than any appointment
/// or metric the product holds, and narrow enough that every computation on it (a day back, an
/// hour up) stays inside chrono's and PostgreSQL's ranges, which a date like `-262143-01-01`
/// (valid RFC 3339 to chrono) does not.
pub(crate) const QUERY_YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// A date-time query parameter: RFC 3339, or a date (UTC midnight), inside [`QUERY_YEARS`];
/// anything else is a field error.
pub(crate) fn instant_field(
    value: Option<&str>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    let v = value?;
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .filter(|t| QUERY_YEARS.contains(&t.year()))
        .or_else(|| {
            errors.push(FieldError::new(
                field,
                format!("must be RFC 3339 or YYYY-MM-DD, {}", in_query_years()),
            ));
            None
        })
}

/// How a field error names [`QUERY_YEARS`].
pub(crate) fn in_query_years() -> String {
    format!(
        "in the years {} to {}",
        QUERY_YEARS.start(),
        QUERY_YEARS.end()
    )
}

pub(crate) fn path_uuid(raw: &str, field: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid(field, "must be a UUID"))
}
