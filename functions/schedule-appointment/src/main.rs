//! Lambda bootstrap of schedule-appointment (trigger: MSK event-source mapping).

#[tokio::main]
async fn main() -> Result<(), messaging::lambda::Error> {
    messaging::lambda::run(|_| Ok(schedule_appointment::ScheduleAppointmentFn)).await
}
