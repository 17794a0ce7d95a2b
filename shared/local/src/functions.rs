//! The in-process invoker: every Kafka-triggered function linked into this binary, called by
//! the local event-source-mapping runtime exactly as Lambda would call it (the AWS
//! `KafkaEvent` in, the batch response JSON out).

use async_trait::async_trait;
use aws_lambda_events::event::kafka::KafkaEvent;
use cancel_appointment::CancelAppointmentFn;
use complete_appointment::CompleteAppointmentFn;
use confirm_appointment::ConfirmAppointmentFn;
use domain::saga::SagaDeadlines;
use messaging::{handle_batch, Deadline, FunctionContext, KafkaFunction};
use project_appointments::ProjectAppointmentsFn;
use project_calls::ProjectCallsFn;
use project_metrics::ProjectMetricsFn;
use saga_appointment_cancelled::SagaAppointmentCancelledFn;
use saga_appointment_created::SagaAppointmentCreatedFn;
use saga_confirmation_sent::SagaConfirmationSentFn;
use saga_insurance_failed::SagaInsuranceFailedFn;
use saga_insurance_verified::SagaInsuranceVerifiedFn;
use schedule_appointment::ScheduleAppointmentFn;
use send_confirmation::SendConfirmationFn;
use verify_insurance::VerifyInsuranceFn;

/// The functions that have a Kafka trigger in template.yaml, with what they are configured
/// with (Lambda's environment: clients and settings built once).
#[derive(Debug, Clone)]
pub struct InProcessInvoker {
    pub ctx: FunctionContext,
    pub deadlines: SagaDeadlines,
    pub send_confirmation: SendConfirmationFn,
}

/// The function names this binary can run.
pub const FUNCTIONS: [&str; 14] = [
    ScheduleAppointmentFn::NAME,
    ProjectAppointmentsFn::NAME,
    ProjectMetricsFn::NAME,
    ProjectCallsFn::NAME,
    VerifyInsuranceFn::NAME,
    ConfirmAppointmentFn::NAME,
    CancelAppointmentFn::NAME,
    CompleteAppointmentFn::NAME,
    SendConfirmationFn::NAME,
    SagaAppointmentCreatedFn::NAME,
    SagaInsuranceVerifiedFn::NAME,
    SagaInsuranceFailedFn::NAME,
    SagaConfirmationSentFn::NAME,
    SagaAppointmentCancelledFn::NAME,
];

#[async_trait]
impl esm::Invoker for InProcessInvoker {
    async fn invoke(
        &self,
        function: &str,
        event: &KafkaEvent,
        deadline: tokio::time::Instant,
    ) -> Result<serde_json::Value, esm::InvokeError> {
        let (ctx, event, deadlines) = (&self.ctx, event.clone(), self.deadlines);
        let deadline = Deadline::at(deadline);
        let response = match function {
            ScheduleAppointmentFn::NAME => {
                handle_batch(ctx, &ScheduleAppointmentFn, event, deadline).await
            }
            ProjectAppointmentsFn::NAME => {
                handle_batch(ctx, &ProjectAppointmentsFn, event, deadline).await
            }
            ProjectMetricsFn::NAME => handle_batch(ctx, &ProjectMetricsFn, event, deadline).await,
            ProjectCallsFn::NAME => handle_batch(ctx, &ProjectCallsFn, event, deadline).await,
            VerifyInsuranceFn::NAME => {
                handle_batch(ctx, &VerifyInsuranceFn::default(), event, deadline).await
            }
            ConfirmAppointmentFn::NAME => {
                handle_batch(ctx, &ConfirmAppointmentFn, event, deadline).await
            }
            CancelAppointmentFn::NAME => {
                handle_batch(ctx, &CancelAppointmentFn, event, deadline).await
            }
            CompleteAppointmentFn::NAME => {
                handle_batch(ctx, &CompleteAppointmentFn, event, deadline).await
            }
            SendConfirmationFn::NAME => {
                handle_batch(ctx, &self.send_confirmation, event, deadline).await
            }
            SagaAppointmentCreatedFn::NAME => {
                handle_batch(
                    ctx,
                    &SagaAppointmentCreatedFn { deadlines },
                    event,
                    deadline,
                )
                .await
            }
            SagaInsuranceVerifiedFn::NAME => {
                handle_batch(ctx, &SagaInsuranceVerifiedFn { deadlines }, event, deadline).await
            }
            SagaInsuranceFailedFn::NAME => {
                handle_batch(ctx, &SagaInsuranceFailedFn { deadlines }, event, deadline).await
            }
            SagaConfirmationSentFn::NAME => {
                handle_batch(ctx, &SagaConfirmationSentFn { deadlines }, event, deadline).await
            }
            SagaAppointmentCancelledFn::NAME => {
                handle_batch(
                    ctx,
                    &SagaAppointmentCancelledFn { deadlines },
                    event,
                    deadline,
                )
                .await
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
