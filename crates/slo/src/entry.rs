//! From counters to an SLO entry (DESIGN.md §5.3).

use atlhyper_model::{ServiceSlo, SloCounters, SloGroupKey, Timestamp};

use crate::quantile::quantile_or_none;

/// The entry of one group over `seconds`: success rate over responses, quantiles over the
/// summed buckets, request rate over the window. Ratios and quantiles are `None` without data.
pub fn entry_from_counters(
    key: &SloGroupKey,
    counters: &SloCounters,
    seconds: f64,
    at: Timestamp,
) -> ServiceSlo {
    let buckets = bucket_pairs(counters);
    ServiceSlo {
        kind: key.kind,
        source: key.source.clone(),
        source_namespace: key.source_namespace.clone(),
        target: key.target.clone(),
        namespace: key.namespace.clone(),
        success_rate: success_rate(counters),
        latency_p50: quantile_or_none(0.50, &buckets),
        latency_p95: quantile_or_none(0.95, &buckets),
        latency_p99: quantile_or_none(0.99, &buckets),
        request_rate: if seconds > 0.0 {
            counters.total / seconds
        } else {
            0.0
        },
        total_requests: whole(counters.total),
        success_requests: whole(counters.success),
        timestamp: at,
    }
}

/// 100 × success / (success + failure); `None` with no responses.
pub fn success_rate(counters: &SloCounters) -> Option<f64> {
    let responses = counters.success + counters.failure;
    (responses > 0.0).then(|| 100.0 * counters.success / responses)
}

/// The buckets as `histogram_quantile` input, the `+Inf` bucket last.
pub fn bucket_pairs(counters: &SloCounters) -> Vec<(f64, f64)> {
    let mut pairs: Vec<(f64, f64)> = counters.buckets.iter().map(|b| (b.le, b.count)).collect();
    pairs.push((f64::INFINITY, counters.observations));
    pairs
}

/// A counter increase as a count: counters from Linkerd and Traefik are whole numbers.
fn whole(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // finite, positive, rounded
        let n = value.round() as u64;
        n
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atlhyper_model::SloType;

    fn key() -> SloGroupKey {
        SloGroupKey {
            kind: SloType::Ingress,
            source: "shop.example.com".into(),
            source_namespace: String::new(),
            target: String::new(),
            namespace: String::new(),
        }
    }

    #[test]
    fn no_traffic_gives_nulls_not_zero_or_hundred() {
        let e = entry_from_counters(&key(), &SloCounters::default(), 30.0, Timestamp(0));
        assert_eq!((e.success_rate, e.latency_p50, e.latency_p99), (None, None, None));
        assert_eq!((e.request_rate, e.total_requests), (0.0, 0));
    }

    #[test]
    fn rates_and_quantiles() {
        let mut c = SloCounters {
            total: 60.0,
            success: 57.0,
            failure: 3.0,
            observations: 60.0,
            ..Default::default()
        };
        c.add_bucket(10.0, 30.0);
        c.add_bucket(20.0, 60.0);
        let e = entry_from_counters(&key(), &c, 30.0, Timestamp(0));
        assert_eq!(e.success_rate, Some(95.0));
        assert_eq!(e.request_rate, 2.0);
        assert_eq!((e.latency_p50, e.latency_p95), (Some(10.0), Some(19.0)));
        assert_eq!((e.total_requests, e.success_requests), (60, 57));
    }
}
