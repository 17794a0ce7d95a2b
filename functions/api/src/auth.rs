//! Bearer-token authentication and clinic scoping for every `/api/v1` route but the public ones
//! (health, the OpenAPI document).
//!
//! A token is a JWT signed with RS256 or ES256 by a key of the configured JWKS, issued by the
//! configured issuer, not expired and not before its `nbf`. It is meant for this API in one of
//! the two ways API Gateway's JWT authorizer accepts: its `aud` is the configured audience, or
//! it has no `aud` and its `client_id` is the configured audience with `token_use` `access` (an
//! Amazon Cognito access token; the audience is then the app client id). Decision: a token
//! whose `token_use` is anything but `access` (a Cognito ID token) is refused, so the API is
//! always called with access tokens, which carry no profile data.
//!
//! Its claims name the agent (`sub`, `name`) and the clinics the agent works for, from the
//! first of these that is present: `clinics` (an array of clinic ids); `custom:clinics` (the
//! same as a comma- or space-separated string); the `cognito:groups` named `clinic:<clinic id>`
//! (Decision: with Cognito, an agent's clinics and role are user-pool groups, because groups are
//! the one thing Cognito puts in access tokens without a pre-token-generation trigger; other
//! groups are ignored). A `role` (or `custom:role`) claim of `SUPERVISOR`, or membership of the
//! group `SUPERVISOR`, makes the agent a supervisor, who may also end other agents' calls and
//! search the whole patient directory; anyone else is a plain agent. A token that names no
//! clinic is refused (403) on every route.
//! In the cloud, API Gateway's JWT authorizer checks the same token first; the
//! function checks it again so that no route depends on the gateway being configured right.
//!
//! Keys come from a JWKS URL (the identity provider's), over https only (plain http is allowed
//! for a loopback host, where the tests serve theirs). A key the API cannot use (an encryption
//! key, another algorithm, no `kid`, unreadable parameters) is skipped; the rest of the set
//! still works. The fetched set is used for at most its
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
use jsonwebtoken::jwk::{Jwk, JwkSet};
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
    /// Only whether it is there: `jsonwebtoken` checks its value.
    aud: Option<serde::de::IgnoredAny>,
    client_id: Option<String>,
    token_use: Option<String>,
    clinics: Option<Vec<String>>,
    #[serde(rename = "custom:clinics")]
    custom_clinics: Option<String>,
    #[serde(rename = "cognito:groups")]
    groups: Option<Vec<String>>,
    role: Option<String>,
    #[serde(rename = "custom:role")]
    custom_role: Option<String>,
}

/// The `role` claim value, and the group name, that make an agent a supervisor.
pub const SUPERVISOR_ROLE: &str = "SUPERVISOR";

/// The prefix of the groups that name an agent's clinics: `clinic:<clinic id>`.
pub const CLINIC_GROUP_PREFIX: &str = "clinic:";

/// Why a validly signed token is not for this API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotForUs {
    Audience,
    TokenUse,
}

impl Claims {
    fn supervisor(&self) -> bool {
        let role = self.role.as_ref().or(self.custom_role.as_ref());
        role.map(String::as_str) == Some(SUPERVISOR_ROLE)
            || self.groups().any(|group| group == SUPERVISOR_ROLE)
    }

    fn groups(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().flatten().map(String::as_str)
    }

    /// Whether the token is meant for `audience`: by its `aud` (checked by the decoder), or
    /// without one by its `client_id`; and, when it says, used as an access token.
    fn meant_for(&self, audience: &str) -> Result<(), NotForUs> {
        if self.aud.is_none() && self.client_id.as_deref() != Some(audience) {
            return Err(NotForUs::Audience);
        }
        let access = self
            .token_use
            .as_deref()
            .is_none_or(|use_| use_ == "access");
        if !access || (self.aud.is_none() && self.token_use.is_none()) {
            return Err(NotForUs::TokenUse);
        }
        Ok(())
    }

    fn clinics(&self) -> Result<Vec<ClinicId>, ()> {
        let listed: Vec<&str> = match (&self.clinics, &self.custom_clinics) {
            (Some(list), _) => list.iter().map(String::as_str).collect(),
            (None, Some(text)) => text.split([',', ' ']).filter(|s| !s.is_empty()).collect(),
            (None, None) => self
                .groups()
                .filter_map(|group| group.strip_prefix(CLINIC_GROUP_PREFIX))
                .collect(),
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
    #[error("the JWKS URL must use https (plain http only for a loopback host): {0}")]
    Insecure(String),
    #[error("the JWKS could not be fetched a moment ago; not trying again yet")]
    RecentlyFailed,
}

/// A JWKS document as fetched: each key is read on its own, so that one this library cannot
/// read (an algorithm it does not know) is skipped instead of failing the whole set.
#[derive(Deserialize)]
struct FetchedSet {
    keys: Vec<serde_json::Value>,
}

impl FetchedSet {
    fn readable(self) -> impl Iterator<Item = Jwk> {
        self.keys
            .into_iter()
            .filter_map(|key| match serde_json::from_value::<Jwk>(key) {
                Ok(jwk) => Some(jwk),
                Err(e) => {
                    tracing::info!(error = %e, "JWKS key skipped: not a JWK this API can read");
                    None
                }
            })
    }
}

/// The keys the API can use, by key id: RS256 and ES256 signing keys. Any other key is skipped
/// (and logged by its id), so one odd key does not take the whole set down.
fn keys_of<'a>(
    jwks: impl IntoIterator<Item = &'a Jwk>,
) -> HashMap<String, (DecodingKey, Algorithm)> {
    use jsonwebtoken::jwk::{AlgorithmParameters, PublicKeyUse};
    let mut keys = HashMap::new();
    for jwk in jwks {
        let Some(kid) = &jwk.common.key_id else {
            continue;
        };
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
            _ => {
                tracing::info!(kid, "JWKS key skipped: neither RSA nor EC");
                continue;
            }
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            tracing::info!(kid, "JWKS key skipped: an encryption key");
            continue;
        }
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => {
                keys.insert(kid.clone(), (key, algorithm));
            }
            Err(e) => tracing::warn!(kid, error = %e, "JWKS key skipped: unusable"),
        }
    }
    keys
}

/// `url` if it may carry the keys: https, or http to a loopback host.
fn jwks_url(url: &str) -> Result<(), KeyError> {
    let insecure = || KeyError::Insecure(url.to_owned());
    let parsed = reqwest::Url::parse(url).map_err(|_| insecure())?;
    let loopback = match parsed.host_str() {
        Some("localhost" | "[::1]") => true,
        Some(host) => host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(insecure()),
    }
}

impl Verifier {
    /// A verifier for `issuer`/`audience`; a static key set is loaded at once, a URL on first
    /// use and again whenever its copy is older than [`DEFAULT_JWKS_MAX_AGE`].
    pub fn new(issuer: &str, audience: &str, source: KeySource) -> Result<Verifier, KeyError> {
        let by_id = match &source {
            KeySource::Static(set) => keys_of(&set.keys),
            KeySource::Url(url) => {
                jwks_url(url)?;
                HashMap::new()
            }
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
            // No redirects: one could lead from https to a plain-http copy of the keys.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
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
            let set: FetchedSet = self
                .http
                .get(url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let readable: Vec<Jwk> = set.readable().collect();
            Ok::<_, KeyError>(keys_of(&readable))
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
        // `aud` is checked when present; without it, `client_id` must name us (below).
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_nbf = true;
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
                ErrorKind::ImmatureSignature => {
                    ApiError::Unauthorized("the bearer token is not valid yet")
                }
                _ => invalid(),
            }
        })?;
        data.claims
            .meant_for(&self.audience)
            .map_err(|refused| match refused {
                NotForUs::Audience => {
                    ApiError::Unauthorized("the bearer token is not meant for this API")
                }
                NotForUs::TokenUse => ApiError::Unauthorized(
                    "the bearer token must be an access token (not an ID token)",
                ),
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
