//! Lambda bootstrap of cancel-appointment (trigger: MSK event-source mapping).

#[tokio::main]
async fn main() -> Result<(), messaging::lambda::Error> {
    messaging::lambda::run(|_| Ok(cancel_appointment::CancelAppointmentFn)).await
}
