//! complete-appointment: triggered by `appointments.commands.complete` (CompleteAppointment);
//! CONFIRMED → COMPLETED, emits AppointmentCompleted. The topic is the inlet for the clinics'
//! own systems (a practice-management system that records the exam took place), as
//! `appointments.commands.schedule` is for telephony; an agent's "complete" in the API is
//! applied by the API itself, synchronously, through the same write-side rules.

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
