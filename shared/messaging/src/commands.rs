//! The shape shared by the appointment command functions (confirm, cancel, complete): decode
//! the command, let the domain decide under a row lock, store the change and its event. A
//! transition the domain refuses (a late or duplicate command, e.g. confirming a cancelled
//! appointment) is logged and changes nothing; it is not an error to retry or dead-letter.

use crate::adapter::{FunctionContext, HandlerError, KafkaFunction};
use async_trait::async_trait;
use contract::Record;
use domain::appointment::AppointmentCommand;
use domain::AppointmentId;
use sqlx::PgConnection;
use store::appointments::{apply_command, CommandOutcome};

/// What one appointment command function adds: its name, its record, and the domain command.
pub trait AppointmentCommandSpec: Send + Sync + 'static {
    const NAME: &'static str;
    type Record: Record;
    fn appointment_id(record: &Self::Record) -> AppointmentId;
    /// The domain command; Err for values the domain cannot accept (dead-lettered).
    fn command(record: &Self::Record) -> Result<AppointmentCommand, HandlerError>;
}

/// A Kafka function running one [`AppointmentCommandSpec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AppointmentCommandFn<S>(pub S);

#[async_trait]
impl<S: AppointmentCommandSpec> KafkaFunction for AppointmentCommandFn<S> {
    const NAME: &'static str = S::NAME;
    type Input = S::Record;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        input: Self::Input,
    ) -> Result<(), HandlerError> {
        let id = S::appointment_id(&input);
        let command = S::command(&input)?;
        match apply_command(
            tx,
            &ctx.registry,
            id,
            command,
            Some(Record::event_id(&input)),
            chrono::Utc::now(),
        )
        .await?
        {
            CommandOutcome::Applied { status, version } => {
                tracing::info!(function = S::NAME, appointment_id = %id, %status, version, "appointment updated");
            }
            CommandOutcome::Refused(reason) => {
                tracing::warn!(function = S::NAME, appointment_id = %id, %reason, "command refused; nothing changed");
            }
        }
        Ok(())
    }
}
