//! saga-confirmation-sent: triggered by `notifications.events.sent` (ConfirmationSent); the booking saga moves from SENDING_CONFIRMATION to COMPLETED and sends
//! ConfirmAppointment.

use app::saga::{advance, Reply};
use app::Cause;
use async_trait::async_trait;
use contract::ConfirmationSent;
use domain::saga::{SagaDeadlines, SagaInput};
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy)]
pub struct SagaConfirmationSentFn {
    pub deadlines: SagaDeadlines,
}

#[async_trait]
impl KafkaFunction for SagaConfirmationSentFn {
    const NAME: &'static str = "saga-confirmation-sent";
    type Input = ConfirmationSent;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        r: Self::Input,
    ) -> Result<(), HandlerError> {
        let reply = Reply {
            saga_id: r.saga_id,
            appointment_id: r.appointment_id,
            input: SagaInput::ConfirmationSent,
            detail: Some(format!("message {}", r.message_id)),
        };
        let cause = Cause::record(r.event_id);
        Ok(advance(ctx.outbox(), tx, reply, cause, &self.deadlines).await?)
    }
}
