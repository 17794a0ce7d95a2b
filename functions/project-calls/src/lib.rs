//! project-calls: triggered by calls.calls.started and calls.calls.ended; keeps
//! `call_summary`, from which the API reads calls per hour, calls in progress, the average
//! handle time and the share of calls that ended with a booking. Each record fills its own
//! columns, so a CallEnded seen before its CallStarted is not lost; duplicates are dropped by
//! event id (the adapter's marker). Emits nothing.

use async_trait::async_trait;
use contract::{CallEnded, CallStarted, Record, SchemaRegistry};
use domain::EventId;
use messaging::{FunctionContext, FunctionInput, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectCallsFn;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    Started(CallStarted),
    Ended(CallEnded),
}

#[async_trait]
impl FunctionInput for CallEvent {
    async fn decode(
        registry: &SchemaRegistry,
        topic: &str,
        value: &[u8],
    ) -> Result<Self, HandlerError> {
        match topic {
            CallStarted::TOPIC => Ok(CallEvent::Started(
                CallStarted::decode(registry, topic, value).await?,
            )),
            CallEnded::TOPIC => Ok(CallEvent::Ended(
                CallEnded::decode(registry, topic, value).await?,
            )),
            other => Err(HandlerError::UnexpectedTopic(other.to_owned())),
        }
    }

    fn event_id(&self) -> EventId {
        match self {
            CallEvent::Started(e) => e.event_id,
            CallEvent::Ended(e) => e.event_id,
        }
    }
}

#[async_trait]
impl KafkaFunction for ProjectCallsFn {
    const NAME: &'static str = "project-calls";
    type Input = CallEvent;

    async fn apply(
        &self,
        _ctx: &FunctionContext,
        tx: &mut PgConnection,
        input: Self::Input,
    ) -> Result<(), HandlerError> {
        match input {
            CallEvent::Started(e) => app::projections::call_started(tx, &e).await?,
            CallEvent::Ended(e) => app::projections::call_ended(tx, &e).await?,
        }
        Ok(())
    }
}
