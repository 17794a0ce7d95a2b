//! Lambda bootstrap of confirm-appointment (trigger: MSK event-source mapping).

#[tokio::main]
async fn main() -> Result<(), messaging::lambda::Error> {
    messaging::lambda::run(|_| Ok(confirm_appointment::ConfirmAppointmentFn)).await
}
