//! Sign-in with Amazon Cognito, as docs/deploy.md sets it up: the API takes the user pool's
//! access tokens (no `aud`; `client_id` is the app client, `token_use` is `access`), with the
//! agent's clinics and role as user-pool groups (`clinic:<id>`, `SUPERVISOR`). The tokens here
//! are shaped exactly as Cognito issues them: an RS256 header of `kid` and `alg` only, and
//! Cognito's claims. Also: ID tokens refused, `nbf` honoured, unusable keys skipped, and the
//! JWKS fetched over https only.

use crate::auth::{base64_url, Jwks, RSA_JWKS, RSA_KID, RSA_PRIVATE_KEY};
use api::auth::{KeyError, KeySource, Verifier};
use api::problem::ApiError;
use chrono::Utc;
use domain::ClinicId;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{json, Value};

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Ab12Cd34E";
const CLIENT_ID: &str = "5k7example0app0client0id1";

fn clinic(n: u128) -> ClinicId {
    ClinicId(uuid::Uuid::from_u128(n))
}

/// Signs `claims` under Cognito's header: `{"kid": ..., "alg": "RS256"}`, nothing else.
fn cognito_token(claims: &Value) -> String {
    let header = base64_url(&json!({ "kid": RSA_KID, "alg": "RS256" }).to_string());
    let message = format!("{header}.{}", base64_url(&claims.to_string()));
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(RSA_PRIVATE_KEY.as_bytes()).expect("key");
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::RS256)
            .expect("sign");
    format!("{message}.{signature}")
}

/// The claims of a Cognito access token for a user in `groups`.
fn access_claims(groups: &[String]) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "sub": "0c1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8",
        "cognito:groups": groups,
        "iss": ISSUER,
        "version": 2,
        "client_id": CLIENT_ID,
        "origin_jti": "2f6a0c8e-1d2b-4c3d-9e4f-5a6b7c8d9e0f",
        "event_id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
        "token_use": "access",
        "scope": "openid profile email",
        "auth_time": now - 60,
        "exp": now + 3600,
        "iat": now - 60,
        "jti": "3b4c5d6e-7f80-4192-a3b4-c5d6e7f8091a",
        "username": "ava.agent"
    })
}

/// The claims of the Cognito ID token issued with it.
fn id_claims() -> Value {
    let now = Utc::now().timestamp();
    json!({
        "sub": "0c1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8",
        "email_verified": true,
        "iss": ISSUER,
        "cognito:username": "ava.agent",
        "origin_jti": "2f6a0c8e-1d2b-4c3d-9e4f-5a6b7c8d9e0f",
        "aud": CLIENT_ID,
        "event_id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
        "token_use": "id",
        "auth_time": now - 60,
        "exp": now + 3600,
        "iat": now - 60,
        "jti": "4c5d6e7f-8091-4a2b-b3c4-d5e6f7081920",
        "email": "ava@example.com",
        "custom:clinics": clinic(1).to_string()
    })
}

fn verifier() -> Verifier {
    let keys: JwkSet = serde_json::from_str(RSA_JWKS).expect("JWKS");
    Verifier::new(ISSUER, CLIENT_ID, KeySource::Static(keys)).expect("verifier")
}

/// The refusal's text, or None when the token was accepted.
async fn refusal(verifier: &Verifier, claims: &Value) -> Option<&'static str> {
    match verifier.verify(&cognito_token(claims)).await {
        Ok(_) => None,
        Err(ApiError::Unauthorized(reason)) => Some(reason),
        Err(other) => panic!("not a 401: {other:?}"),
    }
}

#[tokio::test]
async fn a_cognito_access_token_names_the_agents_clinics_and_role_by_groups() {
    let verifier = verifier();
    let groups = [
        format!("clinic:{}", clinic(1)),
        "front-desk".to_owned(),
        format!("clinic:{}", clinic(2)),
        "SUPERVISOR".to_owned(),
    ];
    let token = cognito_token(&access_claims(&groups));
    let agent = verifier.verify(&token).await.expect("accepted");
    assert_eq!(agent.id, "0c1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8");
    assert_eq!(agent.clinics, vec![clinic(1), clinic(2)]);
    assert!(agent.supervisor);
    let plain = cognito_token(&access_claims(&[format!("clinic:{}", clinic(3))]));
    let agent = verifier.verify(&plain).await.expect("accepted");
    assert_eq!((agent.clinics, agent.supervisor), (vec![clinic(3)], false));
    let bad_group = cognito_token(&access_claims(&["clinic:hudson".to_owned()]));
    assert!(verifier.verify(&bad_group).await.is_err());
}

#[tokio::test]
async fn only_an_access_token_of_our_app_client_is_accepted() {
    let verifier = verifier();
    let groups = [format!("clinic:{}", clinic(1))];
    assert_eq!(
        refusal(&verifier, &id_claims()).await,
        Some("the bearer token must be an access token (not an ID token)")
    );
    let mut other_client = access_claims(&groups);
    other_client["client_id"] = json!("another-app-client");
    assert_eq!(
        refusal(&verifier, &other_client).await,
        Some("the bearer token is not meant for this API")
    );
    let mut no_client = access_claims(&groups);
    no_client
        .as_object_mut()
        .expect("claims")
        .remove("client_id");
    assert_eq!(
        refusal(&verifier, &no_client).await,
        Some("the bearer token is not meant for this API")
    );
    let mut no_use = access_claims(&groups);
    no_use.as_object_mut().expect("claims").remove("token_use");
    assert_eq!(
        refusal(&verifier, &no_use).await,
        Some("the bearer token must be an access token (not an ID token)")
    );
    let mut other_pool = access_claims(&groups);
    other_pool["iss"] = json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other");
    assert_eq!(
        refusal(&verifier, &other_pool).await,
        Some("the bearer token is from an unknown issuer")
    );
}

#[tokio::test]
async fn a_token_is_not_accepted_before_its_nbf() {
    let verifier = verifier();
    let mut claims = access_claims(&[format!("clinic:{}", clinic(1))]);
    claims["nbf"] = json!(Utc::now().timestamp() + 600);
    assert_eq!(
        refusal(&verifier, &claims).await,
        Some("the bearer token is not valid yet")
    );
    claims["nbf"] = json!(Utc::now().timestamp() - 10);
    assert_eq!(refusal(&verifier, &claims).await, None);
}

#[tokio::test]
async fn keys_the_api_cannot_use_are_skipped_and_the_rest_of_the_set_works() {
    let set: Value = serde_json::from_str(RSA_JWKS).expect("JWKS");
    let good = set["keys"][0].clone();
    let mut unreadable = good.clone();
    unreadable["kid"] = json!("unreadable");
    unreadable["n"] = json!("***");
    let mut encryption = good.clone();
    encryption["kid"] = json!("encryption");
    encryption["use"] = json!("enc");
    encryption["alg"] = json!("RSA-OAEP");
    let mut no_kid = good.clone();
    no_kid.as_object_mut().expect("key").remove("kid");
    let symmetric = json!({ "kty": "oct", "kid": "shared-secret", "k": "c2VjcmV0" });
    // An algorithm this library does not know: the key cannot even be read as a JWK.
    let unknown = json!({ "kty": "EC", "kid": "key-agreement", "alg": "ECDH-ES+A256KW",
                          "crv": "P-256", "x": "AAAA", "y": "AAAA" });
    let keys = json!({ "keys": [unreadable, encryption, no_kid, symmetric, unknown, good] });
    let (idp, url) = Jwks::serve(&keys).await;
    let verifier = Verifier::new(ISSUER, CLIENT_ID, KeySource::Url(url)).expect("verifier");
    let token = cognito_token(&access_claims(&[format!("clinic:{}", clinic(1))]));
    assert_eq!(
        verifier.verify(&token).await.expect("accepted").clinics,
        vec![clinic(1)]
    );
    assert_eq!(idp.fetches(), 1);
}

#[test]
fn the_key_set_is_fetched_over_https_only() {
    let from = |url: &str| Verifier::new(ISSUER, CLIENT_ID, KeySource::Url(url.to_owned()));
    let jwks = format!("{ISSUER}/.well-known/jwks.json");
    assert!(from(&jwks).is_ok());
    assert!(
        from("http://127.0.0.1:8081/jwks.json").is_ok(),
        "a loopback test server"
    );
    assert!(
        from("http://localhost:8081/jwks.json").is_ok(),
        "a loopback test server"
    );
    for insecure in [
        "http://cognito-idp.us-east-1.amazonaws.com/us-east-1_Ab12Cd34E/.well-known/jwks.json",
        "http://10.0.0.7/jwks.json",
        "ftp://127.0.0.1/jwks.json",
        "not a url",
    ] {
        assert!(
            matches!(from(insecure), Err(KeyError::Insecure(_))),
            "{insecure} accepted"
        );
    }
}
