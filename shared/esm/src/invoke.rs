//! How the runtime calls a function: the `Invoker` trait, and its Lambda Invoke API client
//! (`cargo lambda watch`, LocalStack, anything serving `/2015-03-31/functions/{name}/invocations`).

use async_trait::async_trait;
use aws_lambda_events::event::kafka::KafkaEvent;
use tokio::time::Instant;

use crate::event::event_json;

/// Why an invocation did not return a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// The function ran and failed (a handler error, `X-Amz-Function-Error`, a 5xx): counts
    /// as a failed attempt.
    #[error("function error: {0}")]
    Function(String),
    /// The function could not be reached or answered nonsense: the batch is tried again
    /// without using up its retries, as AWS does for invoke errors it cannot blame on the
    /// function.
    #[error("invoke failed: {0}")]
    Transport(String),
}

/// Calls a function with a Kafka event and returns its JSON response. `deadline` is when the
/// invocation times out (its start plus the function's timeout): what Lambda's context tells a
/// function as its deadline, so it can hand back the records it has no time left for.
#[async_trait]
pub trait Invoker: Send + Sync {
    async fn invoke(
        &self,
        function: &str,
        event: &KafkaEvent,
        deadline: Instant,
    ) -> Result<serde_json::Value, InvokeError>;
}

/// Invokes functions through the Lambda Invoke API (synchronous `RequestResponse`).
#[derive(Debug, Clone)]
pub struct HttpInvoker {
    base_url: String,
    client: reqwest::Client,
}

impl HttpInvoker {
    /// An invoker for the Invoke API at `base_url`, e.g. `http://127.0.0.1:9000`.
    pub fn new(base_url: &str) -> Result<HttpInvoker, InvokeError> {
        // No timeout of its own: the runtime bounds every invocation by the function's.
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| InvokeError::Transport(format!("HTTP client: {e}")))?;
        Ok(HttpInvoker {
            base_url: base_url.trim_end_matches('/').to_owned(),
            client,
        })
    }
}

#[async_trait]
impl Invoker for HttpInvoker {
    /// The deadline is not sent: the runtime behind the Invoke API sets its own from the
    /// function's timeout, and this runtime stops waiting at the same time.
    async fn invoke(
        &self,
        function: &str,
        event: &KafkaEvent,
        _deadline: Instant,
    ) -> Result<serde_json::Value, InvokeError> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.base_url
        );
        let body = event_json(event)
            .map_err(|e| InvokeError::Transport(format!("cannot serialize the event: {e}")))?;
        let response = self
            .client
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| InvokeError::Transport(format!("POST {url}: {e}")))?;
        let status = response.status();
        let function_error = response
            .headers()
            .get("X-Amz-Function-Error")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = response
            .bytes()
            .await
            .map_err(|e| InvokeError::Transport(format!("POST {url}: reading the body: {e}")))?;
        if let Some(kind) = function_error {
            return Err(InvokeError::Function(error_message(&kind, &body)));
        }
        if status.is_server_error() {
            return Err(InvokeError::Function(error_message(status.as_str(), &body)));
        }
        if !status.is_success() {
            return Err(InvokeError::Transport(format!(
                "POST {url}: {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        if body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| {
            InvokeError::Transport(format!("POST {url}: the response is not JSON: {e}"))
        })
    }
}

/// `"<errorType>: <errorMessage>"` from Lambda's error body, else the raw body.
fn error_message(kind: &str, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct LambdaError {
        error_type: Option<String>,
        error_message: Option<String>,
    }
    match serde_json::from_slice::<LambdaError>(body) {
        Ok(LambdaError {
            error_type,
            error_message: Some(message),
        }) => format!("{}: {message}", error_type.as_deref().unwrap_or(kind)),
        _ => format!("{kind}: {}", String::from_utf8_lossy(body)),
    }
}
