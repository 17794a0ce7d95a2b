//! Lambda entry point of the API function: trigger API Gateway HTTP API; serves `api::app`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let config = api::Config::from_env(&messaging::config::Env::process())?;
    let state = api::build_state(&config).await?;
    lambda_http::run(api::app(state))
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
