//! project-metrics: triggered by appointments.appointments.{created, confirmed, cancelled,
//! completed}; keeps `metrics_hourly` (appointments created per clinic per event-time hour) and
//! `metrics_appointments` (the 30-minute booking funnel), and emits an HourlyCount record on
//! `appointments.metrics.hourly-counts` through the outbox whenever an hour's count changes.
//!
//! Idempotent per event id (the adapter's `processed_messages` marker), independent of
//! arrival order (see `store::metrics`), and deterministic: an HourlyCount's event id and
//! timestamp come from the window, the count and the event that changed it, so a rebuild
//! re-decides the same records and the outbox publishes none of them twice.

use app::Outbox;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contract::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, AppointmentCreated,
    HourlyCount, Record, SchemaRegistry,
};
use domain::{AppointmentId, ClinicId, EventId};
use messaging::{FunctionContext, FunctionInput, HandlerError, KafkaFunction};
use sqlx::PgConnection;
use store::metrics::{self, Stage};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectMetricsFn;

/// What the metrics need of an appointment event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsEvent {
    pub event_id: EventId,
    pub appointment_id: AppointmentId,
    pub occurred_at: DateTime<Utc>,
    pub kind: MetricsEventKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsEventKind {
    Created(ClinicId),
    Reached(Stage),
}

#[async_trait]
impl FunctionInput for MetricsEvent {
    async fn decode(
        registry: &SchemaRegistry,
        topic: &str,
        value: &[u8],
    ) -> Result<Self, HandlerError> {
        let event = |event_id, appointment_id, occurred_at, kind| MetricsEvent {
            event_id,
            appointment_id,
            occurred_at,
            kind,
        };
        Ok(match topic {
            AppointmentCreated::TOPIC => {
                let e = AppointmentCreated::decode(registry, topic, value).await?;
                event(
                    e.event_id,
                    e.appointment_id,
                    e.occurred_at,
                    MetricsEventKind::Created(e.clinic_id),
                )
            }
            AppointmentConfirmed::TOPIC => {
                let e = AppointmentConfirmed::decode(registry, topic, value).await?;
                event(
                    e.event_id,
                    e.appointment_id,
                    e.occurred_at,
                    MetricsEventKind::Reached(Stage::Confirmed),
                )
            }
            AppointmentCancelled::TOPIC => {
                let e = AppointmentCancelled::decode(registry, topic, value).await?;
                event(
                    e.event_id,
                    e.appointment_id,
                    e.occurred_at,
                    MetricsEventKind::Reached(Stage::Cancelled),
                )
            }
            AppointmentCompleted::TOPIC => {
                let e = AppointmentCompleted::decode(registry, topic, value).await?;
                event(
                    e.event_id,
                    e.appointment_id,
                    e.occurred_at,
                    MetricsEventKind::Reached(Stage::Completed),
                )
            }
            other => return Err(HandlerError::UnexpectedTopic(other.to_owned())),
        })
    }

    fn event_id(&self) -> EventId {
        self.event_id
    }
}

/// The HourlyCount for `clinic`'s hour `window_start` reaching `count`, caused at `at`.
pub fn hourly_count(
    clinic_id: ClinicId,
    window_start: DateTime<Utc>,
    count: i64,
    at: DateTime<Utc>,
) -> HourlyCount {
    let name = format!(
        "hourly-count/{clinic_id}/{}/{count}",
        window_start.timestamp_millis()
    );
    HourlyCount {
        event_id: EventId(Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes())),
        occurred_at: at,
        clinic_id,
        window_start,
        count,
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
        metrics::lock_writers(tx).await?;
        match input.kind {
            MetricsEventKind::Created(clinic_id) => {
                let (window_start, count) =
                    metrics::apply_created(tx, input.appointment_id, clinic_id, input.occurred_at)
                        .await?;
                let record = hourly_count(clinic_id, window_start, count, input.occurred_at);
                let outbox = Outbox::new(&ctx.registry);
                outbox.append(tx, &record, Some(input.event_id)).await?;
            }
            MetricsEventKind::Reached(stage) => {
                metrics::apply_stage(tx, input.appointment_id, stage, input.occurred_at).await?
            }
        }
        Ok(())
    }
}
