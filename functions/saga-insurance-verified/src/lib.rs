//! saga-insurance-verified: triggered by `insurance.events.verified` (InsuranceVerified); the booking saga moves from INSURANCE_VERIFICATION to SENDING_CONFIRMATION: the appointment
//! becomes AWAITING_CONFIRMATION and SendConfirmation is sent.

use contract::InsuranceVerified;
use domain::saga::SagaInput;
use messaging::saga::{Reply, SagaReplyFn, SagaReplySpec};

#[derive(Debug, Clone, Copy, Default)]
pub struct Spec;

pub type SagaInsuranceVerifiedFn = SagaReplyFn<Spec>;

impl SagaReplySpec for Spec {
    const NAME: &'static str = "saga-insurance-verified";
    type Record = InsuranceVerified;

    fn reply(r: &InsuranceVerified) -> Reply {
        Reply {
            saga_id: r.saga_id,
            appointment_id: r.appointment_id,
            input: SagaInput::InsuranceVerified,
            detail: Some(format!("payer {}", r.payer)),
        }
    }
}
