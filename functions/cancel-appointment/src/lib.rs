//! cancel-appointment: triggered by `appointments.commands.cancel` (CancelAppointment, from the
//! saga as compensation, or from the clinics' own systems); any live status → CANCELLED with
//! the reason, emits AppointmentCancelled. The freed slot can be booked again at once. An
//! agent's cancel in the API is applied by the API itself, synchronously, through the same
//! write-side rules.

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
        let reason =
            CancelReason::parse(&record.reason).map_err(|e| HandlerError::InvalidField {
                field: "reason",
                reason: e.to_string(),
            })?;
        Ok(AppointmentCommand::Cancel { reason })
    }
}
