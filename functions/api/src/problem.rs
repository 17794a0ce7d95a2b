//! RFC 7807 `application/problem+json` errors. Callers see what they did wrong and which field;
//! never SQL, stack traces, internal messages or patient data.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid input field (body field or query parameter, by its public camelCase name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A relative URI naming the kind of problem, e.g. `/problems/validation-error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension member on a refused appointment change: the appointment's current status
    /// (`status` itself is the HTTP status code, as RFC 7807 defines it).
    #[serde(rename = "appointmentStatus", skip_serializing_if = "Option::is_none")]
    #[schema(example = "COMPLETED")]
    pub appointment_status: Option<String>,
}

/// Every way a request can fail, mapped to status and problem type in one place.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed or fails validation.
    Invalid(Vec<FieldError>),
    /// 401: no bearer token, or one that is not valid (the reason, never the token's content).
    Unauthorized(&'static str),
    /// 403: the caller named a clinic they do not work for.
    Forbidden { field: &'static str },
    /// 403: the caller's role does not allow this action on this resource (the reason).
    NotPermitted(&'static str),
    /// 404: the named thing does not exist (or the caller may not know it does).
    NotFound {
        what: &'static str,
        field: Option<&'static str>,
    },
    /// 409: the request conflicts with the current state.
    Conflict { kind: &'static str, detail: String },
    /// 409: the appointment's current status does not allow the requested change; the problem
    /// document carries that status as `appointmentStatus`.
    TransitionRefused {
        kind: &'static str,
        title: &'static str,
        detail: String,
        appointment_status: &'static str,
    },
    /// 422: well-formed, but the business rules refuse it.
    Unprocessable { field: &'static str, detail: String },
    /// 422: the `Idempotency-Key` was already used for a different request.
    KeyReused,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 503: a dependency is down; retrying later can help.
    Unavailable,
    /// 500: a bug or corrupt data; details only in the logs.
    Internal,
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, message)])
    }

    fn problem(self) -> (StatusCode, Problem) {
        let appointment_status = match &self {
            ApiError::TransitionRefused {
                appointment_status, ..
            } => Some((*appointment_status).to_owned()),
            _ => None,
        };
        let (status, kind, title, detail, errors) = match self {
            ApiError::Invalid(errors) => {
                let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                let detail = format!("Invalid field(s): {}.", names.join(", "));
                (
                    StatusCode::BAD_REQUEST,
                    "validation-error",
                    "The request is not valid",
                    detail,
                    errors,
                )
            }
            ApiError::Unauthorized(reason) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
                format!("Sign in again: {reason}."),
                vec![],
            ),
            ApiError::Forbidden { field } => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not one of your clinics",
                "You can only see and change the clinics you work for.".to_owned(),
                vec![FieldError::new(field, "is not one of your clinics")],
            ),
            ApiError::NotPermitted(reason) => (
                StatusCode::FORBIDDEN,
                "not-permitted",
                "Not permitted",
                format!("{reason}."),
                vec![],
            ),
            ApiError::NotFound { what, field } => (
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("No {what} with this id."),
                field
                    .map(|f| vec![FieldError::new(f, format!("unknown {what}"))])
                    .unwrap_or_default(),
            ),
            ApiError::Conflict { kind, detail } => {
                (StatusCode::CONFLICT, kind, "Conflict", detail, vec![])
            }
            ApiError::TransitionRefused {
                kind,
                title,
                detail,
                ..
            } => (StatusCode::CONFLICT, kind, title, detail, vec![]),
            ApiError::Unprocessable { field, detail } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule-violation",
                "The request breaks a scheduling rule",
                detail.clone(),
                vec![FieldError::new(field, detail)],
            ),
            ApiError::KeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key already used",
                "This Idempotency-Key was used for a different request; send a new key for a new request.".to_owned(),
                vec![FieldError::new(
                    crate::extract::IDEMPOTENCY_KEY,
                    "was used for a different request",
                )],
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "Send the body as application/json.".to_owned(),
                vec![],
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service temporarily unavailable",
                "Please retry shortly.".to_owned(),
                vec![],
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal error",
                "Something went wrong on our side; it has been logged.".to_owned(),
                vec![],
            ),
        };
        let problem = Problem {
            kind: format!("/problems/{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
            appointment_status,
        };
        (status, problem)
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        app::Error::from(e).into()
    }
}

impl From<app::Error> for ApiError {
    fn from(e: app::Error) -> Self {
        // Use-case failures carry no request data; they go to the log, not to the caller.
        tracing::error!(error = %e, retryable = e.is_retryable(), "request failed");
        if e.is_retryable() {
            ApiError::Unavailable
        } else {
            ApiError::Internal
        }
    }
}

/// The problem document as an `application/problem+json` answer with its own `status`.
impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, problem) = self.problem();
        let mut response = problem.into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
