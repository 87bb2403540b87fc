//! Who calls the JSON API: the bearer token becomes a [`Caller`], and a handler that needs a
//! role takes the role's proof ([`Viewer`], [`Operator`], [`Admin`]) as an extractor, so a
//! handler without the check does not compile against a service that wants the proof. A
//! caller below the role gets 403 (reads are not audited; changes are authorized by the
//! service, which audits a refusal).

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::http::{ApiError, bearer, source_addr};
use crate::service::access::{Admin, Caller, Operator, Viewer, require};
use crate::service::{App, ServiceError};

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        Ok(app.access.caller(token, source_addr(parts)).await?)
    }
}

/// What a proof extractor refuses a caller below its role for, by request.
fn what(parts: &Parts) -> String {
    format!("{} {}", parts.method, parts.uri.path())
}

macro_rules! proof_extractor {
    ($proof:ty) => {
        impl FromRequestParts<App> for $proof {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
                let caller = Caller::from_request_parts(parts, app).await?;
                require::<$proof>(caller, &what(parts)).map_err(ApiError::from)
            }
        }
    };
}

proof_extractor!(Viewer);
proof_extractor!(Operator);
proof_extractor!(Admin);

/// The caller's source address, parsed (login rate limiting is per address).
pub struct Source(pub Option<IpAddr>);

impl FromRequestParts<App> for Source {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, ApiError> {
        Ok(Self(source_addr(parts).parse().ok()))
    }
}

/// A required query parameter, or 400 naming it.
pub fn required(name: &str, value: Option<String>) -> Result<String, ApiError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ServiceError::bad_request(format!("missing query parameter {name:?}")).into()),
    }
}
