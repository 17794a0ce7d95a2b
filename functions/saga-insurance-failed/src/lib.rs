//! saga-insurance-failed: triggered by `insurance.events.failed` (InsuranceFailed); the booking saga compensates: COMPENSATING, and CancelAppointment is sent with
//! "Insurance verification failed: <reason>".

use app::saga::{advance, Reply};
use app::Cause;
use async_trait::async_trait;
use contract::InsuranceFailed;
use domain::saga::{SagaDeadlines, SagaInput};
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy)]
pub struct SagaInsuranceFailedFn {
    pub deadlines: SagaDeadlines,
}

#[async_trait]
impl KafkaFunction for SagaInsuranceFailedFn {
    const NAME: &'static str = "saga-insurance-failed";
    type Input = InsuranceFailed;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        r: Self::Input,
    ) -> Result<(), HandlerError> {
        let reply = Reply {
            saga_id: r.saga_id,
            appointment_id: r.appointment_id,
            input: SagaInput::InsuranceFailed { reason: r.reason },
            detail: None,
        };
        let cause = Cause::record(r.event_id);
        Ok(advance(ctx.outbox(), tx, reply, cause, &self.deadlines).await?)
    }
}
