//! Serves the built dashboard (`dashboard/dist`, built by `npm run build`) on the API's port,
//! as CloudFront does in the cloud: `/api/*` and `/_local/*` stay the API's (with its own
//! problem+json 404), a file in dist is served as it is, and any other path gets index.html so
//! the app's own routes (`/book`, `/appointments/{id}`) survive a reload. Every dashboard
//! response carries the Content-Security-Policy of `dashboard/csp.txt`, the policy CloudFront
//! sends in the cloud (which adds the identity provider to connect-src), so the browser tests
//! run under it.

use axum::extract::Request;
use axum::response::IntoResponse;
use axum::Router;
use std::path::PathBuf;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// The dashboard's Content-Security-Policy (terraform/dashboard.tf sends the same).
pub const CONTENT_SECURITY_POLICY: &str = include_str!("../../../dashboard/csp.txt");

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
    let files = ServeDir::new(&dist).fallback(ServeFile::new(index));
    // Split by prefix rather than by route: a wildcard route would add its own path parameter,
    // which the API's `Path` extractors would then see as one too many.
    Router::new().fallback_service(tower::service_fn(move |request: Request| {
        let (api, files) = (api.clone(), files.clone());
        async move {
            let path = request.uri().path();
            if path.starts_with("/api/") || path.starts_with("/_local/") {
                api.oneshot(request).await
            } else {
                let mut response = files.oneshot(request).await.into_response();
                response.headers_mut().insert(
                    axum::http::header::CONTENT_SECURITY_POLICY,
                    axum::http::HeaderValue::from_static(CONTENT_SECURITY_POLICY.trim_ascii()),
                );
                Ok(response)
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_one_header_value_whose_connect_src_the_cloud_extends() {
        let policy = CONTENT_SECURITY_POLICY.trim_ascii();
        assert!(axum::http::HeaderValue::from_str(policy).is_ok());
        // terraform/dashboard.tf adds the identity provider after exactly this text.
        assert!(policy.contains("connect-src 'self';"), "{policy}");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe-"), "{policy}");
    }
}
