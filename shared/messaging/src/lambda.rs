//! The Lambda bootstrap every Kafka-triggered function shares: tracing, config from the
//! environment once, clients built once, then the runtime loop around the handler adapter.

use crate::adapter::{handle_batch, Deadline, FunctionContext, KafkaFunction};
use crate::publisher::Publisher;
use aws_lambda_events::event::kafka::KafkaEvent;
use contract::lambda::KafkaBatchResponse;
use lambda_runtime::{service_fn, LambdaEvent};

pub use lambda_runtime::Error;

impl FunctionContext {
    /// The database ([`crate::database::database_url_from_env`]), `SCHEMA_REGISTRY_NAME` (default
    /// clinic-scheduling), `DB_MAX_CONNECTIONS` (default 2: one invocation at a time),
    /// `KAFKA_BOOTSTRAP_SERVERS` (optional: enables the publish-after-commit fast path) and
    /// `KAFKA_AUTH` ([`crate::KafkaConfig::from_env`]).
    pub async fn from_env() -> Result<Self, Error> {
        let max_connections = std::env::var("DB_MAX_CONNECTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2);
        let pool = store::connect(
            &crate::database::database_url_from_env().await?,
            store::PoolSettings {
                max_connections,
                ..Default::default()
            },
        )
        .await?;
        let registry_name = std::env::var("SCHEMA_REGISTRY_NAME")
            .unwrap_or_else(|_| contract::DEFAULT_REGISTRY_NAME.to_owned());
        let registry = contract::SchemaRegistry::from_env(registry_name).await;
        let publisher = match crate::KafkaConfig::from_env()? {
            Some(kafka) => Some(Publisher::new(pool.clone(), &kafka)?),
            None => None,
        };
        Ok(Self::new(pool, registry, publisher))
    }
}

/// JSON logs (CloudWatch-friendly), filtered by `RUST_LOG`; once per process.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
}

/// Runs `function` as a Lambda behind a Kafka event-source mapping.
pub async fn run<F: KafkaFunction + 'static>(function: F) -> Result<(), Error> {
    init_tracing();
    let ctx = FunctionContext::from_env().await?;
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
