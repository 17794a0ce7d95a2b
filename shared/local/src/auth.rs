//! The local identity provider: an ES256 key pair of the stack's own (generated once, kept
//! in the data directory with owner-only permissions), its JWKS, and a sign-in that picks one
//! of the demo agents and returns a short-lived bearer token for the API. Served under
//! `/_local/auth` by `clinic-local up` only; in the cloud an OIDC provider (e.g. Cognito) plays
//! this part and the API reads its JWKS URL instead.
//!
//! Rotating the local key: stop the stack, delete `<data dir>/auth/signing-key.p8`, start it;
//! tokens signed with the old key are refused from then on.

use api::auth::{KeySource, Verifier};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::Utc;
use domain::ClinicId;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// The audience of every token the local stack issues, and the API's expected audience.
pub const AUDIENCE: &str = "clinic-scheduling-api";
/// How long a local sign-in lasts.
pub const TOKEN_LIFETIME_SECONDS: i64 = 8 * 3600;

/// A call-center agent of the demo data.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DemoAgent {
    pub agent_id: String,
    pub name: String,
    /// AGENT (works for some clinics) or SUPERVISOR (all of them).
    pub role: &'static str,
    pub clinic_ids: Vec<ClinicId>,
}

/// Ava works for Bayview and Hudson, Ben for Lakeshore, Sam supervises every clinic.
pub fn demo_agents() -> Vec<DemoAgent> {
    let clinic = store::demo::clinic_id;
    let all: Vec<ClinicId> = store::demo::clinics().iter().map(|c| c.id).collect();
    vec![
        DemoAgent {
            agent_id: "agent-ava".to_owned(),
            name: "Ava Martinez".to_owned(),
            role: "AGENT",
            clinic_ids: vec![clinic(1), clinic(2)],
        },
        DemoAgent {
            agent_id: "agent-ben".to_owned(),
            name: "Ben Okafor".to_owned(),
            role: "AGENT",
            clinic_ids: vec![clinic(3)],
        },
        DemoAgent {
            agent_id: "supervisor-sam".to_owned(),
            name: "Sam Rivera".to_owned(),
            role: "SUPERVISOR",
            clinic_ids: all,
        },
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("cannot create a signing key")]
    Generate,
    #[error("the signing key is unusable: {0}")]
    Key(String),
    #[error("cannot keep the signing key: {0}")]
    Io(#[from] std::io::Error),
}

/// Signs the local stack's tokens.
pub struct LocalIssuer {
    issuer: String,
    kid: String,
    encoding: EncodingKey,
    jwks: JwkSet,
}

impl std::fmt::Debug for LocalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl LocalIssuer {
    /// An issuer with a fresh key that lives only in memory (tests).
    pub fn generate(issuer: &str) -> Result<LocalIssuer, IssuerError> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| IssuerError::Generate)?;
        Self::from_pkcs8(issuer, pkcs8.as_ref())
    }

    /// The issuer whose key is kept in `dir` (created on first use, readable by the owner only).
    pub fn load_or_generate(issuer: &str, dir: &Path) -> Result<LocalIssuer, IssuerError> {
        let path = dir.join("signing-key.p8");
        if let Ok(pkcs8) = std::fs::read(&path) {
            return Self::from_pkcs8(issuer, &pkcs8);
        }
        std::fs::create_dir_all(dir)?;
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| IssuerError::Generate)?;
        write_private(&path, pkcs8.as_ref())?;
        Self::from_pkcs8(issuer, pkcs8.as_ref())
    }

    fn from_pkcs8(issuer: &str, pkcs8: &[u8]) -> Result<LocalIssuer, IssuerError> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| IssuerError::Key(e.to_string()))?;
        // An uncompressed P-256 point: 0x04, then X and Y (32 bytes each).
        let point = pair.public_key().as_ref();
        if point.len() != 65 {
            return Err(IssuerError::Key(
                "not an uncompressed P-256 point".to_owned(),
            ));
        }
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
        // The key id is the key's own fingerprint, so a new key gets a new id.
        let kid = b64(&ring::digest::digest(&ring::digest::SHA256, point).as_ref()[..12]);
        let jwks: JwkSet = serde_json::from_value(serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"
        }]}))
        .map_err(|e| IssuerError::Key(e.to_string()))?;
        Ok(LocalIssuer {
            issuer: issuer.to_owned(),
            kid,
            encoding: EncodingKey::from_ec_der(pkcs8),
            jwks,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The API's verifier for this issuer's tokens.
    pub fn verifier(&self) -> Result<Verifier, api::auth::KeyError> {
        Verifier::new(&self.issuer, AUDIENCE, KeySource::Static(self.jwks.clone()))
    }

    /// Signs `claims` as they are (tests use this for tokens that must be refused).
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// The claims of a valid token for `agent` for `lifetime_seconds` from now.
    pub fn claims_for(&self, agent: &DemoAgent, lifetime_seconds: i64) -> serde_json::Value {
        let now = Utc::now().timestamp();
        serde_json::json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": agent.agent_id, "name": agent.name,
            "clinics": agent.clinic_ids, "role": agent.role, "iat": now, "exp": now + lifetime_seconds,
        })
    }

    pub fn token_for(&self, agent: &DemoAgent) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign(&self.claims_for(agent, TOKEN_LIFETIME_SECONDS))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignIn {
    agent_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SignedIn {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    agent: DemoAgent,
}

/// `GET /jwks.json`, `GET /agents`, `POST /token {agentId}`.
pub fn router(issuer: Arc<LocalIssuer>) -> Router {
    Router::new()
        .route(
            "/jwks.json",
            get(
                |State(issuer): State<Arc<LocalIssuer>>| async move { Json(issuer.jwks().clone()) },
            ),
        )
        .route("/agents", get(|| async { Json(demo_agents()) }))
        .route(
            "/token",
            post(
                |State(issuer): State<Arc<LocalIssuer>>, Json(sign_in): Json<SignIn>| async move {
                    let agent = demo_agents()
                        .into_iter()
                        .find(|a| a.agent_id == sign_in.agent_id)
                        .ok_or((StatusCode::NOT_FOUND, "no such agent"))?;
                    let access_token = issuer
                        .token_for(&agent)
                        .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign a token"))?;
                    Ok::<_, (StatusCode, &str)>(Json(SignedIn {
                        access_token,
                        token_type: "Bearer",
                        expires_in: TOKEN_LIFETIME_SECONDS,
                        agent,
                    }))
                },
            ),
        )
        .with_state(issuer)
}
