//! Where the database is. Locally `DATABASE_URL`; in the cloud a Secrets Manager secret in the
//! RDS format (`username`, `password`, and optionally `host`, `port`, `dbname`, `engine`: what
//! Aurora's managed master secret and `clinic-local init-aws` write), read once at start-up, so
//! a credential rotation needs no redeploy, only new cold starts.

use crate::config::{ConfigError, Env};
use serde::{Deserialize, Serialize};

/// The credentials secret, RDS format.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseSecret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dbname: Option<String>,
}

impl std::fmt::Debug for DatabaseSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSecret")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("dbname", &self.dbname)
            .finish_non_exhaustive()
    }
}

/// Where to connect, overriding the secret: e.g. the RDS Proxy endpoint instead of the
/// cluster's host kept in Aurora's secret, and the TLS mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub host: Option<String>,
    pub dbname: Option<String>,
    /// libpq `sslmode` (e.g. `verify-full` for the proxy); the driver's default when None.
    pub sslmode: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseConfigError {
    #[error("the database URL is invalid: {0}")]
    InvalidUrl(String),
    #[error("the database secret has no {0}")]
    Missing(&'static str),
    #[error("the database secret is not RDS-format JSON (username, password, host...)")]
    InvalidSecret,
    #[error("reading the database secret: {0}")]
    SecretsManager(String),
}

impl DatabaseSecret {
    /// The secret describing `url` (a `postgres://user:password@host:port/db` URL).
    pub fn from_url(url: &str) -> Result<Self, DatabaseConfigError> {
        let url =
            url::Url::parse(url).map_err(|e| DatabaseConfigError::InvalidUrl(e.to_string()))?;
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| DatabaseConfigError::InvalidUrl("not UTF-8".into()))
        };
        Ok(DatabaseSecret {
            engine: Some("postgres".to_owned()),
            host: url.host_str().map(str::to_owned),
            port: url.port(),
            username: decode(url.username())?,
            password: decode(url.password().unwrap_or_default())?,
            dbname: Some(url.path().trim_start_matches('/'))
                .filter(|db| !db.is_empty())
                .map(str::to_owned),
        })
    }

    /// The connection URL, with `target`'s overrides.
    pub fn url(&self, target: &Target) -> Result<String, DatabaseConfigError> {
        let host = target
            .host
            .as_deref()
            .or(self.host.as_deref())
            .ok_or(DatabaseConfigError::Missing("host"))?;
        let invalid = |_| DatabaseConfigError::InvalidUrl("cannot build it".into());
        let mut url = url::Url::parse(&format!("postgres://{host}"))
            .map_err(|e| DatabaseConfigError::InvalidUrl(e.to_string()))?;
        url.set_username(&self.username).map_err(invalid)?;
        url.set_password(Some(&self.password)).map_err(invalid)?;
        url.set_port(Some(self.port.unwrap_or(5432)))
            .map_err(invalid)?;
        if let Some(dbname) = target.dbname.as_deref().or(self.dbname.as_deref()) {
            url.set_path(dbname);
        }
        if let Some(sslmode) = &target.sslmode {
            url.query_pairs_mut().append_pair("sslmode", sslmode);
        }
        Ok(url.into())
    }
}

/// The URL from the secret `secret_id` (RDS-format JSON, or a plain `postgres://` URL).
pub async fn database_url_from_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    target: &Target,
) -> Result<String, DatabaseConfigError> {
    let value = secrets
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            DatabaseConfigError::SecretsManager(
                aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            )
        })?;
    let text = value
        .secret_string()
        .ok_or(DatabaseConfigError::InvalidSecret)?;
    let secret = if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        DatabaseSecret::from_url(text)?
    } else {
        serde_json::from_str(text).map_err(|_| DatabaseConfigError::InvalidSecret)?
    };
    secret.url(target)
}

/// Where the database is, read once at start: `DATABASE_URL` when set; else the secret
/// `DATABASE_SECRET_ARN` from Secrets Manager (the default AWS configuration), connecting to
/// `DATABASE_HOST` / `DATABASE_NAME` when set and with `DATABASE_SSLMODE`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseSource {
    Url(String),
    Secret { arn: String, target: Target },
}

impl std::fmt::Debug for DatabaseSource {
    /// The URL's password stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseSource::Url(_) => f.write_str("DatabaseSource::Url(..)"),
            DatabaseSource::Secret { arn, target } => f
                .debug_struct("DatabaseSource::Secret")
                .field("arn", arn)
                .field("target", target)
                .finish(),
        }
    }
}

impl DatabaseSource {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        if let Some(url) = env.get("DATABASE_URL") {
            return Ok(DatabaseSource::Url(url));
        }
        let arn = env
            .get("DATABASE_SECRET_ARN")
            .ok_or(ConfigError::NoDatabase)?;
        let target = Target {
            host: env.get("DATABASE_HOST"),
            dbname: env.get("DATABASE_NAME"),
            sslmode: env.get("DATABASE_SSLMODE"),
        };
        Ok(DatabaseSource::Secret { arn, target })
    }

    /// The connection URL (reading the secret, when it comes from one).
    pub async fn url(&self) -> Result<String, DatabaseConfigError> {
        match self {
            DatabaseSource::Url(url) => Ok(url.clone()),
            DatabaseSource::Secret { arn, target } => {
                let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                let secrets = aws_sdk_secretsmanager::Client::new(&aws);
                database_url_from_secret(&secrets, arn, target).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_survives_the_secret_round_trip_with_awkward_passwords() {
        let secret = DatabaseSecret {
            engine: None,
            host: Some("db.internal".into()),
            port: Some(6432),
            username: "clinic".into(),
            password: "p@ss:w/rd%#?&".into(),
            dbname: Some("clinic_scheduling".into()),
        };
        let url = secret.url(&Target::default()).expect("url");
        assert_eq!(
            DatabaseSecret::from_url(&url).expect("parse").password,
            secret.password
        );
        assert!(url.starts_with("postgres://clinic:"), "{url}");
        assert!(
            url.ends_with("@db.internal:6432/clinic_scheduling"),
            "{url}"
        );
    }

    #[test]
    fn the_target_overrides_host_and_database_and_sets_tls() {
        let secret: DatabaseSecret = serde_json::from_str(
            r#"{"engine":"postgres","host":"cluster.rds","port":5432,"username":"u","password":"p","dbname":"x","dbClusterIdentifier":"c"}"#,
        )
        .expect("RDS format (extra keys ignored)");
        let target = Target {
            host: Some("proxy.rds".into()),
            dbname: Some("clinic_scheduling".into()),
            sslmode: Some("verify-full".into()),
        };
        assert_eq!(
            secret.url(&target).expect("url"),
            "postgres://u:p@proxy.rds:5432/clinic_scheduling?sslmode=verify-full"
        );
    }

    #[test]
    fn aurora_managed_secrets_carry_no_host_so_one_must_be_given() {
        let secret: DatabaseSecret =
            serde_json::from_str(r#"{"username":"clinic","password":"p"}"#).expect("json");
        assert!(matches!(
            secret.url(&Target::default()),
            Err(DatabaseConfigError::Missing("host"))
        ));
    }

    #[test]
    fn the_debug_form_hides_the_password() {
        let secret = DatabaseSecret::from_url("postgres://u:hunter2@h/db").expect("parse");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn the_source_is_the_url_when_set_else_the_secret_and_its_target() {
        let url = "postgres://u:hunter2@h/db";
        let both = Env::from_pairs([("DATABASE_URL", url), ("DATABASE_SECRET_ARN", "arn:s")]);
        let source = DatabaseSource::from_env(&both).expect("url");
        assert_eq!(source, DatabaseSource::Url(url.to_owned()));
        assert!(!format!("{source:?}").contains("hunter2"));
        let secret = Env::from_pairs([
            ("DATABASE_SECRET_ARN", "arn:s"),
            ("DATABASE_HOST", "proxy.rds"),
            ("DATABASE_URL", " "),
        ]);
        assert_eq!(
            DatabaseSource::from_env(&secret).expect("secret"),
            DatabaseSource::Secret {
                arn: "arn:s".to_owned(),
                target: Target {
                    host: Some("proxy.rds".to_owned()),
                    ..Target::default()
                },
            }
        );
        assert_eq!(
            DatabaseSource::from_env(&Env::default()),
            Err(ConfigError::NoDatabase)
        );
    }
}
