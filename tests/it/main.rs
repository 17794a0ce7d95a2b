//! All workspace integration tests, in one binary so the moto server is shared.
//! Each test gets its own fresh PostgreSQL database from `#[sqlx::test]` (DATABASE_URL names
//! the server) with the store's migrations applied.

use clinic_tests::{stack, support};

mod adapter;
mod api_booking;
mod api_calls;
mod api_commands;
mod api_read;
mod audit;
mod auth;
mod broker;
mod cognito;
mod commands;
mod deploy;
mod hostile;
mod idempotency;
mod insurance;
mod metrics;
mod notifications;
mod openapi_driven;
mod phi_logs;
mod pipeline;
mod publisher;
mod rebuild;
mod retention;
mod saga;
mod template;
