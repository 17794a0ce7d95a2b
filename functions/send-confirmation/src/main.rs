//! Lambda bootstrap of send-confirmation (trigger: MSK event-source mapping). SES comes from the
//! default AWS configuration (`AWS_ENDPOINT_URL` points it at moto locally); the From address
//! from `CONFIRMATION_SENDER`.

use send_confirmation::{sender_from_env, SendConfirmationFn};

#[tokio::main]
async fn main() -> Result<(), messaging::lambda::Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    messaging::lambda::run(|env| Ok(SendConfirmationFn::new(ses, sender_from_env(env)))).await
}
