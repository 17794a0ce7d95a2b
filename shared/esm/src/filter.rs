//! `FilterCriteria` of Kafka event-source mappings, as the AWS Lambda Developer Guide documents
//! them ("Control which events Lambda sends to your function", `invocation-eventfiltering`,
//! and "Filtering events from Amazon MSK and self-managed Apache Kafka event sources",
//! `kafka-filtering`):
//!
//! - up to [`MAX_FILTERS`] filters (AWS's default quota); a record goes to the function if it
//!   matches ANY of them, and is dropped if it matches none;
//! - a filter's `Pattern` is a JSON string in the EventBridge pattern syntax, and Kafka mappings
//!   "only support filtering on the `value` key": a pattern naming another top-level key is
//!   refused (as is an invalid pattern: bad JSON, an unknown operator, a wrong shape);
//! - the operators of Lambda's filter rule syntax table: exact values (string, number, `null`),
//!   empty string, `equals-ignore-case`, `prefix`, `suffix`, `anything-but` (a value, a list of
//!   values, or `{prefix|suffix|equals-ignore-case: ...}` as EventBridge documents it),
//!   `numeric` (`=`, or one or two bounds of `>`, `>=`, `<`, `<=`), `exists` true/false, several
//!   fields (AND), several rules in a list (OR) and `$or` over sub-patterns. EventBridge's
//!   `wildcard` and `cidr`, absent from Lambda's table, are refused.
//!
//! How a record's value meets a pattern. Lambda "decodes Kafka byte arrays into UTF-8 before
//! applying filter criteria" (the function receives the same bytes base64-encoded):
//!
//! - a value that is valid JSON is matched as that JSON (`{ "value": { "kind": ["big"] } }`
//!   looks into the object);
//! - a UTF-8 value that is not JSON is a plain string: rules written directly on `value`
//!   (`{ "value": [ { "anything-but": ["error"] } ] }`, the guide's example) match it, while a
//!   pattern that looks for fields inside `value` does not. The Kafka page's table says a
//!   format mismatch leaves only the "other metadata properties" to filter on; Kafka patterns
//!   can only name `value`, so nothing is left that could select the record, and it is
//!   dropped, as Lambda does for SQS and Kinesis in the same case;
//! - a value that is not UTF-8, or a record without a value (a tombstone), has no `value` at
//!   all: it matches only rules that accept an absent field (`"exists": false`).
//!
//! Matching follows EventBridge: strings compare character by character (no case folding
//! except with `equals-ignore-case`); a number equals only a number written the same way
//! (`300` never equals `300.0`; as a simplification, two decimal spellings of one value, `300.0`
//! and `3.0e2`, do); `numeric` only matches JSON numbers; `exists` only sees leaves (a field
//! holding an object does not "exist"); a rule matches an array if it matches any element, and
//! a sub-pattern matches an array of objects if one element matches it whole.

use serde::Serialize;
use serde_json::{Map, Value};

/// AWS's default quota of filters per event-source mapping (it can be raised to 10 on request).
pub const MAX_FILTERS: usize = 5;

/// The longest `Pattern` the Lambda API accepts (`Filter.Pattern`, 4096 characters).
pub const MAX_PATTERN_LENGTH: usize = 4096;

/// The only top-level key a Kafka mapping's pattern may name.
const KAFKA_DATA_KEY: &str = "value";

/// Why a `FilterCriteria` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("{0} filters, more than the {max} AWS allows per event-source mapping by default", max = MAX_FILTERS)]
    TooMany(usize),
    /// Filter `index` (from 0) has an invalid pattern.
    #[error("filter {index}: {message}")]
    Pattern { index: usize, message: String },
}

/// A mapping's parsed filters: the pattern texts (as written in the template) and what they
/// mean. Two criteria are equal when their texts are.
#[derive(Debug, Clone, Serialize)]
pub struct FilterCriteria {
    patterns: Vec<String>,
    #[serde(skip)]
    parsed: Vec<Pattern>,
}

impl PartialEq for FilterCriteria {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Eq for FilterCriteria {}

impl FilterCriteria {
    /// Parses the `Pattern` of each filter, refusing more than [`MAX_FILTERS`] and any invalid
    /// pattern.
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<FilterCriteria, FilterError> {
        if patterns.len() > MAX_FILTERS {
            return Err(FilterError::TooMany(patterns.len()));
        }
        let parsed = patterns
            .iter()
            .enumerate()
            .map(|(index, text)| {
                Pattern::parse(text.as_ref())
                    .map_err(|message| FilterError::Pattern { index, message })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FilterCriteria {
            patterns: patterns.iter().map(|p| p.as_ref().to_owned()).collect(),
            parsed,
        })
    }

    /// The patterns as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether a record whose value is `value` (its raw bytes; `None` for a tombstone) matches
    /// at least one filter, and so goes to the function.
    pub fn matches(&self, value: Option<&[u8]>) -> bool {
        let mut record = Map::new();
        if let Some(value) = record_value(value) {
            record.insert(KAFKA_DATA_KEY.to_owned(), value);
        }
        let record = Value::Object(record);
        self.parsed.iter().any(|p| p.0.matches(Some(&record)))
    }
}

/// A record's value as the filters see it: its JSON, else its text as a JSON string; `None`
/// when it has no value or the value is not UTF-8.
fn record_value(bytes: Option<&[u8]>) -> Option<Value> {
    let text = std::str::from_utf8(bytes?).ok()?;
    Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
}

/// One filter's pattern.
#[derive(Debug, Clone)]
struct Pattern(ObjectPattern);

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        if text.chars().count() > MAX_PATTERN_LENGTH {
            return Err(format!(
                "the pattern is longer than the {MAX_PATTERN_LENGTH} characters Lambda accepts"
            ));
        }
        let json: Value = serde_json::from_str(text)
            .map_err(|e| format!("the pattern is not valid JSON: {e}"))?;
        let Value::Object(map) = json else {
            return Err("the pattern must be a JSON object, such as { \"value\": ... }".to_owned());
        };
        let pattern = ObjectPattern::parse(&map, "")?;
        pattern.only_kafka_keys()?;
        Ok(Pattern(pattern))
    }
}

/// The fields an object must have (AND), and `$or` groups (each: one alternative at least).
#[derive(Debug, Clone)]
struct ObjectPattern {
    fields: Vec<(String, FieldPattern)>,
    any_of: Vec<Vec<ObjectPattern>>,
}

/// What a field must hold: an object matching a sub-pattern, or a leaf matching a rule.
#[derive(Debug, Clone)]
enum FieldPattern {
    Nested(ObjectPattern),
    /// At least one of the rules (OR).
    Rules(Vec<Rule>),
}

#[derive(Debug, Clone)]
enum Rule {
    /// A string, number, boolean or `null`, equal as JSON.
    Equals(Value),
    /// Stored lowercased.
    EqualsIgnoreCase(String),
    Prefix(Text),
    Suffix(Text),
    AnythingBut(Exclusion),
    Numeric(Range),
    Exists(bool),
}

/// The text of `prefix` or `suffix`: exact, or `{"equals-ignore-case": ...}` (lowercased).
#[derive(Debug, Clone)]
enum Text {
    Exact(String),
    IgnoreCase(String),
}

/// What `anything-but` excludes.
#[derive(Debug, Clone)]
enum Exclusion {
    Values(Vec<Value>),
    Prefix(String),
    Suffix(String),
    /// Lowercased.
    IgnoreCase(Vec<String>),
}

/// A numeric range; `=` is a range with equal inclusive bounds.
#[derive(Debug, Clone, Copy)]
struct Range {
    lower: Option<Bound>,
    upper: Option<Bound>,
}

#[derive(Debug, Clone, Copy)]
struct Bound {
    value: f64,
    inclusive: bool,
}

/// `a.b` for messages, or `b` at the top.
fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

impl ObjectPattern {
    fn parse(map: &Map<String, Value>, at: &str) -> Result<ObjectPattern, String> {
        let here = if at.is_empty() { "the pattern" } else { at };
        if map.is_empty() {
            return Err(format!(
                "{here} is an empty object: name the fields to match"
            ));
        }
        let mut pattern = ObjectPattern {
            fields: Vec::new(),
            any_of: Vec::new(),
        };
        for (name, value) in map {
            if name == "$or" {
                let Value::Array(alternatives) = value else {
                    return Err(format!("`$or` in {here} must be a list of patterns"));
                };
                if alternatives.is_empty() {
                    return Err(format!("`$or` in {here} is an empty list"));
                }
                let alternatives = alternatives
                    .iter()
                    .map(|alternative| match alternative {
                        Value::Object(map) => ObjectPattern::parse(map, at),
                        other => Err(format!(
                            "`$or` in {here} must list patterns (objects), not {other}"
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                pattern.any_of.push(alternatives);
                continue;
            }
            let field = join(at, name);
            let field_pattern = match value {
                Value::Object(map) => FieldPattern::Nested(ObjectPattern::parse(map, &field)?),
                Value::Array(rules) => FieldPattern::Rules(parse_rules(rules, &field)?),
                other => {
                    return Err(format!(
                        "`{field}`: values to match must be in a list (`[{other}]`), or be an object of fields"
                    ))
                }
            };
            pattern.fields.push((name.clone(), field_pattern));
        }
        Ok(pattern)
    }

    /// Kafka mappings only filter on `value`: every top-level field, in `$or` too, must be it.
    fn only_kafka_keys(&self) -> Result<(), String> {
        for (name, _) in &self.fields {
            if name != KAFKA_DATA_KEY {
                return Err(format!(
                    "`{name}`: Amazon MSK and self-managed Apache Kafka event-source mappings only support filtering on the `{KAFKA_DATA_KEY}` key"
                ));
            }
        }
        self.any_of
            .iter()
            .flatten()
            .try_for_each(ObjectPattern::only_kafka_keys)
    }

    /// Whether `value` (absent: `None`) matches: every field, and one alternative of each
    /// `$or`. An array matches if one of its elements does; anything that is not an object
    /// has no fields (so only `"exists": false` rules can match it).
    fn matches(&self, value: Option<&Value>) -> bool {
        match value {
            Some(Value::Array(items)) if !items.is_empty() => {
                return items.iter().any(|item| self.matches(Some(item)));
            }
            _ => {}
        }
        let field = |name: &str| match value {
            Some(Value::Object(map)) => map.get(name),
            _ => None,
        };
        self.fields
            .iter()
            .all(|(name, pattern)| pattern.matches(field(name)))
            && self
                .any_of
                .iter()
                .all(|alternatives| alternatives.iter().any(|a| a.matches(value)))
    }
}

impl FieldPattern {
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            FieldPattern::Nested(pattern) => pattern.matches(value),
            FieldPattern::Rules(rules) => {
                let mut leaves = Vec::new();
                collect_leaves(value, &mut leaves);
                rules.iter().any(|rule| rule.matches(&leaves))
            }
        }
    }
}

/// The leaf values of a field: itself if it is a scalar (`null` included), the leaves of its
/// elements if it is an array, none if it is an object or absent.
fn collect_leaves<'a>(value: Option<&'a Value>, leaves: &mut Vec<&'a Value>) {
    match value {
        None | Some(Value::Object(_)) => {}
        Some(Value::Array(items)) => {
            for item in items {
                collect_leaves(Some(item), leaves);
            }
        }
        Some(scalar) => leaves.push(scalar),
    }
}

fn parse_rules(rules: &[Value], field: &str) -> Result<Vec<Rule>, String> {
    if rules.is_empty() {
        return Err(format!("`{field}`: the list of values to match is empty"));
    }
    rules
        .iter()
        .map(|rule| match rule {
            Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => {
                Ok(Rule::Equals(rule.clone()))
            }
            Value::Object(operator) if operator.len() == 1 => {
                let (name, argument) = operator
                    .iter()
                    .next()
                    .ok_or_else(|| format!("`{field}`: an empty operator"))?;
                parse_operator(name, argument, field)
            }
            Value::Object(_) => Err(format!(
                "`{field}`: {rule} must hold exactly one operator, such as {{\"prefix\": \"...\"}}"
            )),
            Value::Array(_) => Err(format!("`{field}`: a list inside a list ({rule})")),
        })
        .collect()
}

/// The operators of Lambda's filter rule syntax (and EventBridge's documented forms of them).
const OPERATORS: &str = "prefix, suffix, equals-ignore-case, anything-but, numeric, exists";

fn parse_operator(name: &str, argument: &Value, field: &str) -> Result<Rule, String> {
    let wrong = |expected: &str| format!("`{field}`: `{name}` takes {expected}, not {argument}");
    match name {
        "prefix" | "suffix" => {
            let text = match argument {
                Value::String(text) => Text::Exact(text.clone()),
                Value::Object(inner) if inner.len() == 1 => match inner.get("equals-ignore-case") {
                    Some(Value::String(text)) => Text::IgnoreCase(text.to_lowercase()),
                    _ => return Err(wrong("a string or {\"equals-ignore-case\": \"...\"}")),
                },
                _ => return Err(wrong("a string or {\"equals-ignore-case\": \"...\"}")),
            };
            Ok(if name == "prefix" {
                Rule::Prefix(text)
            } else {
                Rule::Suffix(text)
            })
        }
        "equals-ignore-case" => match argument {
            Value::String(text) => Ok(Rule::EqualsIgnoreCase(text.to_lowercase())),
            _ => Err(wrong("a string")),
        },
        "anything-but" => parse_anything_but(argument, field).map(Rule::AnythingBut),
        "numeric" => parse_range(argument, field).map(Rule::Numeric),
        "exists" => match argument {
            Value::Bool(exists) => Ok(Rule::Exists(*exists)),
            _ => Err(wrong("true or false")),
        },
        "wildcard" | "cidr" => Err(format!(
            "`{field}`: `{name}` is an EventBridge operator that Lambda's filter rule syntax does not list ({OPERATORS}); it is not supported locally"
        )),
        other => Err(format!(
            "`{field}`: unknown operator `{other}` (Lambda's filter rules: {OPERATORS})"
        )),
    }
}

fn parse_anything_but(argument: &Value, field: &str) -> Result<Exclusion, String> {
    let wrong = || {
        format!(
            "`{field}`: `anything-but` takes a string, a number, a list of them, or one of {{\"prefix\": ...}}, {{\"suffix\": ...}}, {{\"equals-ignore-case\": ...}}; not {argument}"
        )
    };
    match argument {
        Value::String(_) | Value::Number(_) => Ok(Exclusion::Values(vec![argument.clone()])),
        Value::Array(values)
            if !values.is_empty()
                && values
                    .iter()
                    .all(|v| matches!(v, Value::String(_) | Value::Number(_))) =>
        {
            Ok(Exclusion::Values(values.clone()))
        }
        Value::Object(inner) if inner.len() == 1 => match inner.iter().next().ok_or_else(wrong)? {
            (key, Value::String(text)) if key == "prefix" => Ok(Exclusion::Prefix(text.clone())),
            (key, Value::String(text)) if key == "suffix" => Ok(Exclusion::Suffix(text.clone())),
            (key, Value::String(text)) if key == "equals-ignore-case" => {
                Ok(Exclusion::IgnoreCase(vec![text.to_lowercase()]))
            }
            (key, Value::Array(texts)) if key == "equals-ignore-case" && !texts.is_empty() => texts
                .iter()
                .map(|t| t.as_str().map(str::to_lowercase).ok_or_else(wrong))
                .collect::<Result<Vec<_>, _>>()
                .map(Exclusion::IgnoreCase),
            _ => Err(wrong()),
        },
        _ => Err(wrong()),
    }
}

/// `["=", n]`, `[op, n]` or `[op, n, op, n]` with one lower (`>`, `>=`) and one upper (`<`,
/// `<=`) bound.
fn parse_range(argument: &Value, field: &str) -> Result<Range, String> {
    let wrong = |why: &str| format!("`{field}`: `numeric` {why}, not {argument}");
    let Value::Array(items) = argument else {
        return Err(wrong("takes a list such as [\">\", 0, \"<=\", 5]"));
    };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return Err(wrong(
            "takes one or two comparisons, such as [\"=\", 100] or [\">\", 0, \"<=\", 5]",
        ));
    }
    let mut range = Range {
        lower: None,
        upper: None,
    };
    for pair in items.chunks(2) {
        let (Some(operator), Some(value)) = (pair[0].as_str(), pair[1].as_f64()) else {
            return Err(wrong("compares with an operator and a number"));
        };
        let (slot, inclusive) = match operator {
            "=" if items.len() == 2 => {
                let bound = Some(Bound {
                    value,
                    inclusive: true,
                });
                return Ok(Range {
                    lower: bound,
                    upper: bound,
                });
            }
            ">" => (&mut range.lower, false),
            ">=" => (&mut range.lower, true),
            "<" => (&mut range.upper, false),
            "<=" => (&mut range.upper, true),
            _ => return Err(wrong("compares with =, >, >=, < or <= (and = only alone)")),
        };
        if slot.is_some() {
            return Err(wrong("takes at most one lower and one upper bound"));
        }
        *slot = Some(Bound { value, inclusive });
    }
    if let (Some(lower), Some(upper)) = (range.lower, range.upper) {
        let empty = lower.value > upper.value
            || (lower.value == upper.value && !(lower.inclusive && upper.inclusive));
        if empty {
            return Err(wrong("is a range that no number is in"));
        }
    }
    Ok(range)
}

impl Rule {
    /// Whether the rule matches a field with these leaves (none: absent).
    fn matches(&self, leaves: &[&Value]) -> bool {
        match self {
            Rule::Exists(exists) => *exists != leaves.is_empty(),
            _ => leaves.iter().any(|leaf| self.matches_leaf(leaf)),
        }
    }

    fn matches_leaf(&self, leaf: &Value) -> bool {
        let text = leaf.as_str();
        match self {
            Rule::Equals(value) => value == leaf,
            Rule::EqualsIgnoreCase(lower) => text.is_some_and(|t| t.to_lowercase() == *lower),
            Rule::Prefix(Text::Exact(prefix)) => text.is_some_and(|t| t.starts_with(prefix)),
            Rule::Prefix(Text::IgnoreCase(prefix)) => {
                text.is_some_and(|t| t.to_lowercase().starts_with(prefix))
            }
            Rule::Suffix(Text::Exact(suffix)) => text.is_some_and(|t| t.ends_with(suffix)),
            Rule::Suffix(Text::IgnoreCase(suffix)) => {
                text.is_some_and(|t| t.to_lowercase().ends_with(suffix))
            }
            Rule::AnythingBut(Exclusion::Values(values)) => !values.contains(leaf),
            Rule::AnythingBut(Exclusion::Prefix(prefix)) => {
                text.is_some_and(|t| !t.starts_with(prefix))
            }
            Rule::AnythingBut(Exclusion::Suffix(suffix)) => {
                text.is_some_and(|t| !t.ends_with(suffix))
            }
            Rule::AnythingBut(Exclusion::IgnoreCase(values)) => {
                text.is_some_and(|t| !values.contains(&t.to_lowercase()))
            }
            Rule::Numeric(range) => leaf
                .as_number()
                .and_then(serde_json::Number::as_f64)
                .is_some_and(|n| range.contains(n)),
            Rule::Exists(_) => true,
        }
    }
}

impl Range {
    fn contains(&self, n: f64) -> bool {
        let above = self.lower.is_none_or(|b| {
            if b.inclusive {
                n >= b.value
            } else {
                n > b.value
            }
        });
        let below = self.upper.is_none_or(|b| {
            if b.inclusive {
                n <= b.value
            } else {
                n < b.value
            }
        });
        above && below
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the record value `value` passes the single filter `pattern`.
    fn passes(pattern: &str, value: &str) -> bool {
        FilterCriteria::parse(&[pattern])
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .matches(Some(value.as_bytes()))
    }

    /// Asserts which of `values` pass `pattern`: the first list passes, the second does not.
    fn check(pattern: &str, passing: &[&str], failing: &[&str]) {
        for value in passing {
            assert!(
                passes(pattern, value),
                "{pattern} should let {value} through"
            );
        }
        for value in failing {
            assert!(!passes(pattern, value), "{pattern} should drop {value}");
        }
    }

    fn refused(pattern: &str) -> String {
        match FilterCriteria::parse(&[pattern]) {
            Err(FilterError::Pattern { index: 0, message }) => message,
            other => panic!("{pattern}: expected a refused pattern, got {other:?}"),
        }
    }

    #[test]
    fn exact_strings_are_case_sensitive_and_a_list_is_an_or() {
        check(
            r#"{"value": {"kind": ["big", "huge"]}}"#,
            &[r#"{"kind": "big"}"#, r#"{"kind": "huge", "other": 1}"#],
            &[
                r#"{"kind": "Big"}"#,
                r#"{"kind": "small"}"#,
                r#"{"other": "big"}"#,
                r#"{"kind": {"big": 1}}"#,
            ],
        );
    }

    #[test]
    fn numbers_equal_only_numbers_written_alike() {
        check(
            r#"{"value": {"n": [300]}}"#,
            &[r#"{"n": 300}"#],
            &[r#"{"n": "300"}"#, r#"{"n": 300.0}"#, r#"{"n": 301}"#],
        );
    }

    #[test]
    fn null_matches_only_a_null_field() {
        check(
            r#"{"value": {"user": [null]}}"#,
            &[r#"{"user": null}"#],
            &[r#"{}"#, r#"{"user": "null"}"#, r#"{"user": ""}"#],
        );
    }

    #[test]
    fn empty_string_matches_only_an_empty_string() {
        check(
            r#"{"value": {"last": [""]}}"#,
            &[r#"{"last": ""}"#],
            &[r#"{"last": " "}"#, r#"{"last": null}"#, r#"{}"#],
        );
    }

    #[test]
    fn booleans_match_booleans() {
        check(
            r#"{"value": {"rbac": [true]}}"#,
            &[r#"{"rbac": true}"#],
            &[r#"{"rbac": false}"#, r#"{"rbac": "true"}"#],
        );
    }

    #[test]
    fn equals_ignore_case() {
        check(
            r#"{"value": {"name": [{"equals-ignore-case": "alice"}]}}"#,
            &[r#"{"name": "ALICE"}"#, r#"{"name": "Alice"}"#],
            &[r#"{"name": "alicia"}"#, r#"{"name": 1}"#],
        );
    }

    #[test]
    fn prefix_and_suffix() {
        check(
            r#"{"value": {"region": [{"prefix": "us-"}]}}"#,
            &[r#"{"region": "us-east-1"}"#],
            &[r#"{"region": "eu-west-1"}"#, r#"{"region": "US-east-1"}"#],
        );
        check(
            r#"{"value": {"file": [{"suffix": ".png"}]}}"#,
            &[r#"{"file": "a.png"}"#],
            &[r#"{"file": "a.PNG"}"#, r#"{"file": "a.png.gz"}"#],
        );
        check(
            r#"{"value": {"file": [{"suffix": {"equals-ignore-case": ".PNG"}}]}}"#,
            &[r#"{"file": "a.png"}"#, r#"{"file": "b.Png"}"#],
            &[r#"{"file": "a.gif"}"#],
        );
        check(
            r#"{"value": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}"#,
            &[r#"{"service": "eventbridge"}"#],
            &[r#"{"service": "lambda"}"#],
        );
    }

    #[test]
    fn anything_but_a_list_a_value_a_prefix_a_suffix_or_ignoring_case() {
        check(
            r#"{"value": {"weather": [{"anything-but": ["Raining", "Snowing"]}]}}"#,
            &[r#"{"weather": "Sunny"}"#, r#"{"weather": "raining"}"#],
            &[
                r#"{"weather": "Raining"}"#,
                r#"{"weather": "Snowing"}"#,
                r#"{}"#,
            ],
        );
        check(
            r#"{"value": {"state": [{"anything-but": "initializing"}]}}"#,
            &[r#"{"state": "running"}"#],
            &[r#"{"state": "initializing"}"#],
        );
        check(
            r#"{"value": {"code": [{"anything-but": [100, 200]}]}}"#,
            &[r#"{"code": 300}"#],
            &[r#"{"code": 100}"#, r#"{"code": 200}"#],
        );
        check(
            r#"{"value": {"region": [{"anything-but": {"prefix": "us-"}}]}}"#,
            &[r#"{"region": "eu-west-1"}"#],
            &[r#"{"region": "us-east-1"}"#],
        );
        check(
            r#"{"value": {"file": [{"anything-but": {"suffix": ".png"}}]}}"#,
            &[r#"{"file": "a.gif"}"#],
            &[r#"{"file": "a.png"}"#],
        );
        check(
            r#"{"value": {"state": [{"anything-but": {"equals-ignore-case": ["Init", "stopped"]}}]}}"#,
            &[r#"{"state": "running"}"#],
            &[r#"{"state": "INIT"}"#, r#"{"state": "Stopped"}"#],
        );
    }

    #[test]
    fn numeric_equals_and_ranges() {
        check(
            r#"{"value": {"price": [{"numeric": ["=", 100]}]}}"#,
            &[r#"{"price": 100}"#, r#"{"price": 100.0}"#],
            &[r#"{"price": 101}"#, r#"{"price": "100"}"#],
        );
        check(
            r#"{"value": {"price": [{"numeric": [">", 10, "<=", 20]}]}}"#,
            &[r#"{"price": 10.5}"#, r#"{"price": 20}"#],
            &[
                r#"{"price": 10}"#,
                r#"{"price": 20.01}"#,
                r#"{"price": -5}"#,
            ],
        );
        check(
            r#"{"value": {"price": [{"numeric": [">=", 10]}]}}"#,
            &[r#"{"price": 10}"#, r#"{"price": 1e9}"#],
            &[r#"{"price": 9.99}"#],
        );
        check(
            r#"{"value": {"price": [{"numeric": ["<", 0]}]}}"#,
            &[r#"{"price": -1}"#],
            &[r#"{"price": 0}"#],
        );
    }

    #[test]
    fn exists_sees_only_leaves() {
        check(
            r#"{"value": {"product": [{"exists": true}]}}"#,
            &[
                r#"{"product": "x"}"#,
                r#"{"product": null}"#,
                r#"{"product": [1]}"#,
            ],
            &[
                r#"{}"#,
                r#"{"product": {"name": "x"}}"#,
                r#"{"product": []}"#,
            ],
        );
        check(
            r#"{"value": {"product": [{"exists": false}]}}"#,
            &[r#"{}"#, r#"{"other": 1}"#],
            &[r#"{"product": "x"}"#],
        );
    }

    #[test]
    fn several_fields_must_all_match() {
        check(
            r#"{"value": {"location": ["New York"], "day": ["Monday"]}}"#,
            &[r#"{"location": "New York", "day": "Monday"}"#],
            &[
                r#"{"location": "New York", "day": "Tuesday"}"#,
                r#"{"location": "New York"}"#,
            ],
        );
    }

    #[test]
    fn or_over_several_fields() {
        check(
            r#"{"value": {"$or": [{"location": ["New York"]}, {"day": ["Monday"]}]}}"#,
            &[r#"{"location": "New York"}"#, r#"{"day": "Monday"}"#],
            &[r#"{"location": "Boston", "day": "Tuesday"}"#],
        );
        // At the top, each alternative names `value`.
        check(
            r#"{"$or": [{"value": {"a": [1]}}, {"value": {"b": [2]}}]}"#,
            &[r#"{"b": 2}"#],
            &[r#"{"a": 2}"#],
        );
    }

    #[test]
    fn nested_fields_and_arrays() {
        check(
            r#"{"value": {"session": {"duration": [{"numeric": [">", 100]}]}}}"#,
            &[r#"{"session": {"duration": 162}}"#],
            &[r#"{"session": {"duration": 99}}"#, r#"{"duration": 162}"#],
        );
        // A rule matches an array if it matches one element.
        check(
            r#"{"value": {"tags": ["urgent"]}}"#,
            &[r#"{"tags": ["low", "urgent"]}"#],
            &[r#"{"tags": ["low"]}"#, r#"{"tags": []}"#],
        );
        // A sub-pattern matches an array of objects if one element matches it whole.
        check(
            r#"{"value": {"items": {"sku": ["A"], "qty": [2]}}}"#,
            &[r#"{"items": [{"sku": "B", "qty": 1}, {"sku": "A", "qty": 2}]}"#],
            &[r#"{"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]}"#],
        );
    }

    #[test]
    fn plain_string_values_match_rules_on_value_only() {
        // The guide's example: ignore the messages that are the string "error".
        let pattern = r#"{"value": [{"anything-but": ["error"]}]}"#;
        check(pattern, &["all good", "Error"], &["error"]);
        check(
            r#"{"value": [{"prefix": "OrderNumber"}]}"#,
            &["OrderNumber 12"],
            &["Order 12"],
        );
        // A pattern looking inside the value drops plain strings.
        check(
            r#"{"value": {"kind": ["big"]}}"#,
            &[r#"{"kind": "big"}"#],
            &["big", "kind=big", ""],
        );
        // A JSON object is not a plain string: a rule on `value` itself does not match it.
        check(
            r#"{"value": [{"prefix": "{"}]}"#,
            &["{not json"],
            &[r#"{"kind": "big"}"#],
        );
    }

    #[test]
    fn values_that_are_not_utf8_or_absent_have_no_value() {
        let criteria = FilterCriteria::parse(&[r#"{"value": [{"anything-but": ["error"]}]}"#])
            .expect("valid pattern");
        assert!(!criteria.matches(Some(&[0xff, 0xfe, 0x00])));
        assert!(!criteria.matches(None));
        let absent =
            FilterCriteria::parse(&[r#"{"value": [{"exists": false}]}"#]).expect("valid pattern");
        assert!(absent.matches(Some(&[0xff, 0xfe])));
        assert!(absent.matches(None));
        assert!(!absent.matches(Some(b"text")));
    }

    #[test]
    fn a_record_passes_if_any_filter_matches() {
        let criteria = FilterCriteria::parse(&[
            r#"{"value": {"kind": ["big"]}}"#,
            r#"{"value": {"code": [{"numeric": [">=", 300]}]}}"#,
        ])
        .expect("valid patterns");
        assert!(criteria.matches(Some(br#"{"kind": "big"}"#)));
        assert!(criteria.matches(Some(br#"{"code": 302}"#)));
        assert!(!criteria.matches(Some(br#"{"kind": "small", "code": 200}"#)));
    }

    #[test]
    fn at_most_five_filters() {
        let pattern = r#"{"value": ["x"]}"#;
        assert!(FilterCriteria::parse(&[pattern; MAX_FILTERS]).is_ok());
        assert_eq!(
            FilterCriteria::parse(&[pattern; MAX_FILTERS + 1]),
            Err(FilterError::TooMany(MAX_FILTERS + 1))
        );
    }

    #[test]
    fn invalid_patterns_are_refused_with_the_reason() {
        assert!(refused(r#"{"value": "#).contains("not valid JSON"));
        assert!(refused(r#"["value"]"#).contains("JSON object"));
        assert!(refused(r#"{"key": ["k1"]}"#).contains("only support filtering on the `value` key"));
        assert!(refused(r#"{"value": {"a": [1]}, "topic": ["t"]}"#).contains("`topic`"));
        assert!(
            refused(r#"{"$or": [{"value": ["a"]}, {"partition": [0]}]}"#).contains("`partition`")
        );
        assert!(refused(r#"{"value": {"a": [{"contains": "x"}]}}"#)
            .contains("unknown operator `contains`"));
        assert!(refused(r#"{"value": {"a": [{"wildcard": "*x"}]}}"#).contains("wildcard"));
        assert!(refused(r#"{"value": {"a": "x"}}"#).contains("in a list"));
        assert!(refused(r#"{"value": {"a": []}}"#).contains("empty"));
        assert!(refused(r#"{}"#).contains("empty object"));
        assert!(refused(r#"{"value": {"a": [{"prefix": 1}]}}"#).contains("`prefix` takes"));
        assert!(refused(r#"{"value": {"a": [{"exists": "yes"}]}}"#).contains("`exists` takes"));
        assert!(
            refused(r#"{"value": {"a": [{"prefix": "x", "suffix": "y"}]}}"#)
                .contains("exactly one operator")
        );
        assert!(refused(r#"{"value": {"a": [{"numeric": [">", "ten"]}]}}"#).contains("numeric"));
        assert!(refused(r#"{"value": {"a": [{"numeric": ["!=", 1]}]}}"#).contains("numeric"));
        assert!(
            refused(r#"{"value": {"a": [{"numeric": [">", 1, ">", 2]}]}}"#).contains("one lower")
        );
        assert!(
            refused(r#"{"value": {"a": [{"numeric": [">", 5, "<", 1]}]}}"#).contains("no number")
        );
        assert!(refused(r#"{"value": {"a": [{"anything-but": []}]}}"#).contains("anything-but"));
        assert!(refused(r#"{"value": {"$or": {"a": [1]}}}"#).contains("`$or`"));
        let long = format!(r#"{{"value": ["{}"]}}"#, "x".repeat(MAX_PATTERN_LENGTH));
        assert!(refused(&long).contains("longer"));
    }
}
