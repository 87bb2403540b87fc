//! SLO entries (seed 000 §4.2, DESIGN.md §5.4) and the counters they are computed from.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The layer an SLO entry measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloType {
    /// Traffic entering the cluster: Linkerd inbound on the ingress controller, or Traefik.
    Ingress,
    /// Service-to-service calls inside the mesh: Linkerd outbound.
    Service,
}

impl SloType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Service => "service",
        }
    }
}

/// What identifies one SLO group: an ingress domain, or a (client workload → service) edge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SloGroupKey {
    #[serde(rename = "type")]
    pub kind: SloType,
    /// Ingress: the domain (authority) or Traefik service. Service: the client workload.
    pub source: String,
    /// Service: the client workload's namespace. Ingress: empty.
    #[serde(default)]
    pub source_namespace: String,
    /// Service: the destination Service. Ingress: the backend when known, else empty.
    pub target: String,
    /// The destination namespace (ingress: the backend's, when known).
    pub namespace: String,
}

/// One cumulative histogram bucket: `count` observations at or below `le` (finite, in ms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyBucket {
    pub le: f64,
    pub count: f64,
}

/// Counter increases of one SLO group over an interval: counters, never ratios, so that any
/// window is the exact sum of its intervals (DESIGN.md §5.5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SloCounters {
    /// Increase of requests (`request_total`, Traefik `requests_total`).
    pub total: f64,
    /// Responses classified as success.
    pub success: f64,
    /// Responses classified as failure.
    pub failure: f64,
    /// Increase of each finite latency bucket, cumulative as in Prometheus, in ms, ascending.
    #[serde(default)]
    pub buckets: Vec<LatencyBucket>,
    /// Increase of the `+Inf` bucket: all latency observations.
    #[serde(default)]
    pub observations: f64,
}

impl SloCounters {
    /// Adds another interval's counters; buckets with the same bound (compared as numbers)
    /// are summed.
    pub fn merge(&mut self, other: &Self) {
        self.total += other.total;
        self.success += other.success;
        self.failure += other.failure;
        self.observations += other.observations;
        for bucket in &other.buckets {
            self.add_bucket(bucket.le, bucket.count);
        }
    }

    /// Adds `count` to the finite bucket `le` (ms), keeping buckets sorted by bound.
    pub fn add_bucket(&mut self, le: f64, count: f64) {
        match self.buckets.binary_search_by(|b| b.le.total_cmp(&le)) {
            Ok(i) => self.buckets[i].count += count,
            Err(i) => self.buckets.insert(i, LatencyBucket { le, count }),
        }
    }

    /// Whether nothing happened in the interval.
    pub fn is_zero(&self) -> bool {
        self.total == 0.0 && self.success == 0.0 && self.failure == 0.0 && self.observations == 0.0
    }
}

/// One SLO entry as the agent reports it and the API serves it (seed 000 `ServiceSLO`, plus
/// `source_namespace` and `latency_p95`). Ratios and quantiles are `null` when there was no
/// traffic to compute them from, never 0 or 100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSlo {
    #[serde(rename = "type")]
    pub kind: SloType,
    pub source: String,
    #[serde(default)]
    pub source_namespace: String,
    pub target: String,
    pub namespace: String,
    /// 100 × success / (success + failure).
    pub success_rate: Option<f64>,
    pub latency_p50: Option<f64>,
    #[serde(default)]
    pub latency_p95: Option<f64>,
    pub latency_p99: Option<f64>,
    /// Requests per second over the window.
    pub request_rate: f64,
    pub total_requests: u64,
    pub success_requests: u64,
    pub timestamp: Timestamp,
}

impl ServiceSlo {
    pub fn key(&self) -> SloGroupKey {
        SloGroupKey {
            kind: self.kind,
            source: self.source.clone(),
            source_namespace: self.source_namespace.clone(),
            target: self.target.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

/// The SLO entries of one cluster at one time (seed 000 `SLOSnapshot`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloSnapshot {
    pub cluster_id: String,
    pub ingress: Vec<ServiceSlo>,
    pub services: Vec<ServiceSlo>,
    pub timestamp: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sums_counters_and_buckets_by_numeric_bound() {
        let mut a = SloCounters {
            total: 3.0,
            success: 2.0,
            failure: 1.0,
            observations: 3.0,
            ..Default::default()
        };
        a.add_bucket(10.0, 2.0);
        a.add_bucket(1.0, 1.0);
        let mut b = SloCounters {
            total: 1.0,
            success: 1.0,
            observations: 1.0,
            ..Default::default()
        };
        b.add_bucket(10.0, 1.0);
        b.add_bucket(5.0, 0.0);
        a.merge(&b);
        assert_eq!(
            (a.total, a.success, a.failure, a.observations),
            (4.0, 3.0, 1.0, 4.0)
        );
        let bounds: Vec<(f64, f64)> = a.buckets.iter().map(|b| (b.le, b.count)).collect();
        assert_eq!(bounds, vec![(1.0, 1.0), (5.0, 0.0), (10.0, 3.0)]);
    }

    #[test]
    fn entry_serializes_with_seed_field_names_and_nulls() {
        let entry = ServiceSlo {
            kind: SloType::Service,
            source: "web".into(),
            source_namespace: "shop".into(),
            target: "api".into(),
            namespace: "shop".into(),
            success_rate: None,
            latency_p50: None,
            latency_p95: None,
            latency_p99: None,
            request_rate: 0.0,
            total_requests: 0,
            success_requests: 0,
            timestamp: Timestamp::from_unix_seconds(1_764_000_000),
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["type"], "service");
        assert_eq!(json["success_rate"], serde_json::Value::Null);
        assert_eq!(json["timestamp"], "2025-11-24T16:00:00Z");
        let back: ServiceSlo = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
    }
}
