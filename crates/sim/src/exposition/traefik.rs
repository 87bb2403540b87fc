//! Traefik v3's `/metrics` body, written from a pod's counters with the real families, label
//! sets and orders (`docs/shared/reference/metrics-formats.md` §4).

use atlhyper_promtext::render_sample;

use super::{LE_INF, family};
use crate::model::{StatusCounts, TraefikCounters};
use crate::truth::{TRAEFIK_LE_S, traefik_cumulative};

/// Traefik v3's body on its `metrics` entry point: entrypoint, router and service families
/// (labels sorted by name, as client_golang writes them), then Go/process metrics.
pub fn traefik_body(counters: &TraefikCounters, backends: &[(String, String)], now_ms: i64) -> String {
    let mut out = String::with_capacity(32 * 1024);
    family(
        &mut out,
        "traefik_config_last_reload_success",
        "gauge",
        "Last config reload success",
    );
    render_sample(
        &mut out,
        "traefik_config_last_reload_success",
        &[],
        (counters.start_ms / 1000) as f64,
        None,
    );
    family(
        &mut out,
        "traefik_config_reloads_total",
        "counter",
        "Config reloads",
    );
    render_sample(
        &mut out,
        "traefik_config_reloads_total",
        &[],
        1.0 + ((now_ms - counters.start_ms).max(0) / 3_600_000) as f64,
        None,
    );

    // Entry point series: the router series summed over routers and services.
    let mut entry: std::collections::BTreeMap<(&str, u16), StatusCounts> = std::collections::BTreeMap::new();
    for (k, c) in &counters.series {
        entry.entry((k.method, k.code)).or_default().merge(c);
    }
    let open: u64 = counters.series.values().map(StatusCounts::count).sum::<u64>() % 7 + 1;
    let rows: Vec<_> = entry
        .iter()
        .map(|((method, code), c)| {
            let labels = vec![
                ("code", code.to_string()),
                ("entrypoint", "web".to_owned()),
                ("method", (*method).to_owned()),
                ("protocol", "http".to_owned()),
            ];
            (labels, c)
        })
        .collect();
    traefik_level(
        &mut out,
        "entrypoint",
        "How long it took to process the request on an entrypoint, partitioned by status code, protocol, and method.",
        "How many HTTP requests processed on an entrypoint, partitioned by status code, protocol, and method.",
        &rows,
    );
    family(
        &mut out,
        "traefik_open_connections",
        "gauge",
        "How many open connections exist, by entryPoint and protocol",
    );
    render_sample(
        &mut out,
        "traefik_open_connections",
        &[("entrypoint", "web"), ("protocol", "TCP")],
        open as f64,
        None,
    );
    render_sample(
        &mut out,
        "traefik_open_connections",
        &[("entrypoint", "metrics"), ("protocol", "TCP")],
        1.0,
        None,
    );

    let rows: Vec<_> = counters
        .series
        .iter()
        .map(|(k, c)| {
            let labels = vec![
                ("code", k.code.to_string()),
                ("method", k.method.to_owned()),
                ("protocol", "http".to_owned()),
                ("router", k.router.clone()),
                ("service", k.service.clone()),
            ];
            (labels, c)
        })
        .collect();
    traefik_level(
        &mut out,
        "router",
        "How long it took to process the request on a router, partitioned by service, status code, protocol, and method.",
        "How many HTTP requests are processed on a router, partitioned by service, status code, protocol, and method.",
        &rows,
    );

    // Service series: the same counts without the router.
    let mut svc: std::collections::BTreeMap<(&str, &str, u16), StatusCounts> =
        std::collections::BTreeMap::new();
    for (k, c) in &counters.series {
        svc.entry((k.service.as_str(), k.method, k.code))
            .or_default()
            .merge(c);
    }
    let rows: Vec<_> = svc
        .iter()
        .map(|((service, method, code), c)| {
            let labels = vec![
                ("code", code.to_string()),
                ("method", (*method).to_owned()),
                ("protocol", "http".to_owned()),
                ("service", (*service).to_owned()),
            ];
            (labels, c)
        })
        .collect();
    traefik_level(
        &mut out,
        "service",
        "How long it took to process the request on a service, partitioned by status code, protocol, and method.",
        "How many HTTP requests processed on a service, partitioned by status code, protocol, and method.",
        &rows,
    );
    family(
        &mut out,
        "traefik_service_server_up",
        "gauge",
        "service server is up, described by gauge value of 0 or 1.",
    );
    for (service, url) in backends {
        render_sample(
            &mut out,
            "traefik_service_server_up",
            &[("service", service), ("url", url)],
            1.0,
            None,
        );
    }
    go_process(&mut out, counters.start_ms);
    out
}

/// One Traefik level's two families over the same label sets:
/// `traefik_<level>_request_duration_seconds` and `traefik_<level>_requests_total`.
fn traefik_level(
    out: &mut String,
    level: &str,
    duration_help: &str,
    requests_help: &str,
    rows: &[(Vec<(&str, String)>, &StatusCounts)],
) {
    let duration = format!("traefik_{level}_request_duration_seconds");
    family(out, &duration, "histogram", duration_help);
    for (labels, c) in rows {
        let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        seconds_histogram(out, &duration, &l, c);
    }
    let requests = format!("traefik_{level}_requests_total");
    family(out, &requests, "counter", requests_help);
    for (labels, c) in rows {
        let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        render_sample(out, &requests, &l, c.count() as f64, None);
    }
}

fn seconds_histogram(out: &mut String, name: &str, labels: &[(&str, &str)], c: &StatusCounts) {
    let cumulative = traefik_cumulative(&c.cells);
    let bucket = format!("{name}_bucket");
    for (i, n) in cumulative.iter().enumerate() {
        let le = TRAEFIK_LE_S.get(i).map_or(LE_INF.to_owned(), f64::to_string);
        let mut l = labels.to_vec();
        l.push(("le", &le));
        render_sample(out, &bucket, &l, *n as f64, None);
    }
    render_sample(
        out,
        &format!("{name}_sum"),
        labels,
        c.sum_ms as f64 / 1000.0,
        None,
    );
    render_sample(out, &format!("{name}_count"), labels, c.count() as f64, None);
}

fn go_process(out: &mut String, start_ms: i64) {
    family(
        out,
        "go_goroutines",
        "gauge",
        "Number of goroutines that currently exist.",
    );
    render_sample(out, "go_goroutines", &[], 143.0, None);
    family(
        out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    render_sample(
        out,
        "process_start_time_seconds",
        &[],
        (start_ms / 1000) as f64,
        None,
    );
}
