//! Configuration from the environment, read once at start into one typed struct per binary
//! (`FunctionConfig` for the Kafka-triggered functions, the API's `Config`, the saga deadlines).
//!
//! One rule for every variable: unset or empty takes the default its struct documents (or, for
//! a required one, refuses to start); set to a value that does not parse refuses to start, with
//! an error naming the variable (never echoing its value, which may hold a password).

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{variable} must be {expected}")]
    Invalid {
        variable: &'static str,
        expected: &'static str,
    },
    #[error(
        "set DATABASE_URL, or DATABASE_SECRET_ARN (with DATABASE_HOST when the secret has no host)"
    )]
    NoDatabase,
}

/// A snapshot of the variables: the process environment, or given pairs in tests.
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl std::fmt::Debug for Env {
    /// Names only: values may be secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

impl Env {
    /// The process environment, as it is now.
    pub fn process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        }
    }

    /// The value, trimmed; None when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    /// A whole number of at least 1; None when unset.
    pub fn positive(&self, name: &'static str) -> Result<Option<u32>, ConfigError> {
        self.get(name)
            .map(|value| {
                value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError::Invalid {
                        variable: name,
                        expected: "a whole number of at least 1",
                    })
            })
            .transpose()
    }

    /// A count of at least 1, `default` when unset.
    pub fn positive_or(&self, name: &'static str, default: u32) -> Result<u32, ConfigError> {
        Ok(self.positive(name)?.unwrap_or(default))
    }

    /// A duration in whole seconds, at least 1; `default` when unset.
    pub fn seconds_or(
        &self,
        name: &'static str,
        default: std::time::Duration,
    ) -> Result<std::time::Duration, ConfigError> {
        Ok(self.positive(name)?.map_or(default, |seconds| {
            std::time::Duration::from_secs(seconds.into())
        }))
    }
}

/// The booking saga's step deadlines: `SAGA_INSURANCE_DEADLINE_SECONDS` (default 300) and
/// `SAGA_CONFIRMATION_DEADLINE_SECONDS` (default 600), whole seconds of at least 1.
pub fn saga_deadlines(env: &Env) -> Result<domain::saga::SagaDeadlines, ConfigError> {
    let defaults = domain::saga::SagaDeadlines::default();
    let seconds = |name: &'static str, default: chrono::Duration| {
        env.positive(name).map(|set| {
            set.map_or(default, |seconds| {
                chrono::Duration::seconds(i64::from(seconds))
            })
        })
    };
    Ok(domain::saga::SagaDeadlines {
        insurance_verification: seconds(
            "SAGA_INSURANCE_DEADLINE_SECONDS",
            defaults.insurance_verification,
        )?,
        sending_confirmation: seconds(
            "SAGA_CONFIRMATION_DEADLINE_SECONDS",
            defaults.sending_confirmation,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_and_empty_take_the_default_and_surrounding_blanks_are_ignored() {
        let env = Env::from_pairs([("EMPTY", "  "), ("PADDED", " 7 ")]);
        assert_eq!(env.positive_or("UNSET", 2), Ok(2));
        assert_eq!(env.positive_or("EMPTY", 2), Ok(2));
        assert_eq!(env.positive_or("PADDED", 2), Ok(7));
        let minute = std::time::Duration::from_secs(60);
        assert_eq!(env.seconds_or("EMPTY", minute), Ok(minute));
        assert_eq!(
            env.seconds_or("PADDED", minute),
            Ok(std::time::Duration::from_secs(7))
        );
    }

    #[test]
    fn a_value_that_does_not_parse_is_refused_naming_the_variable() {
        let env = Env::from_pairs([("DB_MAX_CONNECTIONS", "lots"), ("ZERO", "0")]);
        let error = env
            .positive_or("DB_MAX_CONNECTIONS", 2)
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "DB_MAX_CONNECTIONS must be a whole number of at least 1"
        );
        assert!(matches!(
            env.positive_or("ZERO", 2),
            Err(ConfigError::Invalid {
                variable: "ZERO",
                ..
            })
        ));
    }

    #[test]
    fn a_required_variable_that_is_missing_is_named() {
        let env = Env::from_pairs([("AUTH_ISSUER", "")]);
        assert_eq!(
            env.required("AUTH_ISSUER"),
            Err(ConfigError::Missing("AUTH_ISSUER"))
        );
    }
}
