//! cancel-appointment: triggered by `appointments.commands.cancel` (CancelAppointment, from the
//! saga as compensation, or from the clinics' own systems); any live status → CANCELLED with
//! the reason, emits AppointmentCancelled. The freed slot can be booked again at once. An
//! agent's cancel in the API is applied by the API itself, synchronously, through the same
//! write-side rules.

use app::appointments::cancel;
use app::Cause;
use async_trait::async_trait;
use contract::CancelAppointment;
use domain::values::CancelReason;
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy, Default)]
pub struct CancelAppointmentFn;

#[async_trait]
impl KafkaFunction for CancelAppointmentFn {
    const NAME: &'static str = "cancel-appointment";
    type Input = CancelAppointment;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        cmd: Self::Input,
    ) -> Result<(), HandlerError> {
        let reason = CancelReason::parse(&cmd.reason).map_err(|e| HandlerError::InvalidField {
            field: "reason",
            reason: e.to_string(),
        })?;
        let outcome = cancel(
            tx,
            ctx.outbox(),
            cmd.appointment_id,
            reason,
            Cause::record(cmd.event_id),
        )
        .await?;
        outcome.log(Self::NAME, cmd.appointment_id);
        Ok(())
    }
}
