//! schedule-appointment: triggered by `appointments.commands.schedule` (ScheduleAppointment from
//! telephony/IVR integrations); books through the same use case as the API and emits
//! AppointmentCreated through the outbox. A command that can never be booked (unknown clinic,
//! patient or provider, a past or closed slot, a taken slot) is dead-lettered with the reason.

use app::booking::{book, BookingError, RequestedStart, ScheduleRequest};
use async_trait::async_trait;
use contract::ScheduleAppointment;
use domain::values::Notes;
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy, Default)]
pub struct ScheduleAppointmentFn;

#[async_trait]
impl KafkaFunction for ScheduleAppointmentFn {
    const NAME: &'static str = "schedule-appointment";
    type Input = ScheduleAppointment;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        cmd: Self::Input,
    ) -> Result<(), HandlerError> {
        let notes = cmd
            .notes
            .as_deref()
            .map(Notes::parse)
            .transpose()
            .map_err(|e| HandlerError::InvalidField {
                field: "notes",
                reason: e.to_string(),
            })?;
        let request = ScheduleRequest {
            appointment_id: cmd.appointment_id,
            saga_id: cmd.saga_id,
            clinic_id: cmd.clinic_id,
            patient_id: cmd.patient_id,
            provider_id: cmd.provider_id,
            start: RequestedStart::Instant(cmd.scheduled_for),
            kind: cmd.r#type,
            notes,
            causation: Some(cmd.event_id),
        };
        match book(tx, ctx.outbox(), request, chrono::Utc::now()).await {
            // The same appointment booked by an earlier delivery (under another event id).
            Ok(_) | Err(BookingError::AlreadyExists) => Ok(()),
            Err(BookingError::Failed(e)) => Err(e.into()),
            Err(rule) => Err(HandlerError::Unbookable(rule)),
        }
    }
}
