//! project-appointments: triggered by appointments.appointments.{created, confirmed, cancelled,
//! completed} and insurance.events.verified (which moves a pending booking to
//! AWAITING_CONFIRMATION); keeps `appointment_summary`. Order-independent: a change applies only if its
//! appointment_version is newer than the row's, and AppointmentCreated fills the descriptive
//! columns whenever it arrives, so a "confirmed" seen before its "created" is not lost.

use app::projections;
use async_trait::async_trait;
use contract::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, AppointmentCreated,
    InsuranceVerified,
};
use messaging::{input_from_topics, FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectAppointmentsFn;

input_from_topics! {
    /// Any of the records the projection reads (each lives for one record's handling).
    #[derive(Debug)]
    #[allow(clippy::large_enum_variant)]
    pub enum AppointmentEvent {
        Created(AppointmentCreated),
        Confirmed(AppointmentConfirmed),
        Cancelled(AppointmentCancelled),
        Completed(AppointmentCompleted),
        InsuranceVerified(InsuranceVerified),
    }
}

#[async_trait]
impl KafkaFunction for ProjectAppointmentsFn {
    const NAME: &'static str = "project-appointments";
    type Input = AppointmentEvent;

    async fn apply(
        &self,
        _ctx: &FunctionContext,
        tx: &mut PgConnection,
        input: Self::Input,
    ) -> Result<(), HandlerError> {
        match input {
            AppointmentEvent::Created(e) => projections::appointment_created(tx, &e).await?,
            AppointmentEvent::Confirmed(e) => projections::status_changed(tx, &e).await?,
            AppointmentEvent::Cancelled(e) => projections::status_changed(tx, &e).await?,
            AppointmentEvent::Completed(e) => projections::status_changed(tx, &e).await?,
            AppointmentEvent::InsuranceVerified(e) => {
                projections::insurance_verified(tx, &e).await?
            }
        };
        Ok(())
    }
}
