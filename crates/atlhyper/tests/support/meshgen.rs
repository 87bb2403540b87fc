//! Deterministic, Linkerd-shaped mesh traffic for end-to-end SLO tests.
//!
//! A [`Scenario`] describes a small cluster: deployments with replicas, service-to-service
//! edges, inbound (ingress) routes on the Traefik pods, and events (proxy restarts, pods that
//! appear or are deleted mid-window, a target missing from one scrape, failures that stop so
//! their series go idle and vanish). [`generate`] simulates it request by request with a seeded
//! PRNG and returns:
//! - the scrape files `atlhyper slo replay` reads: one Prometheus federation output per step
//!   (`# TYPE <name> untyped`, sorted label names, Go-style values, millisecond timestamps);
//! - the same samples as one OpenMetrics file for `promtool tsdb create-blocks-from openmetrics`;
//! - the exact ground truth per SLO group (DESIGN §5): requests, successes, failures and
//!   per-bucket increases of the latency histogram.
//!
//! The generator checks every counter sample it writes: the increase it implies under the
//! replay rule (per target baseline, `cur < prev` is a reset, a new series counts from zero) and
//! under the Prometheus rule (previous sample within the 5 minute lookback) must both equal the
//! simulated traffic. A draw that would make them disagree (a restarted proxy whose new counter
//! happens to be `>=` its old value) is redrawn, so the scenario stays exactly checkable.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::rc::Rc;

/// Seconds between two scrapes.
pub const STEP_SECS: u64 = 30;
/// Finite `response_latency_ms` bucket bounds of the Linkerd proxy (milliseconds).
pub const LE_MS: [u64; 25] = [
    1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000,
    30000, 40000, 50000,
];
/// Number of buckets including `+Inf`.
pub const BUCKETS: usize = LE_MS.len() + 1;
/// Steps without traffic after which the proxy drops a series (Linkerd: 10 minutes; shorter
/// here so it happens inside the window).
const IDLE_DROP_STEPS: usize = 6;
/// Prometheus' default lookback delta.
const LOOKBACK_MS: u64 = 300_000;
/// Requests drawn one by one for the history before the first scrape; larger histories
/// are this sample scaled up.
const HISTORY_SAMPLE: u64 = 1000;

// ---------------------------------------------------------------------------------------------
// PRNG

/// SplitMix64: tiny, deterministic, good enough for test traffic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn word(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario

/// How a response ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    /// An HTTP status; 5xx is a failure, everything else (4xx included) a success.
    Http(u16),
    /// A failure before any response head (`error="…"`, no `status_code`, no latency).
    Error(&'static str),
}

impl Code {
    pub fn is_success(self) -> bool {
        matches!(self, Code::Http(c) if c < 500)
    }
}

/// One SLO group as `atlhyper slo replay` reports it (DESIGN §5.4).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupKey {
    /// Inbound traffic of the Traefik pods, by `authority`.
    Ingress { authority: String },
    /// Outbound traffic by (namespace, workload, dst_namespace, dst_service).
    Service {
        source_namespace: String,
        source: String,
        namespace: String,
        target: String,
    },
}

/// Exact increases over the window for one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupTruth {
    pub total: u64,
    pub success: u64,
    pub failure: u64,
    /// Cumulative bucket increases, index `i` for `le = LE_MS[i]`, last for `+Inf`.
    pub buckets: [u64; BUCKETS],
}

/// One replica of a deployment and what happens to it.
#[derive(Clone, Debug, Default)]
pub struct Replica {
    /// First step at which the pod exists (0: before the window).
    pub born: usize,
    /// First step at which the pod no longer exists.
    pub deleted: Option<usize>,
    /// Steps whose scrape file lacks this target (its traffic goes on).
    pub missing: Vec<usize>,
    /// Steps at which the proxy restarted (just after the previous scrape).
    pub restarts: Vec<usize>,
    /// Write `le` the way Prometheus 3 stores it (`1.0`, `50000.0`).
    pub float_le: bool,
}

#[derive(Clone, Debug)]
pub struct Deployment {
    pub namespace: String,
    pub name: String,
    pub replicas: Vec<Replica>,
    /// Multiplies the history (counter values before the window): > 1 makes values >= 1e6.
    pub history_scale: u64,
}

/// Outbound traffic from every pod of `from` to every endpoint pod of `to`.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// Mean requests per step per (source pod, endpoint pod) series.
    pub rate: u64,
    /// Typical latency in ms of successful responses.
    pub base_ms: u64,
    /// Relative weights of the response codes.
    pub codes: Vec<(Code, u64)>,
    /// From this step on, failure codes are no longer drawn (their series go idle and vanish).
    pub failures_stop: Option<usize>,
    /// Endpoints per source pod: replica `i` of `from` talks to replicas `i, i+1, …` of `to`.
    pub endpoints: usize,
}

/// What the `authority` label of an inbound route looks like.
#[derive(Clone, Debug)]
pub enum Authority {
    Value(String),
    /// `authority=""` written out.
    Empty,
    /// No `authority` label (Linkerd >= 2.18, kubelet probes).
    Absent,
}

/// Inbound traffic on every pod of `dep`.
#[derive(Clone, Debug)]
pub struct Inbound {
    pub dep: usize,
    pub authority: Authority,
    pub rate: u64,
    pub base_ms: u64,
    pub codes: Vec<(Code, u64)>,
    /// Whether it is an ingress SLO group (Traefik namespace, external authority).
    pub counted: bool,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub cluster_id: String,
    /// Time of the first scrape (unix seconds, a multiple of [`STEP_SECS`]).
    pub t0: u64,
    pub scrapes: usize,
    pub traefik_namespace: String,
    pub deployments: Vec<Deployment>,
    pub edges: Vec<Edge>,
    pub inbound: Vec<Inbound>,
    /// Steps of traffic before the first scrape.
    pub history_steps: u64,
    /// Write the full Linkerd label sets (dst_pod, server_id, target_ip, …).
    pub verbose_labels: bool,
}

fn dep(namespace: &str, name: &str, replicas: usize) -> Deployment {
    Deployment {
        namespace: namespace.into(),
        name: name.into(),
        replicas: vec![Replica::default(); replicas],
        history_scale: 1,
    }
}

fn codes(list: &[(Code, u64)]) -> Vec<(Code, u64)> {
    list.to_vec()
}

fn ext(authority: &str) -> Authority {
    Authority::Value(authority.into())
}

const OK: Code = Code::Http(200);

impl Scenario {
    /// The oracle scenario: 5 deployments in 3 namespaces plus 2 Traefik pods, 20 scrapes,
    /// with every edge case of DESIGN §5.2 at least once.
    pub fn oracle(seed: u64) -> Self {
        let mut deployments = vec![
            dep("shop", "web", 3),
            dep("shop", "cart", 3),
            dep("core", "api", 4),
            dep("core", "auth", 2),
            dep("payments", "billing", 2),
            dep("ingress", "traefik", 2),
        ];
        let (web, cart, api, auth, billing, traefik) = (0, 1, 2, 3, 4, 5);
        deployments[web].replicas[1].restarts.push(7);
        deployments[web].replicas[2].deleted = Some(14);
        deployments[cart].replicas[2].born = 5;
        deployments[api].replicas[0].restarts.push(12);
        deployments[api].replicas[3].born = 10;
        deployments[auth].replicas[0].missing.push(9);
        deployments[traefik].replicas[1].missing.push(16);
        deployments[traefik].replicas[0].restarts.push(4);
        deployments[billing].history_scale = 1000;
        let e = |from, to, endpoints, rate, base_ms, codes: Vec<(Code, u64)>| Edge {
            from,
            to,
            rate,
            base_ms,
            codes,
            failures_stop: None,
            endpoints,
        };
        let http = Code::Http;
        let timeout = Code::Error("timeout");
        let mut edges = vec![
            e(
                traefik,
                web,
                2,
                30,
                20,
                codes(&[(OK, 900), (http(404), 60), (http(503), 30), (http(500), 10)]),
            ),
            e(
                web,
                api,
                2,
                20,
                15,
                codes(&[(OK, 950), (http(404), 20), (http(500), 20), (http(503), 10)]),
            ),
            e(web, cart, 2, 8, 8, codes(&[(OK, 970), (http(503), 30)])),
            e(cart, api, 2, 6, 12, codes(&[(OK, 990), (http(500), 10)])),
            e(api, auth, 1, 15, 2, codes(&[(OK, 995), (http(503), 5)])),
            e(
                api,
                billing,
                1,
                5,
                120,
                codes(&[(OK, 880), (http(409), 50), (http(500), 50), (timeout, 20)]),
            ),
            e(billing, auth, 1, 6, 3, codes(&[(OK, 1000)])),
        ];
        // web -> cart stops failing: its 503 series go idle and vanish.
        edges[2].failures_stop = Some(3);
        let ok_mostly = codes(&[(OK, 940), (http(404), 40), (http(502), 20)]);
        let ok = codes(&[(OK, 1000)]);
        let inb = |dep, authority, rate, base_ms, codes: &Vec<(Code, u64)>, counted| Inbound {
            dep,
            authority,
            rate,
            base_ms,
            codes: codes.clone(),
            counted,
        };
        let inbound = vec![
            inb(traefik, ext("shop.example.com"), 25, 30, &ok_mostly, true),
            inb(
                traefik,
                ext("api.example.com"),
                12,
                45,
                &codes(&[(OK, 980), (http(503), 20)]),
                true,
            ),
            // Excluded: cluster-internal (with and without port), empty or no authority.
            inb(
                traefik,
                ext("traefik.ingress.svc.cluster.local:8080"),
                5,
                1,
                &ok,
                false,
            ),
            inb(
                traefik,
                ext("metrics.ingress.svc.cluster.local"),
                2,
                1,
                &ok,
                false,
            ),
            inb(traefik, Authority::Absent, 2, 1, &ok, false),
            inb(traefik, Authority::Empty, 3, 2, &ok, false),
            // Excluded: inbound outside the Traefik namespace, even with an external authority.
            inb(web, ext("web.shop.svc.cluster.local:8080"), 10, 15, &ok, false),
            inb(web, ext("shop.example.com"), 3, 15, &ok, false),
            inb(api, ext("api.core.svc.cluster.local:8080"), 10, 10, &ok, false),
        ];
        Scenario {
            seed,
            cluster_id: "oracle".into(),
            t0: 1_764_000_000,
            scrapes: 20,
            traefik_namespace: "ingress".into(),
            deployments,
            edges,
            inbound,
            history_steps: 200,
            verbose_labels: true,
        }
    }

    /// Same scenario, but some targets write `le` as Prometheus 3 stores it (`1.0`): one web
    /// pod (group shop/web -> core/api mixes spellings) and one Traefik pod (ingress groups).
    pub fn with_mixed_le(mut self) -> Self {
        self.deployments[0].replicas[0].float_le = true;
        self.deployments[5].replicas[1].float_le = true;
        self
    }

    /// The small example shipped in `examples/`: 6 scrapes, two web replicas calling api (one
    /// restarts), one ingress authority with a few 503s.
    pub fn example() -> Self {
        let mut deployments = vec![
            dep("shop", "web", 2),
            dep("shop", "api", 1),
            dep("ingress", "traefik", 1),
        ];
        deployments[0].replicas[1].restarts.push(3);
        let edges = vec![Edge {
            from: 0,
            to: 1,
            rate: 20,
            base_ms: 12,
            codes: codes(&[(OK, 1000)]),
            failures_stop: None,
            endpoints: 1,
        }];
        let inbound = vec![Inbound {
            dep: 2,
            authority: ext("shop.example.com"),
            rate: 30,
            base_ms: 25,
            codes: codes(&[(OK, 985), (Code::Http(503), 15)]),
            counted: true,
        }];
        Scenario {
            seed: 7,
            cluster_id: "example".into(),
            t0: 1_764_000_000,
            scrapes: 6,
            traefik_namespace: "ingress".into(),
            deployments,
            edges,
            inbound,
            history_steps: 20,
            verbose_labels: false,
        }
    }

    pub fn t_first(&self) -> u64 {
        self.t0
    }

    pub fn t_last(&self) -> u64 {
        self.t0 + STEP_SECS * (self.scrapes as u64 - 1)
    }

    /// Window length in seconds: last file's name minus first file's name.
    pub fn window_secs(&self) -> u64 {
        self.t_last() - self.t_first()
    }

    /// The replay config (agent YAML) for this scenario.
    pub fn config_yaml(&self) -> String {
        format!(
            "cluster_id: \"{}\"\nslo:\n  enabled: true\n  collect_interval: 30s\n  linkerd:\n    enabled: true\n    \
             target_namespaces: []        # empty = all\n    traefik_namespace: \"{}\"\n",
            self.cluster_id, self.traefik_namespace
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Output

/// What [`generate`] produces.
#[derive(Clone, Debug)]
pub struct Generated {
    /// `(unix seconds, federation text)` per scrape, in time order.
    pub files: Vec<(u64, String)>,
    /// All samples of all files as one OpenMetrics document (timestamps in seconds).
    pub openmetrics: String,
    /// Ground truth per group, over the window (first scrape is the baseline).
    pub truth: BTreeMap<GroupKey, GroupTruth>,
    pub stats: Stats,
}

/// How often each edge case occurs in the generated data (counter samples only).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Samples lower than the same series' previous sample of the target.
    pub resets: usize,
    /// Series first written after the first scrape.
    pub births: usize,
    /// Series of a scraped target that were in its previous scrape but are gone.
    pub vanished: usize,
    /// Targets absent from a scrape although they exist.
    pub missing_targets: usize,
    /// Samples written in exponent form (values >= 1e6, like `1.234567e+06`).
    pub exponent_values: usize,
    /// Relevant-looking series that must not count (excluded authority or namespace).
    pub excluded_series: usize,
    /// Distinct `le` label spellings.
    pub le_spellings: BTreeSet<String>,
    /// Counter samples written in all files.
    pub samples: usize,
}

impl Generated {
    /// Writes `<unix-seconds>.prom` files into `dir` (created if needed).
    pub fn write_scrapes(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (t, text) in &self.files {
            std::fs::write(dir.join(format!("{t}.prom")), text)?;
        }
        Ok(())
    }
}

/// Formats an integer like Go's `strconv.FormatFloat(v, 'g', -1, 64)`, as `/federate` does:
/// plain below 1e6, else the shortest mantissa with a two-digit exponent (`1.234567e+06`).
pub fn go_format_int(v: u64) -> String {
    if v < 1_000_000 {
        return v.to_string();
    }
    let digits = v.to_string();
    let exp = digits.len() - 1;
    let mantissa = digits.trim_end_matches('0');
    let (first, rest) = mantissa.split_at(1);
    if rest.is_empty() {
        format!("{first}e+{exp:02}")
    } else {
        format!("{first}.{rest}e+{exp:02}")
    }
}

fn format_centis(c: u64) -> String {
    let s = format!("{}.{:02}", c / 100, c % 100);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn le_label(i: usize, float: bool) -> String {
    match (LE_MS.get(i), float) {
        (None, _) => "+Inf".into(),
        (Some(le), false) => le.to_string(),
        (Some(le), true) => format!("{le}.0"),
    }
}

fn bucket_of(ms: u64) -> usize {
    LE_MS.iter().position(|&le| ms <= le).unwrap_or(LE_MS.len())
}

// ---------------------------------------------------------------------------------------------
// Simulation state

/// Label pairs sorted by name.
type Labels = Vec<(String, String)>;

/// `base` plus `extra` (a later value replaces an earlier one), sorted by name; values are
/// stored escaped for the text format.
fn with(base: &[(String, String)], extra: &[(&str, &str)]) -> Labels {
    let mut map: BTreeMap<String, String> = base.iter().cloned().collect();
    for (k, v) in extra {
        let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        map.insert((*k).to_string(), v);
    }
    map.into_iter().collect()
}

/// Appends `k="v"`; `v` is already escaped (label sets) or needs no escaping (le, codes).
fn push_label(out: &mut String, k: &str, v: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(k);
    out.push_str("=\"");
    out.push_str(v);
    out.push('"');
}

/// Renders `base ∪ extra` (each sorted by name, names distinct) twice: as written to the
/// scrape files, and without empty values (Prometheus' identity of the series).
fn render(base: &[(String, String)], extra: &[(&str, &str)]) -> (String, String) {
    let (mut full, mut key) = (String::with_capacity(512), String::with_capacity(512));
    let (mut i, mut j) = (0, 0);
    while i < base.len() || j < extra.len() {
        let (k, v) = if j == extra.len() || (i < base.len() && base[i].0.as_str() < extra[j].0) {
            i += 1;
            (base[i - 1].0.as_str(), base[i - 1].1.as_str())
        } else {
            j += 1;
            extra[j - 1]
        };
        push_label(&mut full, k, v);
        if !v.is_empty() {
            push_label(&mut key, k, v);
        }
    }
    (full, key)
}

struct Pod {
    dep: usize,
    name: String,
    ip: String,
    hash: String,
    spec: Replica,
    /// The scrape-time labels (namespace, pod, deployment, instance, job, …).
    workload: Labels,
    start_time: u64,
    cpu_centis: u64,
    /// Counter series of the target's last written scrape: id -> (value, epoch).
    last_emit: HashMap<u64, (u64, u64)>,
    /// Whether the target has been written at least once.
    emitted_once: bool,
}

impl Pod {
    fn alive(&self, k: usize) -> bool {
        self.spec.born <= k && self.spec.deleted.is_none_or(|d| k < d)
    }
}

struct Route {
    pod: usize,
    /// Workload and route labels of `request_total`.
    base: Labels,
    /// Labels of the irrelevant `tcp_*` series of this route.
    tcp: Labels,
    group: Option<GroupKey>,
    /// Looks like SLO traffic but must not count (internal or empty authority, other namespace).
    excluded: bool,
    rate: u64,
    base_ms: u64,
    codes: Vec<(Code, u64)>,
    failures_stop: Option<usize>,
    /// Steps with traffic: `active.0 <= k < active.1`.
    active: (usize, usize),
    history: u64,
}

#[derive(Clone, Debug, Default)]
struct RouteState {
    requests: Option<Counter>,
    inflight: u64,
    codes: BTreeMap<Code, CodeState>,
    tcp_open: u64,
    tcp_bytes: u64,
}

#[derive(Clone, Debug)]
struct Counter {
    value: u64,
    epoch: u64,
    idle: usize,
}

#[derive(Clone, Debug)]
struct CodeState {
    responses: u64,
    /// Non-cumulative observation counts per bucket.
    buckets: [u64; BUCKETS],
    sum_ms: u64,
    epoch: u64,
    idle: usize,
}

/// Which SLO input a counter sample is.
#[derive(Clone, Copy, Debug)]
enum Metric {
    Requests,
    Responses { success: bool },
    Bucket(usize),
    Other,
}

/// A counter sample the SLOs may use.
#[derive(Clone, Copy, Debug)]
struct CounterSample {
    value: u64,
    /// Identifies one life of the series (a restart or an idle drop starts a new one).
    epoch: u64,
    route: usize,
    metric: Metric,
}

/// The text of one series, rendered once.
struct SeriesText {
    name: &'static str,
    /// Labels as written to the scrape files.
    labels: String,
    /// `name{labels without empty values}`: the series' identity in Prometheus.
    key: String,
}

/// A series written in one scrape.
struct Sample {
    /// Identifies the series (see [`series_id`]).
    id: u64,
    text: Rc<SeriesText>,
    value: String,
    counter: Option<CounterSample>,
}

/// A series' identity inside the generator: its route (or pod, for per-pod series), its
/// response code (index into the route's codes), and which series of the route it is.
fn series_id(owner: usize, code: Option<usize>, metric: u64) -> u64 {
    ((owner as u64) << 24) | ((code.map_or(255, |c| c as u64)) << 8) | metric
}

/// Per-pod series live above all route ids.
const POD_SERIES: usize = 1 << 30;

/// Series ids' third part.
mod sid {
    pub const REQUESTS: u64 = 0;
    pub const RESPONSES: u64 = 1;
    /// Bucket `i` is `BUCKET + i`.
    pub const BUCKET: u64 = 2;
    pub const COUNT: u64 = 40;
    pub const SUM: u64 = 41;
    pub const TCP_OPEN: u64 = 42;
    pub const TCP_READ: u64 = 43;
    pub const START_TIME: u64 = 50;
    pub const CPU: u64 = 51;
    pub const FDS: u64 = 52;
    pub const CONTROL_REQUESTS: u64 = 53;
    pub const CONTROL_RESPONSES: u64 = 54;
}

/// Renders series texts once and hands out shared copies.
#[derive(Default)]
struct TextCache(HashMap<u64, Rc<SeriesText>>);

impl TextCache {
    fn get(
        &mut self,
        id: u64,
        name: &'static str,
        base: &[(String, String)],
        extra: &[(&str, &str)],
    ) -> Rc<SeriesText> {
        self.0
            .entry(id)
            .or_insert_with(|| {
                let (labels, key) = render(base, extra);
                Rc::new(SeriesText {
                    name,
                    labels,
                    key: format!("{name}{{{key}}}"),
                })
            })
            .clone()
    }
}

/// One series of the OpenMetrics backfill: its text and its `(ts s, value)` points.
struct OmSeries {
    text: Rc<SeriesText>,
    points: Vec<(u64, String)>,
}

/// Traffic of one step, per group.
type TruthDelta = BTreeMap<GroupKey, GroupTruth>;

struct Sim<'a> {
    sc: &'a Scenario,
    rng: Rng,
    pods: Vec<Pod>,
    routes: Vec<Route>,
    /// Route indices per pod.
    routes_of: Vec<Vec<usize>>,
    states: Vec<RouteState>,
    next_epoch: u64,
    /// Last written sample of every counter series (Prometheus' view): id -> (value, ts ms).
    prom_last: HashMap<u64, (u64, u64)>,
    /// Every sample, for the OpenMetrics file: id -> index into `om`.
    om_index: HashMap<u64, usize>,
    om: Vec<OmSeries>,
    texts: TextCache,
    truth: TruthDelta,
    /// Truth rebuilt from the written counter values (self-check).
    truth_from_values: TruthDelta,
    stats: Stats,
}

/// Increase of a counter between two samples under the reset rule.
fn reset_rule(prev: u64, cur: u64) -> u64 {
    if cur < prev { cur } else { cur - prev }
}

/// Simulates `sc` and returns the scrape files, the OpenMetrics backfill and the ground truth.
pub fn generate(sc: &Scenario) -> Generated {
    assert!(
        sc.t0.is_multiple_of(STEP_SECS),
        "t0 must be a multiple of the step"
    );
    assert!(sc.scrapes >= 2, "a window needs two scrapes");
    let mut sim = Sim::new(sc);
    let mut files = Vec::with_capacity(sc.scrapes);
    for k in 0..sc.scrapes {
        let mut samples = Vec::new();
        for p in 0..sim.pods.len() {
            if sim.pods[p].alive(k) {
                samples.extend(sim.step_pod(p, k));
            } else if sim.pods[p].emitted_once && !sim.pods[p].last_emit.is_empty() {
                // Deleted pod: all its series vanish.
                sim.stats.vanished += sim.pods[p].last_emit.len();
                sim.pods[p].last_emit.clear();
            }
        }
        files.push((sc.t0 + STEP_SECS * k as u64, render_federation(&mut samples)));
    }
    assert_eq!(
        sim.truth, sim.truth_from_values,
        "generator self-check: traffic drawn differs from the increases of the written counters"
    );
    let openmetrics = sim.render_openmetrics();
    Generated {
        files,
        openmetrics,
        truth: sim.truth,
        stats: sim.stats,
    }
}

fn render_federation(samples: &mut [(u64, Sample)]) -> String {
    samples.sort_by(|a, b| (a.1.text.name, &a.1.text.labels).cmp(&(b.1.text.name, &b.1.text.labels)));
    let mut out = String::with_capacity(samples.len() * 400);
    let mut family = "";
    for (ts_ms, s) in samples.iter() {
        let SeriesText { name, labels, .. } = &*s.text;
        if *name != family {
            family = name;
            let _ = writeln!(out, "# TYPE {family} untyped");
        }
        let _ = writeln!(out, "{name}{{{labels}}} {} {ts_ms}", s.value);
    }
    out
}

fn pairs(list: &[(&str, &str)]) -> Labels {
    with(&[], list)
}

impl<'a> Sim<'a> {
    fn new(sc: &'a Scenario) -> Self {
        let mut rng = Rng::new(sc.seed);
        let mut ips = BTreeSet::new();
        let mut pods = Vec::new();
        for (d, dep) in sc.deployments.iter().enumerate() {
            let hash = rng.word(10);
            for spec in &dep.replicas {
                let ip = loop {
                    let ip = format!("10.{}.{}.{}", rng.below(4), rng.below(256), rng.range(2, 254));
                    if ips.insert(ip.clone()) {
                        break ip;
                    }
                };
                let uptime = rng.range(3_600, 86_400);
                let born_at = sc.t0 + STEP_SECS * spec.born as u64;
                let name = format!("{}-{}-{}", dep.name, hash, rng.word(5));
                let instance = format!("{ip}:4191");
                let mut workload = pairs(&[
                    ("deployment", &dep.name),
                    ("instance", &instance),
                    ("job", "linkerd-proxy"),
                    ("namespace", &dep.namespace),
                    ("pod", &name),
                ]);
                if sc.verbose_labels {
                    workload = with(
                        &workload,
                        &[("control_plane_ns", "linkerd"), ("pod_template_hash", &hash)],
                    );
                }
                pods.push(Pod {
                    dep: d,
                    name,
                    ip,
                    hash: hash.clone(),
                    spec: spec.clone(),
                    workload,
                    start_time: if spec.born == 0 {
                        sc.t0 - uptime
                    } else {
                        born_at - rng.range(1, 25)
                    },
                    cpu_centis: if spec.born == 0 {
                        uptime * rng.range(1, 5)
                    } else {
                        0
                    },
                    last_emit: HashMap::new(),
                    emitted_once: false,
                });
            }
        }
        let mut sim = Sim {
            sc,
            rng,
            routes_of: vec![Vec::new(); pods.len()],
            pods,
            routes: Vec::new(),
            states: Vec::new(),
            next_epoch: 1,
            prom_last: HashMap::new(),
            om_index: HashMap::new(),
            om: Vec::new(),
            texts: TextCache::default(),
            truth: BTreeMap::new(),
            truth_from_values: BTreeMap::new(),
            stats: Stats::default(),
        };
        sim.build_routes();
        sim
    }

    fn pods_of(&self, dep: usize) -> Vec<usize> {
        (0..self.pods.len())
            .filter(|&p| self.pods[p].dep == dep)
            .collect()
    }

    fn life(&self, p: usize) -> (usize, usize) {
        let spec = &self.pods[p].spec;
        (spec.born, spec.deleted.unwrap_or(usize::MAX))
    }

    fn add_route(&mut self, route: Route) {
        self.routes_of[route.pod].push(self.routes.len());
        self.routes.push(route);
    }

    fn build_routes(&mut self) {
        let sc = self.sc;
        let verbose = sc.verbose_labels;
        for edge in &sc.edges {
            let (src, dst) = (&sc.deployments[edge.from], &sc.deployments[edge.to]);
            let group = GroupKey::Service {
                source_namespace: src.namespace.clone(),
                source: src.name.clone(),
                namespace: dst.namespace.clone(),
                target: dst.name.clone(),
            };
            let authority = format!("{}.{}.svc.cluster.local:8080", dst.name, dst.namespace);
            let server_id = format!(
                "{}.{}.serviceaccount.identity.linkerd.cluster.local",
                dst.name, dst.namespace
            );
            let endpoints = self.pods_of(edge.to);
            for (i, p) in self.pods_of(edge.from).into_iter().enumerate() {
                // Source replica i talks to endpoints i, i+1, … (as many as edge.endpoints).
                for j in 0..edge.endpoints.min(endpoints.len()) {
                    let e = endpoints[(i + j) % endpoints.len()];
                    let endpoint = &self.pods[e];
                    let target_addr = format!("{}:8080", endpoint.ip);
                    let mut labels = with(
                        &self.pods[p].workload,
                        &[
                            ("authority", &authority),
                            ("direction", "outbound"),
                            ("dst_deployment", &dst.name),
                            ("dst_namespace", &dst.namespace),
                            ("dst_service", &dst.name),
                        ],
                    );
                    // The short form (the example) has one endpoint per source pod.
                    if verbose {
                        labels = with(
                            &labels,
                            &[
                                ("dst_pod", &endpoint.name),
                                ("dst_pod_template_hash", &endpoint.hash),
                                ("dst_serviceaccount", &dst.name),
                                ("dst_zone", ""),
                                ("server_id", &server_id),
                                ("target_addr", &target_addr),
                                ("tls", "true"),
                            ],
                        );
                    }
                    let (a, b) = (self.life(p), self.life(e));
                    let active = (a.0.max(b.0), a.1.min(b.1));
                    self.add_route(Route {
                        pod: p,
                        tcp: with(&labels, &[("peer", "dst")]),
                        base: labels,
                        group: Some(group.clone()),
                        excluded: false,
                        rate: edge.rate,
                        base_ms: edge.base_ms,
                        codes: edge.codes.clone(),
                        failures_stop: edge.failures_stop,
                        active,
                        history: if active.0 == 0 {
                            sc.history_steps * src.history_scale
                        } else {
                            0
                        },
                    });
                }
            }
        }
        for inb in &sc.inbound {
            let d = &sc.deployments[inb.dep];
            for p in self.pods_of(inb.dep) {
                let pod = &self.pods[p];
                let authority = match &inb.authority {
                    Authority::Value(a) => Some(a.as_str()),
                    Authority::Empty => Some(""),
                    Authority::Absent => None,
                };
                let meshed = authority.is_some_and(|a| a.is_empty() || a.contains(".svc.cluster.local"));
                let target_port = if d.namespace == sc.traefik_namespace {
                    "8000"
                } else {
                    "8080"
                };
                let target_addr = format!("{}:{target_port}", pod.ip);
                let mut labels = with(&pod.workload, &[("direction", "inbound")]);
                if let Some(a) = authority {
                    labels = with(&labels, &[("authority", a)]);
                }
                if verbose {
                    labels = with(
                        &labels,
                        &[
                            ("route_group", ""),
                            ("route_name", "default"),
                            ("srv_kind", "default"),
                            ("srv_name", "all-unauthenticated"),
                            ("srv_port", target_port),
                            ("target_addr", &target_addr),
                        ],
                    );
                    let tls: &[(&str, &str)] = if meshed {
                        let client = "default.linkerd-viz.serviceaccount.identity.linkerd.cluster.local";
                        &[("client_id", client), ("tls", "true")]
                    } else {
                        &[("no_tls_reason", "no_tls_from_remote"), ("tls", "no_identity")]
                    };
                    labels = with(&labels, tls);
                }
                let group = match (&inb.authority, inb.counted) {
                    (Authority::Value(a), true) => Some(GroupKey::Ingress { authority: a.clone() }),
                    _ => None,
                };
                let external = authority.is_some_and(|a| !a.is_empty() && !a.contains(".svc.cluster.local"));
                let excluded = group.is_none() && (d.namespace == sc.traefik_namespace || external);
                let life = self.life(p);
                self.add_route(Route {
                    pod: p,
                    tcp: with(&labels, &[("peer", "src")]),
                    base: labels,
                    group,
                    excluded,
                    rate: inb.rate,
                    base_ms: inb.base_ms,
                    codes: inb.codes.clone(),
                    failures_stop: None,
                    active: life,
                    history: if life.0 == 0 {
                        sc.history_steps * d.history_scale
                    } else {
                        0
                    },
                });
            }
        }
        self.states = vec![RouteState::default(); self.routes.len()];
    }

    fn epoch(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch
    }

    fn draw_latency(&mut self, base_ms: u64) -> u64 {
        let base = base_ms.max(1);
        match self.rng.below(1000) {
            0..850 => base / 2 + self.rng.below(base + 1),
            850..980 => base + self.rng.below(4 * base + 1),
            980..998 => 5 * base + self.rng.below(50 * base + 1),
            _ => self.rng.below(70_000),
        }
    }

    fn draw_code(&mut self, codes: &[(Code, u64)], failures: bool) -> Code {
        let weight = |c: &Code, w: u64| if failures || c.is_success() { w } else { 0 };
        let total: u64 = codes.iter().map(|(c, w)| weight(c, *w)).sum();
        let mut x = self.rng.below(total);
        for (c, w) in codes {
            let w = weight(c, *w);
            if x < w {
                return *c;
            }
            x -= w;
        }
        unreachable!("weights cover the draw")
    }

    fn new_code_state(&mut self) -> CodeState {
        CodeState {
            responses: 0,
            buckets: [0; BUCKETS],
            sum_ms: 0,
            epoch: self.epoch(),
            idle: 0,
        }
    }

    /// Counter values before the window: a sample of requests scaled up.
    fn draw_history(&mut self, r: usize) {
        let route = &self.routes[r];
        let (n, base_ms, codes) = (route.rate * route.history, route.base_ms, route.codes.clone());
        if n == 0 {
            return;
        }
        let sample = n.min(HISTORY_SAMPLE);
        let scale = n / sample;
        let mut st = RouteState {
            requests: Some(Counter {
                value: sample * scale,
                epoch: self.epoch(),
                idle: 0,
            }),
            tcp_open: sample / 10 + 1,
            tcp_bytes: n * 731,
            ..RouteState::default()
        };
        for _ in 0..sample {
            let code = self.draw_code(&codes, true);
            let ms = self.draw_latency(if code.is_success() { base_ms } else { base_ms / 3 });
            let cs = st.codes.entry(code).or_insert_with(|| self.new_code_state());
            cs.responses += scale;
            if matches!(code, Code::Http(_)) {
                cs.buckets[bucket_of(ms)] += scale;
                cs.sum_ms += ms * scale;
            }
        }
        self.states[r] = st;
    }

    /// One step of traffic on route `r` (none when `!active`: its endpoint is gone); adds the
    /// window's traffic to `delta` when `k >= 1`.
    fn draw_step(&mut self, r: usize, k: usize, active: bool, delta: &mut TruthDelta) {
        let route = &self.routes[r];
        let failures = route.failures_stop.is_none_or(|s| k < s);
        let (rate, base_ms, codes, group) = (
            route.rate,
            route.base_ms,
            route.codes.clone(),
            route.group.clone(),
        );
        let mut st = std::mem::take(&mut self.states[r]);
        let n = if active {
            rate / 2 + self.rng.below(rate + 1)
        } else {
            0
        };
        if n > 0 && st.requests.is_none() {
            st.requests = Some(Counter {
                value: 0,
                epoch: self.epoch(),
                idle: 0,
            });
        }
        let new_inflight = if n > 0 {
            self.rng.below(3).min(st.inflight + n)
        } else {
            0
        };
        let responses = st.inflight + n - new_inflight;
        st.inflight = new_inflight;
        let mut touched = BTreeSet::new();
        let mut truth = GroupTruth {
            total: n,
            ..GroupTruth::default()
        };
        for _ in 0..responses {
            let code = self.draw_code(&codes, failures);
            let ms = self.draw_latency(if code.is_success() { base_ms } else { base_ms / 3 });
            let cs = st.codes.entry(code).or_insert_with(|| self.new_code_state());
            cs.responses += 1;
            touched.insert(code);
            if code.is_success() {
                truth.success += 1;
            } else {
                truth.failure += 1;
            }
            if matches!(code, Code::Http(_)) {
                let b = bucket_of(ms);
                cs.buckets[b] += 1;
                cs.sum_ms += ms;
                for c in &mut truth.buckets[b..] {
                    *c += 1;
                }
            }
        }
        // A series the proxy has not updated for IDLE_DROP_STEPS steps is dropped.
        if let Some(req) = &mut st.requests {
            if n > 0 {
                req.value += n;
                req.idle = 0;
                st.tcp_open += u64::from(self.rng.below(4) == 0);
                st.tcp_bytes += n * (200 + self.rng.below(2000));
            } else {
                req.idle += 1;
                if req.idle >= IDLE_DROP_STEPS {
                    st.requests = None;
                }
            }
        }
        st.codes.retain(|code, cs| {
            if touched.contains(code) {
                cs.idle = 0;
            } else {
                cs.idle += 1;
            }
            cs.idle < IDLE_DROP_STEPS
        });
        self.states[r] = st;
        if k >= 1
            && let Some(g) = group
        {
            add_truth(delta.entry(g).or_default(), &truth);
        }
    }

    /// Simulates pod `p` at step `k` and returns its samples when it is scraped.
    fn step_pod(&mut self, p: usize, k: usize) -> Vec<(u64, Sample)> {
        let routes = self.routes_of[p].clone();
        if self.pods[p].spec.restarts.contains(&k) {
            for &r in &routes {
                self.states[r] = RouteState::default();
            }
            let t = self.sc.t0 + STEP_SECS * k as u64;
            self.pods[p].start_time = t - self.rng.range(1, 25);
            self.pods[p].cpu_centis = 0;
        }
        self.pods[p].cpu_centis += 3;
        let saved: Vec<RouteState> = routes.iter().map(|&r| self.states[r].clone()).collect();
        let missing = self.pods[p].spec.missing.contains(&k);
        for attempt in 0.. {
            let mut delta = TruthDelta::new();
            for &r in &routes {
                let active = self.routes[r].active;
                if k == 0 && active.0 == 0 {
                    self.draw_history(r);
                } else if active.0 <= k {
                    self.draw_step(r, k, k < active.1, &mut delta);
                }
            }
            if missing {
                // Not scraped: the traffic is counted by the target's next scrape.
                self.stats.missing_targets += 1;
                merge_truth(&mut self.truth, &delta);
                return Vec::new();
            }
            let samples = self.samples_of(p, k);
            let ts_ms = (self.sc.t0 + STEP_SECS * k as u64 - self.rng.below(15)) * 1000;
            match self.check(p, k, &samples) {
                Ok(value_truth) => {
                    merge_truth(&mut self.truth, &delta);
                    merge_truth(&mut self.truth_from_values, &value_truth);
                    self.commit(p, k, ts_ms, &samples);
                    return samples.into_iter().map(|s| (ts_ms, s)).collect();
                }
                Err(why) => {
                    assert!(
                        attempt < 200,
                        "generator: no checkable draw for pod {p} at step {k}: {why}"
                    );
                    for (i, &r) in routes.iter().enumerate() {
                        self.states[r] = saved[i].clone();
                    }
                }
            }
        }
        unreachable!()
    }

    fn samples_of(&mut self, p: usize, k: usize) -> Vec<Sample> {
        let Sim {
            pods,
            routes,
            routes_of,
            states,
            texts,
            ..
        } = self;
        let pod = &pods[p];
        let w = &pod.workload;
        let gauge =
            |texts: &mut TextCache, id, name, base: &[(String, String)], extra: &[(&str, &str)], value| {
                Sample {
                    id,
                    text: texts.get(id, name, base, extra),
                    value,
                    counter: None,
                }
            };
        let own = |metric| series_id(POD_SERIES + p, None, metric);
        let mut out = vec![
            gauge(
                texts,
                own(sid::START_TIME),
                "process_start_time_seconds",
                w,
                &[],
                go_format_int(pod.start_time),
            ),
            gauge(
                texts,
                own(sid::CPU),
                "process_cpu_seconds_total",
                w,
                &[],
                format_centis(pod.cpu_centis),
            ),
            gauge(
                texts,
                own(sid::FDS),
                "process_open_fds",
                w,
                &[],
                (40 + (k % 7)).to_string(),
            ),
        ];
        let mut control_seen = false;
        for &r in &routes_of[p] {
            let route = &routes[r];
            let st = &states[r];
            let Some(req) = &st.requests else { continue };
            let id = series_id(r, None, sid::TCP_OPEN);
            out.push(gauge(
                texts,
                id,
                "tcp_open_total",
                &route.tcp,
                &[],
                go_format_int(st.tcp_open),
            ));
            let id = series_id(r, None, sid::TCP_READ);
            out.push(gauge(
                texts,
                id,
                "tcp_read_bytes_total",
                &route.tcp,
                &[],
                go_format_int(st.tcp_bytes),
            ));
            if !control_seen {
                // Same shape as the data-plane families, other names: must be ignored.
                control_seen = true;
                let ctl = with(
                    w,
                    &[
                        ("addr", "linkerd-dst-headless.linkerd.svc.cluster.local:8086"),
                        ("direction", "outbound"),
                    ],
                );
                let (v, id) = (go_format_int(req.value / 7 + 3), own(sid::CONTROL_REQUESTS));
                out.push(gauge(texts, id, "control_request_total", &ctl, &[], v));
                let extra = [("classification", "failure"), ("status_code", "503")];
                let (v, id) = (go_format_int(req.value / 9 + 1), own(sid::CONTROL_RESPONSES));
                out.push(gauge(texts, id, "control_response_total", &ctl, &extra, v));
            }
            let base = &route.base;
            let mut counter = |name, code, metric, extra: &[(&str, &str)], value, epoch, kind| {
                let id = series_id(r, code, metric);
                Sample {
                    id,
                    text: texts.get(id, name, base, extra),
                    value: go_format_int(value),
                    counter: Some(CounterSample {
                        value,
                        epoch,
                        route: r,
                        metric: kind,
                    }),
                }
            };
            out.push(counter(
                "request_total",
                None,
                sid::REQUESTS,
                &[],
                req.value,
                req.epoch,
                Metric::Requests,
            ));
            for (code, cs) in &st.codes {
                let c = route.codes.iter().position(|(x, _)| x == code);
                let success = code.is_success();
                let class = if success { "success" } else { "failure" };
                let responses = Metric::Responses { success };
                let status = match code {
                    Code::Http(s) => s.to_string(),
                    Code::Error(e) => {
                        let extra = [("classification", class), ("error", *e), ("grpc_status", "")];
                        out.push(counter(
                            "response_total",
                            c,
                            sid::RESPONSES,
                            &extra,
                            cs.responses,
                            cs.epoch,
                            responses,
                        ));
                        continue;
                    }
                };
                let extra = [
                    ("classification", class),
                    ("error", ""),
                    ("grpc_status", ""),
                    ("status_code", &status),
                ];
                out.push(counter(
                    "response_total",
                    c,
                    sid::RESPONSES,
                    &extra,
                    cs.responses,
                    cs.epoch,
                    responses,
                ));
                let mut cum = 0;
                for (i, &n) in cs.buckets.iter().enumerate() {
                    cum += n;
                    let le = le_label(i, pod.spec.float_le);
                    let extra = [("le", le.as_str()), ("status_code", &status)];
                    let metric = sid::BUCKET + i as u64;
                    out.push(counter(
                        "response_latency_ms_bucket",
                        c,
                        metric,
                        &extra,
                        cum,
                        cs.epoch,
                        Metric::Bucket(i),
                    ));
                }
                let extra = [("status_code", status.as_str())];
                out.push(counter(
                    "response_latency_ms_count",
                    c,
                    sid::COUNT,
                    &extra,
                    cum,
                    cs.epoch,
                    Metric::Other,
                ));
                out.push(counter(
                    "response_latency_ms_sum",
                    c,
                    sid::SUM,
                    &extra,
                    cs.sum_ms,
                    cs.epoch,
                    Metric::Other,
                ));
            }
        }
        out
    }

    /// Checks that every counter sample's increase is the same under the simulation, the replay
    /// rule and Prometheus' rule; returns the increases per group (the truth from values).
    fn check(&self, p: usize, k: usize, samples: &[Sample]) -> Result<TruthDelta, String> {
        let pod = &self.pods[p];
        let step_ms = (self.sc.t0 + STEP_SECS * k as u64) * 1000;
        let mut out = TruthDelta::new();
        for s in samples {
            let Some(c) = s.counter else { continue };
            let cur = c.value;
            let last = pod.last_emit.get(&s.id);
            let inc = match last {
                Some(&(v, e)) if e == c.epoch => {
                    if cur < v {
                        return Err(format!("{}: counter went down without a restart", s.text.key));
                    }
                    cur - v
                }
                _ => cur,
            };
            // The replay: per target baseline, reset rule (after a restart the replay may also
            // count from zero because process_start_time_seconds changed: then inc == cur).
            let replay = last.map_or(cur, |&(v, _)| reset_rule(v, cur));
            if replay != inc {
                return Err(format!(
                    "{}: replay rule gives {replay}, traffic {inc}",
                    s.text.key
                ));
            }
            // Prometheus: `X offset 30s` finds the last sample within the lookback.
            let prom = match self.prom_last.get(&s.id) {
                None => cur,
                Some(&(v, t)) => match (step_ms - STEP_SECS * 1000 - t).cmp(&LOOKBACK_MS) {
                    Ordering::Less => reset_rule(v, cur),
                    Ordering::Greater => cur,
                    Ordering::Equal => {
                        return Err(format!("{}: previous sample on the lookback edge", s.text.key));
                    }
                },
            };
            if prom != inc {
                return Err(format!(
                    "{}: Prometheus rule gives {prom}, traffic {inc}",
                    s.text.key
                ));
            }
            if k == 0 {
                continue;
            }
            let Some(group) = &self.routes[c.route].group else {
                continue;
            };
            let t = out.entry(group.clone()).or_default();
            match c.metric {
                Metric::Requests => t.total += inc,
                Metric::Responses { success: true } => t.success += inc,
                Metric::Responses { success: false } => t.failure += inc,
                Metric::Bucket(i) => t.buckets[i] += inc,
                Metric::Other => {}
            }
        }
        Ok(out)
    }

    fn commit(&mut self, p: usize, k: usize, ts_ms: u64, samples: &[Sample]) {
        let mut emitted = HashMap::with_capacity(samples.len());
        let ts_s = ts_ms / 1000;
        let float_le = self.pods[p].spec.float_le;
        for s in samples {
            let next = self.om.len();
            let i = *self.om_index.entry(s.id).or_insert(next);
            if i == next {
                self.om.push(OmSeries {
                    text: s.text.clone(),
                    points: Vec::new(),
                });
            }
            self.om[i].points.push((ts_s, s.value.clone()));
            let Some(c) = s.counter else { continue };
            self.stats.samples += 1;
            if s.value.contains('e') {
                self.stats.exponent_values += 1;
            }
            if let Metric::Bucket(i) = c.metric {
                self.stats.le_spellings.insert(le_label(i, float_le));
            }
            match self.pods[p].last_emit.get(&s.id) {
                Some(&(v, _)) if c.value < v => self.stats.resets += 1,
                None if k > 0 => self.stats.births += 1,
                _ => {}
            }
            if matches!(c.metric, Metric::Requests) && self.routes[c.route].excluded {
                self.stats.excluded_series += 1;
            }
            emitted.insert(s.id, (c.value, c.epoch));
            self.prom_last.insert(s.id, (c.value, ts_ms));
        }
        let pod = &mut self.pods[p];
        if pod.emitted_once {
            self.stats.vanished += pod.last_emit.keys().filter(|k| !emitted.contains_key(*k)).count();
        }
        pod.last_emit = emitted;
        pod.emitted_once = true;
    }

    fn render_openmetrics(&self) -> String {
        let mut series: Vec<&OmSeries> = self.om.iter().collect();
        series.sort_by(|a, b| a.text.key.cmp(&b.text.key));
        let mut out = String::with_capacity(series.len() * self.sc.scrapes * 300);
        let mut family = "";
        for OmSeries { text, points } in series {
            if text.name != family {
                family = text.name;
                let _ = writeln!(out, "# TYPE {family} unknown");
            }
            for (ts, value) in points {
                let _ = writeln!(out, "{} {value} {ts}", text.key);
            }
        }
        out.push_str("# EOF\n");
        out
    }
}

fn add_truth(into: &mut GroupTruth, d: &GroupTruth) {
    into.total += d.total;
    into.success += d.success;
    into.failure += d.failure;
    for (a, b) in into.buckets.iter_mut().zip(d.buckets.iter()) {
        *a += b;
    }
}

fn merge_truth(into: &mut TruthDelta, delta: &TruthDelta) {
    for (g, d) in delta {
        add_truth(into.entry(g.clone()).or_default(), d);
    }
}

/// Prometheus 2.42 `bucketQuantile` (promql/quantile.go) over cumulative counts, for checking.
/// Returns `None` where Prometheus returns NaN.
pub fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let mut b: Vec<(f64, f64)> = buckets.to_vec();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.last().is_none_or(|l| l.0 != f64::INFINITY) {
        return None;
    }
    // coalesceBuckets: equal upper bounds are summed.
    let mut c: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for (ub, n) in b {
        match c.last_mut() {
            Some(last) if last.0 == ub => last.1 += n,
            _ => c.push((ub, n)),
        }
    }
    // ensureMonotonic (2.42): counts never decrease.
    let mut max = f64::NEG_INFINITY;
    for x in &mut c {
        if x.1 > max {
            max = x.1;
        } else {
            x.1 = max;
        }
    }
    if c.len() < 2 {
        return None;
    }
    let observations = c[c.len() - 1].1;
    if observations == 0.0 {
        return None;
    }
    let mut rank = q * observations;
    let i = c[..c.len() - 1]
        .iter()
        .position(|x| x.1 >= rank)
        .unwrap_or(c.len() - 1);
    if i == c.len() - 1 {
        return Some(c[c.len() - 2].0);
    }
    if i == 0 && c[0].0 <= 0.0 {
        return Some(c[0].0);
    }
    let (mut start, end, mut count) = (0.0, c[i].0, c[i].1);
    if i > 0 {
        start = c[i - 1].0;
        count -= c[i - 1].1;
        rank -= c[i - 1].1;
    }
    Some(start + (end - start) * (rank / count))
}

/// The truth's buckets as `(upper bound, cumulative count)` pairs.
pub fn truth_buckets(t: &GroupTruth) -> Vec<(f64, f64)> {
    (0..BUCKETS)
        .map(|i| {
            (
                LE_MS.get(i).map_or(f64::INFINITY, |&le| le as f64),
                t.buckets[i] as f64,
            )
        })
        .collect()
}
