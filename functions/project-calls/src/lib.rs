//! project-calls: triggered by calls.calls.started and calls.calls.ended; keeps
//! `call_summary`, from which the API reads calls per hour, calls in progress, the average
//! handle time and the share of calls that ended with a booking. Each record fills its own
//! columns, so a CallEnded seen before its CallStarted is not lost; duplicates are dropped by
//! event id (the adapter's marker). Emits nothing.

use async_trait::async_trait;
use contract::{CallEnded, CallStarted};
use messaging::{input_from_topics, FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectCallsFn;

input_from_topics! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum CallEvent {
        Started(CallStarted),
        Ended(CallEnded),
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
