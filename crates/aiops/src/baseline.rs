//! M2 channel A: an exponentially weighted mean and variance per (entity, metric), a cold
//! start, and a sigmoid anomaly score.
//!
//! Each sample is first judged against the baseline as it was, then learnt:
//!
//! - deviation d = (x − EMA) / σ, counted only in the metric's bad direction, with
//!   σ = max(√variance, the metric's σ floor, 1 % of |EMA|);
//! - score = 1 / (1 + e^(−k·(d − 3))), anomalous iff d > 3;
//! - a normal sample is learnt: EMA ← α·x + (1 − α)·EMA and
//!   variance ← (1 − α)·(variance + α·(x − EMA_old)²);
//! - an anomalous sample only pulls the EMA, by α times its distance clipped to the 3σ band,
//!   and leaves the variance alone. A lasting shift of d σ is thus learnt in about
//!   (d − 3) / (3α) samples (≈ 70 for 10σ, 12 minutes at 10 s) instead of the two or three
//!   samples the original needed (it learnt every sample in full, and an outlier's square
//!   inflated σ at once).
//!
//! The first [`BaselineConfig::cold_start_samples`] samples only teach; a metric that has been
//! zero for [`BaselineConfig::zero_fast_track`] samples in a row is warm at once, because a
//! zero-only metric (restarts, errors) has nothing more to teach.

use serde::{Deserialize, Serialize};

use crate::metric::{Direction, Metric};

/// Tuning of channel A. Defaults are the original's constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BaselineConfig {
    /// EMA smoothing factor, ≈ 2 / (60 + 1): a 60-sample memory.
    pub alpha: f64,
    /// Samples learnt before the first judgement.
    pub cold_start_samples: u32,
    /// Consecutive zero samples that end the cold start early.
    pub zero_fast_track: u32,
    /// Deviation, in σ, above which a sample is anomalous.
    pub threshold_sigma: f64,
    /// Steepness of the sigmoid score.
    pub sigmoid_k: f64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self {
            alpha: 0.033,
            cold_start_samples: 100,
            zero_fast_track: 10,
            threshold_sigma: 3.0,
            sigmoid_k: 2.0,
        }
    }
}

/// The anomaly score of a deviation: ½ at the threshold, → 1 far above it.
pub fn sigmoid_score(deviation: f64, threshold_sigma: f64, k: f64) -> f64 {
    1.0 / (1.0 + (-k * (deviation - threshold_sigma)).exp())
}

/// What one sample looked like against its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub value: f64,
    /// The EMA the sample was judged against.
    pub mean: f64,
    /// The effective σ the sample was judged against (floors applied).
    pub sigma: f64,
    /// In σ, in the metric's bad direction; 0 while learning.
    pub deviation: f64,
    pub score: f64,
    pub anomalous: bool,
    /// True while the cold start lasts: nothing was judged.
    pub learning: bool,
}

/// The learnt state of one (entity, metric).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub ema: f64,
    pub variance: f64,
    /// Samples seen.
    pub count: u32,
    /// Zero samples in a row (persisted, unlike the original, so a restart does not lose the
    /// fast track).
    pub consecutive_zero: u32,
    /// Cold start over.
    pub warm: bool,
    /// The last sample and its judgement, for explanations.
    pub last: Option<Observation>,
    /// Time of the last sample, for expiry.
    pub last_seen_ms: i64,
    /// Since when the samples have regressed against this baseline without a break (the
    /// latency regression detector's hold, [`crate::detect::latency_regression`]).
    #[serde(default)]
    pub regression_since_ms: Option<i64>,
}

impl Baseline {
    /// A baseline that has seen nothing.
    pub fn new(now_ms: i64) -> Self {
        Self {
            ema: 0.0,
            variance: 0.0,
            count: 0,
            consecutive_zero: 0,
            warm: false,
            last: None,
            last_seen_ms: now_ms,
            regression_since_ms: None,
        }
    }

    /// The effective σ for `metric` (floors applied).
    pub fn sigma(&self, metric: Metric) -> f64 {
        self.variance
            .sqrt()
            .max(metric.sigma_floor())
            .max(0.01 * self.ema.abs())
    }

    /// Judge `value`, then learn it.
    pub fn observe(
        &mut self,
        metric: Metric,
        value: f64,
        now_ms: i64,
        config: &BaselineConfig,
    ) -> Observation {
        self.last_seen_ms = now_ms;
        self.consecutive_zero = if value == 0.0 {
            self.consecutive_zero.saturating_add(1)
        } else {
            0
        };
        let observation = if self.count == 0 {
            self.ema = value;
            self.variance = 0.0;
            self.learning(value, metric)
        } else if !self.warm {
            let observation = self.learning(value, metric);
            self.learn(value, config.alpha);
            observation
        } else {
            let observation = self.judge(metric, value, config);
            if observation.anomalous {
                let band = observation.sigma * config.threshold_sigma;
                let clipped = value.clamp(self.ema - band, self.ema + band);
                self.ema += config.alpha * (clipped - self.ema);
            } else {
                self.learn(value, config.alpha);
            }
            observation
        };
        self.count = self.count.saturating_add(1);
        // The zero fast track counts this sample, so the next one is judged.
        self.warm = self.warm
            || self.count >= config.cold_start_samples
            || self.consecutive_zero >= config.zero_fast_track;
        self.last = Some(observation);
        observation
    }

    fn learning(&self, value: f64, metric: Metric) -> Observation {
        Observation {
            value,
            mean: self.ema,
            sigma: self.sigma(metric),
            deviation: 0.0,
            score: 0.0,
            anomalous: false,
            learning: true,
        }
    }

    fn judge(&self, metric: Metric, value: f64, config: &BaselineConfig) -> Observation {
        let sigma = self.sigma(metric);
        let signed = (value - self.ema) / sigma;
        let deviation = match metric.direction() {
            Direction::Up => signed.max(0.0),
            Direction::Both => signed.abs(),
        };
        Observation {
            value,
            mean: self.ema,
            sigma,
            deviation,
            score: sigmoid_score(deviation, config.threshold_sigma, config.sigmoid_k),
            anomalous: deviation > config.threshold_sigma,
            learning: false,
        }
    }

    /// One step of the incremental exponentially weighted mean and variance.
    fn learn(&mut self, value: f64, alpha: f64) {
        let delta = value - self.ema;
        self.ema += alpha * delta;
        self.variance = (1.0 - alpha) * (self.variance + alpha * delta * delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn feed(baseline: &mut Baseline, metric: Metric, values: &[f64]) -> Vec<Observation> {
        let config = BaselineConfig::default();
        values
            .iter()
            .map(|&v| baseline.observe(metric, v, T0, &config))
            .collect()
    }

    #[test]
    fn ema_and_variance_follow_the_incremental_formulas() {
        let mut b = Baseline::new(T0);
        feed(&mut b, Metric::LatencyP99Ms, &[100.0]);
        assert_eq!((b.ema, b.variance), (100.0, 0.0));
        feed(&mut b, Metric::LatencyP99Ms, &[110.0]);
        let alpha = 0.033;
        assert!((b.ema - (100.0 + alpha * 10.0)).abs() < 1e-12);
        assert!((b.variance - (1.0 - alpha) * alpha * 100.0).abs() < 1e-12);
        let (ema, var) = (b.ema, b.variance);
        feed(&mut b, Metric::LatencyP99Ms, &[90.0]);
        let delta = 90.0 - ema;
        assert!((b.ema - (ema + alpha * delta)).abs() < 1e-12);
        assert!((b.variance - (1.0 - alpha) * (var + alpha * delta * delta)).abs() < 1e-12);
    }

    #[test]
    fn variance_converges_to_the_sample_variance() {
        let mut b = Baseline::new(T0);
        let values: Vec<f64> = (0..5000).map(|i| if i % 2 == 0 { 90.0 } else { 110.0 }).collect();
        feed(&mut b, Metric::LatencyP99Ms, &values);
        assert!((b.ema - 100.0).abs() < 0.5, "ema {}", b.ema);
        assert!(
            (b.variance.sqrt() - 10.0).abs() < 0.5,
            "sigma {}",
            b.variance.sqrt()
        );
    }

    #[test]
    fn cold_start_learns_100_samples_then_judges() {
        let mut b = Baseline::new(T0);
        let observations = feed(&mut b, Metric::LatencyP99Ms, &[100.0; 100]);
        assert!(observations.iter().all(|o| o.learning && !o.anomalous));
        let judged = feed(&mut b, Metric::LatencyP99Ms, &[1000.0])[0];
        assert!(!judged.learning);
        assert!(judged.anomalous);
    }

    #[test]
    fn a_spike_inside_the_cold_start_is_not_reported() {
        let mut b = Baseline::new(T0);
        feed(&mut b, Metric::LatencyP99Ms, &[100.0; 50]);
        let spike = feed(&mut b, Metric::LatencyP99Ms, &[10_000.0])[0];
        assert!(spike.learning && !spike.anomalous);
    }

    #[test]
    fn ten_zeros_end_the_cold_start_early() {
        let mut b = Baseline::new(T0);
        let zeros = feed(&mut b, Metric::Restarts, &[0.0; 10]);
        assert!(zeros.iter().all(|o| o.learning));
        assert!(b.warm);
        let restart = feed(&mut b, Metric::Restarts, &[3.0])[0];
        assert!(!restart.learning);
        assert!(
            restart.anomalous,
            "3 restarts against a zero baseline: {restart:?}"
        );
    }

    #[test]
    fn nine_zeros_and_a_value_keep_the_cold_start() {
        let mut b = Baseline::new(T0);
        feed(&mut b, Metric::Restarts, &[0.0; 9]);
        let o = feed(&mut b, Metric::Restarts, &[1.0])[0];
        assert!(o.learning);
        feed(&mut b, Metric::Restarts, &[0.0; 9]);
        assert!(!b.warm, "the zero run must be consecutive");
    }

    #[test]
    fn sigmoid_is_half_at_three_sigma_and_steep() {
        assert!((sigmoid_score(3.0, 3.0, 2.0) - 0.5).abs() < 1e-12);
        assert!((sigmoid_score(4.0, 3.0, 2.0) - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-12);
        assert!(sigmoid_score(0.0, 3.0, 2.0) < 0.003);
        assert!(sigmoid_score(10.0, 3.0, 2.0) > 0.999);
    }

    #[test]
    fn deviation_counts_only_the_bad_direction() {
        let mut b = Baseline::new(T0);
        let values: Vec<f64> = (0..200).map(|i| 100.0 + (i % 5) as f64).collect();
        feed(&mut b, Metric::LatencyP99Ms, &values);
        let faster = feed(&mut b, Metric::LatencyP99Ms, &[10.0])[0];
        assert_eq!(faster.deviation, 0.0);
        assert!(!faster.anomalous);

        let mut rps = Baseline::new(T0);
        feed(&mut rps, Metric::Rps, &values);
        let drop = feed(&mut rps, Metric::Rps, &[10.0])[0];
        assert!(drop.anomalous, "rps is watched both ways");
    }

    #[test]
    fn sigma_floor_makes_a_constant_metric_judgeable() {
        let mut b = Baseline::new(T0);
        feed(&mut b, Metric::ErrorRate, &[0.001; 100]);
        assert_eq!(b.variance, 0.0);
        let o = feed(&mut b, Metric::ErrorRate, &[0.05])[0];
        assert_eq!(o.sigma, Metric::ErrorRate.sigma_floor());
        assert!(o.anomalous);
    }

    #[test]
    fn anomalous_samples_pull_the_mean_a_little_and_not_the_variance() {
        let mut b = Baseline::new(T0);
        let values: Vec<f64> = (0..200).map(|i| 100.0 + (i % 3) as f64).collect();
        feed(&mut b, Metric::LatencyP99Ms, &values);
        let (before, variance) = (b.ema, b.variance);
        let sigma = b.sigma(Metric::LatencyP99Ms);
        feed(&mut b, Metric::LatencyP99Ms, &[100_000.0]);
        let moved = b.ema - before;
        assert!((moved - 0.033 * 3.0 * sigma).abs() < 1e-9, "moved {moved}");
        assert_eq!(b.variance, variance);
        // A sustained fault stays visible for more than a few samples.
        let later = feed(&mut b, Metric::LatencyP99Ms, &[100_000.0; 20]);
        assert!(later.iter().all(|o| o.anomalous));
    }

    proptest::proptest! {
        #[test]
        fn ema_stays_within_the_samples_and_variance_non_negative(
            values in proptest::collection::vec(-1e6f64..1e6, 1..300),
        ) {
            let mut b = Baseline::new(T0);
            let observations = feed(&mut b, Metric::Rps, &values);
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            proptest::prop_assert!(b.ema >= lo - 1e-6 && b.ema <= hi + 1e-6);
            proptest::prop_assert!(b.variance >= 0.0);
            for o in observations {
                proptest::prop_assert!((0.0..=1.0).contains(&o.score));
                proptest::prop_assert!(!o.anomalous || o.deviation > 3.0);
            }
        }
    }
}
