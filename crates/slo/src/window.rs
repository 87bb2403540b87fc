//! Counting over a window (DESIGN.md §5.2): per-series, reset-aware increases between
//! consecutive scrapes of the same target, summed per SLO group only afterwards.
//!
//! State is O(series): per target, the last value of each relevant series under a 64-bit
//! fingerprint of its name and label text, plus one accumulator per SLO group. A fingerprint
//! collision between two series of one target (probability about n²/2⁶⁵, 3·10⁻⁸ for a million
//! series) would make them share a baseline.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use atlhyper_model::{SloCounters, SloGroupKey, SloSnapshot, Timestamp};
use atlhyper_promtext::{Sample, Scrape};

use crate::entry::entry_from_counters;
use crate::extract::{Component, Extracted, Source, extract, source_of};
use crate::rules::{LinkerdFamilies, Rules};

/// Fingerprints are hashes already: the map uses them as they are instead of hashing again.
type ByFingerprint = BuildHasherDefault<FingerprintHasher>;

#[derive(Default)]
struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with this; other writes still spread.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, fingerprint: u64) {
        self.0 = fingerprint;
    }
}

/// Labels that identify the proxy a federation series came from, most specific first.
const FEDERATION_TARGET_LABELS: [&str; 2] = ["instance", "pod"];

/// One scrape target's identity and the labels the scraper attaches to its samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Unique per proxy, e.g. `namespace/pod` or `ip:port`.
    pub id: String,
    /// Attached to every sample of the target (`namespace`, `pod`, `deployment`, …); they win
    /// over labels of the same name in the body.
    pub labels: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct TargetState {
    /// `process_start_time_seconds` at the last successful scrape.
    process_start: Option<f64>,
    /// Whether the target exposed the classic families (which decides what is read).
    has_classic: bool,
    /// Each series of an SLO family, by fingerprint.
    series: HashMap<u64, Series, ByFingerprint>,
}

/// A series' last value and the counter it feeds.
#[derive(Debug, Clone, Copy)]
struct Series {
    /// NaN for a series that feeds nothing.
    value: f64,
    slot: u32,
}

/// The series feeds no group (kept so it is not extracted again every scrape).
const SLOT_IRRELEVANT: u32 = u32::MAX;
/// The series' slot must be worked out again.
const SLOT_UNKNOWN: u32 = u32::MAX - 1;

/// A component as a map key: the variant, and the bucket bound's bits.
fn component_key(component: Component) -> (u8, u64) {
    match component {
        Component::Requests => (0, 0),
        Component::Responses { success } => (1, u64::from(success)),
        Component::RequestsAndResponses { success } => (2, u64::from(success)),
        Component::Bucket { le_ms } => (3, le_ms.to_bits()),
    }
}

/// Accumulated counters of one SLO group.
#[derive(Debug, Clone)]
struct Group {
    key: SloGroupKey,
    counters: SloCounters,
}

/// An SLO window: feed it scrapes in time order, read entries or counters at any point.
#[derive(Debug)]
pub struct Window {
    rules: Rules,
    targets: HashMap<String, TargetState>,
    group_index: HashMap<String, usize>,
    groups: Vec<Group>,
    /// Every (group, counter) pair a series feeds; series refer to them by index.
    slots: Vec<(usize, Component)>,
    slot_index: HashMap<(usize, (u8, u64)), u32>,
    /// Time of the window's first scrape, and of the first scrape the counters cover.
    first_ms: Option<i64>,
    counters_since_ms: Option<i64>,
    last_ms: Option<i64>,
    scratch_key: String,
}

/// Statistics of one scrape round, for logs and the agent's own metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundStats {
    pub targets: usize,
    pub samples: usize,
    /// Samples that fed an SLO group.
    pub relevant: usize,
}

impl Window {
    pub fn new(rules: Rules) -> Self {
        Self {
            rules,
            targets: HashMap::new(),
            group_index: HashMap::new(),
            groups: Vec::new(),
            slots: Vec::new(),
            slot_index: HashMap::new(),
            first_ms: None,
            counters_since_ms: None,
            last_ms: None,
            scratch_key: String::new(),
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Feeds one round of direct scrapes taken at `at_ms`: each successfully scraped target
    /// with its parsed body. Targets not in the round (failed, or gone) keep their baseline.
    pub fn observe_targets<'a>(
        &mut self,
        at_ms: i64,
        round: impl IntoIterator<Item = (&'a Target, &'a Scrape<'a>)>,
    ) -> RoundStats {
        self.observe_round(at_ms, None, round)
    }

    /// Feeds one Prometheus federation output taken at `at_ms`. Its series are split into
    /// targets by their `instance` label (else `pod`); a target missing from this output keeps
    /// its baseline.
    pub fn observe_federation(&mut self, at_ms: i64, scrape: &Scrape<'_>) -> RoundStats {
        self.observe_round(at_ms, Some(scrape), [])
    }

    /// Feeds one round that may mix a federation output (Linkerd through Prometheus) with
    /// direct scrapes (Traefik, say): one round, so the first one is the baseline of all.
    pub fn observe_round<'a>(
        &mut self,
        at_ms: i64,
        federation: Option<&Scrape<'_>>,
        direct: impl IntoIterator<Item = (&'a Target, &'a Scrape<'a>)>,
    ) -> RoundStats {
        let mut round = self.begin_round();
        if let Some(scrape) = federation {
            round.federation(scrape);
        }
        for (target, scrape) in direct {
            round.target(target, scrape);
        }
        round.finish(at_ms)
    }

    /// Starts a round fed one scrape at a time, so a caller can parse each body as it
    /// arrives and drop it before the next: memory stays at one body, not one round.
    pub fn begin_round(&mut self) -> Round<'_> {
        Round {
            baseline_only: self.first_ms.is_none(),
            window: self,
            stats: RoundStats::default(),
        }
    }

    fn advance(&mut self, at_ms: i64) {
        self.first_ms.get_or_insert(at_ms);
        self.counters_since_ms.get_or_insert(at_ms);
        self.last_ms = Some(at_ms);
    }

    /// One target's successful scrape. Returns how many samples fed a group.
    fn observe_target(
        &mut self,
        id: &str,
        target_labels: &[(String, String)],
        samples: &[&Sample<'_>],
        baseline_only: bool,
    ) -> usize {
        let profile = TargetProfile::of(samples);
        let is_new = !self.targets.contains_key(id);
        let state = self.targets.remove(id).unwrap_or_default();
        let restarted = matches!((state.process_start, profile.process_start), (Some(a), Some(b)) if a != b);
        // A target first seen after the window began counts from zero, unless its proxy was
        // already running when the window began: then it was missed, and this is its baseline.
        let existed_before_window = match (profile.process_start, self.first_ms) {
            (Some(start), Some(first_ms)) => start * 1000.0 < first_ms as f64,
            _ => false,
        };
        let counts_new_series = !baseline_only && (!is_new || !existed_before_window);
        let mut previous = if restarted {
            HashMap::default()
        } else {
            state.series
        };
        if state.has_classic != profile.has_classic {
            // Which families this target is read from changed: its cached slots may be wrong.
            previous
                .values_mut()
                .for_each(|series| series.slot = SLOT_UNKNOWN);
        }
        let mut current = HashMap::with_capacity_and_hasher(
            previous.len().max(samples.len() / 2),
            ByFingerprint::default(),
        );
        let mut relevant = 0;

        for sample in samples {
            let Some(source) = source_of(sample.name) else {
                continue;
            };
            if !profile.reads(source, self.rules.linkerd_families) {
                continue;
            }
            let fingerprint = fingerprint(sample);
            let known = previous.get(&fingerprint).copied();
            // Extraction reads every label; a series keeps its slot, so it runs once per series.
            let slot = match known {
                Some(series) if series.slot != SLOT_UNKNOWN => series.slot,
                _ => match extract(sample, source, target_labels, &self.rules) {
                    Some(extracted) => self.slot_of(&extracted),
                    None => SLOT_IRRELEVANT,
                },
            };
            if slot == SLOT_IRRELEVANT {
                current.insert(
                    fingerprint,
                    Series {
                        value: f64::NAN,
                        slot,
                    },
                );
                continue;
            }
            let previous_value = known.map(|s| s.value).filter(|v| !v.is_nan());
            if sample.value.is_nan() {
                // Not a counter value: keep the old baseline, count nothing.
                if let Some(value) = previous_value {
                    current.insert(fingerprint, Series { value, slot });
                }
                continue;
            }
            current.insert(
                fingerprint,
                Series {
                    value: sample.value,
                    slot,
                },
            );
            let increase = match previous_value {
                Some(prev) if sample.value < prev => sample.value,
                Some(prev) => sample.value - prev,
                None if counts_new_series => sample.value,
                None => 0.0,
            };
            relevant += 1;
            self.apply(slot, increase);
        }
        self.targets.insert(
            id.to_owned(),
            TargetState {
                process_start: profile.process_start,
                has_classic: profile.has_classic,
                series: current,
            },
        );
        relevant
    }

    /// The slot (group and counter) of an extracted sample, created on first sight.
    fn slot_of(&mut self, extracted: &Extracted<'_>) -> u32 {
        let group = self.group_of(extracted);
        let component = component_key(extracted.component);
        if let Some(&slot) = self.slot_index.get(&(group, component)) {
            return slot;
        }
        let slot = u32::try_from(self.slots.len()).unwrap_or(SLOT_IRRELEVANT);
        if slot >= SLOT_UNKNOWN {
            // Four billion distinct (group, counter) pairs: not a real mesh; ignore the rest.
            return SLOT_IRRELEVANT;
        }
        self.slots.push((group, extracted.component));
        self.slot_index.insert((group, component), slot);
        slot
    }

    fn group_of(&mut self, extracted: &Extracted<'_>) -> usize {
        let key = &mut self.scratch_key;
        key.clear();
        for part in [
            &extracted.source,
            &extracted.source_namespace,
            &extracted.target,
            &extracted.namespace,
        ] {
            key.push_str(part);
            key.push('\u{1f}');
        }
        key.push_str(extracted.kind.as_str());
        if let Some(&i) = self.group_index.get(key.as_str()) {
            return i;
        }
        self.groups.push(Group {
            key: SloGroupKey {
                kind: extracted.kind,
                source: extracted.source.to_string(),
                source_namespace: extracted.source_namespace.to_string(),
                target: extracted.target.to_string(),
                namespace: extracted.namespace.to_string(),
            },
            counters: SloCounters::default(),
        });
        self.group_index.insert(key.clone(), self.groups.len() - 1);
        self.groups.len() - 1
    }

    fn apply(&mut self, slot: u32, increase: f64) {
        let Some(&(group, component)) = self.slots.get(slot as usize) else {
            return;
        };
        let counters = &mut self.groups[group].counters;
        match component {
            Component::Requests => counters.total += increase,
            Component::Responses { success } => add_outcome(counters, success, increase),
            Component::RequestsAndResponses { success } => {
                counters.total += increase;
                add_outcome(counters, success, increase);
            }
            Component::Bucket { le_ms } if le_ms == f64::INFINITY => counters.observations += increase,
            Component::Bucket { le_ms } => counters.add_bucket(le_ms, increase),
        }
    }

    /// The counters of every group since the window began (or since the last [`take`]),
    /// sorted by key.
    ///
    /// [`take`]: Window::take
    pub fn counters(&self) -> Vec<(SloGroupKey, SloCounters)> {
        let mut out: Vec<_> = self
            .groups
            .iter()
            .map(|g| (g.key.clone(), g.counters.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Returns the counters and starts a new interval; baselines are kept, so consecutive
    /// intervals add up to the whole window exactly.
    pub fn take(&mut self) -> Vec<(SloGroupKey, SloCounters)> {
        let out = self.counters();
        for group in &mut self.groups {
            group.counters = SloCounters::default();
        }
        self.counters_since_ms = self.last_ms;
        out
    }

    /// Seconds covered by the current counters: from the first scrape they cover to the last.
    pub fn seconds(&self) -> f64 {
        match (self.counters_since_ms, self.last_ms) {
            (Some(first), Some(last)) => (last - first) as f64 / 1000.0,
            _ => 0.0,
        }
    }

    pub fn first_scrape_ms(&self) -> Option<i64> {
        self.first_ms
    }

    pub fn last_scrape_ms(&self) -> Option<i64> {
        self.last_ms
    }

    /// Number of targets with a baseline, and of series tracked across them.
    pub fn tracked(&self) -> (usize, usize) {
        (
            self.targets.len(),
            self.targets.values().map(|t| t.series.len()).sum(),
        )
    }

    /// The SLO entries of the current counters, ingress and service sorted by key.
    pub fn snapshot(&self, cluster_id: &str) -> SloSnapshot {
        let seconds = self.seconds();
        let timestamp = Timestamp(self.last_ms.unwrap_or_default());
        let mut snapshot = SloSnapshot {
            cluster_id: cluster_id.to_owned(),
            ingress: Vec::new(),
            services: Vec::new(),
            timestamp,
        };
        for (key, counters) in self.counters() {
            let entry = entry_from_counters(&key, &counters, seconds, timestamp);
            match key.kind {
                atlhyper_model::SloType::Ingress => snapshot.ingress.push(entry),
                atlhyper_model::SloType::Service => snapshot.services.push(entry),
            }
        }
        snapshot
    }
}

/// A round in progress: see [`Window::begin_round`]. Dropping it unfinished leaves the window
/// as if the scrapes fed so far had been part of the previous round.
pub struct Round<'w> {
    window: &'w mut Window,
    baseline_only: bool,
    stats: RoundStats,
}

impl Round<'_> {
    /// One successfully scraped target with its parsed body.
    pub fn target(&mut self, target: &Target, scrape: &Scrape<'_>) {
        let samples: Vec<&Sample<'_>> = scrape.samples.iter().collect();
        self.stats.samples += samples.len();
        self.stats.relevant +=
            self.window
                .observe_target(&target.id, &target.labels, &samples, self.baseline_only);
        self.stats.targets += 1;
    }

    /// One federation output: many targets, told apart by `instance` (else `pod`).
    pub fn federation(&mut self, scrape: &Scrape<'_>) {
        let targets = federation_targets(scrape);
        self.stats.targets += targets.len();
        self.stats.samples += scrape.samples.len();
        for (id, samples) in targets {
            self.stats.relevant += self.window.observe_target(id, &[], &samples, self.baseline_only);
        }
    }

    /// Ends the round, taken at `at_ms`.
    pub fn finish(self, at_ms: i64) -> RoundStats {
        self.window.advance(at_ms);
        self.stats
    }
}

/// A federation output's relevant samples split by target (`instance`, else `pod`), sorted
/// by target id.
fn federation_targets<'s, 'a>(scrape: &'s Scrape<'a>) -> Vec<(&'s str, Vec<&'s Sample<'a>>)> {
    let mut by_target: HashMap<&str, Vec<&Sample<'_>>> = HashMap::new();
    for sample in &scrape.samples {
        // Most of a proxy's series (tcp_*, process_*) feed nothing: skip them before
        // reading their labels.
        if source_of(sample.name).is_none() && !TargetProfile::is_profile_sample(sample.name) {
            continue;
        }
        let target = sample
            .labels
            .iter()
            .filter_map(|l| {
                FEDERATION_TARGET_LABELS
                    .iter()
                    .position(|t| *t == l.name)
                    .map(|rank| (rank, l))
            })
            .min_by_key(|(rank, _)| *rank)
            .map_or("", |(_, l)| l.raw_value);
        by_target.entry(target).or_default().push(sample);
    }
    let mut targets: Vec<_> = by_target.into_iter().collect();
    targets.sort_unstable_by_key(|(id, _)| *id);
    targets
}

fn add_outcome(counters: &mut SloCounters, success: bool, increase: f64) {
    if success {
        counters.success += increase;
    } else {
        counters.failure += increase;
    }
}

/// A proxy's start time: when it changes, the proxy restarted.
const PROCESS_START: &str = "process_start_time_seconds";

/// What one target's body contains, read before its deltas are taken.
struct TargetProfile {
    process_start: Option<f64>,
    has_classic: bool,
}

impl TargetProfile {
    /// Whether a sample that feeds no group is still read for the profile.
    fn is_profile_sample(name: &str) -> bool {
        name == PROCESS_START
    }

    fn of(samples: &[&Sample<'_>]) -> Self {
        let mut profile = Self {
            process_start: None,
            has_classic: false,
        };
        for sample in samples {
            match sample.name {
                PROCESS_START => profile.process_start = Some(sample.value),
                "request_total" | "response_total" => profile.has_classic = true,
                _ => {}
            }
        }
        profile
    }

    /// Whether this target's samples of `source` are read (classic and route families count
    /// the same requests; one is read per target).
    fn reads(&self, source: Source, families: LinkerdFamilies) -> bool {
        match (source, families) {
            (Source::Traefik, _) => true,
            (Source::LinkerdClassic, LinkerdFamilies::Auto | LinkerdFamilies::Classic) => true,
            (Source::LinkerdRoute, LinkerdFamilies::Auto) => !self.has_classic,
            (Source::LinkerdRoute, LinkerdFamilies::Route) => true,
            _ => false,
        }
    }
}

/// The series' identity within its target: a 64-bit hash of its name and label text.
///
/// Eight bytes at a time with wyhash's 128-bit multiply-fold: every series of every target is
/// hashed every cycle (1.5 M series for a thousand proxies), and SipHash cost 7 % of a cycle.
/// It needs spread, not resistance to chosen input: the input is the proxies' own label text.
fn fingerprint(sample: &Sample<'_>) -> u64 {
    let seed = fold(sample.name.len() as u64 ^ SEED_A, SEED_B);
    let h = hash_bytes(seed, sample.name.as_bytes());
    hash_bytes(h ^ SEED_C, sample.labels.raw().as_bytes())
}

const SEED_A: u64 = 0xa076_1d64_78bd_642f;
const SEED_B: u64 = 0xe703_7ed1_a0b4_28db;
const SEED_C: u64 = 0x8ebc_6af0_9c88_c6e3;

/// wyhash's mum: the 128-bit product of `a` and `b`, high and low halves xored.
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

fn hash_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        h = fold(h ^ w ^ SEED_A, SEED_B);
    }
    let mut tail = [0u8; 8];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    let w = u64::from_le_bytes(tail) ^ ((bytes.len() as u64) << 56);
    fold(h ^ w ^ SEED_C, SEED_B ^ bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use atlhyper_model::SloType;

    fn rules() -> Rules {
        Rules {
            traefik_namespace: "ingress".into(),
            ..Rules::default()
        }
    }

    const EDGE: &str =
        r#"direction="outbound",namespace="shop",deployment="web",dst_namespace="shop",dst_service="api""#;

    fn body(instance: &str, requests: f64, success: f64, failure: f64) -> String {
        format!(
            "request_total{{{EDGE},instance=\"{instance}\"}} {requests}\n\
             response_total{{{EDGE},instance=\"{instance}\",classification=\"success\"}} {success}\n\
             response_total{{{EDGE},instance=\"{instance}\",classification=\"failure\"}} {failure}\n"
        )
    }

    fn feed(window: &mut Window, at_s: i64, text: &str) {
        let scrape = atlhyper_promtext::parse(text).unwrap();
        window.observe_federation(at_s * 1000, &scrape);
    }

    fn only(window: &Window) -> SloCounters {
        let counters = window.counters();
        assert_eq!(counters.len(), 1, "{counters:?}");
        counters[0].1.clone()
    }

    #[test]
    fn first_scrape_is_only_the_baseline() {
        let mut w = Window::new(rules());
        feed(&mut w, 0, &body("a", 100.0, 90.0, 10.0));
        assert!(only(&w).is_zero());
        feed(&mut w, 30, &body("a", 130.0, 115.0, 15.0));
        let c = only(&w);
        assert_eq!((c.total, c.success, c.failure), (30.0, 25.0, 5.0));
        assert_eq!(w.seconds(), 30.0);
    }

    #[test]
    fn a_reset_counts_the_new_value() {
        let mut w = Window::new(rules());
        feed(&mut w, 0, &body("a", 100.0, 100.0, 0.0));
        feed(&mut w, 30, &body("a", 7.0, 7.0, 0.0));
        feed(&mut w, 60, &body("a", 10.0, 10.0, 0.0));
        assert_eq!(only(&w).total, 10.0);
    }

    #[test]
    fn new_targets_and_new_series_count_from_zero() {
        let mut w = Window::new(rules());
        feed(&mut w, 0, &body("a", 100.0, 100.0, 0.0));
        let both = format!("{}{}", body("a", 110.0, 110.0, 0.0), body("b", 5.0, 4.0, 1.0));
        feed(&mut w, 30, &both);
        let c = only(&w);
        assert_eq!((c.total, c.success, c.failure), (15.0, 14.0, 1.0));
    }

    #[test]
    fn a_target_missing_from_one_round_keeps_its_baseline() {
        let mut w = Window::new(rules());
        let two = |a: f64, b: f64| format!("{}{}", body("a", a, a, 0.0), body("b", b, b, 0.0));
        feed(&mut w, 0, &two(100.0, 200.0));
        feed(&mut w, 30, &body("a", 110.0, 110.0, 0.0));
        feed(&mut w, 60, &two(120.0, 260.0));
        assert_eq!(only(&w).total, 20.0 + 60.0);
    }

    #[test]
    fn vanished_series_stop_contributing_and_count_from_zero_when_back() {
        let mut w = Window::new(rules());
        feed(&mut w, 0, &body("a", 100.0, 100.0, 0.0));
        feed(&mut w, 30, "process_cpu_seconds_total{instance=\"a\"} 1\n");
        feed(&mut w, 60, &body("a", 3.0, 3.0, 0.0));
        assert_eq!(only(&w).total, 3.0);
    }

    #[test]
    fn a_proxy_restart_counts_every_series_from_zero() {
        let mut w = Window::new(rules());
        let with_start = |start: f64, n: f64| {
            format!(
                "{}process_start_time_seconds{{instance=\"a\"}} {start}\n",
                body("a", n, n, 0.0)
            )
        };
        feed(&mut w, 0, &with_start(1000.0, 50.0));
        // Restarted and already past the old value: no decrease, but a new start time.
        feed(&mut w, 30, &with_start(1_764_000_010.0, 60.0));
        assert_eq!(only(&w).total, 60.0);
    }

    #[test]
    fn a_target_missed_at_the_start_is_a_baseline_when_its_proxy_predates_the_window() {
        let mut w = Window::new(rules());
        feed(&mut w, 1_000_000, &body("a", 10.0, 10.0, 0.0));
        let late = format!(
            "{}process_start_time_seconds{{instance=\"b\"}} 5\n",
            body("b", 5000.0, 5000.0, 0.0)
        );
        feed(&mut w, 1_000_030, &late);
        assert_eq!(only(&w).total, 0.0);
    }

    #[test]
    fn buckets_sum_per_group_and_quantiles_use_them() {
        let mut w = Window::new(rules());
        let hist = |inst: &str, b10: f64, b20: f64, inf: f64| {
            format!(
                "response_latency_ms_bucket{{{EDGE},instance=\"{inst}\",le=\"10\"}} {b10}\n\
                 response_latency_ms_bucket{{{EDGE},instance=\"{inst}\",le=\"20.0\"}} {b20}\n\
                 response_latency_ms_bucket{{{EDGE},instance=\"{inst}\",le=\"+Inf\"}} {inf}\n"
            )
        };
        feed(&mut w, 0, &(hist("a", 0.0, 0.0, 0.0) + &hist("b", 0.0, 0.0, 0.0)));
        feed(
            &mut w,
            30,
            &(hist("a", 5.0, 9.0, 10.0) + &hist("b", 5.0, 9.0, 10.0)),
        );
        let c = only(&w);
        assert_eq!(c.observations, 20.0);
        assert_eq!(
            c.buckets.iter().map(|b| (b.le, b.count)).collect::<Vec<_>>(),
            vec![(10.0, 10.0), (20.0, 18.0)]
        );
        let snapshot = w.snapshot("c");
        assert_eq!(snapshot.services[0].latency_p50, Some(10.0));
        assert_eq!(snapshot.services[0].kind, SloType::Service);
    }

    #[test]
    fn take_splits_the_window_into_intervals_that_add_up() {
        let mut w = Window::new(rules());
        feed(&mut w, 0, &body("a", 0.0, 0.0, 0.0));
        feed(&mut w, 30, &body("a", 10.0, 10.0, 0.0));
        let first = w.take();
        feed(&mut w, 60, &body("a", 25.0, 25.0, 0.0));
        assert_eq!(w.seconds(), 30.0);
        let second = w.take();
        assert_eq!((first[0].1.total, second[0].1.total), (10.0, 15.0));
    }

    #[test]
    fn classic_wins_over_route_families_on_one_target() {
        let route = "outbound_http_route_request_statuses_total{instance=\"a\",namespace=\"shop\",deployment=\"web\",parent_namespace=\"shop\",parent_name=\"api\",http_status=\"200\",error=\"\"}";
        let mut w = Window::new(rules());
        feed(
            &mut w,
            0,
            &format!("{}{route} 100\n", body("a", 100.0, 100.0, 0.0)),
        );
        feed(
            &mut w,
            30,
            &format!("{}{route} 150\n", body("a", 150.0, 150.0, 0.0)),
        );
        assert_eq!(only(&w).total, 50.0);
        let mut w = Window::new(rules());
        feed(&mut w, 0, &format!("{route} 100\n"));
        feed(&mut w, 30, &format!("{route} 150\n"));
        let c = only(&w);
        assert_eq!((c.total, c.success), (50.0, 50.0));
    }
}
