//! Parse throughput on realistic input, against `prometheus-parse` as the baseline.
//!
//! Two inputs, both generated here, deterministically:
//! * `linkerd_proxy`: one Linkerd proxy's `:4191/metrics` body, about 1,500 series in the label
//!   shapes of metrics-formats.md §1.4/§1.7 (inbound and outbound `request_total`,
//!   `response_total` with `classification`/`grpc_status`/`error`, `response_latency_ms` buckets
//!   `le` 1..50000,+Inf, `tcp_*`, `process_*`), followed by the OpenMetrics tail of §2.2
//!   (`# UNIT`, `_created`, `# EOF`);
//! * `federation`: Prometheus `/federate` output for 24 such proxies, shaped like
//!   `shared/tools/gen_linkerd_federation.py`: `# TYPE x untyped`, label names sorted, the
//!   scrape-time workload labels on every series, Go `%g` values and millisecond timestamps.
//!
//! Run with `cargo bench -p atlhyper-promtext --bench parse`. Each benchmark reports bytes/s and
//! samples/s.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::io;
use std::sync::LazyLock;

use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};

fn main() {
    // The federation values must look like what Go writes.
    assert_eq!(go_float(1.29772167e8), "1.29772167e+08");
    assert_eq!(go_float(1_048_576.0), "1.048576e+06");
    assert_eq!(go_float(3430.08), "3430.08");
    assert_eq!(go_float(0.0001), "0.0001");
    assert_eq!(go_float(0.00001), "1e-05");
    assert_eq!(go_float(42.0), "42");
    for (name, input) in [("linkerd_proxy", &*LINKERD), ("federation", &*FEDERATION)] {
        eprintln!(
            "{name}: {} bytes, {} lines, {} samples",
            input.text.len(),
            input.text.lines().count(),
            input.samples
        );
    }
    divan::main();
}

struct Input {
    text: String,
    samples: usize,
}

impl Input {
    fn new(text: String) -> Self {
        let samples = atlhyper_promtext::parse(&text)
            .expect("generated input parses")
            .samples
            .len();
        Self { text, samples }
    }
}

static LINKERD: LazyLock<Input> = LazyLock::new(|| Input::new(linkerd_proxy_body(&mut Rng(7))));
static FEDERATION: LazyLock<Input> = LazyLock::new(|| Input::new(federation_body(24)));

fn lines(text: &str) -> impl Iterator<Item = io::Result<String>> + '_ {
    text.lines().map(|l| Ok(l.to_owned()))
}

#[divan::bench_group(sample_count = 50)]
mod linkerd_proxy {
    use super::*;

    #[divan::bench]
    fn promtext(bencher: Bencher<'_, '_>) {
        let input = &*LINKERD;
        bencher
            .counter(BytesCount::of_str(&input.text))
            .counter(ItemsCount::new(input.samples))
            .bench(|| atlhyper_promtext::parse(black_box(&input.text)).unwrap());
    }

    #[divan::bench]
    fn prometheus_parse(bencher: Bencher<'_, '_>) {
        let input = &*LINKERD;
        bencher
            .counter(BytesCount::of_str(&input.text))
            .counter(ItemsCount::new(input.samples))
            .bench(|| prometheus_parse::Scrape::parse(lines(black_box(&input.text))).unwrap());
    }
}

#[divan::bench_group(sample_count = 20)]
mod federation {
    use super::*;

    #[divan::bench]
    fn promtext(bencher: Bencher<'_, '_>) {
        let input = &*FEDERATION;
        bencher
            .counter(BytesCount::of_str(&input.text))
            .counter(ItemsCount::new(input.samples))
            .bench(|| atlhyper_promtext::parse(black_box(&input.text)).unwrap());
    }

    #[divan::bench]
    fn prometheus_parse(bencher: Bencher<'_, '_>) {
        let input = &*FEDERATION;
        bencher
            .counter(BytesCount::of_str(&input.text))
            .counter(ItemsCount::new(input.samples))
            .bench(|| prometheus_parse::Scrape::parse(lines(black_box(&input.text))).unwrap());
    }
}

// ---- deterministic input generation ---------------------------------------------------------

/// SplitMix64: tiny, deterministic, good enough for shaping test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn id(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    fn ip(&mut self) -> String {
        format!("10.{}.{}.{}", self.below(4), self.below(256), 2 + self.below(252))
    }
}

const LATENCY_LE: [&str; 26] = [
    "1", "2", "3", "4", "5", "10", "20", "30", "40", "50", "100", "200", "300", "400", "500", "1000", "2000",
    "3000", "4000", "5000", "10000", "20000", "30000", "40000", "50000", "+Inf",
];
const WORDS: [&str; 12] = [
    "api", "auth", "billing", "cart", "catalog", "checkout", "email", "feed", "gateway", "orders",
    "payments", "search",
];
const NAMESPACES: [&str; 4] = ["shop", "core", "payments", "platform"];

type Labels = Vec<(&'static str, String)>;

/// One series as a proxy emits it: the family it belongs to, its full name, labels in emission
/// order, and its value.
struct Series {
    family: &'static str,
    name: String,
    labels: Labels,
    value: f64,
}

#[derive(Default)]
struct Body {
    series: Vec<Series>,
}

impl Body {
    fn push(&mut self, family: &'static str, suffix: &str, labels: Labels, value: f64) {
        self.series.push(Series {
            family,
            name: format!("{family}{suffix}"),
            labels,
            value,
        });
    }

    /// The classic `response_latency_ms` histogram for one label set: 26 cumulative buckets,
    /// then `_count` and `_sum` (integer ms), as `linkerd/metrics` formats it.
    fn latency(&mut self, rng: &mut Rng, labels: &Labels, count: u64) {
        let mut cumulative = 0;
        for (i, le) in LATENCY_LE.iter().enumerate() {
            if i + 1 == LATENCY_LE.len() {
                cumulative = count;
            } else {
                cumulative = (cumulative + rng.below(count / 8 + 1)).min(count);
            }
            let mut l = labels.clone();
            l.push(("le", (*le).to_owned()));
            self.push("response_latency_ms", "_bucket", l, cumulative as f64);
        }
        self.push("response_latency_ms", "_count", labels.clone(), count as f64);
        let sum = count * (5 + rng.below(80));
        self.push("response_latency_ms", "_sum", labels.clone(), sum as f64);
    }

    fn http(&mut self, rng: &mut Rng, base: &Labels) {
        let total = 1_000 + rng.below(5_000_000);
        self.push("request_total", "", base.clone(), total as f64);
        let failed = if rng.below(2) == 0 {
            total / (20 + rng.below(500))
        } else {
            0
        };
        let mut codes = vec![("200", "success", total - failed)];
        if failed > 0 {
            codes.push(("503", "failure", failed));
        }
        for (code, class, n) in codes {
            let mut l = base.clone();
            l.push(("status_code", code.to_owned()));
            self.latency(rng, &l, n);
            l.push(("classification", class.to_owned()));
            l.push(("grpc_status", String::new()));
            l.push(("error", String::new()));
            self.push("response_total", "", l, n as f64);
        }
    }

    fn tcp(&mut self, rng: &mut Rng, base: &Labels) {
        let open = rng.below(4);
        let opened = open + rng.below(60);
        self.push("tcp_open_total", "", base.clone(), opened as f64);
        self.push("tcp_open_connections", "", base.clone(), open as f64);
        self.push(
            "tcp_read_bytes_total",
            "",
            base.clone(),
            rng.below(1 << 34) as f64,
        );
        self.push(
            "tcp_write_bytes_total",
            "",
            base.clone(),
            rng.below(1 << 34) as f64,
        );
        let mut l = base.clone();
        l.push(("errno", String::new()));
        self.push("tcp_close_total", "", l, (opened - open) as f64);
    }
}

fn identity(name: &str, ns: &str) -> String {
    format!("{name}.{ns}.serviceaccount.identity.linkerd.cluster.local")
}

fn inbound_base(pod_ip: &str, tls: &[(&'static str, String)]) -> Labels {
    let mut l: Labels = vec![
        ("direction", "inbound".to_owned()),
        ("target_addr", format!("{pod_ip}:8080")),
        ("target_ip", pod_ip.to_owned()),
        ("target_port", "8080".to_owned()),
    ];
    l.extend(tls.iter().cloned());
    l.extend([
        ("srv_group", String::new()),
        ("srv_kind", "default".to_owned()),
        ("srv_name", "all-unauthenticated".to_owned()),
        ("srv_port", "8080".to_owned()),
    ]);
    l
}

/// The series of one proxy (about 1,500), in the order the proxy writes them.
fn proxy_series(rng: &mut Rng) -> Body {
    let mut body = Body::default();
    let pod_ip = rng.ip();
    let policy = |route: &str, authz: &str| -> Labels {
        vec![
            ("route_group", String::new()),
            ("route_kind", "default".to_owned()),
            ("route_name", route.to_owned()),
            ("authz_group", String::new()),
            ("authz_kind", "default".to_owned()),
            ("authz_name", authz.to_owned()),
        ]
    };
    // Inbound: one target per meshed client identity, plus kubelet probes.
    for c in 0..8 {
        let client = WORDS[c % WORDS.len()];
        let ns = NAMESPACES[c % NAMESPACES.len()];
        let mut l = inbound_base(
            &pod_ip,
            &[("tls", "true".to_owned()), ("client_id", identity(client, ns))],
        );
        let srv = l.clone();
        l.extend(policy("default", "all-unauthenticated"));
        body.http(rng, &l);
        let mut t = srv;
        t.insert(1, ("peer", "src".to_owned()));
        body.tcp(rng, &t);
    }
    let mut probe = inbound_base(
        &pod_ip,
        &[
            ("tls", "no_identity".to_owned()),
            ("no_tls_reason", "no_tls_from_remote".to_owned()),
        ],
    );
    probe.extend(policy("probe", "probe"));
    body.http(rng, &probe);
    body.tcp(
        rng,
        &vec![
            ("direction", "inbound".to_owned()),
            ("peer", "dst".to_owned()),
            ("tls", "no_identity".to_owned()),
            ("no_tls_reason", "loopback".to_owned()),
        ],
    );
    // Outbound: 6 services, 3 endpoints each.
    for s in 0..6 {
        let svc = WORDS[(s * 5 + 3) % WORDS.len()];
        let ns = NAMESPACES[s % NAMESPACES.len()];
        let hash = rng.id(10);
        let svc_ip = rng.ip();
        body.tcp(
            rng,
            &vec![
                ("direction", "outbound".to_owned()),
                ("peer", "src".to_owned()),
                ("target_addr", format!("{svc_ip}:8080")),
                ("target_ip", svc_ip.clone()),
                ("target_port", "8080".to_owned()),
                ("tls", "no_identity".to_owned()),
                ("no_tls_reason", "loopback".to_owned()),
            ],
        );
        for _ in 0..3 {
            let ip = rng.ip();
            let pod = format!("{svc}-{hash}-{}", rng.id(5));
            let endpoint = |peer: Option<&str>, authority: bool| -> Labels {
                let mut l: Labels = vec![("direction", "outbound".to_owned())];
                if let Some(peer) = peer {
                    l.push(("peer", peer.to_owned()));
                }
                if authority {
                    l.push(("authority", format!("{svc}.{ns}.svc.cluster.local:8080")));
                }
                l.extend([
                    ("target_addr", format!("{ip}:8080")),
                    ("target_ip", ip.clone()),
                    ("target_port", "8080".to_owned()),
                    ("tls", "true".to_owned()),
                    ("server_id", identity(svc, ns)),
                    ("dst_control_plane_ns", "linkerd".to_owned()),
                    ("dst_deployment", svc.to_owned()),
                    ("dst_namespace", ns.to_owned()),
                    ("dst_pod", pod.clone()),
                    ("dst_pod_template_hash", hash.clone()),
                    ("dst_service", svc.to_owned()),
                    ("dst_serviceaccount", svc.to_owned()),
                    ("dst_zone", String::new()),
                    ("dst_zone_locality", "unknown".to_owned()),
                ]);
                l
            };
            body.http(rng, &endpoint(None, true));
            body.tcp(rng, &endpoint(Some("dst"), false));
        }
    }
    // A few process gauges (the classic part ends with them).
    let start = 1_763_000_000 + rng.below(900_000);
    for (name, value) in [
        ("process_cpu_seconds_total", rng.below(100_000) as f64 / 100.0),
        ("process_open_fds", (20 + rng.below(300)) as f64),
        ("process_max_fds", 1_048_576.0),
        (
            "process_virtual_memory_bytes",
            (rng.below(60) << 20) as f64 + 67_108_864.0,
        ),
        ("process_resident_memory_bytes", (rng.below(60) << 20) as f64),
        ("process_start_time_seconds", start as f64),
    ] {
        body.push(name_static(name), "", Vec::new(), value);
    }
    body
}

fn name_static(name: &str) -> &'static str {
    [
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_virtual_memory_bytes",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
    ]
    .into_iter()
    .find(|n| *n == name)
    .expect("known process metric")
}

fn family_meta(family: &str) -> (&'static str, &'static str) {
    match family {
        "request_total" => ("counter", "Total count of HTTP requests."),
        "response_total" => ("counter", "Total count of HTTP responses."),
        "response_latency_ms" => (
            "histogram",
            "Elapsed times between a request's headers being received and its response stream completing",
        ),
        "tcp_open_total" => ("counter", "Total count of opened connections"),
        "tcp_open_connections" => ("gauge", "Number of currently-open connections"),
        "tcp_read_bytes_total" => ("counter", "Total count of bytes read from peers"),
        "tcp_write_bytes_total" => ("counter", "Total count of bytes written to peers"),
        "tcp_close_total" => ("counter", "Total count of closed connections"),
        "process_open_fds" | "process_max_fds" => ("gauge", "Number of file descriptors."),
        "process_cpu_seconds_total" => ("counter", "Total user and system CPU time spent in seconds."),
        _ => ("gauge", "Process memory and start time."),
    }
}

fn write_labels(out: &mut String, labels: &[(&str, String)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{v}\"");
    }
    out.push('}');
}

/// One proxy's `/metrics` body: the classic families grouped as the hand-rolled formatters
/// write them, then the prometheus-client registry in OpenMetrics text, then `# EOF`.
fn linkerd_proxy_body(rng: &mut Rng) -> String {
    let body = proxy_series(rng);
    let mut families: Vec<&str> = Vec::new();
    for s in &body.series {
        if !families.contains(&s.family) {
            families.push(s.family);
        }
    }
    let mut out = String::with_capacity(1 << 20);
    for family in families {
        let (kind, help) = family_meta(family);
        let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} {kind}");
        for s in body.series.iter().filter(|s| s.family == family) {
            out.push_str(&s.name);
            write_labels(&mut out, &s.labels);
            let _ = writeln!(out, " {}", s.value);
        }
    }
    openmetrics_tail(rng, &mut out);
    out
}

/// `outbound_http_route_*` families as prometheus-client encodes them (§2.2): `# UNIT`,
/// `le` first, `_sum`/`_count` before the buckets, `_created`, and the final `# EOF`.
fn openmetrics_tail(rng: &mut Rng, out: &mut String) {
    let created = 1_764_000_000.0 + rng.below(1_000_000) as f64 / 1000.0;
    let parents: Vec<String> = (0..6)
        .map(|s| {
            let svc = WORDS[(s * 5 + 3) % WORDS.len()];
            let ns = NAMESPACES[s % NAMESPACES.len()];
            format!(
                "parent_group=\"core\",parent_kind=\"Service\",parent_namespace=\"{ns}\",parent_name=\"{svc}\",parent_port=\"8080\",parent_section_name=\"\",route_group=\"\",route_kind=\"default\",route_namespace=\"\",route_name=\"http\",hostname=\"\""
            )
        })
        .collect();
    out.push_str("# HELP outbound_http_route_request_duration_seconds The time between request initialization and response completion.\n");
    out.push_str("# TYPE outbound_http_route_request_duration_seconds histogram\n");
    out.push_str("# UNIT outbound_http_route_request_duration_seconds seconds\n");
    for p in &parents {
        let count = rng.below(100_000);
        let name = "outbound_http_route_request_duration_seconds";
        let _ = writeln!(out, "{name}_sum{{{p}}} {}", count as f64 * 0.0123456789);
        let _ = writeln!(out, "{name}_count{{{p}}} {count}");
        let mut c = 0;
        for le in ["0.05", "0.5", "1.0", "10.0", "+Inf"] {
            c = if le == "+Inf" {
                count
            } else {
                (c + rng.below(count / 3 + 1)).min(count)
            };
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\",{p}}} {c}");
        }
        let _ = writeln!(out, "{name}_created{{{p}}} {created}");
    }
    out.push_str("# HELP outbound_http_route_request_statuses Completed request-response streams.\n");
    out.push_str("# TYPE outbound_http_route_request_statuses counter\n");
    for p in &parents {
        for (status, error) in [("200", ""), ("503", ""), ("", "LOAD_SHED")] {
            let name = "outbound_http_route_request_statuses";
            let _ = writeln!(
                out,
                "{name}_total{{{p},http_status=\"{status}\",error=\"{error}\"}} {}",
                rng.below(1_000_000)
            );
            let _ = writeln!(
                out,
                "{name}_created{{{p},http_status=\"{status}\",error=\"{error}\"}} {created}"
            );
        }
    }
    out.push_str("# EOF\n");
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`, what client_golang and `/federate` write.
fn go_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e21 {
        let exp = if v == 0.0 {
            0
        } else {
            v.abs().log10().floor() as i32
        };
        if exp < 6 {
            return format!("{v}");
        }
    }
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').expect("LowerExp has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    if (-4..6).contains(&exp) {
        return format!("{v}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// `/federate` output for `pods` proxies: series grouped by name under `# TYPE x untyped`,
/// label names sorted, workload labels added at scrape time, millisecond timestamps.
fn federation_body(pods: usize) -> String {
    let mut rng = Rng(20_251_125);
    let mut by_name: BTreeMap<String, Vec<(String, f64, i64)>> = BTreeMap::new();
    for p in 0..pods {
        let deployment = format!("{}-{}", WORDS[p % WORDS.len()], ["svc", "api", "worker"][p % 3]);
        let hash = rng.id(10);
        let pod = format!("{deployment}-{hash}-{}", rng.id(5));
        let instance = format!("{}:4191", rng.ip());
        let namespace = NAMESPACES[p % NAMESPACES.len()];
        let ts = 1_764_000_000_000 - rng.below(15_000) as i64;
        let mut proxy_rng = Rng(p as u64);
        for s in proxy_series(&mut proxy_rng).series {
            let mut labels: BTreeMap<&str, String> = s.labels.into_iter().collect();
            labels.insert("control_plane_ns", "linkerd".to_owned());
            labels.insert("deployment", deployment.clone());
            labels.insert("instance", instance.clone());
            labels.insert("job", "linkerd-proxy".to_owned());
            labels.insert("namespace", namespace.to_owned());
            labels.insert("pod", pod.clone());
            labels.insert("pod_template_hash", hash.clone());
            let mut text = String::new();
            let sorted: Vec<(&str, String)> = labels.into_iter().collect();
            write_labels(&mut text, &sorted);
            by_name.entry(s.name).or_default().push((text, s.value, ts));
        }
    }
    let mut out = String::new();
    for (name, mut rows) in by_name {
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let _ = writeln!(out, "# TYPE {name} untyped");
        for (labels, value, ts) in rows {
            let _ = writeln!(out, "{name}{labels} {} {ts}", go_float(value));
        }
    }
    out
}
