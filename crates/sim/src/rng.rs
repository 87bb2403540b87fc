//! A small seeded PRNG and the distributions the traffic model draws from.
//!
//! Counts are drawn per bucket, not per request, so a step costs the same at 1 and at 10,000
//! requests per second: Poisson for arrivals, binomials chained into a multinomial for the
//! split over pods, status codes and latency cells. Small counts use exact inversion; large
//! ones a rounded normal approximation, which is plenty for a simulation (the ground truth is
//! whatever was drawn, so exactness never depends on the approximation).

/// SplitMix64: tiny, fast and deterministic for a given seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A generator for a sub-stream, so that adding draws in one place does not shift another.
    pub fn fork(&mut self, salt: u64) -> Rng {
        Rng(self.next_u64() ^ salt.wrapping_mul(0xA24B_AED4_963E_E407))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(f64::MIN_POSITIVE);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A word of `len` characters from the alphabet Kubernetes uses for generated names.
    pub fn word(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    /// A random (version 4 shaped) UUID.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    /// Poisson with mean `lambda`.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 || !lambda.is_finite() {
            return 0;
        }
        if lambda < 30.0 {
            // Knuth: multiply uniforms until the product drops below e^-lambda.
            let limit = (-lambda).exp();
            let mut k = 0;
            let mut p = self.f64();
            while p > limit {
                k += 1;
                p *= self.f64();
            }
            return k;
        }
        let x = lambda + lambda.sqrt() * self.normal();
        x.round().max(0.0) as u64
    }

    /// Binomial: successes among `n` trials of probability `p`.
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        if p > 0.5 {
            return n - self.binomial(n, 1.0 - p);
        }
        let mean = n as f64 * p;
        if mean < 12.0 {
            return self.binomial_inversion(n, p);
        }
        let sd = (mean * (1.0 - p)).sqrt();
        let x = (mean + sd * self.normal()).round();
        x.clamp(0.0, n as f64) as u64
    }

    /// Walks the probability mass function from 0; cost is about the mean.
    fn binomial_inversion(&mut self, n: u64, p: f64) -> u64 {
        let q = 1.0 - p;
        let ratio = p / q;
        let mut pmf = q.powf(n as f64);
        let mut cdf = pmf;
        let u = self.f64();
        let mut k = 0;
        while u > cdf && k < n {
            pmf *= ratio * (n - k) as f64 / (k + 1) as f64;
            cdf += pmf;
            k += 1;
            if pmf < 1e-300 && cdf < u {
                // Rounding left the total short of 1: the tail is all that remains.
                break;
            }
        }
        k
    }

    /// Splits `n` over categories of the given (not necessarily normalised) weights;
    /// `out[i]` receives category `i`'s count. The counts always sum to `n`.
    pub fn multinomial(&mut self, n: u64, weights: &[f64], out: &mut [u64]) {
        out.iter_mut().for_each(|o| *o = 0);
        let mut remaining = n;
        let mut rest: f64 = weights.iter().sum();
        let last = weights.iter().rposition(|w| *w > 0.0);
        for (i, w) in weights.iter().enumerate() {
            if remaining == 0 {
                break;
            }
            if Some(i) == last {
                out[i] = remaining;
                break;
            }
            if *w <= 0.0 {
                continue;
            }
            let k = self.binomial(remaining, (w / rest).min(1.0));
            out[i] = k;
            remaining -= k;
            rest -= w;
        }
    }
}

/// Stable 64-bit FNV-1a of a string: names derived from content (pod-template-hash) must
/// not depend on draw order.
pub fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The standard normal CDF (Abramowitz–Stegun 7.1.26 erf; error below 1.5e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn multinomial_sums_to_n() {
        let mut rng = Rng::new(3);
        let mut out = [0u64; 4];
        for n in [0, 1, 7, 100, 100_000] {
            rng.multinomial(n, &[0.5, 0.0, 0.25, 0.25], &mut out);
            assert_eq!(out.iter().sum::<u64>(), n);
            assert_eq!(out[1], 0);
        }
    }

    #[test]
    fn poisson_and_binomial_means_are_close() {
        let mut rng = Rng::new(11);
        for lambda in [0.5, 5.0, 80.0] {
            let total: u64 = (0..4000).map(|_| rng.poisson(lambda)).sum();
            let mean = total as f64 / 4000.0;
            assert!(
                (mean - lambda).abs() < lambda.sqrt() * 0.1 + 0.05,
                "{lambda}: {mean}"
            );
        }
        let total: u64 = (0..4000).map(|_| rng.binomial(50, 0.1)).sum();
        assert!((total as f64 / 4000.0 - 5.0).abs() < 0.2);
    }

    #[test]
    fn cdf_is_sane() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-3);
        assert!(normal_cdf(-8.0) < 1e-6);
    }
}
