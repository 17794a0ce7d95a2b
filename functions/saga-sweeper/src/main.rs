//! Lambda bootstrap of saga-sweeper (trigger: an EventBridge schedule).
//! Env: as every function (`FunctionContext::from_env`), plus the saga deadlines
//! (`messaging::config::saga_deadlines`).

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    messaging::lambda::init_tracing();
    let env = messaging::config::Env::process();
    let deadlines = &messaging::config::saga_deadlines(&env)?;
    let ctx = &messaging::FunctionContext::from_env(&env).await?;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let compensated = saga_sweeper::sweep(ctx, deadlines, chrono::Utc::now()).await?;
            tracing::info!(compensated, "sagas swept");
            Ok::<_, Error>(serde_json::json!({ "compensated": compensated }))
        },
    ))
    .await
}
