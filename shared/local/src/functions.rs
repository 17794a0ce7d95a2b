//! The in-process invoker: every Kafka-triggered function linked into this binary, called by
//! the local event-source-mapping runtime exactly as Lambda would call it (the AWS
//! `KafkaEvent` in, the batch response JSON out).

use async_trait::async_trait;
use aws_lambda_events::event::kafka::KafkaEvent;
use cancel_appointment::CancelAppointmentFn;
use complete_appointment::CompleteAppointmentFn;
use confirm_appointment::ConfirmAppointmentFn;
use messaging::{handle_batch, FunctionContext, KafkaFunction};
use project_appointments::ProjectAppointmentsFn;
use schedule_appointment::ScheduleAppointmentFn;
use verify_insurance::VerifyInsuranceFn;

/// The functions that have a Kafka trigger in template.yaml.
#[derive(Debug, Clone)]
pub struct InProcessInvoker {
    pub ctx: FunctionContext,
}

/// The function names this binary can run.
pub const FUNCTIONS: [&str; 6] = [
    ScheduleAppointmentFn::NAME,
    ProjectAppointmentsFn::NAME,
    VerifyInsuranceFn::NAME,
    ConfirmAppointmentFn::NAME,
    CancelAppointmentFn::NAME,
    CompleteAppointmentFn::NAME,
];

#[async_trait]
impl esm::Invoker for InProcessInvoker {
    async fn invoke(
        &self,
        function: &str,
        event: &KafkaEvent,
    ) -> Result<serde_json::Value, esm::InvokeError> {
        let event = event.clone();
        let response = match function {
            ScheduleAppointmentFn::NAME => {
                handle_batch(&self.ctx, &ScheduleAppointmentFn, event).await
            }
            ProjectAppointmentsFn::NAME => {
                handle_batch(&self.ctx, &ProjectAppointmentsFn, event).await
            }
            VerifyInsuranceFn::NAME => {
                handle_batch(&self.ctx, &VerifyInsuranceFn::default(), event).await
            }
            ConfirmAppointmentFn::NAME => {
                handle_batch(&self.ctx, &ConfirmAppointmentFn::default(), event).await
            }
            CancelAppointmentFn::NAME => {
                handle_batch(&self.ctx, &CancelAppointmentFn::default(), event).await
            }
            CompleteAppointmentFn::NAME => {
                handle_batch(&self.ctx, &CompleteAppointmentFn::default(), event).await
            }
            other => {
                return Err(esm::InvokeError::Function(format!(
                    "no function named {other} in this binary"
                )))
            }
        };
        serde_json::to_value(response).map_err(|e| esm::InvokeError::Function(e.to_string()))
    }
}
