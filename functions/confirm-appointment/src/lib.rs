//! confirm-appointment: triggered by `appointments.commands.confirm` (ConfirmAppointment, sent
//! by the saga once the confirmation email is out); AWAITING_CONFIRMATION → CONFIRMED, emits
//! AppointmentConfirmed.

use contract::ConfirmAppointment;
use domain::appointment::AppointmentCommand;
use domain::AppointmentId;
use messaging::commands::{AppointmentCommandFn, AppointmentCommandSpec};
use messaging::HandlerError;

#[derive(Debug, Clone, Copy, Default)]
pub struct Spec;

pub type ConfirmAppointmentFn = AppointmentCommandFn<Spec>;

impl AppointmentCommandSpec for Spec {
    const NAME: &'static str = "confirm-appointment";
    type Record = ConfirmAppointment;

    fn appointment_id(record: &ConfirmAppointment) -> AppointmentId {
        record.appointment_id
    }

    fn command(_: &ConfirmAppointment) -> Result<AppointmentCommand, HandlerError> {
        Ok(AppointmentCommand::Confirm)
    }
}
