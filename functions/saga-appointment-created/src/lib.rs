//! saga-appointment-created: triggered by `appointments.appointments.created`
//! (AppointmentCreated); records the booking saga in step INSURANCE_VERIFICATION with its
//! deadline and sends VerifyInsurance.

use app::saga::start;
use async_trait::async_trait;
use contract::AppointmentCreated;
use domain::saga::SagaDeadlines;
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy)]
pub struct SagaAppointmentCreatedFn {
    pub deadlines: SagaDeadlines,
}

#[async_trait]
impl KafkaFunction for SagaAppointmentCreatedFn {
    const NAME: &'static str = "saga-appointment-created";
    type Input = AppointmentCreated;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        created: Self::Input,
    ) -> Result<(), HandlerError> {
        let now = chrono::Utc::now();
        Ok(start(ctx.outbox(), tx, &created, &self.deadlines, now).await?)
    }
}
