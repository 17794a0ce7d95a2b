//! Kafka client settings for every producer: where the brokers are and how to authenticate.
//! Locally PLAINTEXT; in the cloud MSK's IAM listener: SASL_SSL with OAUTHBEARER, the token a
//! SigV4-presigned `kafka-cluster:Connect` URL, as AWS's aws-msk-iam-sasl-signer libraries
//! build it. The switch is config (`KAFKA_AUTH=plaintext|iam`), read once at start-up.

use crate::config::{ConfigError, Env};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use base64::Engine;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::ClientConfig;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// How long a signed token is valid (what AWS's signers use).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// The SigV4 service name of MSK's data plane.
const SIGNING_NAME: &str = "kafka-cluster";
/// Sent like the official signers do, so MSK can tell clients apart in its logs.
const USER_AGENT: &str = "clinic-scheduling-msk-iam/1";

/// How a client authenticates to the brokers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaAuth {
    /// No TLS, no SASL: the local broker (tansu) and any plain Kafka.
    Plaintext,
    /// MSK IAM: TLS + SASL/OAUTHBEARER with a token signed by the default AWS credentials.
    Iam,
}

/// Where the brokers are and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    pub bootstrap: String,
    pub auth: KafkaAuth,
}

impl KafkaConfig {
    pub fn plaintext(bootstrap: &str) -> Self {
        KafkaConfig {
            bootstrap: bootstrap.to_owned(),
            auth: KafkaAuth::Plaintext,
        }
    }

    /// `KAFKA_BOOTSTRAP_SERVERS` (None when unset: no Kafka) and `KAFKA_AUTH` (`plaintext`, the
    /// default, or `iam`). With `iam`, the region and credentials come from the default AWS
    /// chain (`AWS_REGION` and the execution role's credentials in Lambda).
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let auth = match env.get("KAFKA_AUTH").as_deref() {
            None | Some("plaintext") => KafkaAuth::Plaintext,
            Some("iam") => KafkaAuth::Iam,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    variable: "KAFKA_AUTH",
                    expected: "`plaintext` or `iam`",
                })
            }
        };
        Ok(env
            .get("KAFKA_BOOTSTRAP_SERVERS")
            .map(|bootstrap| KafkaConfig { bootstrap, auth }))
    }

    /// The client settings: bootstrap servers and, for IAM, TLS + OAUTHBEARER (the token comes
    /// from [`KafkaContext`], so create clients with `create_with_context(config.context())`).
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        if self.auth == KafkaAuth::Iam {
            // OpenSSL is linked statically: look for the system's CA bundle (Amazon Linux's too).
            config
                .set("security.protocol", "SASL_SSL")
                .set("sasl.mechanism", "OAUTHBEARER")
                .set("ssl.ca.location", "probe");
        }
        config
    }

    /// The client context that signs MSK IAM tokens when the brokers ask for one. Must be
    /// called inside a Tokio runtime when `auth` is IAM (credentials are fetched on it).
    pub fn context(&self) -> KafkaContext {
        self.context_from(OnceCell::new())
    }

    /// `aws`: the AWS configuration if already loaded (else the default chain, at first use).
    fn context_from(&self, aws: OnceCell<aws_config::SdkConfig>) -> KafkaContext {
        KafkaContext {
            iam: (self.auth == KafkaAuth::Iam).then(|| IamSigner {
                runtime: tokio::runtime::Handle::current(),
                aws: std::sync::Arc::new(aws),
            }),
        }
    }
}

/// rdkafka's client context: answers OAUTHBEARER token refreshes with a fresh MSK IAM token.
#[derive(Clone)]
pub struct KafkaContext {
    iam: Option<IamSigner>,
}

impl std::fmt::Debug for KafkaContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaContext")
            .field("iam", &self.iam.is_some())
            .finish()
    }
}

#[derive(Clone)]
struct IamSigner {
    runtime: tokio::runtime::Handle,
    /// The default AWS configuration, loaded at the first refresh and kept (its credentials
    /// provider caches and renews the role's credentials).
    aws: std::sync::Arc<OnceCell<aws_config::SdkConfig>>,
}

impl ClientContext for KafkaContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let Some(signer) = &self.iam else {
            return Err("the brokers asked for OAUTHBEARER but KAFKA_AUTH is plaintext".into());
        };
        // rdkafka calls this from its own polling thread, but it may also run where a Tokio
        // runtime is entered; a scoped thread can always block on the runtime.
        let token = std::thread::scope(|scope| {
            scope
                .spawn(|| signer.runtime.block_on(signer.token()))
                .join()
        })
        .map_err(|_| "MSK IAM token signing panicked")?
        .map_err(|e| e as Box<dyn std::error::Error>)?;
        Ok(OAuthToken {
            token: token.token,
            principal_name: "msk-iam".to_owned(),
            lifetime_ms: token.expires_at_ms,
        })
    }
}

impl IamSigner {
    async fn token(&self) -> Result<MskToken, Box<dyn std::error::Error + Send + Sync>> {
        let aws = self
            .aws
            .get_or_init(|| aws_config::load_defaults(aws_config::BehaviorVersion::latest()))
            .await;
        let region = aws
            .region()
            .ok_or("MSK IAM needs an AWS region (AWS_REGION)")?;
        let credentials = aws
            .credentials_provider()
            .ok_or("MSK IAM needs AWS credentials")?
            .provide_credentials()
            .await?;
        Ok(msk_iam_token(
            &credentials,
            region.as_ref(),
            SystemTime::now(),
        )?)
    }
}

/// A signed MSK IAM authentication token and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MskToken {
    /// Base64url (no padding) of the presigned URL.
    pub token: String,
    /// Milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot sign the MSK IAM token: {0}")]
pub struct SigningError(String);

/// The MSK IAM token for `region` signed with `credentials` at `now`: the URL
/// `https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect` presigned with SigV4
/// (service `kafka-cluster`, 900 s), plus a `User-Agent` parameter, base64url without padding.
pub fn msk_iam_token(
    credentials: &Credentials,
    region: &str,
    now: SystemTime,
) -> Result<MskToken, SigningError> {
    let url = format!("https://kafka.{region}.amazonaws.com/?Action=kafka-cluster%3AConnect");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let identity = credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SIGNING_NAME)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| SigningError(e.to_string()))?
        .into();
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| SigningError(e.to_string()))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| SigningError(e.to_string()))?
        .into_parts();
    let mut signed = url::Url::parse(&url).map_err(|e| SigningError(e.to_string()))?;
    {
        let mut query = signed.query_pairs_mut();
        for (name, value) in instructions.params() {
            query.append_pair(name, value);
        }
        query.append_pair("User-Agent", USER_AGENT);
    }
    let signed_at_ms = now
        .duration_since(UNIX_EPOCH)
        .map_err(|e| SigningError(e.to_string()))?
        .as_millis();
    // X-Amz-Date has whole seconds: the token expires 900 s after that second.
    let expires_at_ms = i64::try_from(signed_at_ms / 1000 * 1000 + TOKEN_LIFETIME.as_millis())
        .map_err(|e| SigningError(e.to_string()))?;
    Ok(MskToken {
        token: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed.as_str()),
        expires_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn decode(token: &str) -> url::Url {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .expect("base64url without padding");
        url::Url::parse(std::str::from_utf8(&bytes).expect("utf-8")).expect("a URL")
    }

    fn signed_at() -> SystemTime {
        // 2026-01-02T03:04:05.678Z
        UNIX_EPOCH + Duration::from_millis(1_767_323_045_678)
    }

    #[test]
    fn the_token_is_a_presigned_connect_url_for_the_regions_kafka_endpoint() {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let token = msk_iam_token(&credentials, "eu-west-1", signed_at()).expect("token");
        assert!(!token.token.contains('='), "no padding: {}", token.token);
        assert!(
            !token.token.contains('+') && !token.token.contains('/'),
            "url-safe alphabet"
        );
        let url = decode(&token.token);
        assert_eq!(url.scheme(), "https");
        assert_eq!(url.host_str(), Some("kafka.eu-west-1.amazonaws.com"));
        assert_eq!(url.path(), "/");
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["Action"], "kafka-cluster:Connect");
        assert_eq!(query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(
            query["X-Amz-Credential"],
            "AKIDEXAMPLE/20260102/eu-west-1/kafka-cluster/aws4_request"
        );
        assert_eq!(query["X-Amz-Date"], "20260102T030405Z");
        assert_eq!(query["X-Amz-Expires"], "900");
        assert_eq!(query["X-Amz-SignedHeaders"], "host");
        assert_eq!(query["User-Agent"], USER_AGENT);
        let signature = &query["X-Amz-Signature"];
        assert_eq!(signature.len(), 64);
        assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!query.contains_key("X-Amz-Security-Token"));
        assert_eq!(token.expires_at_ms, 1_767_323_045_000 + 900_000);
    }

    #[test]
    fn a_session_token_is_signed_into_the_url() {
        let credentials =
            Credentials::new("ASIAEXAMPLE", "secret", Some("session".into()), None, "t");
        let url = decode(
            &msk_iam_token(&credentials, "us-east-1", signed_at())
                .expect("token")
                .token,
        );
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["X-Amz-Security-Token"], "session");
    }

    #[test]
    fn the_signature_matches_awss_python_signer() {
        // Computed by aws-msk-iam-sasl-signer-python 1.0.2 (botocore's SigV4QueryAuth) for the
        // same credentials, region and signing second, with botocore's clock frozen there.
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let url = decode(
            &msk_iam_token(&credentials, "eu-west-1", signed_at())
                .expect("token")
                .token,
        );
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["X-Amz-Signature"], REFERENCE_SIGNATURE);
    }

    const REFERENCE_SIGNATURE: &str =
        "eddbc6b4dbb4ec803a6f47ee80d3996d8e58020619436b7a6c75e101d5dcb080";

    #[test]
    fn kafka_auth_is_plaintext_unless_iam_is_asked_for() {
        let bootstrap = "b-1:9098";
        let with_auth = |auth| {
            KafkaConfig::from_env(&Env::from_pairs([
                ("KAFKA_BOOTSTRAP_SERVERS", bootstrap),
                ("KAFKA_AUTH", auth),
            ]))
        };
        assert_eq!(with_auth(""), Ok(Some(KafkaConfig::plaintext(bootstrap))));
        assert_eq!(
            with_auth("iam").expect("ok").map(|c| c.auth),
            Some(KafkaAuth::Iam)
        );
        assert!(matches!(
            with_auth("IAM"),
            Err(ConfigError::Invalid {
                variable: "KAFKA_AUTH",
                ..
            })
        ));
        assert_eq!(
            KafkaConfig::from_env(&Env::from_pairs([("KAFKA_AUTH", "iam")])),
            Ok(None)
        );
    }

    #[test]
    fn iam_switches_the_client_to_sasl_ssl_with_oauthbearer() {
        let mut config = KafkaConfig::plaintext("b-1:9098");
        assert_eq!(config.client_config().get("security.protocol"), None);
        config.auth = KafkaAuth::Iam;
        let client = config.client_config();
        assert_eq!(client.get("bootstrap.servers"), Some("b-1:9098"));
        assert_eq!(client.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(client.get("sasl.mechanism"), Some("OAUTHBEARER"));
    }

    /// An IAM context with fixed credentials and region: never the default chain (which would
    /// probe the instance metadata service).
    fn offline_iam_context(kafka: &KafkaConfig) -> KafkaContext {
        let aws =
            aws_config::SdkConfig::builder()
                .region(aws_config::Region::new("eu-west-1"))
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(
                        Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"),
                    ),
                )
                .build();
        kafka.context_from(OnceCell::new_with(Some(aws)))
    }

    fn iam(bootstrap: &str) -> KafkaConfig {
        KafkaConfig {
            bootstrap: bootstrap.to_owned(),
            auth: KafkaAuth::Iam,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn librdkafka_accepts_the_iam_producer_settings() {
        // Fails when librdkafka was built without TLS or SASL/OAUTHBEARER support. The brokers
        // are a closed local port: nothing leaves the machine.
        let kafka = iam("127.0.0.1:9");
        let producer: Result<rdkafka::producer::FutureProducer<KafkaContext>, _> =
            crate::publisher::producer_config(&kafka)
                .create_with_context(offline_iam_context(&kafka));
        assert!(producer.is_ok(), "{:?}", producer.err());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_token_refresh_signs_with_the_configured_credentials() {
        let context = offline_iam_context(&iam("127.0.0.1:9"));
        let before = SystemTime::now();
        // rdkafka calls this from its own thread: so does the test.
        let token = std::thread::spawn(move || {
            context
                .generate_oauth_token(None)
                .map_err(|e| e.to_string())
        })
        .join()
        .expect("no panic")
        .expect("a token");
        let url = decode(&token.token);
        assert_eq!(url.host_str(), Some("kafka.eu-west-1.amazonaws.com"));
        let lifetime = token.lifetime_ms
            - i64::try_from(
                before
                    .duration_since(UNIX_EPOCH)
                    .expect("after 1970")
                    .as_millis(),
            )
            .expect("ms fit");
        assert!((898_000..=900_000).contains(&lifetime), "{lifetime}");
    }

    #[test]
    fn a_plaintext_context_refuses_to_invent_a_token() {
        let context = KafkaConfig::plaintext("b-1:9092").context();
        assert!(context.generate_oauth_token(None).is_err());
    }
}
