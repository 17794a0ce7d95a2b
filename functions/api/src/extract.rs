//! Strict request extractors: JSON bodies and query strings whose errors name the field.

use crate::problem::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_path_to_error::{Path, Segment};

/// Maximum accepted request body; a booking is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A JSON body read strictly: `application/json` only, unknown fields refused (the target type
/// uses `deny_unknown_fields`), and a type error reported against the field's path.
#[derive(Debug)]
pub struct StrictJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for StrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state).await?;
        decode(&bytes).map(StrictJson)
    }
}

/// A JSON body that may be left out: an empty (or all-whitespace) body reads as `T::default()`
/// whatever its content type; anything else is read exactly as [`StrictJson`] reads it.
#[derive(Debug)]
pub struct OptionalStrictJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalStrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalStrictJson(T::default()));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        decode(&bytes).map(OptionalStrictJson)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|_| {
        ApiError::invalid(
            "body",
            format!("must be at most {MAX_BODY_BYTES} bytes of JSON"),
        )
    })
}

/// Deserializes strictly; a type error is reported against the field's path.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().clone();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::invalid("body", "must be valid JSON");
        }
        // serde_json's message ends in " at line L column C".
        let text = inner.to_string();
        let message = text.find(" at line ").map_or(text.as_str(), |i| &text[..i]);
        let (field, message) = client_safe(&path, message, "body");
        ApiError::invalid(&field, message)
    })
}

/// Query parameters read strictly: unknown parameters refused, errors name the parameter.
#[derive(Debug)]
pub struct StrictQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for StrictQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(StrictQuery)
            .map_err(|e| {
                let path = e.path().clone();
                let (field, message) = client_safe(&path, &e.into_inner().to_string(), "query");
                ApiError::invalid(&field, message)
            })
    }
}

/// The header that makes a booking safe to retry.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The optional `Idempotency-Key` header: 1 to 255 visible ASCII characters (a UUID is a good
/// key). Anything else is refused naming the header, never echoing it.
#[derive(Debug)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_KEY) else {
            return Ok(IdempotencyKey(None));
        };
        let bytes = value.as_bytes();
        if (1..=MAX_IDEMPOTENCY_KEY).contains(&bytes.len())
            && bytes.iter().all(|b| b.is_ascii_graphic())
        {
            Ok(IdempotencyKey(Some(
                String::from_utf8_lossy(bytes).into_owned(),
            )))
        } else {
            Err(ApiError::invalid(
                IDEMPOTENCY_KEY,
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
            ))
        }
    }
}

/// What a client is told about a part of its request that could not be read, and which field
/// it names (`whole`, "body" or "query", for the request itself). serde's own messages quote
/// what was sent (`invalid type: string "…", expected …`, `unknown field `…``), which may be
/// patient data or markup: only the part naming what was expected (our types' words) is kept,
/// and a key the request may not have is reported against the object holding it, not by its
/// name. Every other message comes from our own types' parsers, which never quote the value.
fn client_safe(path: &Path, message: &str, whole: &str) -> (String, String) {
    let segments: Vec<&Segment> = path.iter().collect();
    let expected = message
        .rsplit_once(", expected ")
        .map(|(_, expected)| expected);
    if message.starts_with("unknown field ") {
        let holder = field_name(&segments[..segments.len().saturating_sub(1)], whole);
        let message = match expected {
            Some(expected) if !message.ends_with("there are no fields") => {
                format!("has a field that is not accepted here (expected {expected})")
            }
            _ => "has a field that is not accepted here".to_owned(),
        };
        return (holder, message);
    }
    let field = field_name(&segments, whole);
    let quotes_input = [
        "invalid type: ",
        "invalid value: ",
        "invalid length ",
        "unknown variant ",
    ]
    .iter()
    .any(|prefix| message.starts_with(prefix));
    if !quotes_input {
        return (field, message.to_owned());
    }
    let message = match expected {
        Some(expected) if !message.ends_with("there are no variants") => {
            format!("must be {expected}")
        }
        _ => "has a value that is not accepted here".to_owned(),
    };
    (field, message)
}

/// `segments` written as serde_path_to_error writes a path (`a.b[0].c`); `whole` for none.
fn field_name(segments: &[&Segment], whole: &str) -> String {
    if segments.is_empty() {
        return whole.to_owned();
    }
    let mut name = String::new();
    for segment in segments {
        if !name.is_empty() && !matches!(segment, Segment::Seq { .. }) {
            name.push('.');
        }
        name.push_str(&segment.to_string());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Booking {
        count: u32,
        kind: Kind,
        patient: Patient,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Patient {
        name: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Kind {
        Routine,
        Emergency,
    }

    /// The message and field for `body`, which must not be echoed: "SECRET" marks what was sent.
    fn refused(body: &str) -> (String, String) {
        match decode::<Booking>(body.as_bytes()) {
            Err(ApiError::Invalid(errors)) => {
                let error = errors.into_iter().next().expect("one error");
                assert!(
                    !error.message.contains("SECRET") && !error.field.contains("SECRET"),
                    "{error:?} echoes the request"
                );
                (error.field, error.message)
            }
            other => panic!("{body} was not refused: {other:?}"),
        }
    }

    #[test]
    fn messages_name_what_was_expected_never_what_was_sent() {
        let valid = r#""count": 1, "kind": "Routine", "patient": {"name": "A"}"#;
        let cases = [
            (
                r#"{"count": "SECRET", "kind": "Routine", "patient": {"name": "A"}}"#.to_owned(),
                "count",
                "must be u32",
            ),
            (
                r#"{"count": 1, "kind": "SECRET", "patient": {"name": "A"}}"#.to_owned(),
                "kind",
                "must be `Routine` or `Emergency`",
            ),
            (
                format!(r#"{{{valid}, "SECRET, expected `x`": 1}}"#),
                "body",
                "not accepted here (expected one of `count`, `kind`, `patient`)",
            ),
            (
                r#"{"count": 1, "kind": "Routine", "patient": {"name": "A", "SECRET": 2}}"#
                    .to_owned(),
                "patient",
                "expected `name`",
            ),
            (
                r#"{"count": 1, "kind": "Routine", "patient": {"name": ["SECRET"]}}"#.to_owned(),
                "patient.name",
                "must be a string",
            ),
            (
                r#"{"count": 1, "kind": "Routine"}"#.to_owned(),
                "body",
                "missing field `patient`",
            ),
        ];
        for (body, field, message) in cases {
            let (got_field, got_message) = refused(&body);
            assert_eq!(got_field, field, "{body}");
            assert!(got_message.contains(message), "{body}: {got_message}");
        }
    }
}
