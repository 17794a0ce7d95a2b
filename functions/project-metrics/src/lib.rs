//! project-metrics: triggered by appointments.appointments.{created, confirmed, cancelled,
//! completed}; keeps `metrics_hourly` (appointments created per clinic per event-time hour) and
//! `metrics_appointments` (the 30-minute booking funnel), and emits an HourlyCount record on
//! `appointments.metrics.hourly-counts` through the outbox whenever an hour's count changes.
//!
//! Idempotent per event id (the adapter's `processed_messages` marker), independent of
//! arrival order (see `store::metrics`), and deterministic: an HourlyCount's event id and
//! timestamp come from the window, the count and the event that changed it, so a rebuild
//! re-decides the same records and the outbox publishes none of them twice.

use app::projections::{count_booking, count_stage};
use async_trait::async_trait;
use contract::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, AppointmentCreated,
};
use messaging::{input_from_topics, FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;
use store::metrics::Stage;

#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectMetricsFn;

input_from_topics! {
    /// The appointment events the metrics count (each lives for one record's handling).
    #[derive(Debug)]
    #[allow(clippy::large_enum_variant)]
    pub enum MetricsEvent {
        Created(AppointmentCreated),
        Confirmed(AppointmentConfirmed),
        Cancelled(AppointmentCancelled),
        Completed(AppointmentCompleted),
    }
}

#[async_trait]
impl KafkaFunction for ProjectMetricsFn {
    const NAME: &'static str = "project-metrics";
    type Input = MetricsEvent;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        input: Self::Input,
    ) -> Result<(), HandlerError> {
        let (id, at, stage) = match input {
            MetricsEvent::Created(e) => return Ok(count_booking(tx, ctx.outbox(), &e).await?),
            MetricsEvent::Confirmed(e) => (e.appointment_id, e.occurred_at, Stage::Confirmed),
            MetricsEvent::Cancelled(e) => (e.appointment_id, e.occurred_at, Stage::Cancelled),
            MetricsEvent::Completed(e) => (e.appointment_id, e.occurred_at, Stage::Completed),
        };
        Ok(count_stage(tx, id, stage, at).await?)
    }
}
