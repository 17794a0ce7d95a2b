//! saga-insurance-failed: triggered by `insurance.events.failed` (InsuranceFailed); the booking saga compensates: COMPENSATING, and CancelAppointment is sent with
//! "Insurance verification failed: <reason>".

use contract::InsuranceFailed;
use domain::saga::SagaInput;
use messaging::saga::{Reply, SagaReplyFn, SagaReplySpec};

#[derive(Debug, Clone, Copy, Default)]
pub struct Spec;

pub type SagaInsuranceFailedFn = SagaReplyFn<Spec>;

impl SagaReplySpec for Spec {
    const NAME: &'static str = "saga-insurance-failed";
    type Record = InsuranceFailed;

    fn reply(r: &InsuranceFailed) -> Reply {
        Reply {
            saga_id: r.saga_id,
            appointment_id: r.appointment_id,
            input: SagaInput::InsuranceFailed {
                reason: r.reason.clone(),
            },
            detail: None,
        }
    }
}
