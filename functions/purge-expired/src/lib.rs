//! purge-expired: runs on a schedule (EventBridge every hour in the cloud, the local stack's
//! timer locally) and deletes what is past its retention: `store::retention::purge`, with the
//! periods read here. The retention table is in SECURITY.md.
//!
//! Env: the database (DATABASE_URL or DATABASE_SECRET_ARN), `RETENTION_OUTBOX_DAYS` (published
//! outbox rows; default 7) and `RETENTION_PROCESSED_DAYS` (consumer markers; default 8, and it
//! must exceed the topics' retention, 7 days, so that no record that can still be delivered
//! has lost its marker).

use messaging::config::{ConfigError, Env};
use store::retention::Retention;

/// The retention periods from the environment, [`Retention::default`] for those not set.
pub fn retention_from_env(env: &Env) -> Result<Retention, ConfigError> {
    let default = Retention::default();
    let days = |name: &'static str, default: chrono::Duration| {
        Ok::<_, ConfigError>(
            env.positive(name)?
                .map_or(default, |days| chrono::Duration::days(i64::from(days))),
        )
    };
    Ok(Retention {
        outbox: days("RETENTION_OUTBOX_DAYS", default.outbox)?,
        processed: days("RETENTION_PROCESSED_DAYS", default.processed)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_come_from_the_environment_or_the_defaults() {
        let env = Env::from_pairs([("RETENTION_OUTBOX_DAYS", "30")]);
        let retention = retention_from_env(&env).expect("valid");
        assert_eq!(retention.outbox, chrono::Duration::days(30));
        assert_eq!(retention.processed, Retention::default().processed);
        let bad = Env::from_pairs([("RETENTION_PROCESSED_DAYS", "a week")]);
        assert!(retention_from_env(&bad).is_err());
        let zero = Env::from_pairs([("RETENTION_OUTBOX_DAYS", "0")]);
        assert!(retention_from_env(&zero).is_err());
    }
}
