//! The local stack's building blocks, shared by the `clinic-local` command and the tests:
//! supervising tansu and moto, preparing the database, the pipeline of functions, the local
//! identity provider and the guard on its routes, projection rebuilds and serving the dashboard.

pub mod auth;
pub mod aws_init;
pub mod dashboard;
pub mod functions;
pub mod guard;
pub mod moto;
pub mod process;
pub mod rebuild;
pub mod stack;
pub mod tansu;
pub mod topics;

use sqlx::migrate::MigrateDatabase;
use sqlx::Postgres;

/// Creates the database named in `database_url` if it does not exist, then applies migrations.
pub async fn prepare_database(database_url: &str) -> anyhow::Result<sqlx::PgPool> {
    if !Postgres::database_exists(database_url).await? {
        Postgres::create_database(database_url).await?;
    }
    let pool = store::connect(
        database_url,
        store::PoolSettings {
            max_connections: 20,
            ..Default::default()
        },
    )
    .await?;
    store::MIGRATOR.run(&pool).await?;
    Ok(pool)
}
