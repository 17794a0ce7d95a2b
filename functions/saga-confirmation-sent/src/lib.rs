//! saga-confirmation-sent: triggered by `notifications.events.sent` (ConfirmationSent); the booking saga moves from SENDING_CONFIRMATION to COMPLETED and sends
//! ConfirmAppointment.

use contract::ConfirmationSent;
use domain::saga::SagaInput;
use messaging::saga::{Reply, SagaReplyFn, SagaReplySpec};

#[derive(Debug, Clone, Copy, Default)]
pub struct Spec;

pub type SagaConfirmationSentFn = SagaReplyFn<Spec>;

impl SagaReplySpec for Spec {
    const NAME: &'static str = "saga-confirmation-sent";
    type Record = ConfirmationSent;

    fn reply(r: &ConfirmationSent) -> Reply {
        Reply {
            saga_id: r.saga_id,
            appointment_id: r.appointment_id,
            input: SagaInput::ConfirmationSent,
            detail: Some(format!("message {}", r.message_id)),
        }
    }
}
