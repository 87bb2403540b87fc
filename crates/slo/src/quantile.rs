//! Prometheus' `histogram_quantile` for classic buckets, reproduced exactly
//! (`promql/quantile.go`: `bucketQuantile`, `coalesceBuckets`,
//! `ensureMonotonicAndIgnoreSmallDeltas`).

/// Deltas smaller than this (relative) between adjacent buckets are float noise, not data.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// The `q`-quantile of cumulative buckets `(upper_bound, count)`, in the bounds' unit, with
/// Prometheus' semantics: buckets sorted and equal bounds summed; counts made monotonic; NaN
/// when the highest bound is not `+Inf`, with fewer than two buckets or no observations;
/// linear interpolation inside the bucket, the first bucket starting at 0 when its bound is
/// positive; a rank in the `+Inf` bucket gives the highest finite bound. `q < 0` gives −∞ and
/// `q > 1` gives +∞.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut buckets = buckets.to_vec();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    coalesce(&mut buckets);
    ensure_monotonic(&mut buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let finite = buckets.len() - 1;
    let b = buckets[..finite]
        .iter()
        .position(|bucket| bucket.1 >= rank)
        .unwrap_or(finite);
    if b == finite {
        return buckets[finite - 1].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// The quantile as an option: `None` where Prometheus answers NaN (no data).
pub fn quantile_or_none(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    Some(histogram_quantile(q, buckets)).filter(|v| !v.is_nan())
}

/// Sums buckets with the same upper bound (`le="1"` and `le="1.0"` from different series).
/// Expects the buckets sorted.
fn coalesce(buckets: &mut Vec<(f64, f64)>) {
    buckets.dedup_by(|next, kept| {
        if next.0 == kept.0 {
            kept.1 += next.1;
            true
        } else {
            false
        }
    });
}

/// Forces counts to be non-decreasing: a count below its predecessor is raised to it, and one
/// almost equal to it (float noise from summing) is set to it.
fn ensure_monotonic(buckets: &mut [(f64, f64)]) {
    let mut prev = buckets[0].1;
    for bucket in &mut buckets[1..] {
        let curr = bucket.1;
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) || curr < prev {
            bucket.1 = prev;
        } else {
            prev = curr;
        }
    }
}

/// Go's `util/almost.Equal`: relative comparison, absolute near zero.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INF: f64 = f64::INFINITY;

    #[test]
    fn worked_fixtures_from_the_prometheus_notes() {
        let b = [(10.0, 50.0), (20.0, 90.0), (30.0, 100.0), (INF, 100.0)];
        assert_eq!(histogram_quantile(0.95, &b), 25.0);
        let tail = [(40000.0, 98.0), (50000.0, 99.0), (INF, 100.0)];
        assert_eq!(histogram_quantile(0.999, &tail), 50000.0);
    }

    #[test]
    fn first_bucket_interpolates_from_zero() {
        assert_eq!(histogram_quantile(0.5, &[(10.0, 10.0), (INF, 10.0)]), 5.0);
        assert_eq!(histogram_quantile(0.5, &[(-1.0, 10.0), (INF, 10.0)]), -1.0);
    }

    #[test]
    fn nan_cases() {
        assert!(
            histogram_quantile(0.5, &[(10.0, 1.0), (20.0, 2.0)]).is_nan(),
            "no +Inf bucket"
        );
        assert!(histogram_quantile(0.5, &[(INF, 3.0)]).is_nan(), "a single bucket");
        assert!(
            histogram_quantile(0.5, &[(10.0, 0.0), (INF, 0.0)]).is_nan(),
            "no observations"
        );
        assert!(histogram_quantile(f64::NAN, &[(10.0, 1.0), (INF, 1.0)]).is_nan());
        assert!(histogram_quantile(0.5, &[]).is_nan());
        assert_eq!(quantile_or_none(0.5, &[(10.0, 0.0), (INF, 0.0)]), None);
    }

    #[test]
    fn out_of_range_q() {
        let b = [(10.0, 1.0), (INF, 1.0)];
        assert_eq!(histogram_quantile(-0.1, &b), f64::NEG_INFINITY);
        assert_eq!(histogram_quantile(1.1, &b), INF);
    }

    #[test]
    fn equal_bounds_are_summed_and_order_does_not_matter() {
        let split = [(INF, 6.0), (10.0, 2.0), (20.0, 3.0), (10.0, 2.0), (20.0, 3.0)];
        let joined = [(10.0, 4.0), (20.0, 6.0), (INF, 6.0)];
        assert_eq!(histogram_quantile(0.5, &split), histogram_quantile(0.5, &joined));
    }

    #[test]
    fn non_monotonic_counts_are_flattened() {
        // 8 at le=20 is below 10 at le=10: treated as 10.
        let b = [(10.0, 10.0), (20.0, 8.0), (30.0, 20.0), (INF, 20.0)];
        assert_eq!(histogram_quantile(0.75, &b), 25.0);
    }

    #[test]
    fn rank_on_a_bucket_boundary_takes_the_lower_bucket() {
        let b = [(1.0, 5.0), (2.0, 10.0), (INF, 10.0)];
        assert_eq!(histogram_quantile(0.5, &b), 1.0);
        assert_eq!(histogram_quantile(1.0, &b), 2.0);
        assert_eq!(histogram_quantile(0.0, &b), 0.0);
    }

    fn histogram() -> impl Strategy<Value = Vec<(f64, f64)>> {
        proptest::collection::vec((1u32..50_000, 0u32..1000), 1..26).prop_map(|raw| {
            let mut bounds: Vec<f64> = raw.iter().map(|(b, _)| f64::from(*b)).collect();
            bounds.sort_by(f64::total_cmp);
            bounds.dedup();
            let mut cumulative = 0.0;
            let mut out: Vec<(f64, f64)> = bounds
                .iter()
                .zip(&raw)
                .map(|(le, (_, n))| {
                    cumulative += f64::from(*n);
                    (*le, cumulative)
                })
                .collect();
            out.push((INF, cumulative + f64::from(raw[0].1 % 7)));
            out
        })
    }

    proptest! {
        #[test]
        fn quantile_is_monotonic_in_q(b in histogram(), q1 in 0.0f64..=1.0, q2 in 0.0f64..=1.0) {
            let (lo, hi) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
            let (a, z) = (histogram_quantile(lo, &b), histogram_quantile(hi, &b));
            prop_assume!(!a.is_nan());
            prop_assert!(a <= z, "q {lo} -> {a}, q {hi} -> {z}");
        }

        #[test]
        fn quantile_stays_within_the_finite_bounds(b in histogram(), q in 0.0f64..=1.0) {
            let v = histogram_quantile(q, &b);
            prop_assume!(!v.is_nan());
            let highest_finite = b[b.len() - 2].0;
            prop_assert!((0.0..=highest_finite).contains(&v), "{v} outside [0, {highest_finite}]");
        }

        #[test]
        fn splitting_a_histogram_into_two_series_changes_nothing(b in histogram(), q in 0.0f64..=1.0) {
            let halves: Vec<(f64, f64)> = b.iter().flat_map(|&(le, c)| [(le, c / 2.0), (le, c / 2.0)]).collect();
            let (whole, split) = (histogram_quantile(q, &b), histogram_quantile(q, &halves));
            prop_assert!(whole == split || (whole.is_nan() && split.is_nan()) || (whole - split).abs() < 1e-9 * whole.abs().max(1.0));
        }

        #[test]
        fn scaling_all_counts_changes_nothing(b in histogram(), q in 0.0f64..=1.0, k in 1u32..100) {
            let scaled: Vec<(f64, f64)> = b.iter().map(|&(le, c)| (le, c * f64::from(k))).collect();
            let (x, y) = (histogram_quantile(q, &b), histogram_quantile(q, &scaled));
            prop_assert!(x == y || (x.is_nan() && y.is_nan()) || (x - y).abs() < 1e-9 * x.abs().max(1.0));
        }
    }
}
