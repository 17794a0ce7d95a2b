//! Lambda bootstrap of purge-expired (trigger: an EventBridge schedule).
//! Env: the database, and the retention periods (`purge_expired::retention_from_env`).

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    messaging::lambda::init_tracing();
    let env = messaging::config::Env::process();
    let retention = purge_expired::retention_from_env(&env)?;
    let database = messaging::database::DatabaseSource::from_env(&env)?;
    let pool = &messaging::lambda::connect_pool(&database, 1).await?;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let purged = store::retention::purge(pool, retention, chrono::Utc::now()).await?;
            tracing::info!(?purged, "expired rows purged");
            Ok::<_, Error>(serde_json::json!({
                "outbox": purged.outbox,
                "processedMessages": purged.processed_messages,
                "bookingRequests": purged.booking_requests,
            }))
        },
    ))
    .await
}
