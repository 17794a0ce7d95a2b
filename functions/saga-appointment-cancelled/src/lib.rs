//! saga-appointment-cancelled: triggered by `appointments.appointments.cancelled` (AppointmentCancelled); the appointment was cancelled (by an agent, or by the saga's compensation), so the
//! booking saga closes: CANCELLED. Any later reply is then ignored.

use app::saga::{advance, Reply};
use app::Cause;
use async_trait::async_trait;
use contract::AppointmentCancelled;
use domain::saga::{SagaDeadlines, SagaInput};
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy)]
pub struct SagaAppointmentCancelledFn {
    pub deadlines: SagaDeadlines,
}

#[async_trait]
impl KafkaFunction for SagaAppointmentCancelledFn {
    const NAME: &'static str = "saga-appointment-cancelled";
    type Input = AppointmentCancelled;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        r: Self::Input,
    ) -> Result<(), HandlerError> {
        let reply = Reply {
            saga_id: r.saga_id,
            appointment_id: r.appointment_id,
            input: SagaInput::AppointmentCancelled,
            detail: Some(r.reason),
        };
        let cause = Cause::record(r.event_id);
        Ok(advance(ctx.outbox(), tx, reply, cause, &self.deadlines).await?)
    }
}
