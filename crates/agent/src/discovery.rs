//! Kubernetes discovery of scrape targets (in progress).
