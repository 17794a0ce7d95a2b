//! OpenAPI schemas of the values the handlers read from text themselves (so their refusals can
//! name the field in words): what the document says here is exactly what the parsers accept,
//! as far as a schema can say it (`tests/it/openapi_driven.rs` checks that no value these allow
//! is refused as invalid).

use contract::CallOutcome;
use domain::{AppointmentStatus, AppointmentType};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// A year from 1900 to 9999 ([`crate::fields::QUERY_YEARS`]), as a pattern.
const QUERY_YEAR: &str = "(19[0-9]{2}|[2-9][0-9]{3})";
/// `-MM-DD` (a pattern cannot tell a 30 February; the parser refuses it).
const MONTH_DAY: &str = "-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
/// `THH:MM`.
const HOUR_MINUTE: &str = "T([01][0-9]|2[0-3]):[0-5][0-9]";
/// An RFC 3339 offset.
const OFFSET: &str = "(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";

fn text(pattern: String) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .build()
}

fn one_of(values: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
}

/// A date-time query parameter: a date (UTC midnight) or an RFC 3339 instant, years 1900-9999.
pub fn query_instant() -> Object {
    text(format!(
        "^{QUERY_YEAR}{MONTH_DAY}({HOUR_MINUTE}:[0-5][0-9](\\.[0-9]+)?{OFFSET})?$"
    ))
}

/// A day query parameter, YYYY-MM-DD, years 1900-9999.
pub fn query_date() -> Object {
    text(format!("^{QUERY_YEAR}{MONTH_DAY}$"))
}

/// An appointment's start: clinic-local `2026-11-23T09:30` (or with `:00` seconds), or RFC 3339
/// with an offset; on a whole minute.
pub fn booking_start() -> Object {
    text(format!(
        "^[0-9]{{4}}{MONTH_DAY}{HOUR_MINUTE}(:00(\\.0+)?)?{OFFSET}?$"
    ))
}

pub fn appointment_status() -> Object {
    one_of(AppointmentStatus::ALL.map(AppointmentStatus::as_str))
}

pub fn appointment_type() -> Object {
    one_of(AppointmentType::ALL.map(AppointmentType::as_str))
}

pub fn call_outcome() -> Object {
    one_of(CallOutcome::ALL.map(CallOutcome::as_str))
}
