//! Lambda bootstrap of saga-confirmation-sent (trigger: MSK event-source mapping).

#[tokio::main]
async fn main() -> Result<(), messaging::lambda::Error> {
    messaging::lambda::run(|env| {
        let deadlines = messaging::config::saga_deadlines(env)?;
        Ok(saga_confirmation_sent::SagaConfirmationSentFn { deadlines })
    })
    .await
}
