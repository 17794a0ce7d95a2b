//! complete-appointment: triggered by `appointments.commands.complete` (CompleteAppointment,
//! sent by the API when the exam took place); CONFIRMED → COMPLETED, emits AppointmentCompleted.

use contract::CompleteAppointment;
use domain::appointment::AppointmentCommand;
use domain::AppointmentId;
use messaging::commands::{AppointmentCommandFn, AppointmentCommandSpec};
use messaging::HandlerError;

#[derive(Debug, Clone, Copy, Default)]
pub struct Spec;

pub type CompleteAppointmentFn = AppointmentCommandFn<Spec>;

impl AppointmentCommandSpec for Spec {
    const NAME: &'static str = "complete-appointment";
    type Record = CompleteAppointment;

    fn appointment_id(record: &CompleteAppointment) -> AppointmentId {
        record.appointment_id
    }

    fn command(_: &CompleteAppointment) -> Result<AppointmentCommand, HandlerError> {
        Ok(AppointmentCommand::Complete)
    }
}
