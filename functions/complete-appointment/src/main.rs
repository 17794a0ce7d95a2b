//! Lambda bootstrap of complete-appointment (trigger: MSK event-source mapping).

#[tokio::main]
async fn main() -> Result<(), messaging::lambda::Error> {
    messaging::lambda::run(|_| Ok(complete_appointment::CompleteAppointmentFn)).await
}
