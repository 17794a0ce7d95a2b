//! complete-appointment: triggered by `appointments.commands.complete` (CompleteAppointment);
//! CONFIRMED → COMPLETED, emits AppointmentCompleted. The topic is the inlet for the clinics'
//! own systems (a practice-management system that records the exam took place), as
//! `appointments.commands.schedule` is for telephony; an agent's "complete" in the API is
//! applied by the API itself, synchronously, through the same write-side rules.

use app::appointments::complete;
use app::Cause;
use async_trait::async_trait;
use contract::CompleteAppointment;
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy, Default)]
pub struct CompleteAppointmentFn;

#[async_trait]
impl KafkaFunction for CompleteAppointmentFn {
    const NAME: &'static str = "complete-appointment";
    type Input = CompleteAppointment;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        cmd: Self::Input,
    ) -> Result<(), HandlerError> {
        let outcome = complete(
            tx,
            ctx.outbox(),
            cmd.appointment_id,
            Cause::record(cmd.event_id),
        )
        .await?;
        outcome.log(Self::NAME, cmd.appointment_id);
        Ok(())
    }
}
