//! `atlhyper slo replay` against a real Prometheus and against the generator's ground truth
//! (DESIGN §5 and §6 "Correct").
//!
//! The generator (`support::meshgen`) writes federation scrapes with counter resets, pods that
//! appear and disappear, idle series that vanish, a target missing from one scrape, 4xx and 5xx
//! codes and several replicas per deployment, and records the exact increases per SLO group.
//! The same samples are backfilled into Prometheus 2.42 (`promtool`), and PromQL that encodes
//! DESIGN §5.2 gives the oracle's sums and `histogram_quantile`s.
//!
//! ## The PromQL
//! `increase()` extrapolates to the window's edges, so it is not used. For a counter selector
//! `X`, the increase of one series at one 30 s step is
//! `D(X) = ((X - X offset 30s) >= 0) or ((X + 0) unless (X offset 30s <= X))`: the normal
//! delta, else `cur`, which covers both a reset (previous sample larger) and a series born at
//! this step (no previous sample); `+ 0` only drops the metric name so that both terms carry
//! the same label sets (set operators match on all labels but the name). The window is
//! `sum_over_time(D(X)[W:30s])` at `time = T_last` with `W = T_last - T_first - 15 s`, so the
//! subquery steps are exactly `T_first + 30 s … T_last` whether range selectors are closed
//! (Prometheus 2) or left-open (Prometheus 3).
//!
//! ## What this PromQL cannot express, and how the scenario avoids it
//! - A target missing from one scrape: at that step `X` and `X offset 30s` both find the older
//!   sample through the 5 minute lookback (delta 0), and at the next step `X offset 30s` finds
//!   the sample before the gap: the replay's "keep the old baseline" rule exactly. This holds
//!   for gaps shorter than the lookback only; the scenario's gap is one scrape. Prometheus'
//!   sums are asserted equal to the ground truth, which checks the claim on the data.
//! - A series absent from the previous scrape counts from zero in the replay, but Prometheus
//!   compares with its last sample within the lookback. Both agree when that sample is larger
//!   (a recreated series restarts from zero) or older than the lookback. Likewise a restarted
//!   proxy whose new counter is `>=` its old value (the replay may use
//!   `process_start_time_seconds`; Prometheus cannot). The generator redraws any step where
//!   these would disagree, so they never occur in the data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::support::meshgen::{self, GroupKey, STEP_SECS, Scenario};
use crate::support::prometheus::Prometheus;

const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];
/// Allowed relative difference between the replay's quantiles and Prometheus'.
const QUANTILE_TOLERANCE: f64 = 0.005;
/// Allowed relative difference for values both sides compute from the same integers.
const EXACT_TOLERANCE: f64 = 1e-9;

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn replay_matches_prometheus_and_ground_truth() {
    let report = run_oracle(&Scenario::oracle(0x5EED_0001), false);
    eprintln!("replay_matches_prometheus_and_ground_truth: {report}");
}

/// One web pod and one Traefik pod write `le="1.0"`-style bounds while their peers write
/// `le="1"`: Prometheus' `histogram_quantile` coalesces equal bounds, and so must the replay.
#[test]
fn replay_coalesces_mixed_le_spellings_like_prometheus() {
    let report = run_oracle(&Scenario::oracle(0x5EED_0002).with_mixed_le(), true);
    eprintln!("replay_coalesces_mixed_le_spellings_like_prometheus: {report}");
}

/// The scenario really contains every edge case the oracle is meant to cover, and the
/// generator is deterministic.
#[test]
fn meshgen_covers_the_edge_cases() {
    let sc = Scenario::oracle(0x5EED_0001);
    let g = meshgen::generate(&sc);
    let s = &g.stats;
    assert!(s.resets > 0, "no counter reset: {s:?}");
    assert!(s.births > 0, "no series born mid-window: {s:?}");
    assert!(s.vanished > 0, "no series vanished: {s:?}");
    assert!(s.missing_targets > 0, "no target missing from a scrape: {s:?}");
    assert!(s.exponent_values > 0, "no value written as 1.234567e+06: {s:?}");
    assert!(s.excluded_series > 0, "no series that must be excluded: {s:?}");
    assert_eq!(g.files.len(), sc.scrapes);
    let ingress = g
        .truth
        .keys()
        .filter(|k| matches!(k, GroupKey::Ingress { .. }))
        .count();
    assert!(ingress >= 2 && g.truth.len() >= 8, "groups: {:?}", g.truth.keys());
    for t in g.truth.values() {
        assert!(t.total > 0 && t.success > 0, "a group without traffic: {t:?}");
    }
    eprintln!("meshgen oracle scenario: {s:?}");
    assert_eq!(
        s.le_spellings.len(),
        meshgen::BUCKETS,
        "one spelling per bound: {:?}",
        s.le_spellings
    );
    let example = meshgen::generate(&Scenario::example());
    assert_eq!(
        example.files,
        meshgen::generate(&Scenario::example()).files,
        "the generator is not deterministic"
    );
}

/// `examples/` (the README's first command) is exactly what the generator produces; regenerate
/// it with `ATLHYPER_REGEN_EXAMPLES=1 cargo test -p atlhyper --test it committed_example`.
#[test]
fn committed_example_is_what_the_generator_produces() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let sc = Scenario::example();
    let g = meshgen::generate(&sc);
    let scrapes = examples.join("scrapes");
    if std::env::var("ATLHYPER_REGEN_EXAMPLES").is_ok_and(|v| v == "1") {
        for old in prom_files(&scrapes) {
            std::fs::remove_file(&old).unwrap();
        }
        std::fs::write(examples.join("agent.yaml"), sc.config_yaml()).unwrap();
        g.write_scrapes(&scrapes).unwrap();
    }
    let stale = "examples/ is stale: run `ATLHYPER_REGEN_EXAMPLES=1 cargo test -p atlhyper --test it \
                 committed_example` and commit the result";
    let yaml = std::fs::read_to_string(examples.join("agent.yaml")).expect(stale);
    assert_eq!(yaml, sc.config_yaml(), "{stale}");
    let want: Vec<PathBuf> = g
        .files
        .iter()
        .map(|(t, _)| scrapes.join(format!("{t}.prom")))
        .collect();
    assert_eq!(prom_files(&scrapes), want, "{stale}");
    for (t, text) in &g.files {
        let path = scrapes.join(format!("{t}.prom"));
        let got = std::fs::read_to_string(&path).expect(stale);
        assert!(got == *text, "{stale} ({} differs)", path.display());
        assert!(
            text.len() <= 48 * 1024,
            "{} is {} bytes: keep the example small",
            path.display(),
            text.len()
        );
    }
}

/// The README's first command on the committed example gives the ground truth.
#[test]
fn example_replay_matches_ground_truth() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let sc = Scenario::example();
    let g = meshgen::generate(&sc);
    let json = run_replay(&examples.join("agent.yaml"), &examples.join("scrapes"));
    assert_eq!(json["cluster_id"], Value::from(sc.cluster_id.as_str()));
    let replay = replay_entries(&json);
    let mut errors = Vec::new();
    check_group_sets("replay", replay.keys(), g.truth.keys(), &mut errors);
    for (key, t) in &g.truth {
        let Some(e) = replay.get(key) else { continue };
        check_eq(&mut errors, key, "total_requests", t.total as f64, e.total);
        check_eq(&mut errors, key, "success_requests", t.success as f64, e.success);
        let buckets = meshgen::truth_buckets(t);
        for (i, q) in QUANTILES.iter().enumerate() {
            let want = meshgen::bucket_quantile(*q, &buckets);
            check_close(
                &mut errors,
                key,
                QUANTILE_NAMES[i],
                want,
                e.latency[i],
                QUANTILE_TOLERANCE,
            );
        }
    }
    assert!(
        errors.is_empty(),
        "replay of examples/ differs from the ground truth:\n{}",
        errors.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The oracle

const QUANTILE_NAMES: [&str; 3] = ["latency_p50", "latency_p95", "latency_p99"];

/// Runs the whole comparison for one scenario; returns a one-line report of what was observed.
fn run_oracle(sc: &Scenario, expect_mixed_le: bool) -> String {
    let started = Instant::now();
    let g = meshgen::generate(sc);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.yaml");
    let scrapes = dir.path().join("scrapes");
    std::fs::write(&config, sc.config_yaml()).unwrap();
    g.write_scrapes(&scrapes).unwrap();

    let generated = started.elapsed();
    let prom = Prometheus::start(&g.openmetrics).unwrap_or_else(|e| panic!("{e:#}"));
    let prom_started = started.elapsed();
    let loaded = prom.query("count(request_total)", sc.t_last()).unwrap();
    assert!(
        loaded.first().is_some_and(|s| s.value > 0.0),
        "the backfilled blocks are not loaded: count(request_total) = {loaded:?}; log:\n{}",
        prom.log_tail()
    );
    let oracle = prometheus_groups(&prom, sc);
    let queried = started.elapsed();

    // 1. The PromQL encodes DESIGN §5.2: Prometheus' sums are the ground truth.
    let mut errors = Vec::new();
    check_group_sets("prometheus", oracle.keys(), g.truth.keys(), &mut errors);
    let mut truth_vs_prom: f64 = 0.0;
    for (key, t) in &g.truth {
        let Some(p) = oracle.get(key) else { continue };
        check_eq(&mut errors, key, "prometheus total", t.total as f64, p.total);
        check_eq(
            &mut errors,
            key,
            "prometheus success",
            t.success as f64,
            p.success,
        );
        check_eq(
            &mut errors,
            key,
            "prometheus failure",
            t.failure as f64,
            p.failure,
        );
        let want = meshgen::truth_buckets(t);
        if coalesce(&p.buckets) != want {
            errors.push(format!(
                "{key:?}: prometheus buckets {:?} != truth {want:?}",
                coalesce(&p.buckets)
            ));
        }
        for (i, q) in QUANTILES.iter().enumerate() {
            let from_truth = meshgen::bucket_quantile(*q, &want);
            truth_vs_prom = truth_vs_prom.max(rel_diff(from_truth, p.latency[i]));
            check_close(
                &mut errors,
                key,
                QUANTILE_NAMES[i],
                from_truth,
                p.latency[i],
                EXACT_TOLERANCE,
            );
        }
    }
    if expect_mixed_le {
        let mixed = oracle
            .values()
            .filter(|p| p.le_spellings.contains("1") && p.le_spellings.contains("1.0"));
        assert!(
            mixed.count() >= 2,
            "the scenario should mix le=\"1\" and le=\"1.0\" within groups"
        );
    }
    assert!(
        errors.is_empty(),
        "Prometheus disagrees with the ground truth (the PromQL or the generator is wrong):\n{}",
        errors.join("\n")
    );

    // 2. The replay gives the same numbers.
    let replay_started = Instant::now();
    let json = run_replay(&config, &scrapes);
    let replayed = replay_started.elapsed();
    assert_eq!(
        json["cluster_id"],
        Value::from(sc.cluster_id.as_str()),
        "cluster_id"
    );
    let replay = replay_entries(&json);
    check_group_sets("replay", replay.keys(), g.truth.keys(), &mut errors);
    let window = sc.window_secs() as f64;
    let mut worst_quantile: (f64, String) = (0.0, String::new());
    for (key, t) in &g.truth {
        let (Some(e), Some(p)) = (replay.get(key), oracle.get(key)) else {
            continue;
        };
        check_eq(&mut errors, key, "total_requests", t.total as f64, e.total);
        check_eq(&mut errors, key, "success_requests", t.success as f64, e.success);
        let responses = p.success + p.failure;
        let rate = (responses > 0.0).then(|| 100.0 * p.success / responses);
        check_close(
            &mut errors,
            key,
            "success_rate",
            rate,
            e.success_rate,
            EXACT_TOLERANCE,
        );
        check_close(
            &mut errors,
            key,
            "request_rate",
            Some(p.total / window),
            Some(e.request_rate),
            EXACT_TOLERANCE,
        );
        for (i, name) in QUANTILE_NAMES.iter().enumerate() {
            let d = rel_diff(p.latency[i], e.latency[i]);
            if d > worst_quantile.0 {
                worst_quantile = (d, format!("{key:?} {name}"));
            }
            check_close(
                &mut errors,
                key,
                name,
                p.latency[i],
                e.latency[i],
                QUANTILE_TOLERANCE,
            );
        }
    }
    assert!(
        errors.is_empty(),
        "atlhyper slo replay disagrees with Prometheus / the ground truth:\n{}",
        errors.join("\n")
    );
    format!(
        "{} groups, {} counter samples in {} scrapes; max relative quantile difference replay vs \
         Prometheus {:.3e} {}, truth vs Prometheus {:.3e}; took {:.1?} (generate {:.1?}, backfill and \
         start Prometheus {:.1?}, queries {:.1?}, replay {:.1?})",
        g.truth.len(),
        g.stats.samples,
        g.files.len(),
        worst_quantile.0,
        worst_quantile.1,
        truth_vs_prom,
        started.elapsed(),
        generated,
        prom_started - generated,
        queried - prom_started,
        replayed,
    )
}

/// What Prometheus says about one group.
#[derive(Debug, Default)]
struct PromGroup {
    total: f64,
    success: f64,
    failure: f64,
    /// `(le as written, summed increase)`, one entry per spelling.
    buckets: Vec<(String, f64)>,
    le_spellings: BTreeSet<String>,
    latency: [Option<f64>; 3],
}

/// The two kinds of groups of DESIGN §5.4, as PromQL selectors and grouping labels.
struct Kind {
    filter: String,
    by: &'static str,
    key: fn(&BTreeMap<String, String>) -> GroupKey,
}

fn kinds(sc: &Scenario) -> [Kind; 2] {
    fn label(l: &BTreeMap<String, String>, name: &str) -> String {
        l.get(name).cloned().unwrap_or_default()
    }
    [
        Kind {
            // target_namespaces is empty in the scenario's config: every dst_namespace counts.
            filter: r#"direction="outbound""#.into(),
            by: "namespace, deployment, dst_namespace, dst_service",
            key: |l| GroupKey::Service {
                source_namespace: label(l, "namespace"),
                source: label(l, "deployment"),
                namespace: label(l, "dst_namespace"),
                target: label(l, "dst_service"),
            },
        },
        Kind {
            filter: format!(
                r#"direction="inbound",namespace="{}",authority!="",authority!~".*\\.svc\\.cluster\\.local(:[0-9]+)?""#,
                sc.traefik_namespace
            ),
            by: "authority",
            key: |l| GroupKey::Ingress {
                authority: label(l, "authority"),
            },
        },
    ]
}

/// PromQL for the per-step increase of every series of `selector` (see the module docs).
fn step_increase(selector: &str) -> String {
    let step = format!("{STEP_SECS}s");
    format!(
        "(({selector} - {selector} offset {step}) >= 0) \
         or (({selector} + 0) unless ({selector} offset {step} <= {selector}))"
    )
}

/// PromQL for the increase over the window, summed by `by`.
fn window_increase(sc: &Scenario, selector: &str, by: &str) -> String {
    let range = sc.window_secs() - STEP_SECS / 2;
    format!(
        "sum by ({by}) (sum_over_time(({})[{range}s:{STEP_SECS}s]))",
        step_increase(selector)
    )
}

fn prometheus_groups(prom: &Prometheus, sc: &Scenario) -> BTreeMap<GroupKey, PromGroup> {
    #[derive(Clone, Copy)]
    enum Field {
        Total,
        Success,
        Failure,
        Buckets,
        Quantile(usize),
    }
    let mut jobs = Vec::new();
    for kind in kinds(sc) {
        let f = &kind.filter;
        let by = kind.by;
        jobs.push((
            kind.key,
            Field::Total,
            window_increase(sc, &format!("request_total{{{f}}}"), by),
        ));
        for (class, field) in [("success", Field::Success), ("failure", Field::Failure)] {
            let sel = format!(r#"response_total{{{f},classification="{class}"}}"#);
            jobs.push((kind.key, field, window_increase(sc, &sel, by)));
        }
        let sel = format!("response_latency_ms_bucket{{{f}}}");
        let buckets = window_increase(sc, &sel, &format!("le, {by}"));
        for (i, q) in QUANTILES.iter().enumerate() {
            let query = format!("histogram_quantile({q}, {buckets})");
            jobs.push((kind.key, Field::Quantile(i), query));
        }
        jobs.push((kind.key, Field::Buckets, buckets));
    }
    // The queries are independent: run them side by side.
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(_, _, q)| scope.spawn(move || prom.query(q, sc.t_last())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("query thread"))
            .collect()
    });
    let mut out: BTreeMap<GroupKey, PromGroup> = BTreeMap::new();
    for ((key, field, query), result) in jobs.iter().zip(results) {
        let vector = result.unwrap_or_else(|e| panic!("{e:#}\nquery: {query}"));
        for s in vector {
            let g = out.entry(key(&s.labels)).or_default();
            match *field {
                Field::Total => g.total = s.value,
                Field::Success => g.success = s.value,
                Field::Failure => g.failure = s.value,
                Field::Buckets => {
                    let le = s.labels.get("le").cloned().unwrap_or_default();
                    g.le_spellings.insert(le.clone());
                    g.buckets.push((le, s.value));
                }
                Field::Quantile(i) => g.latency[i] = (!s.value.is_nan()).then_some(s.value),
            }
        }
    }
    out
}

/// Buckets keyed by their numeric bound, equal bounds summed, in ascending order.
fn coalesce(buckets: &[(String, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut parsed: Vec<(f64, f64)> = buckets
        .iter()
        .map(|(le, n)| {
            (
                crate::support::prometheus::parse_prom_float(le).expect("numeric le"),
                *n,
            )
        })
        .collect();
    parsed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (le, n) in parsed {
        match out.last_mut() {
            Some(last) if last.0 == le => last.1 += n,
            _ => out.push((le, n)),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The replay side

/// One entry of the replay's output.
#[derive(Debug)]
struct Entry {
    total: f64,
    success: f64,
    success_rate: Option<f64>,
    request_rate: f64,
    latency: [Option<f64>; 3],
}

fn run_replay(config: &Path, scrapes: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_atlhyper"))
        .args(["slo", "replay", "--config"])
        .arg(config)
        .arg(scrapes)
        .output()
        .expect("running atlhyper");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "atlhyper slo replay failed ({}):\n{stderr}",
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout of atlhyper slo replay is not one JSON object ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn replay_entries(json: &Value) -> BTreeMap<GroupKey, Entry> {
    let mut out = BTreeMap::new();
    for (list, kind) in [("services", "service"), ("ingress", "ingress")] {
        let entries = json[list]
            .as_array()
            .unwrap_or_else(|| panic!("no `{list}` array in {json}"));
        for e in entries {
            let text = |f: &str| {
                e[f].as_str()
                    .unwrap_or_else(|| panic!("`{f}` is not a string in {e}"))
                    .to_string()
            };
            let number = |f: &str| {
                e[f].as_f64()
                    .unwrap_or_else(|| panic!("`{f}` is not a number in {e}"))
            };
            let optional = |f: &str| match &e[f] {
                Value::Null => None,
                v => Some(
                    v.as_f64()
                        .unwrap_or_else(|| panic!("`{f}` is neither null nor a number in {e}")),
                ),
            };
            assert_eq!(text("type"), kind, "entry in `{list}`: {e}");
            let key = if kind == "service" {
                GroupKey::Service {
                    source_namespace: text("source_namespace"),
                    source: text("source"),
                    namespace: text("namespace"),
                    target: text("target"),
                }
            } else {
                GroupKey::Ingress {
                    authority: text("source"),
                }
            };
            let entry = Entry {
                total: number("total_requests"),
                success: number("success_requests"),
                success_rate: optional("success_rate"),
                request_rate: number("request_rate"),
                latency: [
                    optional("latency_p50"),
                    optional("latency_p95"),
                    optional("latency_p99"),
                ],
            };
            assert!(
                out.insert(key.clone(), entry).is_none(),
                "{key:?} appears twice in the replay output"
            );
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Comparisons that collect every mismatch before failing

fn check_group_sets<'a>(
    who: &str,
    got: impl Iterator<Item = &'a GroupKey>,
    want: impl Iterator<Item = &'a GroupKey>,
    errors: &mut Vec<String>,
) {
    let got: BTreeSet<&GroupKey> = got.collect();
    let want: BTreeSet<&GroupKey> = want.collect();
    for k in got.difference(&want) {
        errors.push(format!("{who}: unexpected group {k:?}"));
    }
    for k in want.difference(&got) {
        errors.push(format!("{who}: missing group {k:?}"));
    }
}

fn check_eq(errors: &mut Vec<String>, key: &GroupKey, field: &str, want: f64, got: f64) {
    if want != got {
        errors.push(format!("{key:?}: {field}: expected {want}, got {got}"));
    }
}

fn check_close(
    errors: &mut Vec<String>,
    key: &GroupKey,
    field: &str,
    want: Option<f64>,
    got: Option<f64>,
    tol: f64,
) {
    let ok = match (want, got) {
        (None, None) => true,
        (Some(w), Some(g)) => rel_diff(Some(w), Some(g)) <= tol,
        _ => false,
    };
    if !ok {
        errors.push(format!(
            "{key:?}: {field}: expected {want:?}, got {got:?} (tolerance {tol:e} relative)"
        ));
    }
}

/// Relative difference; 0 when both are absent, infinite when only one is.
fn rel_diff(a: Option<f64>, b: Option<f64>) -> f64 {
    match (a, b) {
        (None, None) => 0.0,
        (Some(a), Some(b)) if a == b => 0.0,
        (Some(a), Some(b)) => (a - b).abs() / a.abs().max(b.abs()),
        _ => f64::INFINITY,
    }
}

fn prom_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "prom"));
    files.sort();
    files
}
