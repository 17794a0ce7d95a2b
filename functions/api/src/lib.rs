//! The HTTP API function (API Gateway HTTP API → Lambda via lambda_http).
//!
//! `app()` is the one Router: the Lambda entry point (`main.rs`), the local stack's server and
//! the tests all serve exactly this. The OpenAPI document is generated from the same routes.

pub mod appointments;
pub mod auth;
pub mod calls;
pub mod clinics;
pub mod extract;
pub mod fields;
pub mod metrics;
pub mod patients;
pub mod problem;
pub mod schemas;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use axum::{Json, Router};
use contract::SchemaRegistry;
use messaging::config::{ConfigError, Env};
use messaging::lambda::{ConnectError, FunctionConfig};
use messaging::FunctionContext;
use problem::ApiError;
use serde::Serialize;
use sqlx::PgPool;
use std::sync::Arc;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Clients built once per process (Lambda init, or the local server's start).
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub registry: SchemaRegistry,
    /// Publishes a request's own outbox rows right after its commit, within a budget
    /// (`Publisher::publish_for_request`); None leaves them to the relay.
    pub publisher: Option<messaging::Publisher>,
    /// Checks every request's bearer token.
    pub auth: Arc<auth::Verifier>,
}

impl AppState {
    /// The outbox the use cases write through, encoding with this state's registry.
    pub fn outbox(&self) -> app::Outbox<'_> {
        app::Outbox::new(&self.registry)
    }
}

/// Settings read from the environment once, at start (the rule for bad values:
/// `messaging::config`).
#[derive(Debug, Clone)]
pub struct Config {
    /// The database, the registry and Kafka (optional: publish bookings right after commit),
    /// as every function reads them; `DB_MAX_CONNECTIONS` defaults to [`Config::POOL`].
    pub clients: FunctionConfig,
    /// The identity provider whose tokens the API accepts: `AUTH_ISSUER`, `AUTH_AUDIENCE`,
    /// `AUTH_JWKS_URL` (all required).
    pub auth_issuer: String,
    pub auth_audience: String,
    pub auth_jwks_url: String,
    /// `AUTH_JWKS_MAX_AGE_SECONDS`, default 300: a key removed from the JWKS stops working
    /// within that time.
    pub auth_jwks_max_age: std::time::Duration,
}

impl Config {
    /// The API's pool: 5. An instance serves one request at a time, but a request may run a
    /// few queries at once.
    pub const POOL: u32 = 5;

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            clients: FunctionConfig::from_env(env, Self::POOL)?,
            auth_issuer: env.required("AUTH_ISSUER")?,
            auth_audience: env.required("AUTH_AUDIENCE")?,
            auth_jwks_url: env.required("AUTH_JWKS_URL")?,
            auth_jwks_max_age: env
                .seconds_or("AUTH_JWKS_MAX_AGE_SECONDS", auth::DEFAULT_JWKS_MAX_AGE)?,
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&BearerAuth),
    components(schemas(problem::Problem)),
    info(title = "Optometry call center scheduling API", version = "1.0.0",
         description = "Book, list, inspect, cancel and complete eye-exam appointments; calls and metrics. Every route but health and this document needs a bearer JWT. Errors are RFC 7807 problem+json."),
    tags((name = "appointments"), (name = "clinics"), (name = "patients"), (name = "calls"), (name = "metrics"), (name = "health"))
)]
struct ApiDoc;

/// Declares the bearer JWT every route needs (health overrides it).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
        openapi.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Liveness plus a database round trip.
#[utoipa::path(get, path = "/api/v1/health", tag = "health", security(()),
    responses((status = 200, body = Health)))]
async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    sqlx::query("SELECT 1")
        .execute(&state.pool)
        .await
        .map_err(store::StoreError::from)?;
    Ok(Json(Health { status: "ok" }))
}

/// The routes and their OpenAPI document, built from the same handler list.
fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            appointments::book::book_appointment,
            appointments::read::list_appointments
        ))
        .routes(routes!(appointments::read::get_appointment))
        .routes(routes!(appointments::commands::cancel_appointment))
        .routes(routes!(appointments::commands::complete_appointment))
        .routes(routes!(clinics::list_clinics))
        .routes(routes!(clinics::availability))
        .routes(routes!(metrics::get_metrics))
        .routes(routes!(calls::start_call))
        .routes(routes!(calls::end_call))
        .routes(routes!(patients::search_patients))
        .routes(routes!(patients::access_log))
        .routes(routes!(health))
        .split_for_parts();
    list_common_answers(&mut doc);
    (router, doc)
}

/// Adds to every operation the problem answers that come from the layers every route shares
/// rather than from its handler, so the document lists every status a route can answer: 401
/// and 403 (the authentication middleware: no valid token, a token naming no clinic) where a
/// token is needed; 400 (an unreadable path id, query
/// or body) where the route takes parameters or a body; 415 (not JSON) where it takes a body;
/// 503 (the database, schema registry or identity provider's keys unavailable) and 500 (a bug)
/// everywhere. A route's own annotation of one of these wins. Every error answer's body is a
/// [`problem::Problem`], declared here, not on each route.
fn list_common_answers(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let public = operation
                .security
                .as_ref()
                .is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()));
            let takes_input = operation.request_body.is_some()
                || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let common = [
                (!public, "401", "No valid bearer token"),
                (!public, "403", "The token names no clinic"),
                (takes_input, "400", "Invalid path, query or body fields (each named)"),
                (operation.request_body.is_some(), "415", "The body is not JSON"),
                (true, "500", "An unexpected failure (details only in the server's logs)"),
                (true, "503", "A dependency (database, schema registry, the identity provider's keys) is unavailable; retry later"),
            ];
            for (applies, status, description) in common {
                if applies {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem(description).into());
                }
            }
            // A route's own refusals are annotated with a status and a description only: every
            // error answer is a Problem, so its body is declared here once.
            for (status, response) in operation.responses.responses.iter_mut() {
                if let RefOr::T(response) = response {
                    if status.parse::<u16>().is_ok_and(|code| code >= 400)
                        && response.content.is_empty()
                    {
                        *response = problem(&response.description);
                    }
                }
            }
        }
    }
}

/// The OpenAPI document served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The one Router. Every route but [`auth::PUBLIC_PATHS`] requires a bearer token.
pub fn app(state: AppState) -> Router {
    let (router, doc) = routes();
    router
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json(doc) }),
        )
        .fallback(|| async {
            ApiError::NotFound {
                what: "route",
                field: None,
            }
        })
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// One log line per request: method, route, status and duration. The route is the matched
/// template (`/api/v1/appointments/{id}`), never the path as sent, the query string or the
/// body: a client can put anything there, a patient's name or email included. Refusals (4xx)
/// are logged at info and failures (5xx) at warn, so an error rate can be read off the logs.
async fn log_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.method().clone();
    let route = route_of(&request);
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let millis = started.elapsed().as_millis() as u64;
    if response.status().is_server_error() {
        tracing::warn!(%method, route, status, millis, "request failed");
    } else if response.status().is_client_error() {
        tracing::info!(%method, route, status, millis, "request refused");
    } else {
        tracing::debug!(%method, route, status, millis, "request served");
    }
    response
}

/// The route template a request matched, or `"unmatched"`: safe to log whatever was sent.
pub(crate) fn route_of(request: &axum::extract::Request) -> String {
    request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |route| route.as_str())
        .to_owned()
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Clients(#[from] ConnectError),
    #[error(transparent)]
    Keys(#[from] auth::KeyError),
}

/// Builds the state from config (the pool, the registry client and the token verifier), once.
pub async fn build_state(config: &Config) -> Result<AppState, StartError> {
    let FunctionContext {
        pool,
        registry,
        publisher,
        ..
    } = FunctionContext::connect(&config.clients).await?;
    Ok(AppState {
        pool,
        registry,
        publisher,
        auth: Arc::new(
            auth::Verifier::new(
                &config.auth_issuer,
                &config.auth_audience,
                auth::KeySource::Url(config.auth_jwks_url.clone()),
            )?
            .with_max_age(config.auth_jwks_max_age),
        ),
    })
}
