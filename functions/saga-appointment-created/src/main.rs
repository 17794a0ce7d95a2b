//! Lambda bootstrap of saga-appointment-created (trigger: MSK event-source mapping).

#[tokio::main]
async fn main() -> Result<(), messaging::lambda::Error> {
    messaging::lambda::run(|env| {
        let deadlines = messaging::config::saga_deadlines(env)?;
        Ok(saga_appointment_created::SagaAppointmentCreatedFn { deadlines })
    })
    .await
}
