//! outbox-relay: triggered by an EventBridge schedule in the cloud; publishes every outbox row
//! the writers' publish-after-commit missed (locally the stack runs the LISTEN/NOTIFY relay).
//! Env: DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS.

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    messaging::lambda::init_tracing();
    let database_url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP_SERVERS")
        .map_err(|_| "KAFKA_BOOTSTRAP_SERVERS is not set")?;
    let pool = store::connect(
        &database_url,
        store::PoolSettings {
            max_connections: 2,
            ..Default::default()
        },
    )
    .await?;
    let publisher = &messaging::Publisher::new(pool, &bootstrap)?;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let published = publisher.publish_pending().await?;
            tracing::info!(published, "outbox swept");
            Ok::<_, Error>(serde_json::json!({ "published": published }))
        },
    ))
    .await
}
