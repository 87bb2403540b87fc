//! A loopback fake Kubernetes API (in progress).
