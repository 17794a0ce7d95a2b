//! The Lambda bootstrap every Kafka-triggered function shares: tracing, config from the
//! environment once ([`FunctionConfig`]), clients built once, then the runtime loop around the handler adapter.

use crate::adapter::{handle_batch, Deadline, FunctionContext, KafkaFunction};
use crate::config::{ConfigError, Env};
use crate::database::DatabaseSource;
use crate::kafka::KafkaConfig;
use crate::publisher::Publisher;
use aws_lambda_events::event::kafka::KafkaEvent;
use contract::lambda::KafkaBatchResponse;
use lambda_runtime::{service_fn, LambdaEvent};

pub use lambda_runtime::Error;

/// What every Kafka-triggered function reads from the environment, once at start (the rule
/// for bad values: [`crate::config`]).
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// [`DatabaseSource`]: `DATABASE_URL` or `DATABASE_SECRET_ARN` (required).
    pub database: DatabaseSource,
    /// `SCHEMA_REGISTRY_NAME`, default `clinic-scheduling`.
    pub registry_name: String,
    /// `DB_MAX_CONNECTIONS`, with the binary's default (a Kafka-triggered function's:
    /// [`FunctionConfig::POOL`]).
    pub db_max_connections: u32,
    /// `KAFKA_BOOTSTRAP_SERVERS` (optional: enables the publish-after-commit fast path) and
    /// `KAFKA_AUTH` ([`KafkaConfig::from_env`]).
    pub kafka: Option<KafkaConfig>,
}

impl FunctionConfig {
    /// A Kafka-triggered function's pool: 2, as an instance serves one invocation at a time.
    pub const POOL: u32 = 2;

    pub fn from_env(env: &Env, default_max_connections: u32) -> Result<Self, ConfigError> {
        Ok(Self {
            database: DatabaseSource::from_env(env)?,
            registry_name: env
                .get("SCHEMA_REGISTRY_NAME")
                .unwrap_or_else(|| contract::DEFAULT_REGISTRY_NAME.to_owned()),
            db_max_connections: env.positive_or("DB_MAX_CONNECTIONS", default_max_connections)?,
            kafka: KafkaConfig::from_env(env)?,
        })
    }
}

impl FunctionContext {
    /// The pool, the registry client and the publisher `config` describes.
    pub async fn connect(config: &FunctionConfig) -> Result<Self, ConnectError> {
        let pool = connect_pool(&config.database, config.db_max_connections).await?;
        let registry = contract::SchemaRegistry::from_env(&config.registry_name).await;
        let publisher = match &config.kafka {
            Some(kafka) => Some(Publisher::new(pool.clone(), kafka)?),
            None => None,
        };
        Ok(Self::new(pool, registry, publisher))
    }

    /// [`FunctionConfig::from_env`] on `env` (a Kafka-triggered function's pool), then
    /// [`FunctionContext::connect`].
    pub async fn from_env(env: &Env) -> Result<Self, Error> {
        let config = FunctionConfig::from_env(env, FunctionConfig::POOL)?;
        Ok(Self::connect(&config).await?)
    }
}

/// The database pool of `max_connections` on `database` (the functions that need no other
/// client build only this).
pub async fn connect_pool(
    database: &crate::database::DatabaseSource,
    max_connections: u32,
) -> Result<sqlx::PgPool, ConnectError> {
    Ok(store::connect(
        &database.url().await?,
        store::PoolSettings {
            max_connections,
            ..Default::default()
        },
    )
    .await?)
}

/// Why a function's clients could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Database(#[from] crate::database::DatabaseConfigError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Kafka(#[from] crate::publisher::PublishError),
}

/// JSON logs (CloudWatch-friendly), filtered by `RUST_LOG`; once per process.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
}

/// Runs the function `build` makes as a Lambda behind a Kafka event-source mapping. The
/// environment is read once: `build` takes the function's own settings from the same snapshot
/// as [`FunctionConfig`], and a bad value in either refuses to start.
pub async fn run<F: KafkaFunction + 'static>(
    build: impl FnOnce(&Env) -> Result<F, ConfigError>,
) -> Result<(), Error> {
    init_tracing();
    let env = Env::process();
    let function = build(&env)?;
    let ctx = FunctionContext::from_env(&env).await?;
    let (ctx, function) = (&ctx, &function);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<KafkaEvent>| async move {
            let deadline = Deadline::from_epoch_millis(event.context.deadline);
            Ok::<KafkaBatchResponse, Error>(
                handle_batch(ctx, function, event.payload, deadline).await,
            )
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_pool_size_refuses_to_start_instead_of_falling_back() {
        let env = |size| {
            Env::from_pairs([
                ("DATABASE_URL", "postgres://localhost/db"),
                ("DB_MAX_CONNECTIONS", size),
            ])
        };
        assert_eq!(
            FunctionConfig::from_env(&env(""), 2).map(|c| c.db_max_connections),
            Ok(2)
        );
        assert_eq!(
            FunctionConfig::from_env(&env("8"), 2).map(|c| c.db_max_connections),
            Ok(8)
        );
        assert!(matches!(
            FunctionConfig::from_env(&env("eight"), 2),
            Err(ConfigError::Invalid {
                variable: "DB_MAX_CONNECTIONS",
                ..
            })
        ));
    }
}
