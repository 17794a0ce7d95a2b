//! Bearer-token authentication and clinic scoping for every `/api/v1` route but the public ones
//! (health, the OpenAPI document).
//!
//! A token is a JWT signed with RS256 or ES256 by a key of the configured JWKS, issued by the
//! configured issuer for the configured audience, and not expired. Its claims name the agent
//! (`sub`, `name`) and the clinics the agent works for: `clinics` (an array of clinic ids), or
//! `custom:clinics` (the same as a comma- or space-separated string, as Cognito custom
//! attributes are). A `role` (or `custom:role`) claim of `SUPERVISOR` makes the agent a
//! supervisor, who may also end other agents' calls and search the whole patient directory; any
//! other value or none is a plain agent. A token that names no clinic is refused (403) on every
//! route.
//! In the cloud, API Gateway's JWT authorizer checks the same token first; the
//! function checks it again so that no route depends on the gateway being configured right.
//!
//! Keys come from a JWKS URL (the identity provider's). The fetched set is used for at most its
//! maximum age (5 minutes unless configured), then fetched again, so a key the provider removed
//! stops working within that time; while the set cannot be fetched again, requests are answered
//! 503 rather than checked against an expired set. A token naming a key id the set does not list
//! (a new key) triggers a fetch too, at most once a minute. Locally the stack hands its own key
//! set over directly; it never expires.

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
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Routes anyone may call.
pub const PUBLIC_PATHS: [&str; 2] = ["/api/v1/health", "/api/v1/openapi.json"];

/// How often an unknown key id may trigger a JWKS fetch.
const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// How long a fetched JWKS is used before it is fetched again, unless configured otherwise:
/// a key the identity provider removed stops working within this time.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// The pause after a failed JWKS fetch before the next attempt.
const RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// The authenticated caller, as the token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The token's subject.
    pub id: String,
    pub name: Option<String>,
    /// The clinics the agent may see and change.
    pub clinics: Vec<ClinicId>,
    /// Whether the token's role is SUPERVISOR.
    pub supervisor: bool,
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

    /// The agent doing `action` at `route`, as the access audit records it.
    pub fn actor<'a>(
        &'a self,
        action: store::audit::Action,
        route: &'a axum::extract::MatchedPath,
    ) -> store::audit::Actor<'a> {
        store::audit::Actor {
            agent_id: &self.id,
            action,
            route: route.as_str(),
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
    role: Option<String>,
    #[serde(rename = "custom:role")]
    custom_role: Option<String>,
}

/// The `role` claim value that makes an agent a supervisor.
pub const SUPERVISOR_ROLE: &str = "SUPERVISOR";

impl Claims {
    fn supervisor(&self) -> bool {
        self.role
            .as_ref()
            .or(self.custom_role.as_ref())
            .map(String::as_str)
            == Some(SUPERVISOR_ROLE)
    }

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

/// What the verifier takes the time from: `Instant::now` except in tests that move time on.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Checks tokens; built once per process.
pub struct Verifier {
    issuer: String,
    audience: String,
    source: KeySource,
    keys: RwLock<Keys>,
    /// One JWKS fetch at a time: requests arriving meanwhile wait for its result.
    fetching: tokio::sync::Mutex<()>,
    http: reqwest::Client,
    max_age: Duration,
    clock: Clock,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("source", &self.source)
            .field("keys", &self.keys)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Keys {
    by_id: HashMap<String, (DecodingKey, Algorithm)>,
    /// When the JWKS was last fetched successfully.
    fetched: Option<Instant>,
    /// When the last fetch failed (cleared by a success).
    failed: Option<Instant>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("key_ids", &self.by_id.keys().collect::<Vec<_>>())
            .field("fetched", &self.fetched)
            .field("failed", &self.failed)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot fetch the JWKS: {0}")]
    Fetch(#[from] reqwest::Error),
    #[error("the JWKS has an unusable key: {0}")]
    Key(#[from] jsonwebtoken::errors::Error),
    #[error("the JWKS could not be fetched a moment ago; not trying again yet")]
    RecentlyFailed,
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
    /// A verifier for `issuer`/`audience`; a static key set is loaded at once, a URL on first
    /// use and again whenever its copy is older than [`DEFAULT_JWKS_MAX_AGE`].
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
                failed: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            max_age: DEFAULT_JWKS_MAX_AGE,
            clock: Arc::new(Instant::now),
        })
    }

    /// How long a fetched JWKS is trusted before it is fetched again (`AUTH_JWKS_MAX_AGE_SECONDS`).
    pub fn with_max_age(mut self, max_age: Duration) -> Verifier {
        self.max_age = max_age;
        self
    }

    /// Takes the time from `clock` (tests move it on instead of sleeping).
    pub fn with_clock(mut self, clock: Clock) -> Verifier {
        self.clock = clock;
        self
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        self.read_keys().by_id.get(kid).cloned()
    }

    /// Whether the fetched copy may still be used (a static set always may).
    fn is_current(&self, keys: &Keys, now: Instant) -> bool {
        match self.source {
            KeySource::Static(_) => true,
            KeySource::Url(_) => keys
                .fetched
                .is_some_and(|at| now.saturating_duration_since(at) < self.max_age),
        }
    }

    /// Makes sure the key set is not older than the maximum age: fetches it again when it is.
    /// Until a fetch succeeds, an expired set is not used (a removed key must stop working).
    async fn ensure_current(&self) -> Result<(), KeyError> {
        if self.is_current(&self.read_keys(), (self.clock)()) {
            return Ok(());
        }
        self.fetch_if(|keys, now| !self.is_current(keys, now)).await
    }

    /// Fetches the JWKS for a key id it did not list, unless it was fetched within the
    /// refresh interval (so unknown key ids cannot make us hammer the identity provider).
    async fn fetch_for_unknown_key(&self) -> Result<(), KeyError> {
        self.fetch_if(|keys, now| {
            keys.fetched
                .is_none_or(|at| now.saturating_duration_since(at) >= REFRESH_INTERVAL)
        })
        .await
    }

    /// Fetches the JWKS when `due` says so, one fetch at a time; after a failed fetch, waits
    /// [`RETRY_INTERVAL`] before the next attempt.
    async fn fetch_if(&self, due: impl Fn(&Keys, Instant) -> bool) -> Result<(), KeyError> {
        let KeySource::Url(url) = &self.source else {
            return Ok(());
        };
        let _one_at_a_time = self.fetching.lock().await;
        {
            let now = (self.clock)();
            let keys = self.read_keys();
            if !due(&keys, now) {
                return Ok(());
            }
            if keys
                .failed
                .is_some_and(|at| now.saturating_duration_since(at) < RETRY_INTERVAL)
            {
                return Err(KeyError::RecentlyFailed);
            }
        }
        let fetched = async {
            let set: JwkSet = self
                .http
                .get(url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            keys_of(&set)
        }
        .await;
        let now = (self.clock)();
        let mut keys = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match fetched {
            Ok(by_id) => {
                keys.by_id = by_id;
                keys.fetched = Some(now);
                keys.failed = None;
                Ok(())
            }
            Err(e) => {
                keys.failed = Some(now);
                Err(e)
            }
        }
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
        let unavailable = |e: KeyError| {
            tracing::warn!(error = %e, "cannot fetch the token keys");
            ApiError::Unavailable
        };
        self.ensure_current().await.map_err(unavailable)?;
        let (key, algorithm) = match self.key(&kid) {
            Some(found) => found,
            None => {
                self.fetch_for_unknown_key().await.map_err(unavailable)?;
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
        let supervisor = data.claims.supervisor();
        Ok(Agent {
            id: data.claims.sub,
            name: data.claims.name,
            clinics,
            supervisor,
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
        // A valid token that names no clinic grants nothing: refused as a whole (403), rather
        // than answered with empty lists that look like a broken system.
        Ok(agent) if agent.clinics.is_empty() => {
            tracing::info!(
                route = crate::route_of(&request),
                "request refused: the token names no clinic"
            );
            ApiError::NotPermitted("your sign-in names no clinic you work for").into_response()
        }
        Ok(agent) => {
            request.extensions_mut().insert(agent);
            next.run(request).await
        }
        Err(e) => {
            tracing::info!(
                route = crate::route_of(&request),
                "request refused: invalid bearer token"
            );
            e.into_response()
        }
    }
}
