//! project-appointments: triggered by appointments.appointments.{created, confirmed, cancelled,
//! completed} and insurance.events.verified (which moves a pending booking to
//! AWAITING_CONFIRMATION); keeps `appointment_summary`. Order-independent: a change applies only if its
//! appointment_version is newer than the row's, and AppointmentCreated fills the descriptive
//! columns whenever it arrives, so a "confirmed" seen before its "created" is not lost.

use async_trait::async_trait;
use contract::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, AppointmentCreated,
    InsuranceVerified, Record, SchemaRegistry,
};
use domain::{AppointmentStatus, EventId};
use messaging::{FunctionContext, FunctionInput, HandlerError, KafkaFunction};
use sqlx::PgConnection;
use store::read_model::{self, StatusChange};

#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectAppointmentsFn;

/// Any of the records the projection reads, as it needs them.
#[derive(Debug)]
pub enum AppointmentEvent {
    Created(Box<AppointmentCreated>),
    Changed(EventId, StatusChange),
    InsuranceVerified(InsuranceVerified),
}

#[async_trait]
impl FunctionInput for AppointmentEvent {
    async fn decode(
        registry: &SchemaRegistry,
        topic: &str,
        value: &[u8],
    ) -> Result<Self, HandlerError> {
        let changed = |event_id, change| Ok(AppointmentEvent::Changed(event_id, change));
        match topic {
            AppointmentCreated::TOPIC => Ok(AppointmentEvent::Created(Box::new(
                AppointmentCreated::decode(registry, topic, value).await?,
            ))),
            AppointmentConfirmed::TOPIC => {
                let e = AppointmentConfirmed::decode(registry, topic, value).await?;
                changed(
                    e.event_id,
                    StatusChange {
                        appointment_id: e.appointment_id,
                        saga_id: e.saga_id,
                        version: e.appointment_version,
                        status: AppointmentStatus::Confirmed,
                        cancel_reason: None,
                        occurred_at: e.occurred_at,
                    },
                )
            }
            AppointmentCancelled::TOPIC => {
                let e = AppointmentCancelled::decode(registry, topic, value).await?;
                changed(
                    e.event_id,
                    StatusChange {
                        appointment_id: e.appointment_id,
                        saga_id: e.saga_id,
                        version: e.appointment_version,
                        status: AppointmentStatus::Cancelled,
                        cancel_reason: Some(e.reason),
                        occurred_at: e.occurred_at,
                    },
                )
            }
            AppointmentCompleted::TOPIC => {
                let e = AppointmentCompleted::decode(registry, topic, value).await?;
                changed(
                    e.event_id,
                    StatusChange {
                        appointment_id: e.appointment_id,
                        saga_id: e.saga_id,
                        version: e.appointment_version,
                        status: AppointmentStatus::Completed,
                        cancel_reason: None,
                        occurred_at: e.occurred_at,
                    },
                )
            }
            InsuranceVerified::TOPIC => Ok(AppointmentEvent::InsuranceVerified(
                InsuranceVerified::decode(registry, topic, value).await?,
            )),
            other => Err(HandlerError::UnexpectedTopic(other.to_owned())),
        }
    }

    fn event_id(&self) -> EventId {
        match self {
            AppointmentEvent::Created(e) => Record::event_id(e.as_ref()),
            AppointmentEvent::Changed(id, _) => *id,
            AppointmentEvent::InsuranceVerified(e) => e.event_id,
        }
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
            AppointmentEvent::Created(e) => app::projections::appointment_created(tx, &e).await?,
            AppointmentEvent::Changed(_, c) => read_model::apply_status_change(tx, &c).await?,
            AppointmentEvent::InsuranceVerified(e) => {
                read_model::apply_insurance_verified(tx, e.appointment_id, e.saga_id, e.occurred_at)
                    .await?
            }
        };
        Ok(())
    }
}
