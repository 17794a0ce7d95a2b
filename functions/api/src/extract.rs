//! Strict request extractors: JSON bodies and query strings whose errors name the field.

use crate::problem::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

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
        let field = e.path().to_string();
        let inner = e.into_inner();
        let (field, message) = if inner.is_syntax() || inner.is_eof() {
            ("body".to_owned(), "must be valid JSON".to_owned())
        } else {
            (
                if field == "." {
                    "body".to_owned()
                } else {
                    field
                },
                describe(&inner),
            )
        };
        ApiError::invalid(&field, message)
    })
}

/// serde_json's message without its " at line L column C" suffix; it never echoes values.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
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
                let field = e.path().to_string();
                let message = e.into_inner().to_string();
                ApiError::invalid(if field == "." { "query" } else { &field }, message)
            })
    }
}
