//! outbox-relay: triggered by an EventBridge schedule in the cloud; publishes every outbox row
//! the writers' publish-after-commit missed (locally the stack runs the LISTEN/NOTIFY relay),
//! waiting for the publisher lock when another publisher holds it (`Publisher::relay_round`):
//! a writer that found the lock taken left its rows to the relay.
//! Env: the database (DATABASE_URL or DATABASE_SECRET_ARN), KAFKA_BOOTSTRAP_SERVERS, KAFKA_AUTH.

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    messaging::lambda::init_tracing();
    let env = messaging::config::Env::process();
    let database = messaging::database::DatabaseSource::from_env(&env)?;
    let kafka = messaging::KafkaConfig::from_env(&env)?.ok_or(
        messaging::config::ConfigError::Missing("KAFKA_BOOTSTRAP_SERVERS"),
    )?;
    let pool = messaging::lambda::connect_pool(&database, 2).await?;
    let publisher = &messaging::Publisher::new(pool, &kafka)?;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let published = publisher.relay_round().await?;
            tracing::info!(published, "outbox swept");
            Ok::<_, Error>(serde_json::json!({ "published": published }))
        },
    ))
    .await
}
