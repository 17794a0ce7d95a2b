//! cancel-appointment: triggered by `appointments.commands.cancel` (CancelAppointment, from an
//! agent through the API or from the saga as compensation); any live status → CANCELLED with
//! the reason, emits AppointmentCancelled. The freed slot can be booked again at once.

use contract::CancelAppointment;
use domain::appointment::AppointmentCommand;
use domain::values::CancelReason;
use domain::AppointmentId;
use messaging::commands::{AppointmentCommandFn, AppointmentCommandSpec};
use messaging::HandlerError;

#[derive(Debug, Clone, Copy, Default)]
pub struct Spec;

pub type CancelAppointmentFn = AppointmentCommandFn<Spec>;

impl AppointmentCommandSpec for Spec {
    const NAME: &'static str = "cancel-appointment";
    type Record = CancelAppointment;

    fn appointment_id(record: &CancelAppointment) -> AppointmentId {
        record.appointment_id
    }

    fn command(record: &CancelAppointment) -> Result<AppointmentCommand, HandlerError> {
        let reason = CancelReason::parse(&record.reason)
            .map_err(|e| HandlerError::Permanent(format!("reason {e}")))?;
        Ok(AppointmentCommand::Cancel { reason })
    }
}
