//! confirm-appointment: triggered by `appointments.commands.confirm` (ConfirmAppointment, sent
//! by the saga once the confirmation email is out); AWAITING_CONFIRMATION → CONFIRMED, emits
//! AppointmentConfirmed.

use app::appointments::{confirm, Cause};
use app::Outbox;
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
        let outbox = Outbox::new(&ctx.registry);
        let cause = Cause {
            causation: Some(cmd.event_id),
            now: chrono::Utc::now(),
        };
        let outcome = confirm(tx, outbox, cmd.appointment_id, cause).await?;
        outcome.log(Self::NAME, cmd.appointment_id);
        Ok(())
    }
}
