//! Serves the built dashboard (`dashboard/dist`, built by `npm run build`) on the API's port,
//! as CloudFront does in the cloud: `/api/*` and `/_local/*` stay the API's (with its own
//! problem+json 404), a file in dist is served as it is, and any other path gets index.html so
//! the app's own routes (`/book`, `/appointments/{id}`) survive a reload.

use axum::Router;
use std::path::PathBuf;
use tower_http::services::{ServeDir, ServeFile};

/// Where `npm run build` puts the dashboard.
pub fn dist_dir() -> PathBuf {
    crate::moto::workspace_root().join("dashboard/dist")
}

/// `api` for the API's paths, the dashboard for everything else.
pub fn with_dashboard(api: Router) -> Router {
    let dist = dist_dir();
    let index = dist.join("index.html");
    if !index.is_file() {
        tracing::warn!(
            "the dashboard is not built ({} is missing): run `npm ci && npm run build` in dashboard/ \
             (scripts/run.sh does); serving the API only",
            index.display()
        );
    }
    // A Router is mounted with `nest`, which strips the prefix; the API's routes are absolute,
    // so it is mounted as a plain service that sees the whole path.
    let api = api.into_service::<axum::body::Body>();
    Router::new()
        .route_service("/api/{*path}", api.clone())
        .route_service("/_local/{*path}", api)
        .fallback_service(ServeDir::new(&dist).fallback(ServeFile::new(index)))
}
