//! The Lambda Invoke API client against a tiny server that answers as Lambda does.

use aws_lambda_events::event::kafka::KafkaEvent;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use esm::{HttpInvoker, InvokeError, Invoker};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(String, Value)>>>;

async fn invocations(
    Path(function): Path<String>,
    State(seen): State<Seen>,
    Json(event): Json<Value>,
) -> Response {
    seen.lock()
        .expect("seen lock")
        .push((function.clone(), event));
    match function.as_str() {
        "ok" => Json(json!({ "batchItemFailures": [] })).into_response(),
        "boom" => (
            [("X-Amz-Function-Error", "Unhandled")],
            Json(json!({ "errorType": "Boom", "errorMessage": "kaput" })),
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "ResourceNotFoundException").into_response(),
    }
}

/// Serves the Invoke API on a free port; returns its base URL and what it received.
async fn lambda_api() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/2015-03-31/functions/{function}/invocations",
            post(invocations),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn sample_event() -> KafkaEvent {
    let path = testkit::workspace_root().join("tests/fixtures/example-kafka-event.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("sample event")
}

#[tokio::test]
async fn posts_the_event_and_returns_the_function_response() {
    let (base, seen) = lambda_api().await;
    let invoker = HttpInvoker::new(&base).expect("invoker");
    let event = sample_event();
    let response = invoker
        .invoke("ok", &event, in_a_minute())
        .await
        .expect("invoke");
    assert_eq!(response, json!({ "batchItemFailures": [] }));
    let seen = seen.lock().expect("seen lock").clone();
    assert_eq!(
        seen,
        vec![("ok".to_owned(), esm::event_json(&event).expect("json"))]
    );
}

#[tokio::test]
async fn a_function_error_header_is_a_function_error() {
    let (base, _) = lambda_api().await;
    let invoker = HttpInvoker::new(&base).expect("invoker");
    let result = invoker.invoke("boom", &sample_event(), in_a_minute()).await;
    assert_eq!(result, Err(InvokeError::Function("Boom: kaput".into())));
}

#[tokio::test]
async fn an_unknown_function_or_no_server_is_a_transport_error() {
    let (base, _) = lambda_api().await;
    let invoker = HttpInvoker::new(&base).expect("invoker");
    let result = invoker
        .invoke("missing", &sample_event(), in_a_minute())
        .await;
    assert!(
        matches!(&result, Err(InvokeError::Transport(m)) if m.contains("404")),
        "{result:?}"
    );

    let port = testkit::free_port().expect("port");
    let invoker = HttpInvoker::new(&format!("http://127.0.0.1:{port}")).expect("invoker");
    let result = invoker.invoke("ok", &sample_event(), in_a_minute()).await;
    assert!(
        matches!(result, Err(InvokeError::Transport(_))),
        "{result:?}"
    );
}

/// A deadline the HTTP invoker ignores (the runtime behind the Invoke API keeps its own).
fn in_a_minute() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(60)
}
