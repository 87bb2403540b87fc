//! What a service call can fail with: a kind an adapter maps to its own answer (an HTTP status,
//! an error page) and a message fit for the caller. Store failures are logged in full here and
//! reach the caller only as a reference: database text never leaves the master.

use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong; the message says how.
    BadRequest,
    /// No valid credentials.
    Unauthorized,
    /// Valid credentials, not enough role.
    Forbidden,
    NotFound,
    Conflict,
    /// A body beyond its size limit.
    TooLarge,
    /// A body in an encoding the master does not read.
    UnsupportedEncoding,
    TooManyRequests,
    /// Try again later (a busy database, a full queue).
    Unavailable,
    /// The master's fault; the message is a reference to its log.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    pub kind: ErrorKind,
    pub message: String,
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// An internal failure: `detail` goes to the log with a reference, the caller gets only
    /// the reference.
    pub fn internal(what: &str, detail: impl std::fmt::Display) -> Self {
        let reference = reference();
        tracing::error!(reference, error = %detail, "{what}");
        Self::new(
            ErrorKind::Internal,
            format!("{what}: internal error (reference {reference} in the master's log)"),
        )
    }
}

/// A short random reference that ties a caller's error to the log line with the detail.
fn reference() -> String {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return "none".to_owned();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::not_found(format!("{what} not found")),
            StoreError::Conflict { what } => Self::conflict(format!("{what} already exists")),
            StoreError::Invalid { what, message } => Self::bad_request(format!("invalid {what}: {message}")),
            StoreError::Database(sqlx::Error::PoolTimedOut) => {
                tracing::warn!("the database pool timed out");
                Self::new(ErrorKind::Unavailable, "the database is busy; try again")
            }
            other => Self::internal("store failure", other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_text_never_reaches_the_caller() {
        let e = ServiceError::from(StoreError::Database(sqlx::Error::Protocol(
            "near \"SELEC\": syntax error in users".into(),
        )));
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(
            !e.message.contains("SELEC") && !e.message.contains("users"),
            "{e}"
        );
        assert!(e.message.contains("reference"), "{e}");
        let corrupt = ServiceError::from(StoreError::Corrupt {
            what: "commands.payload",
            message: "expected value at line 1".into(),
        });
        assert!(!corrupt.message.contains("commands.payload"), "{corrupt}");
        let missing = ServiceError::from(StoreError::NotFound {
            what: "user \"nina\"".into(),
        });
        assert_eq!(
            (missing.kind, missing.message.as_str()),
            (ErrorKind::NotFound, "user \"nina\" not found")
        );
    }
}
