//! saga-insurance-verified: triggered by `insurance.events.verified` (InsuranceVerified); the booking saga moves from INSURANCE_VERIFICATION to SENDING_CONFIRMATION: the appointment
//! becomes AWAITING_CONFIRMATION and SendConfirmation is sent.

use app::saga::{advance, Reply};
use app::Cause;
use async_trait::async_trait;
use contract::InsuranceVerified;
use domain::saga::{SagaDeadlines, SagaInput};
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy)]
pub struct SagaInsuranceVerifiedFn {
    pub deadlines: SagaDeadlines,
}

#[async_trait]
impl KafkaFunction for SagaInsuranceVerifiedFn {
    const NAME: &'static str = "saga-insurance-verified";
    type Input = InsuranceVerified;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        r: Self::Input,
    ) -> Result<(), HandlerError> {
        let reply = Reply {
            saga_id: r.saga_id,
            appointment_id: r.appointment_id,
            input: SagaInput::InsuranceVerified,
            detail: Some(format!("payer {}", r.payer)),
        };
        let cause = Cause::record(r.event_id);
        Ok(advance(ctx.outbox(), tx, reply, cause, &self.deadlines).await?)
    }
}
