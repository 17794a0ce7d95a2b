//! Lambda bootstrap of saga-insurance-failed (trigger: MSK event-source mapping).

#[tokio::main]
async fn main() -> Result<(), messaging::lambda::Error> {
    let deadlines = messaging::config::saga_deadlines(&messaging::config::Env::process())?;
    messaging::lambda::run(saga_insurance_failed::SagaInsuranceFailedFn { deadlines }).await
}
