//! send-confirmation: triggered by `notifications.commands.send` (SendConfirmation, sent by the
//! booking saga); emails the patient a booking confirmation through SES v2 and emits
//! ConfirmationSent (with SES's message id) through the outbox.
//!
//! # Exactly one email per saga
//!
//! An email cannot be rolled back, so the database transaction alone cannot make sending
//! idempotent. The email is made in the adapter's `effect` step, before the record's
//! transaction and with no connection held across the SES call: an attempt claims the saga in
//! `confirmation_emails` with its own, immediately committed statement, so the claim survives a
//! rollback or a crash; only the attempt that inserted the claim calls SES, and every later
//! attempt (a redelivery, a duplicate command) re-emits ConfirmationSent from the claim instead
//! of sending again. In detail:
//!
//! 1. The appointment is read (its clinic, provider, patient). A cancelled appointment gets no
//!    email and no event; an unknown one is a permanent error.
//! 2. Claim the saga (`INSERT … ON CONFLICT DO NOTHING`, committed at once), only while the
//!    booking still goes ahead: the saga in SENDING_CONFIRMATION (or COMPLETED) and the
//!    appointment not cancelled, checked in the same statement under share locks on both rows.
//!    The claim is the moment the email is decided: a cancellation or a sweeper's compensation
//!    committed before it gets no email; one after it does not stop the email (the cancellation
//!    still goes ahead, and the saga takes whichever reply comes first). The sweeper in turn
//!    lets a saga whose email is claimed go ahead instead of compensating it.
//! 3. Won the claim: call SendEmail once (the SDK's own retries are off: a retried request could
//!    deliver twice). Success: record SENT and the message id at once. Failure where the email
//!    surely did not go out (SES refused it with a 4xx answer, or the request failed before or
//!    while connecting): release the claim, so a retry sends. Failure with an unknown outcome
//!    (a 5xx answer: SES may have accepted the message before failing; a timeout, a connection
//!    lost mid-request, an unreadable response): keep the claim, as the email may have gone
//!    out, and report a transient failure.
//! 4. The claim was taken: send nothing; mark the claim SENT, keeping the message id an earlier
//!    attempt recorded (none when it died or timed out during the SES call, or is still in it).
//! 5. Then, in the record's transaction (`apply`, the use case `app::notifications::
//!    record_confirmation`): if the saga's claim is SENT, emit ConfirmationSent with its message
//!    id, or `"unknown"` when none was recorded.
//!
//! The one ambiguous case, an attempt that ends during the SES call, therefore favours "never
//! two emails" over "always one": the patient may get no email, the saga still moves on, and
//! the warning (ids only) lets an operator check SES.
//!
//! Patient name and email are PHI: logs and error texts carry appointment and saga ids only.

use app::notifications::record_confirmation;
use async_trait::async_trait;
use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use contract::SendConfirmation;
use domain::{AppointmentId, AppointmentStatus, SagaId};
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;
use std::time::Duration;
use store::notifications::{self, Claim, Confirmation};

pub const DEFAULT_SENDER: &str = "appointments@eyecare-callcenter.example";

/// The From address (a verified SES identity): `CONFIRMATION_SENDER`, default [`DEFAULT_SENDER`].
pub fn sender_from_env(env: &messaging::config::Env) -> String {
    env.get("CONFIRMATION_SENDER")
        .unwrap_or_else(|| DEFAULT_SENDER.to_owned())
}

/// Upper bound of one SendEmail call, well inside the Lambda's timeout.
const SES_TIMEOUT: Duration = Duration::from_secs(10);
/// One record's work beside the SES call (loading the appointment, the claim, marking it sent,
/// the outbox row): milliseconds, or up to the pool's acquire timeout (5 s) when every
/// connection is busy.
const DATABASE_TIME: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SendConfirmationFn {
    ses: aws_sdk_sesv2::Client,
    sender: String,
}

impl SendConfirmationFn {
    /// `sender` is the From address. The client is reconfigured for sending: no SDK retries (a
    /// retried SendEmail may deliver twice; the event-source mapping retries instead) and a
    /// bounded operation timeout.
    pub fn new(ses: aws_sdk_sesv2::Client, sender: String) -> Self {
        let config = ses
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(SES_TIMEOUT)
                    .build(),
            )
            .build();
        Self {
            ses: aws_sdk_sesv2::Client::from_conf(config),
            sender,
        }
    }

    /// Sends the email once; on failure, releases the claim when the email surely did not go
    /// out. Returns SES's message id.
    async fn send(
        &self,
        ctx: &FunctionContext,
        saga_id: SagaId,
        to: &str,
        message: Message,
    ) -> Result<Option<String>, HandlerError> {
        let sent = self
            .ses
            .send_email()
            .from_email_address(&self.sender)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match sent {
            Ok(output) => Ok(output.message_id),
            Err(e) => {
                let (not_sent, error) = failure(&e);
                if not_sent {
                    notifications::release(&ctx.pool, saga_id).await?;
                }
                Err(error)
            }
        }
    }
}

/// The SES message for `email`, built before the claim so that a failure here claims nothing.
fn message(email: Email) -> Result<Message, HandlerError> {
    let text = |data: String| {
        Content::builder()
            .data(data)
            .charset("UTF-8")
            .build()
            .map_err(|e| HandlerError::Service {
                detail: format!("cannot build the confirmation email: {e}"),
                retryable: false,
            })
    };
    Ok(Message::builder()
        .subject(text(email.subject)?)
        .body(Body::builder().text(text(email.body)?).build())
        .build())
}

fn ses_failed(detail: String, retryable: bool) -> HandlerError {
    HandlerError::Service { detail, retryable }
}

/// What a failed SendEmail means: whether the email surely did not go out, and the error to
/// report. SES's own error messages can quote addresses (PHI): only its error code is kept.
fn failure(e: &SdkError<SendEmailError>) -> (bool, HandlerError) {
    match e {
        // A server error may come after SES accepted the message: the outcome is unknown.
        SdkError::ServiceError(service) if service.raw().status().is_server_error() => {
            let code = service.err().code().unwrap_or("unknown error");
            let status = service.raw().status().as_u16();
            (
                false,
                ses_failed(
                    format!("SES answered {status} ({code}): outcome unknown, the email may have been sent"),
                    true,
                ),
            )
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown error");
            let reason = format!("SES refused the confirmation email: {code}");
            // Content, recipient or sender set-up that no retry of the same command can fix;
            // everything else (throttling, quota, paused sending) may pass later.
            let permanent = matches!(
                service.err(),
                SendEmailError::BadRequestException(_)
                    | SendEmailError::MessageRejected(_)
                    | SendEmailError::MailFromDomainNotVerifiedException(_)
                    | SendEmailError::NotFoundException(_)
            );
            (true, ses_failed(reason, !permanent))
        }
        SdkError::ConstructionFailure(_) => (
            true,
            ses_failed(
                format!("cannot build the SES request: {}", DisplayErrorContext(e)),
                false,
            ),
        ),
        SdkError::DispatchFailure(_) => (
            never_reached_ses(e),
            ses_failed(format!("SES unreachable: {}", DisplayErrorContext(e)), true),
        ),
        _ => (
            false,
            ses_failed(
                format!(
                    "SES outcome unknown, the email may have been sent: {}",
                    DisplayErrorContext(e)
                ),
                true,
            ),
        ),
    }
}

/// Whether a dispatch failure happened before the request could reach SES: before the HTTP
/// client was called (credentials, signing), or while connecting (DNS, TCP, TLS). A failure
/// inside an HTTP exchange that had started (e.g. a connection reset) may follow SES receiving it.
fn never_reached_ses(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |e| e.source())
        .find_map(|e| e.downcast_ref::<hyper_util::client::legacy::Error>())
        .is_none_or(hyper_util::client::legacy::Error::is_connect)
}

/// The confirmation email's subject and plain-text body.
struct Email {
    subject: String,
    body: String,
}

/// Date and time in the clinic's zone, e.g. "Thursday, December 3, 2026" and "3:00 PM PST".
fn compose(id: AppointmentId, c: &Confirmation) -> Email {
    let local = c.scheduled_for.with_timezone(&c.time_zone);
    let date = local.format("%A, %B %-d, %Y");
    let time = local.format("%-I:%M %p %Z");
    let clinic = &c.clinic_name;
    Email {
        subject: format!("Your eye exam at {clinic} on {date}"),
        body: format!(
            "Dear {patient},\n\n\
             your appointment is booked.\n\n\
             What:      {kind}\n\
             When:      {date} at {time}\n\
             Where:     {clinic}\n\
             With:      {provider}\n\
             Reference: {id}\n\n\
             To cancel or change this appointment, call us and give your appointment reference {id}.\n\n\
             {clinic}\n",
            patient = c.patient_name,
            kind = c.kind.label(),
            provider = c.provider_name,
        ),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot create the SES email identity {sender}: {detail}")]
pub struct SenderIdentityError {
    pub sender: String,
    pub detail: String,
}

/// Creates the SES email identity `sender` (which verifies it on moto); one that already
/// exists is fine. The local stack calls this at start-up.
pub async fn ensure_sender_identity(
    ses: &aws_sdk_sesv2::Client,
    sender: &str,
) -> Result<(), SenderIdentityError> {
    match ses
        .create_email_identity()
        .email_identity(sender)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(SenderIdentityError {
            sender: sender.to_owned(),
            detail: DisplayErrorContext(&e).to_string(),
        }),
    }
}

#[async_trait]
impl KafkaFunction for SendConfirmationFn {
    const NAME: &'static str = "send-confirmation";
    // The email, made in `effect` before the batch's transaction.
    const EXTERNAL_EFFECTS: bool = true;
    // With template.yaml's Timeout of 30 s: records start during the first 15 s of an
    // invocation, so the last one ends by the timeout even when SES takes its full 10 s.
    const RECORD_TIME: Duration = SES_TIMEOUT.saturating_add(DATABASE_TIME);
    type Input = SendConfirmation;

    async fn effect(&self, ctx: &FunctionContext, cmd: &Self::Input) -> Result<(), HandlerError> {
        let (appointment_id, saga_id) = (cmd.appointment_id, cmd.saga_id);
        let confirmation = notifications::load_for_confirmation(&ctx.pool, appointment_id)
            .await?
            .ok_or(app::Error::NotFound("appointment"))?;
        if confirmation.saga_id != saga_id {
            return Err(app::Error::SagaMismatch.into());
        }
        if confirmation.status == AppointmentStatus::Cancelled {
            tracing::info!(%appointment_id, %saga_id, "appointment cancelled: no confirmation email");
            return Ok(());
        }
        let message = message(compose(appointment_id, &confirmation))?;
        let now = chrono::Utc::now();
        let message_id = match notifications::claim(&ctx.pool, saga_id, appointment_id, now).await?
        {
            Claim::Won => {
                self.send(ctx, saga_id, &confirmation.patient_email, message)
                    .await?
            }
            Claim::BookingEnded => {
                tracing::info!(%appointment_id, %saga_id, "the booking no longer goes ahead (cancelled or compensated): no confirmation email");
                return Ok(());
            }
            Claim::Taken { message_id } => {
                if message_id.is_none() {
                    tracing::warn!(%appointment_id, %saga_id, "an earlier attempt's confirmation email has an unknown outcome (check SES); not sending again");
                } else {
                    tracing::info!(%appointment_id, %saga_id, "confirmation email already sent; not sending again");
                }
                None
            }
        };
        Ok(notifications::mark_sent(&ctx.pool, saga_id, message_id.as_deref(), now).await?)
    }

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        cmd: Self::Input,
    ) -> Result<(), HandlerError> {
        Ok(record_confirmation(tx, ctx.outbox(), &cmd, chrono::Utc::now()).await?)
    }
}
