//! The simulator's one error type.

/// What can go wrong in the simulator; the Kubernetes API turns these into `Status` objects.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    #[error("{kind} \"{name}\" not found{}", if namespace.is_empty() { String::new() } else { format!(" in namespace {namespace}") })]
    NotFound {
        kind: &'static str,
        namespace: String,
        name: String,
    },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot serve {what}: {source}")]
    Serve { what: String, source: std::io::Error },
}
