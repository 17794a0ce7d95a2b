//! confirm-appointment: triggered by `appointments.commands.confirm` (ConfirmAppointment, sent
//! by the saga once the confirmation email is out); AWAITING_CONFIRMATION → CONFIRMED, emits
//! AppointmentConfirmed.

use app::appointments::confirm;
use app::Cause;
use async_trait::async_trait;
use contract::ConfirmAppointment;
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy, Default)]
pub struct ConfirmAppointmentFn;

#[async_trait]
impl KafkaFunction for ConfirmAppointmentFn {
    const NAME: &'static str = "confirm-appointment";
    type Input = ConfirmAppointment;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        cmd: Self::Input,
    ) -> Result<(), HandlerError> {
        let outcome = confirm(
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
