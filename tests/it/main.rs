//! All workspace integration tests, in one binary so the moto server is shared.
//! Each test gets its own fresh PostgreSQL database from `#[sqlx::test]` (DATABASE_URL names
//! the server) with the store's migrations applied.

mod adapter;
mod api_booking;
mod api_commands;
mod api_read;
mod commands;
mod insurance;
mod notifications;
mod pipeline;
mod saga;
mod stack;
mod support;
mod template;
