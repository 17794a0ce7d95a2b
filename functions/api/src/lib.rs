//! The HTTP API function (API Gateway HTTP API → Lambda via lambda_http).
//!
//! `app()` is the one Router: the Lambda entry point (`main.rs`), the local stack's server and
//! the tests all serve exactly this. The OpenAPI document is generated from the same routes.

pub mod appointment_commands;
pub mod appointments;
pub mod clinics;
pub mod extract;
pub mod problem;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use axum::{Json, Router};
use contract::SchemaRegistry;
use problem::ApiError;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Clients built once per process (Lambda init, or the local server's start).
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub registry: SchemaRegistry,
    /// Publishes a booking's outbox rows right after commit; None leaves them to the relay.
    pub publisher: Option<messaging::Publisher>,
}

/// Settings read from the environment once.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub registry_name: String,
    pub db_max_connections: u32,
    pub kafka_bootstrap: Option<String>,
}

impl Config {
    /// `DATABASE_URL` (required), `SCHEMA_REGISTRY_NAME` (default `clinic-scheduling`),
    /// `DB_MAX_CONNECTIONS` (default 5: a Lambda instance serves one request at a time),
    /// `KAFKA_BOOTSTRAP_SERVERS` (optional: publish bookings right after commit).
    pub fn from_env() -> anyhow::Result<Self> {
        let database_url = std::env::var("DATABASE_URL")
            .map_err(|_| anyhow::anyhow!("DATABASE_URL is not set"))?;
        let registry_name = std::env::var("SCHEMA_REGISTRY_NAME")
            .unwrap_or_else(|_| contract::DEFAULT_REGISTRY_NAME.to_owned());
        let db_max_connections = match std::env::var("DB_MAX_CONNECTIONS") {
            Ok(v) => v
                .parse()
                .map_err(|_| anyhow::anyhow!("DB_MAX_CONNECTIONS must be a positive integer"))?,
            Err(_) => 5,
        };
        Ok(Self {
            database_url,
            registry_name,
            db_max_connections,
            kafka_bootstrap: std::env::var("KAFKA_BOOTSTRAP_SERVERS").ok(),
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Optometry call center scheduling API", version = "1.0.0",
         description = "Book, list, inspect, cancel and complete eye-exam appointments. Errors are RFC 7807 problem+json."),
    tags((name = "appointments"), (name = "clinics"), (name = "health"))
)]
struct ApiDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Liveness plus a database round trip.
#[utoipa::path(get, path = "/api/v1/health", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = problem::Problem, content_type = "application/problem+json")))]
async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    sqlx::query("SELECT 1")
        .execute(&state.pool)
        .await
        .map_err(store::StoreError::from)?;
    Ok(Json(Health { status: "ok" }))
}

/// The routes and their OpenAPI document, built from the same handler list.
fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            appointments::book_appointment,
            appointments::list_appointments
        ))
        .routes(routes!(appointments::get_appointment))
        .routes(routes!(appointment_commands::cancel_appointment))
        .routes(routes!(appointment_commands::complete_appointment))
        .routes(routes!(clinics::list_clinics))
        .routes(routes!(clinics::availability))
        .routes(routes!(health))
        .split_for_parts()
}

/// The OpenAPI document served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The one Router.
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
        .with_state(state)
}

/// Builds the state from config: the pool and the registry client, once.
pub async fn build_state(config: &Config) -> anyhow::Result<AppState> {
    let pool = store::connect(
        &config.database_url,
        store::PoolSettings {
            max_connections: config.db_max_connections,
            ..Default::default()
        },
    )
    .await?;
    let registry = SchemaRegistry::from_env(&config.registry_name).await;
    let publisher = match &config.kafka_bootstrap {
        Some(bootstrap) => Some(messaging::Publisher::new(pool.clone(), bootstrap)?),
        None => None,
    };
    Ok(AppState {
        pool,
        registry,
        publisher,
    })
}
