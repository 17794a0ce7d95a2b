//! project-appointments: triggered by appointments.appointments.{created, confirmed, cancelled,
//! completed}; keeps `appointment_summary`. Order-independent: a change applies only if its
//! appointment_version is newer than the row's, and AppointmentCreated fills the descriptive
//! columns whenever it arrives, so a "confirmed" seen before its "created" is not lost.

use async_trait::async_trait;
use contract::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, AppointmentCreated, Record,
    SchemaRegistry,
};
use domain::{AppointmentStatus, EventId};
use messaging::adapter::decode_single;
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;
use store::read_model::{self, StatusChange};

#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectAppointmentsFn;

#[derive(Debug)]
pub enum AppointmentEvent {
    Created(Box<AppointmentCreated>),
    Changed(EventId, StatusChange),
}

fn change(event_id: EventId, change: StatusChange) -> AppointmentEvent {
    AppointmentEvent::Changed(event_id, change)
}

#[async_trait]
impl KafkaFunction for ProjectAppointmentsFn {
    const NAME: &'static str = "project-appointments";
    type Input = AppointmentEvent;

    async fn decode(
        &self,
        registry: &SchemaRegistry,
        topic: &str,
        value: &[u8],
    ) -> Result<Self::Input, HandlerError> {
        Ok(match topic {
            AppointmentCreated::TOPIC => AppointmentEvent::Created(Box::new(
                decode_single::<AppointmentCreated>(registry, topic, value).await?,
            )),
            AppointmentConfirmed::TOPIC => {
                let e: AppointmentConfirmed = decode_single(registry, topic, value).await?;
                change(
                    e.event_id,
                    status_change(
                        e.appointment_id,
                        e.saga_id,
                        e.appointment_version,
                        AppointmentStatus::Confirmed,
                        None,
                        e.occurred_at,
                    ),
                )
            }
            AppointmentCancelled::TOPIC => {
                let e: AppointmentCancelled = decode_single(registry, topic, value).await?;
                change(
                    e.event_id,
                    status_change(
                        e.appointment_id,
                        e.saga_id,
                        e.appointment_version,
                        AppointmentStatus::Cancelled,
                        Some(e.reason),
                        e.occurred_at,
                    ),
                )
            }
            AppointmentCompleted::TOPIC => {
                let e: AppointmentCompleted = decode_single(registry, topic, value).await?;
                change(
                    e.event_id,
                    status_change(
                        e.appointment_id,
                        e.saga_id,
                        e.appointment_version,
                        AppointmentStatus::Completed,
                        None,
                        e.occurred_at,
                    ),
                )
            }
            other => return Err(HandlerError::Permanent(format!("unexpected topic {other}"))),
        })
    }

    fn event_id(input: &Self::Input) -> EventId {
        match input {
            AppointmentEvent::Created(e) => e.event_id,
            AppointmentEvent::Changed(id, _) => *id,
        }
    }

    async fn apply(
        &self,
        _ctx: &FunctionContext,
        tx: &mut PgConnection,
        input: Self::Input,
    ) -> Result<(), HandlerError> {
        match input {
            AppointmentEvent::Created(e) => read_model::apply_created(tx, &e).await?,
            AppointmentEvent::Changed(_, c) => read_model::apply_status_change(tx, &c).await?,
        };
        Ok(())
    }
}

fn status_change(
    appointment_id: domain::AppointmentId,
    saga_id: domain::SagaId,
    version: i32,
    status: AppointmentStatus,
    cancel_reason: Option<String>,
    occurred_at: chrono::DateTime<chrono::Utc>,
) -> StatusChange {
    StatusChange {
        appointment_id,
        saga_id,
        version,
        status,
        cancel_reason,
        occurred_at,
    }
}
