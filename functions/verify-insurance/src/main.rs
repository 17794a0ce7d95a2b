//! Lambda bootstrap of verify-insurance (trigger: MSK event-source mapping).

#[tokio::main]
async fn main() -> Result<(), messaging::lambda::Error> {
    messaging::lambda::run(|_| Ok(verify_insurance::VerifyInsuranceFn::default())).await
}
