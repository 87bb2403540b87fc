//! What the three HTTP adapters share without importing one another: the JSON error answer,
//! the bearer token and source address of a request, and the middleware every listener runs
//! (a trace span per request, a whole-request timeout, a panic caught into a 500).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::service::{ErrorKind, ServiceError};

/// A JSON API error: a status and a lowercase message, as `{"error": "…"}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
}

/// The HTTP status of a service error's kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self::new(status_of(e.kind), e.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// `201 Created` with a JSON body.
pub fn created<T: serde::Serialize>(body: T) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The caller's address, as the audit log records it.
pub fn source_addr(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_default()
}

/// The whole-request limit of the Gateway (API and pages).
pub const GATEWAY_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole-request limit of the agent channel: above the longest command poll (60 s).
pub const AGENTSDK_TIMEOUT: Duration = Duration::from_secs(75);

/// A panic in a handler: logged, answered 500, the connection kept.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    let e = ServiceError::internal("handling a request", what);
    ApiError::from(e).into_response()
}

/// The middleware of every listener: a trace span per request, `timeout` for the whole
/// request (408 past it), and a caught panic answered 500.
pub fn with_middleware<S: Clone + Send + Sync + 'static>(router: Router<S>, timeout: Duration) -> Router<S> {
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(TraceLayer::new_for_http())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn call(router: Router, path: &str) -> (StatusCode, String) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_with_a_reference_not_a_reset() {
        async fn boom() -> &'static str {
            panic!("index out of bounds in a parser")
        }
        let router = with_middleware(Router::new().route("/boom", get(boom)), GATEWAY_TIMEOUT);
        let (status, body) = call(router, "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("reference"), "{body}");
        assert!(
            !body.contains("index out of bounds"),
            "the panic's text stays in the log: {body}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_past_the_timeout_is_a_408() {
        let router = with_middleware(
            Router::new().route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "late"
                }),
            ),
            Duration::from_secs(5),
        );
        let (status, _) = call(router, "/slow").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    }

    #[test]
    fn every_kind_has_its_status() {
        assert_eq!(status_of(ErrorKind::TooLarge), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(status_of(ErrorKind::Unavailable), StatusCode::SERVICE_UNAVAILABLE);
        let e = ApiError::from(ServiceError::not_found("unknown cluster \"x\""));
        assert_eq!(
            (e.status, e.message.as_str()),
            (StatusCode::NOT_FOUND, "unknown cluster \"x\"")
        );
    }
}
