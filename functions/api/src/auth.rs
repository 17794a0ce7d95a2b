//! Bearer-token authentication and clinic scoping for every `/api/v1` route but the public ones
//! (health, the OpenAPI document).
//!
//! A token is a JWT signed with RS256 or ES256 by a key of the configured JWKS, issued by the
//! configured issuer for the configured audience, and not expired. Its claims name the agent
//! (`sub`, `name`) and the clinics the agent works for: `clinics` (an array of clinic ids), or
//! `custom:clinics` (the same as a comma- or space-separated string, as Cognito custom
//! attributes are). In the cloud, API Gateway's JWT authorizer checks the same token first; the
//! function checks it again so that no route depends on the gateway being configured right.
//!
//! Keys come from a JWKS URL (the identity provider's) and are fetched again when a token names
//! a key id not seen yet (key rotation), at most once a minute; locally the stack hands its own
//! key set over directly.

use crate::problem::ApiError;
use crate::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::ClinicId;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// Routes anyone may call.
pub const PUBLIC_PATHS: [&str; 2] = ["/api/v1/health", "/api/v1/openapi.json"];

/// How often an unknown key id may trigger a JWKS fetch.
const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The authenticated caller, as the token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The token's subject.
    pub id: String,
    pub name: Option<String>,
    /// The clinics the agent may see and change.
    pub clinics: Vec<ClinicId>,
}

impl Agent {
    pub fn works_for(&self, clinic: ClinicId) -> bool {
        self.clinics.contains(&clinic)
    }

    /// 403 unless the agent works for `clinic` (for a clinic the caller named).
    pub fn require(&self, clinic: ClinicId, field: &'static str) -> Result<(), ApiError> {
        if self.works_for(clinic) {
            Ok(())
        } else {
            Err(ApiError::Forbidden { field })
        }
    }

    /// 404 unless the agent works for `clinic` (for a resource the caller named by id: its
    /// existence elsewhere is not revealed).
    pub fn reveal(&self, clinic: Option<ClinicId>, what: &'static str) -> Result<(), ApiError> {
        match clinic {
            Some(c) if self.works_for(c) => Ok(()),
            _ => Err(ApiError::NotFound { what, field: None }),
        }
    }
}

/// Handlers take the agent the middleware authenticated.
impl<S: Send + Sync> FromRequestParts<S> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Agent>()
            .cloned()
            .ok_or(ApiError::Unauthorized("a bearer token is required"))
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    name: Option<String>,
    clinics: Option<Vec<String>>,
    #[serde(rename = "custom:clinics")]
    custom_clinics: Option<String>,
}

impl Claims {
    fn clinics(&self) -> Result<Vec<ClinicId>, ()> {
        let listed: Vec<&str> = match (&self.clinics, &self.custom_clinics) {
            (Some(list), _) => list.iter().map(String::as_str).collect(),
            (None, Some(text)) => text.split([',', ' ']).filter(|s| !s.is_empty()).collect(),
            (None, None) => Vec::new(),
        };
        listed
            .into_iter()
            .map(|c| c.parse().map_err(|_| ()))
            .collect()
    }
}

/// Where the verification keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A fixed key set (the local stack's own, or a test's).
    Static(JwkSet),
    /// The identity provider's JWKS document.
    Url(String),
}

/// Checks tokens; built once per process.
#[derive(Debug)]
pub struct Verifier {
    issuer: String,
    audience: String,
    source: KeySource,
    keys: RwLock<Keys>,
    http: reqwest::Client,
}

#[derive(Default)]
struct Keys {
    by_id: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Option<Instant>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("key_ids", &self.by_id.keys().collect::<Vec<_>>())
            .field("fetched", &self.fetched)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot fetch the JWKS: {0}")]
    Fetch(#[from] reqwest::Error),
    #[error("the JWKS has an unusable key: {0}")]
    Key(#[from] jsonwebtoken::errors::Error),
}

fn keys_of(set: &JwkSet) -> Result<HashMap<String, (DecodingKey, Algorithm)>, KeyError> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let algorithm = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
            // Only RS256 and ES256 are accepted; other keys in the set are not ours to use.
            _ => continue,
        };
        if let Some(kid) = &jwk.common.key_id {
            keys.insert(kid.clone(), (DecodingKey::from_jwk(jwk)?, algorithm));
        }
    }
    Ok(keys)
}

impl Verifier {
    /// A verifier for `issuer`/`audience`; a static key set is loaded at once, a URL on first use.
    pub fn new(issuer: &str, audience: &str, source: KeySource) -> Result<Verifier, KeyError> {
        let by_id = match &source {
            KeySource::Static(set) => keys_of(set)?,
            KeySource::Url(_) => HashMap::new(),
        };
        Ok(Verifier {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            source,
            keys: RwLock::new(Keys {
                by_id,
                fetched: None,
            }),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        })
    }

    fn key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.by_id.get(kid).cloned()
    }

    /// Fetches the JWKS again, unless it was fetched within the refresh interval.
    async fn refresh(&self) -> Result<(), KeyError> {
        let KeySource::Url(url) = &self.source else {
            return Ok(());
        };
        {
            let keys = self
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if keys
                .fetched
                .is_some_and(|at| at.elapsed() < REFRESH_INTERVAL)
            {
                return Ok(());
            }
        }
        let set: JwkSet = self
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let by_id = keys_of(&set)?;
        let mut keys = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.by_id = by_id;
        keys.fetched = Some(Instant::now());
        Ok(())
    }

    /// The agent a bearer token stands for. Errors say what is wrong with the token, never
    /// what it contains.
    pub async fn verify(&self, token: &str) -> Result<Agent, ApiError> {
        let invalid = || ApiError::Unauthorized("the bearer token is not valid");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(ApiError::Unauthorized(
                "the token must be signed with RS256 or ES256",
            ));
        }
        let kid = header.kid.ok_or_else(invalid)?;
        let (key, algorithm) = match self.key(&kid) {
            Some(found) => found,
            None => {
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "cannot refresh the token keys");
                    return Err(ApiError::Unavailable);
                }
                self.key(&kid).ok_or_else(invalid)?
            }
        };
        if algorithm != header.alg {
            return Err(invalid());
        }
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => {
                    ApiError::Unauthorized("the bearer token has expired")
                }
                ErrorKind::InvalidAudience => {
                    ApiError::Unauthorized("the bearer token is not meant for this API")
                }
                ErrorKind::InvalidIssuer => {
                    ApiError::Unauthorized("the bearer token is from an unknown issuer")
                }
                _ => invalid(),
            }
        })?;
        let clinics = data.claims.clinics().map_err(|()| invalid())?;
        Ok(Agent {
            id: data.claims.sub,
            name: data.claims.name,
            clinics,
        })
    }
}

/// The middleware in front of every route: public paths pass; any other request needs a valid
/// bearer token, and the agent it names is handed to the handler.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if PUBLIC_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(token) = token else {
        return ApiError::Unauthorized("a bearer token is required").into_response();
    };
    match state.auth.verify(token).await {
        Ok(agent) => {
            request.extensions_mut().insert(agent);
            next.run(request).await
        }
        Err(e) => {
            tracing::info!(
                path = request.uri().path(),
                "request refused: invalid bearer token"
            );
            e.into_response()
        }
    }
}
