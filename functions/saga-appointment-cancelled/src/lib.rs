//! saga-appointment-cancelled: triggered by `appointments.appointments.cancelled` (AppointmentCancelled); the appointment was cancelled (by an agent, or by the saga's compensation), so the
//! booking saga closes: CANCELLED. Any later reply is then ignored.

use contract::AppointmentCancelled;
use domain::saga::SagaInput;
use messaging::saga::{Reply, SagaReplyFn, SagaReplySpec};

#[derive(Debug, Clone, Copy, Default)]
pub struct Spec;

pub type SagaAppointmentCancelledFn = SagaReplyFn<Spec>;

impl SagaReplySpec for Spec {
    const NAME: &'static str = "saga-appointment-cancelled";
    type Record = AppointmentCancelled;

    fn reply(r: &AppointmentCancelled) -> Reply {
        Reply {
            saga_id: r.saga_id,
            appointment_id: r.appointment_id,
            input: SagaInput::AppointmentCancelled,
            detail: Some(r.reason.clone()),
        }
    }
}
