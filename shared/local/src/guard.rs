//! The guard on the local stack's own routes (`/_local/*`: sign-in tokens, projection rebuilds,
//! the mappings' status). They carry no bearer auth (they are how a developer gets a token), so
//! two checks keep other web pages out of them:
//!
//! - **Host allow-list**: the request's `Host` must name the loopback (`127.0.0.1`, `localhost`
//!   or `[::1]`, any port). A DNS-rebinding page (a foreign name made to resolve to 127.0.0.1)
//!   sends its own name, and is refused before it can read a token.
//! - **A non-simple header on every request that changes state or returns a token** (every
//!   method but GET and HEAD): [`LOCAL_HEADER`], any value. A cross-site form post or a no-cors
//!   fetch cannot send it, and a cross-site fetch that does must pass a CORS preflight this
//!   server never grants. The dashboard's sign-in and `clinic-local rebuild` send it.
//!
//! Either refusal is a 403 problem document naming the header.

use api::problem::{FieldError, Problem};
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// The header a state-changing or token-issuing local request must carry.
pub const LOCAL_HEADER: &str = "x-clinic-local";

/// The host names the local routes answer to.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// `routes`, behind the guard.
pub fn guarded(routes: Router) -> Router {
    routes.layer(middleware::from_fn(guard))
}

async fn guard(request: Request, next: Next) -> Response {
    if let Err((header_name, message)) = check(request.method(), request.headers()) {
        return refused(header_name, message);
    }
    next.run(request).await
}

fn check(method: &Method, headers: &HeaderMap) -> Result<(), (&'static str, &'static str)> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = match host.rsplit_once(':') {
        // `[::1]:8080` or `localhost:8080`; a bare `[::1]` has its colons inside the brackets.
        Some((name, port)) if !port.contains(']') => name,
        _ => host,
    };
    if !LOOPBACK_HOSTS.contains(&name) {
        return Err((
            "Host",
            "must be 127.0.0.1, localhost or [::1]: the local routes answer only to this machine",
        ));
    }
    if !matches!(*method, Method::GET | Method::HEAD) && !headers.contains_key(LOCAL_HEADER) {
        return Err((
            "X-Clinic-Local",
            "is required on local requests that change state or issue a token",
        ));
    }
    Ok(())
}

fn refused(header_name: &str, message: &str) -> Response {
    Problem {
        kind: "/problems/forbidden".to_owned(),
        title: "Refused by the local stack's guard".to_owned(),
        status: StatusCode::FORBIDDEN.as_u16(),
        detail: format!("{header_name} {message}."),
        errors: vec![FieldError::new(header_name, message)],
        appointment_status: None,
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    header::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn loopback_hosts_pass_with_or_without_a_port() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "localhost:3000",
            "[::1]",
            "[::1]:8080",
        ] {
            assert_eq!(
                check(&Method::GET, &headers(&[("host", host)])),
                Ok(()),
                "{host}"
            );
        }
    }

    #[test]
    fn foreign_or_missing_hosts_are_refused() {
        for host in [
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io:8080",
            "",
        ] {
            assert_eq!(
                check(&Method::GET, &headers(&[("host", host)])).map_err(|e| e.0),
                Err("Host"),
                "{host}"
            );
        }
        assert_eq!(
            check(&Method::GET, &HeaderMap::new()).map_err(|e| e.0),
            Err("Host")
        );
    }

    #[test]
    fn a_post_needs_the_local_header() {
        let bare = headers(&[("host", "127.0.0.1:8080")]);
        assert_eq!(
            check(&Method::POST, &bare).map_err(|e| e.0),
            Err("X-Clinic-Local")
        );
        let marked = headers(&[("host", "127.0.0.1:8080"), (LOCAL_HEADER, "1")]);
        assert_eq!(check(&Method::POST, &marked), Ok(()));
    }
}
