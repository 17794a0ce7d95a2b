//! Lambda bootstrap of confirm-appointment (trigger: MSK event-source mapping).

#[tokio::main]
async fn main() -> Result<(), messaging::lambda::Error> {
    messaging::lambda::run(messaging::commands::AppointmentCommandFn(
        confirm_appointment::Spec,
    ))
    .await
}
