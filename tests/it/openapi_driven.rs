//! Every route of the OpenAPI document driven by input generated from the document itself:
//! each parameter and body field with values its schema allows (extremes included: far-past and
//! far-future dates, the largest numbers, huge pages, long texts) and values it does not (other
//! types, malformed formats, values outside an enum), each header parameter with every value a
//! client can send in a header, each required field left out, no body, a
//! body of another media type, no token and a bad token. The API must answer only statuses the
//! document lists for that route, never 5xx, every refusal a problem+json document, and a
//! refused request must write nothing.

use crate::hostile::{an_appointment_and_a_call, fingerprint};
use crate::support::*;
use axum::http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use sqlx::PgPool;

/// One operation of the document, with what the generator needs of it.
struct Operation {
    method: Method,
    path: String,
    /// (name, in, required, schema) of each path, query and header parameter.
    parameters: Vec<(String, String, bool, Value)>,
    /// The JSON body's schema, resolved (None: the operation takes no body).
    body: Option<Value>,
    /// Whether the operation needs a bearer token.
    secured: bool,
    documented: Vec<u16>,
}

/// The document and the values that name things that exist (so a request reaches past the
/// look-ups): a property or parameter of one of these names gets the known value first.
struct Generator<'a> {
    doc: &'a Value,
    known: Map<String, Value>,
}

/// `schema` with a top-level `$ref` followed into `components.schemas`.
fn resolve(doc: &Value, schema: &Value) -> Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().expect("a $ref name");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema.clone(),
    }
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let methods = item.as_object().expect("path item").iter();
        for (method, op) in
            methods.filter(|(m, _)| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
        {
            let parameters = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        p["name"].as_str().expect("name").to_owned(),
                        p["in"].as_str().expect("in").to_owned(),
                        p["required"].as_bool().unwrap_or(false),
                        resolve(doc, &p["schema"]),
                    )
                })
                .collect();
            let body = op["requestBody"]["content"]["application/json"]["schema"]
                .is_object()
                .then(|| {
                    resolve(
                        doc,
                        &op["requestBody"]["content"]["application/json"]["schema"],
                    )
                });
            let secured = op["security"].as_array().is_none_or(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
            });
            let documented = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .map(|code| code.parse().expect("a numeric status"))
                .collect();
            found.push(Operation {
                method: method.to_uppercase().parse().expect("method"),
                path: path.clone(),
                parameters,
                body,
                secured,
                documented,
            });
        }
    }
    found
}

/// The schema's types (`type` may be one name or a list, e.g. `["string", "null"]`).
fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Values the schema does not allow (for a string with a format or an enum, malformed text
/// too). `null` only where the schema does not list it.
fn refused(schema: &Value) -> Vec<Value> {
    let kinds = types(schema);
    let mut values: Vec<Value> = [
        json!(42),
        json!("text"),
        json!([1]),
        json!({"a": 1}),
        json!(true),
    ]
    .into_iter()
    .filter(|v| {
        let kind = match v {
            Value::Number(_) => "integer",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            _ => "boolean",
        };
        !kinds.contains(&kind)
            || (kind == "string" && (schema["format"].is_string() || schema["enum"].is_array()))
    })
    .collect();
    if !kinds.contains(&"null") {
        values.push(Value::Null);
    }
    values
}

/// One request to make: its query values, body and how it is sent.
#[derive(Clone)]
struct Case {
    what: String,
    /// The field (parameter or body property) this case gives a value the document allows: the
    /// API must not refuse the request naming it.
    allowed: Option<String>,
    query: Vec<(String, Value)>,
    /// Header parameters, as text.
    headers: Vec<(String, String)>,
    body: Option<Value>,
    content_type: Option<&'static str>,
    token: Option<String>,
}

/// The names of the object schema's required properties.
fn required(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Whether the schema allows `value`, as far as the generated values can differ: type, enum,
/// uuid format, integer bounds, string length (in characters) and pattern.
fn conforms(schema: &Value, value: &Value) -> bool {
    if let Some(values) = schema["enum"].as_array() {
        return values.contains(value);
    }
    match value {
        Value::String(text) => {
            let length = text.chars().count() as u64;
            let pattern_ok = schema["pattern"].as_str().is_none_or(|pattern| {
                regex_automata::dfa::regex::Regex::new(pattern)
                    .expect("the document's pattern compiles")
                    .is_match(text)
            });
            types(schema).contains(&"string")
                && (schema["format"] != "uuid" || uuid::Uuid::parse_str(text).is_ok())
                && schema["minLength"].as_u64().is_none_or(|min| length >= min)
                && schema["maxLength"].as_u64().is_none_or(|max| length <= max)
                && pattern_ok
        }
        Value::Number(n) => n.as_i64().is_some_and(|n| {
            types(schema).contains(&"integer")
                && schema["minimum"].as_i64().is_none_or(|min| n >= min)
                && schema["maximum"].as_i64().is_none_or(|max| n <= max)
        }),
        _ => true,
    }
}

impl Generator<'_> {
    /// Values for `name`, each with whether the schema allows it: the known value first (if
    /// any), then generated ones, extremes included.
    fn candidates(&self, name: &str, schema: &Value) -> Vec<(Value, bool)> {
        let known = self.known.get(name).cloned().into_iter();
        known
            .chain(self.generated(schema))
            .map(|v| {
                let allowed = conforms(schema, &v);
                (v, allowed)
            })
            .chain(refused(schema).into_iter().map(|v| (v, false)))
            .collect()
    }

    /// The first value the schema allows for `name`.
    fn allowed(&self, name: &str, schema: &Value) -> Value {
        self.candidates(name, schema)
            .into_iter()
            .find_map(|(v, allowed)| allowed.then_some(v))
            .unwrap_or_else(|| panic!("no value generated for {name} fits its schema {schema}"))
    }

    /// Values of the schema's type, allowed or not (see [`conforms`]).
    fn generated(&self, schema: &Value) -> Vec<Value> {
        let doc = self.doc;
        if let Some(values) = schema["enum"].as_array() {
            return values.clone();
        }
        let kind = types(schema)
            .into_iter()
            .find(|t| *t != "null")
            .unwrap_or("object");
        match kind {
            "string" => match schema["format"].as_str() {
                Some("uuid") => vec![
                    json!(uuid::Uuid::new_v4()),
                    json!("00000000-0000-0000-0000-000000000000"),
                ],
                Some("date-time") => [
                    "2030-01-07T10:00:00Z",
                    "0001-01-01T00:00:00Z",
                    "9999-12-31T23:59:59Z",
                    "-262143-01-01T00:00:00Z",
                    "+262142-12-31T23:59:59Z",
                    "1970-01-01T00:00:00+14:00",
                ]
                .map(Value::from)
                .to_vec(),
                Some("date") => ["2030-01-07", "0001-01-01", "9999-12-31", "-262143-01-01"]
                    .map(Value::from)
                    .to_vec(),
                _ => {
                    // At most what a URL can carry (API Gateway: 10,240 bytes), for query parameters.
                    let longest = schema["maxLength"].as_u64().unwrap_or(8_000) as usize;
                    let mut values = vec![
                        json!("routine check"),
                        json!(""),
                        json!("   "),
                        json!("é<script>'\"; DROP TABLE x;--"),
                        json!("x".repeat(longest)),
                        json!("x".repeat(longest + 1)),
                    ];
                    if schema["pattern"].is_string() {
                        // Dates and times, for the patterns that describe them.
                        values.extend(
                            [
                                "2030-01-07",
                                "2030-01-07T10:00",
                                "2030-01-07T10:00:00Z",
                                "2030-01-07T10:00:30Z",
                                "1900-01-01T00:00:00Z",
                                "1899-12-31",
                                "9999-12-31T23:59:00Z",
                                "9999-12-31",
                                "0001-01-01T00:00:00Z",
                                "-262143-01-01T00:00:00Z",
                                "2030-02-30T25:61",
                            ]
                            .map(Value::from),
                        );
                    }
                    values
                }
            },
            "integer" => {
                let low = schema["minimum"].as_i64().unwrap_or(i64::MIN);
                let high = schema["maximum"].as_i64().unwrap_or(i64::MAX);
                let (below, above) = (low.saturating_sub(1), high.saturating_add(1));
                vec![
                    json!(low.max(1).min(high)),
                    json!(low),
                    json!(high),
                    json!(below),
                    json!(above),
                    json!(i64::MAX),
                ]
            }
            "number" => vec![json!(1.5), json!(0), json!(f64::MAX)],
            "boolean" => vec![json!(true), json!(false)],
            "array" => vec![
                json!([]),
                json!([self.generated(&resolve(doc, &schema["items"]))[0]]),
            ],
            _ => vec![Value::Object(self.object(schema, true))],
        }
    }

    /// An object with every required property (or every property, with `all`) set to its first
    /// allowed value.
    fn object(&self, schema: &Value, all: bool) -> Map<String, Value> {
        let required = required(schema);
        schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| all || required.contains(&name.as_str()))
            .map(|(name, property)| {
                let first = self.allowed(name, &resolve(self.doc, property));
                (name.clone(), first)
            })
            .collect()
    }

    fn cases(&self, op: &Operation, token: &str) -> Vec<Case> {
        let doc = self.doc;
        let base_query: Vec<(String, Value)> = op
            .parameters
            .iter()
            .filter(|(_, place, required, _)| place == "query" && *required)
            .map(|(name, _, _, schema)| (name.clone(), self.allowed(name, schema)))
            .collect();
        let base_body = op
            .body
            .as_ref()
            .map(|s| Value::Object(self.object(s, false)));
        let base = Case {
            what: "valid".to_owned(),
            allowed: None,
            query: base_query.clone(),
            headers: Vec::new(),
            body: base_body.clone(),
            content_type: op.body.as_ref().map(|_| "application/json"),
            token: Some(token.to_owned()),
        };
        let mut all = vec![base.clone()];
        for (name, place, required, schema) in &op.parameters {
            if place == "header" {
                // Only what a client can send in a header (visible text; no control characters).
                for (value, is_allowed) in self.candidates(name, schema) {
                    let text = match &value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    if axum::http::HeaderValue::from_str(&text).is_err() {
                        continue;
                    }
                    let shown: String = text.chars().take(40).collect();
                    all.push(Case {
                        what: format!("header {name}: {shown}"),
                        allowed: is_allowed.then(|| name.clone()),
                        headers: vec![(name.clone(), text)],
                        ..base.clone()
                    });
                }
                continue;
            }
            if place != "query" {
                continue;
            }
            for (value, is_allowed) in self.candidates(name, schema) {
                let mut case = base.clone();
                case.allowed = is_allowed.then(|| name.clone());
                case.query.retain(|(n, _)| n != name);
                case.query.push((name.clone(), value.clone()));
                case.what = format!("query {name}={value}");
                all.push(case);
            }
            if *required {
                let mut case = base.clone();
                case.query.retain(|(n, _)| n != name);
                case.what = format!("query without {name}");
                all.push(case);
            }
        }
        if let Some(schema) = &op.body {
            let full = Value::Object(self.object(schema, true));
            let required = required(schema);
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                let property = resolve(doc, property);
                for (value, is_allowed) in self.candidates(name, &property) {
                    let mut body = full.clone();
                    body[name] = value.clone();
                    let shown: String = value.to_string().chars().take(40).collect();
                    all.push(Case {
                        what: format!("body {name}={shown}"),
                        allowed: is_allowed.then(|| name.clone()),
                        body: Some(body),
                        ..base.clone()
                    });
                }
                if required.contains(&name.as_str()) {
                    let mut body = full.clone();
                    body.as_object_mut().expect("object").remove(name);
                    all.push(Case {
                        what: format!("body without {name}"),
                        body: Some(body),
                        ..base.clone()
                    });
                }
            }
            all.push(Case {
                what: "an unknown body field".to_owned(),
                body: Some(json!({"unknownField": 1})),
                ..base.clone()
            });
            for (what, body) in [("no body", None), ("a JSON array", Some(json!([full])))] {
                all.push(Case {
                    what: what.to_owned(),
                    body,
                    ..base.clone()
                });
            }
            all.push(Case {
                what: "a text/plain body".to_owned(),
                content_type: Some("text/plain"),
                ..base.clone()
            });
        }
        all.push(Case {
            what: "an unknown query parameter".to_owned(),
            query: vec![("unknownParameter".to_owned(), json!("1"))],
            ..base.clone()
        });
        if op.secured {
            all.push(Case {
                what: "no token".to_owned(),
                token: None,
                ..base.clone()
            });
            all.push(Case {
                what: "a bad token".to_owned(),
                token: Some("not.a.token".to_owned()),
                ..base
            });
        }
        all
    }
}

/// A query string value as a client would send it (strings bare, everything else as JSON).
fn query_text(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn every_route_answers_only_what_the_openapi_document_lists(pool: PgPool) {
    let api = test_api(pool).await;
    let doc = api.get("/api/v1/openapi.json").await.body;
    let (appointment, call) = an_appointment_and_a_call(&api).await;
    let mut known = routine_at_bayview(4, 2, "11:00")
        .as_object()
        .expect("a booking")
        .clone();
    known.insert("appointmentId".to_owned(), json!(appointment.to_string()));
    let generator = Generator { doc: &doc, known };
    let operations = operations(&doc);
    assert!(operations.len() >= 11, "the document lists every route");
    let mut requests = 0;
    let mut undocumented = Vec::new();
    for op in &operations {
        // Path ids: one that exists (so the request reaches past the look-up), of the kind the
        // path names; the generated ones are tried as well.
        let known = if op.path.starts_with("/api/v1/calls/") {
            call.clone()
        } else if op.path.starts_with("/api/v1/clinics/") {
            clinic_id(BAYVIEW).to_string()
        } else if op.path.starts_with("/api/v1/patients/") {
            patient_id(3).to_string()
        } else {
            appointment.to_string()
        };
        let mut ids = vec![known];
        if op.path.contains("{id}") {
            ids.extend(["not-an-id".to_owned(), uuid::Uuid::new_v4().to_string()]);
        }
        for id in &ids {
            for case in generator.cases(op, &api.token) {
                let mut uri = op.path.replace("{id}", id);
                if !case.query.is_empty() {
                    let pairs: Vec<String> = case
                        .query
                        .iter()
                        .map(|(n, v)| format!("{n}={}", query_text(v)))
                        .collect();
                    uri = format!("{uri}?{}", pairs.join("&"));
                }
                let bytes = match (&case.body, case.content_type) {
                    (Some(body), Some("text/plain")) => body.to_string().into_bytes(),
                    (Some(body), _) => serde_json::to_vec(body).expect("json"),
                    (None, _) => Vec::new(),
                };
                let content_type = case.body.as_ref().and(case.content_type);
                let before = fingerprint(&api).await;
                let headers: Vec<(&str, &str)> = case
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let reply = api
                    .request_with(
                        case.token.as_deref(),
                        op.method.clone(),
                        &uri,
                        content_type,
                        &headers,
                        bytes,
                    )
                    .await;
                requests += 1;
                let shown = format!("{} {} ({}, id {id})", op.method, op.path, case.what);
                let status = reply.status.as_u16();
                // A refusal of the field itself; one relating it to another field (which names
                // that field, e.g. "must be after `from`") is a rule across fields that no one
                // field's schema can state.
                let refused_as_invalid = case.allowed.as_ref().is_some_and(|field| {
                    reply.status == StatusCode::BAD_REQUEST
                        && reply.body["errors"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|e| {
                                e["field"] == field.as_str()
                                    && !e["message"].as_str().unwrap_or_default().contains('`')
                            })
                });
                if refused_as_invalid {
                    let body: String = reply.body.to_string().chars().take(200).collect();
                    undocumented.push(format!(
                        "{shown} → 400 for a value the document allows: {body}"
                    ));
                }
                if reply.status.is_server_error() || !op.documented.contains(&status) {
                    // Every such answer is collected, so one run shows every gap.
                    let body: String = reply.body.to_string().chars().take(200).collect();
                    let line = format!("{shown} → {status} (listed: {:?}): {body}", op.documented);
                    undocumented.push(line);
                }
                if reply.status.is_client_error() {
                    assert_eq!(reply.content_type(), "application/problem+json", "{shown}");
                    assert_eq!(fingerprint(&api).await, before, "{shown} wrote something");
                }
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "{} answers the document does not list, or 5xx:\n{}",
        undocumented.len(),
        undocumented.join("\n")
    );
    assert!(requests > 300, "{requests} requests generated");
}
