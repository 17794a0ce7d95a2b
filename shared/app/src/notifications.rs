//! [`record_confirmation`]: once send-confirmation's email is out (or its outcome is unknown
//! and it will not be sent again), ConfirmationSent moves the saga on.

use crate::{Error, Outbox};
use chrono::{DateTime, Utc};
use contract::SendConfirmation;
use sqlx::PgConnection;

/// ConfirmationSent's message id when an earlier attempt's outcome was never recorded.
pub const UNKNOWN_MESSAGE_ID: &str = "unknown";

/// Emits ConfirmationSent for `command` when the saga's email claim is SENT, with SES's message
/// id ([`UNKNOWN_MESSAGE_ID`] when none was recorded); nothing when no email went out (the
/// booking was cancelled or compensated first).
pub async fn record_confirmation(
    tx: &mut PgConnection,
    outbox: Outbox<'_>,
    command: &SendConfirmation,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let Some(message_id) = store::notifications::sent(tx, command.saga_id).await? else {
        return Ok(());
    };
    let message_id = message_id.unwrap_or_else(|| UNKNOWN_MESSAGE_ID.to_owned());
    outbox
        .append_confirmation_sent(tx, command, message_id, now)
        .await
}
