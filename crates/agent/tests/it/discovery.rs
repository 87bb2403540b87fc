//! Discovery against the fake Kubernetes API (in progress).
