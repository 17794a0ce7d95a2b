//! Reads the Kafka event-source mappings from the AWS SAM `template.yaml`: every `MSK` or
//! `SelfManagedKafka` event of every `AWS::Serverless::Function`, with AWS's defaults and limits.

use serde::Serialize;
use serde_yaml::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::filter::{FilterCriteria, FilterError};

/// Where a mapping starts reading when its consumer group has no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
}

/// The kind of event source, which decides the payload's `eventSource` (and ARN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SourceKind {
    /// `Type: MSK`: `eventSource` `aws:kafka`, with an `eventSourceArn`.
    Msk,
    /// `Type: SelfManagedKafka`: `eventSource` `SelfManagedKafka`, no ARN.
    SelfManagedKafka,
}

/// One Kafka event-source mapping: a function triggered by one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mapping {
    /// The function's binary name (`Metadata.BuildProperties.Binary`, else its logical id).
    pub function: String,
    pub source: SourceKind,
    pub topic: String,
    pub starting_position: StartingPosition,
    pub batch_size: u32,
    pub batching_window: Duration,
    pub consumer_group_id: String,
    /// Retries after the first attempt; `None` is infinite.
    pub maximum_retry_attempts: Option<u32>,
    /// Records older than this are not sent to the function; `None` is infinite.
    pub maximum_record_age: Option<Duration>,
    pub bisect_batch_on_function_error: bool,
    pub report_batch_item_failures: bool,
    /// The topic failed records go to (`kafka://<topic>` in the template).
    pub on_failure_topic: Option<String>,
    pub enabled: bool,
    /// The function's `Timeout` (its own, else `Globals.Function.Timeout`, else AWS's 3 s):
    /// an invocation still running after it is a function error.
    pub function_timeout: Duration,
    /// `ProvisionedPollerConfig.MaximumPollers`: with it, at most [`INVOCATIONS_PER_POLLER`]
    /// times as many batches are in flight at once (without it, one per partition).
    pub maximum_pollers: Option<u32>,
    /// `FilterCriteria`: records matching none of its filters never reach the function (their
    /// offsets are committed all the same); `None` delivers every record.
    pub filter_criteria: Option<FilterCriteria>,
}

/// AWS's defaults for what a template leaves out.
pub const DEFAULT_BATCH_SIZE: u32 = 100;
pub const MAX_BATCH_SIZE: u32 = 10_000;
pub const DEFAULT_BATCHING_WINDOW: Duration = Duration::from_millis(500);
const MAX_BATCHING_WINDOW_SECONDS: i64 = 300;
/// The retry limit AWS applies when retries are infinite but an on-failure destination is set.
pub const RETRIES_WITH_DESTINATION: u32 = 10;
const MAX_RETRY_ATTEMPTS: i64 = 10_000;
const RECORD_AGE_SECONDS: std::ops::RangeInclusive<i64> = 60..=604_800;
/// AWS's function timeout when neither the function nor `Globals` sets one.
pub const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(3);
/// Kafka event-source mappings only take functions whose timeout is at most 14 minutes.
const FUNCTION_TIMEOUT_SECONDS: std::ops::RangeInclusive<i64> = 1..=840;
/// "Each event poller can handle up to 5 MB/sec of throughput or up to 5 concurrent
/// invocations" (AWS Lambda Developer Guide, "Apache Kafka event poller scaling modes").
pub const INVOCATIONS_PER_POLLER: u32 = 5;
const MAXIMUM_POLLERS: std::ops::RangeInclusive<i64> = 1..=2000;
const MINIMUM_POLLERS: std::ops::RangeInclusive<i64> = 1..=200;

/// The event properties the runtime implements (or, for the connection ones, replaces with
/// the local broker). Any other property is refused by name at start-up: a mapping that
/// would behave differently in AWS must not run here as if it did not.
const IMPLEMENTED_PROPERTIES: [&str; 16] = [
    "Stream",
    "KafkaBootstrapServers",
    "SourceAccessConfigurations",
    "Topics",
    "StartingPosition",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "ConsumerGroupId",
    "ProvisionedPollerConfig",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "FunctionResponseTypes",
    "DestinationConfig",
    "Enabled",
    "FilterCriteria",
];

impl Mapping {
    /// A mapping of `function` to `topic` with every setting at AWS's default.
    pub fn new(function: &str, topic: &str) -> Mapping {
        Mapping {
            function: function.to_owned(),
            source: SourceKind::Msk,
            topic: topic.to_owned(),
            starting_position: StartingPosition::TrimHorizon,
            batch_size: DEFAULT_BATCH_SIZE,
            batching_window: DEFAULT_BATCHING_WINDOW,
            consumer_group_id: function.to_owned(),
            maximum_retry_attempts: None,
            maximum_record_age: None,
            bisect_batch_on_function_error: false,
            report_batch_item_failures: false,
            on_failure_topic: None,
            enabled: true,
            function_timeout: DEFAULT_FUNCTION_TIMEOUT,
            maximum_pollers: None,
            filter_criteria: None,
        }
    }

    /// How many batches may be in flight at once, each of a different partition.
    pub fn max_concurrent_batches(&self) -> usize {
        self.maximum_pollers.map_or(usize::MAX, |pollers| {
            usize::try_from(pollers.saturating_mul(INVOCATIONS_PER_POLLER)).unwrap_or(usize::MAX)
        })
    }
}

/// Every topic the mappings read or write (sources and on-failure topics), sorted, once each.
pub fn all_topics(mappings: &[Mapping]) -> Vec<String> {
    let mut topics: Vec<String> = mappings
        .iter()
        .flat_map(|m| std::iter::once(m.topic.clone()).chain(m.on_failure_topic.clone()))
        .collect();
    topics.sort();
    topics.dedup();
    topics
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid YAML: {source}", path.display())]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    /// A property is missing, out of range or cannot be resolved; `at` is its path.
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
}

fn invalid(at: &str, message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        at: at.to_owned(),
        message: message.into(),
    }
}

/// The Kafka event-source mappings of the SAM template at `path`, in template order.
pub fn mappings_from_template(path: &Path) -> Result<Vec<Mapping>, TemplateError> {
    let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
        path: path.to_owned(),
        source,
    })?;
    let document: Value = serde_yaml::from_str(&text).map_err(|source| TemplateError::Yaml {
        path: path.to_owned(),
        source,
    })?;
    let template = Template::new(&document)?;
    let Some(resources) = document.get("Resources").and_then(Value::as_mapping) else {
        return Ok(Vec::new());
    };
    let mut mappings = Vec::new();
    for (id, resource) in resources {
        let id = id.as_str().unwrap_or_default();
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let at = format!("Resources.{id}");
        let function = match resource
            .get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|b| b.get("Binary"))
        {
            Some(binary) => {
                template.string(binary, &format!("{at}.Metadata.BuildProperties.Binary"))?
            }
            None => id.to_owned(),
        };
        let timeout_at = format!("{at}.Properties.Timeout");
        let function_timeout = match resource.get("Properties").and_then(|p| p.get("Timeout")) {
            Some(timeout) => template.timeout(timeout, &timeout_at)?,
            None => template.function_timeout,
        };
        let Some(events) = resource
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
        else {
            continue;
        };
        for (name, event) in events {
            let at = format!(
                "{at}.Properties.Events.{}",
                name.as_str().unwrap_or_default()
            );
            let source = match event.get("Type").and_then(Value::as_str) {
                Some("MSK") => SourceKind::Msk,
                Some("SelfManagedKafka") => SourceKind::SelfManagedKafka,
                _ => continue,
            };
            let empty = Value::Null;
            let properties = event.get("Properties").unwrap_or(&empty);
            mappings.push(template.mapping(
                &function,
                function_timeout,
                source,
                properties,
                &at,
            )?);
        }
    }
    Ok(mappings)
}

/// The template's parameters, for resolving `!Ref` and `!Sub` to their defaults, and its
/// `Globals.Function.Timeout`.
struct Template {
    parameter_defaults: HashMap<String, String>,
    function_timeout: Duration,
}

impl Template {
    fn new(document: &Value) -> Result<Template, TemplateError> {
        let parameter_defaults = document
            .get("Parameters")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(name, parameter)| {
                let default = scalar(parameter.get("Default")?)?;
                Some((name.as_str()?.to_owned(), default))
            })
            .collect();
        let mut template = Template {
            parameter_defaults,
            function_timeout: DEFAULT_FUNCTION_TIMEOUT,
        };
        if let Some(timeout) = document
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Timeout"))
        {
            template.function_timeout = template.timeout(timeout, "Globals.Function.Timeout")?;
        }
        Ok(template)
    }

    fn timeout(&self, value: &Value, at: &str) -> Result<Duration, TemplateError> {
        match self.integer(Some(value), at)? {
            Some(n) if FUNCTION_TIMEOUT_SECONDS.contains(&n) => {
                Ok(Duration::from_secs(n.unsigned_abs()))
            }
            n => Err(invalid(
                at,
                format!("{n:?} is not in {FUNCTION_TIMEOUT_SECONDS:?} seconds (a Kafka event-source mapping needs a timeout of at most 14 minutes)"),
            )),
        }
    }

    fn mapping(
        &self,
        function: &str,
        function_timeout: Duration,
        source: SourceKind,
        properties: &Value,
        at: &str,
    ) -> Result<Mapping, TemplateError> {
        let property = |name: &str| properties.get(name);
        let path = |name: &str| format!("{at}.Properties.{name}");
        for name in properties.as_mapping().into_iter().flat_map(|m| m.keys()) {
            let name = name.as_str().unwrap_or_default();
            if !IMPLEMENTED_PROPERTIES.contains(&name) {
                return Err(invalid(
                    &path(name),
                    format!("`{name}` of function {function} is not implemented by the local runtime, which would ignore it: remove it or implement it in shared/esm"),
                ));
            }
        }

        let topics = match property("Topics") {
            Some(Value::Sequence(topics)) => topics
                .iter()
                .map(|t| self.string(t, &path("Topics")))
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => vec![self.string(other, &path("Topics"))?],
            None => Vec::new(),
        };
        let [topic] = <[String; 1]>::try_from(topics).map_err(|topics| {
            invalid(
                &path("Topics"),
                format!("a mapping reads exactly one topic, found {}", topics.len()),
            )
        })?;

        let starting_position = match property("StartingPosition") {
            Some(value) => match self.string(value, &path("StartingPosition"))?.as_str() {
                "TRIM_HORIZON" => StartingPosition::TrimHorizon,
                "LATEST" => StartingPosition::Latest,
                other => {
                    return Err(invalid(
                        &path("StartingPosition"),
                        format!("`{other}` is not supported locally (TRIM_HORIZON or LATEST)"),
                    ))
                }
            },
            // MSK requires it; SAM leaves it optional for self-managed Kafka.
            None if source == SourceKind::SelfManagedKafka => StartingPosition::TrimHorizon,
            None => return Err(invalid(&path("StartingPosition"), "required for MSK")),
        };

        let batch_size = match self.integer(property("BatchSize"), &path("BatchSize"))? {
            None => DEFAULT_BATCH_SIZE,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_BATCH_SIZE).contains(n))
                .ok_or_else(|| {
                    invalid(
                        &path("BatchSize"),
                        format!("{n} is not in 1..={MAX_BATCH_SIZE}"),
                    )
                })?,
        };

        let window_path = path("MaximumBatchingWindowInSeconds");
        let batching_window =
            match self.integer(property("MaximumBatchingWindowInSeconds"), &window_path)? {
                None => DEFAULT_BATCHING_WINDOW,
                Some(n) if (0..=MAX_BATCHING_WINDOW_SECONDS).contains(&n) => {
                    Duration::from_secs(n.unsigned_abs())
                }
                Some(n) => {
                    return Err(invalid(
                        &window_path,
                        format!("{n} is not in 0..={MAX_BATCHING_WINDOW_SECONDS}"),
                    ))
                }
            };

        // SAM takes `ConsumerGroupId` directly for both MSK and SelfManagedKafka.
        let consumer_group_id = match property("ConsumerGroupId") {
            Some(value) => self.string(value, &path("ConsumerGroupId"))?,
            None => function.to_owned(),
        };

        let on_failure_topic = match properties
            .get("DestinationConfig")
            .and_then(|d| d.get("OnFailure"))
            .and_then(|o| o.get("Destination"))
        {
            None => None,
            Some(value) => {
                let at = path("DestinationConfig.OnFailure.Destination");
                let destination = self.string(value, &at)?;
                let Some(dlq) = destination.strip_prefix("kafka://") else {
                    return Err(invalid(
                        &at,
                        format!("`{destination}` is not a Kafka topic (kafka://<topic>); only Kafka destinations run locally"),
                    ));
                };
                if dlq.is_empty() || dlq == topic {
                    return Err(invalid(
                        &at,
                        "the on-failure topic must be named and differ from the source topic",
                    ));
                }
                Some(dlq.to_owned())
            }
        };

        let retries_path = path("MaximumRetryAttempts");
        let maximum_retry_attempts =
            match self.integer(property("MaximumRetryAttempts"), &retries_path)? {
                None | Some(-1) => on_failure_topic.as_ref().map(|_| RETRIES_WITH_DESTINATION),
                Some(n) => Some(
                    u32::try_from(n)
                        .ok()
                        .filter(|n| i64::from(*n) <= MAX_RETRY_ATTEMPTS)
                        .ok_or_else(|| {
                            invalid(
                                &retries_path,
                                format!("{n} is not -1 or in 0..={MAX_RETRY_ATTEMPTS}"),
                            )
                        })?,
                ),
            };

        let age_path = path("MaximumRecordAgeInSeconds");
        let maximum_record_age =
            match self.integer(property("MaximumRecordAgeInSeconds"), &age_path)? {
                None | Some(-1) => None,
                Some(n) if RECORD_AGE_SECONDS.contains(&n) => {
                    Some(Duration::from_secs(n.unsigned_abs()))
                }
                Some(n) => {
                    return Err(invalid(
                        &age_path,
                        format!("{n} is not -1 or in {RECORD_AGE_SECONDS:?}"),
                    ))
                }
            };

        let report_batch_item_failures = match property("FunctionResponseTypes") {
            None => false,
            Some(Value::Sequence(types)) => {
                let mut report = false;
                for t in types {
                    report |= self.string(t, &path("FunctionResponseTypes"))?
                        == "ReportBatchItemFailures";
                }
                report
            }
            Some(_) => return Err(invalid(&path("FunctionResponseTypes"), "must be a list")),
        };

        let maximum_pollers = self.poller_config(
            property("ProvisionedPollerConfig"),
            &path("ProvisionedPollerConfig"),
        )?;

        let filter_criteria = self.filter_criteria(
            property("FilterCriteria"),
            &path("FilterCriteria"),
            function,
        )?;

        Ok(Mapping {
            function: function.to_owned(),
            function_timeout,
            maximum_pollers,
            filter_criteria,
            source,
            topic,
            starting_position,
            batch_size,
            batching_window,
            consumer_group_id,
            maximum_retry_attempts,
            maximum_record_age,
            bisect_batch_on_function_error: self
                .boolean(
                    property("BisectBatchOnFunctionError"),
                    &path("BisectBatchOnFunctionError"),
                )?
                .unwrap_or(false),
            report_batch_item_failures,
            on_failure_topic,
            enabled: self
                .boolean(property("Enabled"), &path("Enabled"))?
                .unwrap_or(true),
        })
    }

    /// `ProvisionedPollerConfig`: its `MaximumPollers` (validated as AWS does, with
    /// `MinimumPollers`, which has no local effect: one consumer serves the mapping).
    fn poller_config(
        &self,
        config: Option<&Value>,
        at: &str,
    ) -> Result<Option<u32>, TemplateError> {
        let Some(config) = config else {
            return Ok(None);
        };
        let Some(fields) = config.as_mapping() else {
            return Err(invalid(at, "must be a mapping"));
        };
        let mut maximum = None;
        let mut minimum = None;
        for (name, value) in fields {
            let name = name.as_str().unwrap_or_default();
            let field_at = format!("{at}.{name}");
            let (slot, range) = match name {
                "MaximumPollers" => (&mut maximum, MAXIMUM_POLLERS),
                "MinimumPollers" => (&mut minimum, MINIMUM_POLLERS),
                other => {
                    return Err(invalid(
                        &field_at,
                        format!("`{other}` is not implemented by the local runtime"),
                    ))
                }
            };
            match self.integer(Some(value), &field_at)? {
                Some(n) if range.contains(&n) => *slot = Some(n),
                n => return Err(invalid(&field_at, format!("{n:?} is not in {range:?}"))),
            }
        }
        if let (Some(min), Some(max)) = (minimum, maximum) {
            if min > max {
                return Err(invalid(
                    at,
                    format!("MinimumPollers {min} exceeds MaximumPollers {max}"),
                ));
            }
        }
        Ok(maximum.and_then(|n| u32::try_from(n).ok()))
    }

    /// `FilterCriteria: { Filters: [ { Pattern: "<JSON>" }, ... ] }`, parsed and validated as
    /// [`FilterCriteria::parse`] documents. No `Filters`, or an empty list, filters nothing (as
    /// AWS treats an empty `FilterCriteria`). Errors name the function and the filter's path.
    fn filter_criteria(
        &self,
        criteria: Option<&Value>,
        at: &str,
        function: &str,
    ) -> Result<Option<FilterCriteria>, TemplateError> {
        let Some(criteria) = criteria else {
            return Ok(None);
        };
        let Some(fields) = criteria.as_mapping() else {
            return Err(invalid(
                at,
                format!(
                    "the FilterCriteria of function {function} must be a mapping with `Filters`"
                ),
            ));
        };
        let mut filters = None;
        for (name, value) in fields {
            match name.as_str().unwrap_or_default() {
                "Filters" => filters = Some(value),
                other => {
                    return Err(invalid(
                        &format!("{at}.{other}"),
                        format!("`{other}` in the FilterCriteria of function {function} is not a FilterCriteria property (only `Filters`)"),
                    ))
                }
            }
        }
        let filters_at = format!("{at}.Filters");
        let filters = match filters {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Sequence(filters)) => filters,
            Some(_) => {
                return Err(invalid(
                    &filters_at,
                    format!(
                        "the Filters of function {function} must be a list of {{ Pattern: ... }}"
                    ),
                ))
            }
        };
        if filters.is_empty() {
            return Ok(None);
        }
        let mut patterns = Vec::new();
        for (index, filter) in filters.iter().enumerate() {
            let filter_at = format!("{filters_at}[{index}]");
            let pattern = match filter.as_mapping() {
                Some(fields) if fields.len() == 1 => filter.get("Pattern"),
                _ => None,
            };
            let Some(pattern) = pattern else {
                return Err(invalid(
                    &filter_at,
                    format!("a filter of function {function} is a mapping with one key, `Pattern`"),
                ));
            };
            let pattern_at = format!("{filter_at}.Pattern");
            // A pattern is a string of JSON (or `!Sub`/`!Ref` giving one), not YAML structure.
            let intrinsic = pattern.as_mapping().is_some_and(|m| {
                m.len() == 1
                    && m.keys()
                        .all(|k| matches!(k.as_str(), Some("Ref" | "Fn::Sub")))
            });
            if matches!(pattern, Value::Mapping(_) | Value::Sequence(_)) && !intrinsic {
                return Err(invalid(
                    &pattern_at,
                    format!("the filter pattern of function {function} must be a string of JSON (quote it: Pattern: '{{\"value\": ...}}')"),
                ));
            }
            patterns.push(self.string(pattern, &pattern_at)?);
        }
        FilterCriteria::parse(&patterns)
            .map(Some)
            .map_err(|e| match e {
                FilterError::TooMany(_) => {
                    invalid(&filters_at, format!("function {function}: {e}"))
                }
                FilterError::Pattern { index, message } => invalid(
                    &format!("{filters_at}[{index}].Pattern"),
                    format!("invalid filter pattern of function {function}: {message}"),
                ),
            })
    }

    /// A value as text: a scalar, `!Ref` to a parameter with a default, or `!Sub` over such
    /// parameters (short or long form). Anything else (`!GetAtt`, `!If`...) cannot be known
    /// locally and is an error where the runtime needs the value.
    fn string(&self, value: &Value, at: &str) -> Result<String, TemplateError> {
        if let Some(text) = scalar(value) {
            return Ok(text);
        }
        let (function, argument) = match value {
            Value::Tagged(tagged) => (tagged.tag.to_string(), &tagged.value),
            Value::Mapping(map) if map.len() == 1 => match map.iter().next() {
                Some((Value::String(key), argument)) => (key.clone(), argument),
                _ => return Err(invalid(at, "expected a value")),
            },
            _ => return Err(invalid(at, "expected a value")),
        };
        match (function.trim_start_matches('!'), argument) {
            ("Ref", Value::String(name)) => self.parameter(name, at),
            ("Sub" | "Fn::Sub", Value::String(text)) => self.substitute(text, at),
            (function, _) => Err(invalid(
                at,
                format!("`{function}` cannot be resolved locally: write the value, a !Ref to a parameter with a Default, or a !Sub over such parameters"),
            )),
        }
    }

    fn parameter(&self, name: &str, at: &str) -> Result<String, TemplateError> {
        self.parameter_defaults.get(name).cloned().ok_or_else(|| {
            invalid(
                at,
                format!("`{name}` is not a template parameter with a Default"),
            )
        })
    }

    /// `${Name}` replaced by parameter defaults.
    fn substitute(&self, text: &str, at: &str) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                return Err(invalid(at, format!("unclosed `${{` in `{text}`")));
            };
            out.push_str(&self.parameter(&rest[start + 2..start + end], at)?);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn integer(&self, value: Option<&Value>, at: &str) -> Result<Option<i64>, TemplateError> {
        let Some(value) = value else { return Ok(None) };
        let text = self.string(value, at)?;
        text.trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid(at, format!("`{text}` is not an integer")))
    }

    fn boolean(&self, value: Option<&Value>, at: &str) -> Result<Option<bool>, TemplateError> {
        let Some(value) = value else { return Ok(None) };
        match self.string(value, at)?.to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            other => Err(invalid(at, format!("`{other}` is not a boolean"))),
        }
    }
}

/// A YAML scalar as text (`None` for anything else).
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
