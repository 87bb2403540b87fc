//! The Linkerd proxy's `/metrics` body, written from a pod's counters with the real families,
//! label sets and orders (`docs/shared/reference/metrics-formats.md` §1).

use std::fmt::Write as _;

use atlhyper_promtext::render_sample;

use super::{LE_INF, family};
use crate::model::{
    CLUSTER_DOMAIN, HttpSeries, InboundKey, OutboundKey, PROXY_VERSION, ProxyCounters, StatusCounts,
};
use crate::truth::{LINKERD_LE_MS, linkerd_cumulative};

/// Who a proxy is, for the labels that describe itself.
pub struct ProxyIdentity<'a> {
    /// The address in `target_addr`/`target_ip` of its inbound series.
    pub ip: &'a str,
}

/// The whole proxy body: classic families, then the OpenMetrics tail ending in `# EOF`.
pub fn linkerd_body(me: &ProxyIdentity<'_>, counters: &ProxyCounters, now_ms: i64) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let inbound: Vec<(Vec<(String, String)>, &HttpSeries)> = counters
        .inbound
        .iter()
        .map(|(k, s)| (inbound_labels(me, k), s))
        .collect();
    let outbound: Vec<(Vec<(String, String)>, &HttpSeries)> = counters
        .outbound
        .iter()
        .map(|(k, s)| (outbound_labels(k), s))
        .collect();
    let all: Vec<_> = inbound.iter().chain(outbound.iter()).collect();

    family(
        &mut out,
        "request_total",
        "counter",
        "Total count of HTTP requests.",
    );
    for (labels, s) in &all {
        sample(&mut out, "request_total", labels, &[], s.requests as f64);
    }
    family(
        &mut out,
        "response_latency_ms",
        "histogram",
        "Elapsed times between a request's headers being received and its response stream completing",
    );
    for (labels, s) in &all {
        for (code, c) in &s.statuses {
            latency(&mut out, labels, *code, c);
        }
    }
    family(
        &mut out,
        "response_total",
        "counter",
        "Total count of HTTP responses.",
    );
    for (labels, s) in &all {
        for (code, c) in &s.statuses {
            let code_s = code.to_string();
            let class = if *code >= 500 { "failure" } else { "success" };
            let extra = [
                ("status_code", code_s.as_str()),
                ("classification", class),
                ("grpc_status", ""),
                ("error", ""),
            ];
            sample(&mut out, "response_total", labels, &extra, c.count() as f64);
        }
    }
    tcp(&mut out, me, counters);
    family(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "Time that the process started (in seconds since the UNIX epoch)",
    );
    render_sample(
        &mut out,
        "process_start_time_seconds",
        &[],
        (counters.start_ms / 1000) as f64,
        None,
    );
    openmetrics_tail(&mut out, counters, now_ms);
    out
}

fn inbound_labels(me: &ProxyIdentity<'_>, k: &InboundKey) -> Vec<(String, String)> {
    let mut l = vec![("direction".to_owned(), "inbound".to_owned())];
    l.push(("authority".into(), k.authority.clone()));
    l.push(("target_addr".into(), format!("{}:{}", me.ip, k.target_port)));
    l.push(("target_ip".into(), me.ip.to_owned()));
    l.push(("target_port".into(), k.target_port.to_string()));
    match &k.client_id {
        Some(id) => {
            l.push(("tls".into(), "true".into()));
            l.push(("client_id".into(), id.clone()));
        }
        None => {
            l.push(("tls".into(), "no_identity".into()));
            l.push(("no_tls_reason".into(), "no_tls_from_remote".into()));
        }
    }
    for (n, v) in [
        ("srv_group", ""),
        ("srv_kind", "default"),
        ("srv_name", "all-unauthenticated"),
        ("route_group", ""),
        ("route_kind", "default"),
        ("route_name", "default"),
        ("authz_group", ""),
        ("authz_kind", "default"),
        ("authz_name", "all-unauthenticated"),
    ] {
        l.push((n.into(), v.into()));
    }
    l
}

fn outbound_labels(k: &OutboundKey) -> Vec<(String, String)> {
    let mut l = vec![
        ("direction".to_owned(), "outbound".to_owned()),
        ("authority".into(), k.authority()),
    ];
    match &k.dst {
        Some(d) => {
            l.push(("target_addr".into(), format!("{}:{}", d.ip, k.port)));
            l.push(("target_ip".into(), d.ip.clone()));
            l.push(("target_port".into(), k.port.to_string()));
            l.push(("tls".into(), "true".into()));
            l.push((
                "server_id".into(),
                format!(
                    "{}.{}.serviceaccount.identity.linkerd.{CLUSTER_DOMAIN}",
                    d.serviceaccount, k.dst_namespace
                ),
            ));
            // Destination labels come sorted by key, as the destination controller sends them.
            l.push(("dst_control_plane_ns".into(), "linkerd".into()));
            l.push((format!("dst_{}", d.workload_label), d.workload.clone()));
            l.push(("dst_namespace".into(), k.dst_namespace.clone()));
            l.push(("dst_pod".into(), d.pod.clone()));
            l.push(("dst_pod_template_hash".into(), d.template_hash.clone()));
            l.push(("dst_service".into(), k.dst_service.clone()));
            l.push(("dst_serviceaccount".into(), d.serviceaccount.clone()));
            l.push(("dst_zone".into(), String::new()));
            l.push(("dst_zone_locality".into(), "unknown".into()));
        }
        None => {
            // No endpoint: the balancer failed fast; only the Service's own labels remain.
            l.push((
                "target_addr".into(),
                format!("{}:{}", k.authority().split(':').next().unwrap_or(""), k.port),
            ));
            l.push(("target_ip".into(), String::new()));
            l.push(("target_port".into(), k.port.to_string()));
            l.push(("tls".into(), "no_identity".into()));
            l.push(("no_tls_reason".into(), "not_provided_by_service_discovery".into()));
            l.push(("dst_namespace".into(), k.dst_namespace.clone()));
            l.push(("dst_service".into(), k.dst_service.clone()));
        }
    }
    l
}

fn latency(out: &mut String, labels: &[(String, String)], code: u16, c: &StatusCounts) {
    let code_s = code.to_string();
    let cumulative = linkerd_cumulative(&c.cells);
    for (i, n) in cumulative.iter().enumerate() {
        let le = LINKERD_LE_MS.get(i).map_or(LE_INF.to_owned(), u64::to_string);
        sample(
            out,
            "response_latency_ms_bucket",
            labels,
            &[("status_code", &code_s), ("le", &le)],
            *n as f64,
        );
    }
    sample(
        out,
        "response_latency_ms_count",
        labels,
        &[("status_code", &code_s)],
        c.count() as f64,
    );
    sample(
        out,
        "response_latency_ms_sum",
        labels,
        &[("status_code", &code_s)],
        c.sum_ms as f64,
    );
}

/// Transport metrics, derived from the HTTP counters so they only ever grow.
fn tcp(out: &mut String, me: &ProxyIdentity<'_>, counters: &ProxyCounters) {
    let mut rows: Vec<(Vec<(String, String)>, u64)> = Vec::new();
    let mut inbound_total = 0;
    for (k, s) in &counters.inbound {
        inbound_total += s.requests;
        let mut l = inbound_labels(me, k);
        l.retain(|(n, _)| !n.starts_with("route_") && !n.starts_with("authz_") && n != "authority");
        l.insert(1, ("peer".into(), "src".into()));
        rows.push((l, s.requests));
    }
    for (k, s) in &counters.outbound {
        let mut l = outbound_labels(k);
        l.insert(1, ("peer".into(), "dst".into()));
        rows.push((l, s.requests));
    }
    if inbound_total > 0 {
        let l = vec![
            ("direction".to_owned(), "inbound".to_owned()),
            ("peer".into(), "dst".into()),
            ("tls".into(), "no_identity".into()),
            ("no_tls_reason".into(), "loopback".into()),
        ];
        rows.push((l, inbound_total));
    }
    let opened = |n: u64| 1 + n / 200;
    let open_now = |n: u64| u64::from(n > 0) + (n % 3).min(1);
    family(
        out,
        "tcp_open_total",
        "counter",
        "Total count of opened connections",
    );
    for (l, n) in &rows {
        sample(out, "tcp_open_total", l, &[], opened(*n) as f64);
    }
    family(
        out,
        "tcp_open_connections",
        "gauge",
        "Number of currently-open connections",
    );
    for (l, n) in &rows {
        sample(
            out,
            "tcp_open_connections",
            l,
            &[],
            open_now(*n).min(opened(*n)) as f64,
        );
    }
    family(
        out,
        "tcp_read_bytes_total",
        "counter",
        "Total count of bytes read from peers",
    );
    for (l, n) in &rows {
        sample(out, "tcp_read_bytes_total", l, &[], (n * 412) as f64);
    }
    family(
        out,
        "tcp_write_bytes_total",
        "counter",
        "Total count of bytes written to peers",
    );
    for (l, n) in &rows {
        sample(out, "tcp_write_bytes_total", l, &[], (n * 1731) as f64);
    }
    family(
        out,
        "tcp_close_total",
        "counter",
        "Total count of closed connections",
    );
    for (l, n) in &rows {
        let closed = opened(*n) - open_now(*n).min(opened(*n));
        sample(out, "tcp_close_total", l, &[("errno", "")], closed as f64);
    }
}

/// The `prometheus-client` registry Linkerd appends: OpenMetrics text, `# UNIT`, counters
/// whose TYPE has no `_total`, HELP ending in `.`, and a final `# EOF`.
fn openmetrics_tail(out: &mut String, counters: &ProxyCounters, now_ms: i64) {
    let expiry = (now_ms / 1000 + 86_400) as f64;
    let _ = writeln!(
        out,
        "# HELP identity_cert_expiration_timestamp_seconds Time when the this proxy's current mTLS identity certificate will expire (in seconds since the UNIX epoch).\n# TYPE identity_cert_expiration_timestamp_seconds gauge\n# UNIT identity_cert_expiration_timestamp_seconds seconds"
    );
    render_sample(
        out,
        "identity_cert_expiration_timestamp_seconds",
        &[],
        expiry,
        None,
    );
    let refreshes = ((now_ms - counters.start_ms).max(0) / 86_400_000 + 1) as f64;
    let _ = writeln!(
        out,
        "# HELP identity_cert_refresh The total number of times this proxy's mTLS identity certificate has been refreshed by the Identity provider..\n# TYPE identity_cert_refresh counter"
    );
    render_sample(out, "identity_cert_refresh_total", &[], refreshes, None);
    let _ = writeln!(
        out,
        "# HELP outbound_http_balancer_endpoints The number of endpoints in the balancer.\n# TYPE outbound_http_balancer_endpoints gauge"
    );
    let mut services: Vec<(&str, &str, u16)> = Vec::new();
    for k in counters.outbound.keys() {
        let entry = (k.dst_namespace.as_str(), k.dst_service.as_str(), k.port);
        if !services.contains(&entry) {
            services.push(entry);
        }
    }
    for (ns, svc, port) in services {
        let port_s = port.to_string();
        let ready = counters
            .outbound
            .keys()
            .filter(|k| k.dst_namespace == ns && k.dst_service == svc && k.dst.is_some())
            .count();
        for (state, n) in [("ready", ready), ("pending", 0)] {
            render_sample(
                out,
                "outbound_http_balancer_endpoints",
                &[
                    ("parent_group", "core"),
                    ("parent_kind", "Service"),
                    ("parent_namespace", ns),
                    ("parent_name", svc),
                    ("parent_port", &port_s),
                    ("parent_section_name", ""),
                    ("backend_group", "core"),
                    ("backend_kind", "Service"),
                    ("backend_namespace", ns),
                    ("backend_name", svc),
                    ("backend_port", &port_s),
                    ("backend_section_name", ""),
                    ("endpoint_state", state),
                ],
                n as f64,
                None,
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP proxy_build_info Proxy build info.\n# TYPE proxy_build_info gauge"
    );
    render_sample(
        out,
        "proxy_build_info",
        &[
            ("version", PROXY_VERSION),
            ("git_sha", "7b5c0f2"),
            ("profile", "release"),
            ("vendor", "linkerd"),
        ],
        1.0,
        None,
    );
    let _ = writeln!(
        out,
        "# HELP rustls_info Proxy TLS info.\n# TYPE rustls_info gauge"
    );
    render_sample(
        out,
        "rustls_info",
        &[
            (
                "tls_suites_supported",
                "TLS13_AES_128_GCM_SHA256,TLS13_AES_256_GCM_SHA384,TLS13_CHACHA20_POLY1305_SHA256",
            ),
            ("tls_kx_groups_supported", "X25519,secp256r1,secp384r1"),
            ("tls_rand", "ring"),
            ("tls_key_provider", "ring"),
            ("tls_fips", "false"),
        ],
        1.0,
        None,
    );
    out.push_str("# EOF\n");
}

/// One sample of a series: its labels plus `extra` ones (`status_code`, `le`, …).
fn sample(out: &mut String, name: &str, labels: &[(String, String)], extra: &[(&str, &str)], value: f64) {
    let mut l: Vec<(&str, &str)> = labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    l.extend_from_slice(extra);
    render_sample(out, name, &l, value, None);
}
