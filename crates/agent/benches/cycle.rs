//! One collect cycle over 1,000 meshed pods of about 1,500 series each (1.5 M series), as
//! `atlhyper agent` runs it: Kubernetes discovery, 1,000 concurrent-bounded HTTP scrapes,
//! parsing, the SLO window. Prints CPU time and peak RSS of the agent side.
//!
//! The pods' proxies and the Kubernetes API are served by a child process (this binary run
//! again with `ATLHYPER_BENCH_SERVE=1`), so their CPU is not counted. Every pod answers on
//! 127.0.0.1 with its own counters; values move between cycles so increases are computed.
//!
//! `cargo bench -p atlhyper-agent --bench cycle`

// A bench program reports on stdout.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use atlhyper_agent::AgentConfig;
use atlhyper_agent::collect::Collector;
use atlhyper_agent::discovery::KubeDiscovery;

const PODS: usize = 1000;
const DESTINATIONS: usize = 24;
const LE_MS: [&str; 26] = [
    "1", "2", "3", "4", "5", "10", "20", "30", "40", "50", "100", "200", "300", "400", "500", "1000", "2000",
    "3000", "4000", "5000", "10000", "20000", "30000", "40000", "50000", "+Inf",
];
const CYCLES: usize = 4;

fn main() {
    if std::env::var_os("ATLHYPER_BENCH_SERVE").is_some() {
        serve();
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env("ATLHYPER_BENCH_SERVE", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the server process");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the server prints its port");
    let body_bytes = proxy_body(0, 1).len();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let mut agent_config = AgentConfig::default();
        agent_config.slo.linkerd.traefik_namespace = "ingress".into();
        let mut collector = Collector::new(agent_config, Some(KubeDiscovery::new(client))).unwrap();
        println!(
            "{PODS} pods, {} series and {:.0} KB per proxy body",
            series_per_body(),
            body_bytes as f64 / 1e3
        );
        for cycle in 0..CYCLES {
            let (cpu_before, wall) = (cpu_seconds(), Instant::now());
            let out = collector.cycle(1_764_504_000_000 + cycle as i64 * 30_000).await;
            let (cpu, wall) = (cpu_seconds() - cpu_before, wall.elapsed());
            assert_eq!(out.stats.failed_targets, 0, "{:?}", out.targets.iter().find(|t| t.last_error.is_some()));
            println!(
                "cycle {cycle}: {:.2} core-s CPU, {:.2} s wall, {} samples, {} tracked series, {} SLO groups, peak RSS {:.0} MiB",
                cpu,
                wall.as_secs_f64(),
                out.stats.samples,
                out.stats.tracked_series,
                out.counters.len(),
                peak_rss_mib()
            );
        }
    });
    let _ = child.kill();
    let _ = child.wait();
}

fn series_per_body() -> usize {
    proxy_body(0, 1).lines().filter(|l| !l.starts_with('#')).count()
}

/// A classic Linkerd body: outbound to `DESTINATIONS` services with two status codes, the
/// 26 latency buckets, and the tcp and process series a proxy also exposes.
fn proxy_body(pod: usize, round: u64) -> String {
    let mut out = String::with_capacity(800_000);
    for family in ["request_total", "response_total", "response_latency_ms"] {
        let kind = if family == "response_latency_ms" {
            "histogram"
        } else {
            "counter"
        };
        let _ = writeln!(
            out,
            "# HELP {family} Linkerd proxy family.\n# TYPE {family} {kind}"
        );
        for d in 0..DESTINATIONS {
            let labels = format!(
                "direction=\"outbound\",authority=\"svc-{d}.ns-{}.svc.cluster.local:8080\",target_addr=\"10.42.{d}.9:8080\",target_ip=\"10.42.{d}.9\",target_port=\"8080\",tls=\"true\",server_id=\"svc-{d}.ns.serviceaccount.identity.linkerd.cluster.local\",dst_control_plane_ns=\"linkerd\",dst_deployment=\"svc-{d}\",dst_namespace=\"ns-{}\",dst_pod=\"svc-{d}-7f5c9c8d4-x2b9q\",dst_pod_template_hash=\"7f5c9c8d4\",dst_service=\"svc-{d}\",dst_serviceaccount=\"svc-{d}\",dst_zone=\"\",dst_zone_locality=\"unknown\"",
                d % 5,
                d % 5
            );
            let base = (pod as u64 + 1) * 1000 * round + d as u64;
            match family {
                "request_total" => {
                    let _ = writeln!(out, "request_total{{{labels}}} {}", base * 2);
                }
                "response_total" => {
                    for (code, class) in [("200", "success"), ("503", "failure")] {
                        let _ = writeln!(
                            out,
                            "response_total{{{labels},status_code=\"{code}\",classification=\"{class}\",grpc_status=\"\",error=\"\"}} {base}"
                        );
                    }
                }
                _ => {
                    for code in ["200", "503"] {
                        for (i, le) in LE_MS.iter().enumerate() {
                            let _ = writeln!(
                                out,
                                "response_latency_ms_bucket{{{labels},status_code=\"{code}\",le=\"{le}\"}} {}",
                                base * (i as u64 + 1) / 26
                            );
                        }
                        let _ = writeln!(
                            out,
                            "response_latency_ms_count{{{labels},status_code=\"{code}\"}} {base}"
                        );
                        let _ = writeln!(
                            out,
                            "response_latency_ms_sum{{{labels},status_code=\"{code}\"}} {}",
                            base * 7
                        );
                    }
                }
            }
        }
    }
    out.push_str("# TYPE tcp_open_total counter\n");
    for d in 0..DESTINATIONS * 5 {
        let _ = writeln!(
            out,
            "tcp_open_total{{direction=\"outbound\",peer=\"dst\",target_addr=\"10.42.{d}.9:8080\",target_ip=\"10.42.{d}.9\",target_port=\"8080\",tls=\"true\",server_id=\"svc.ns.serviceaccount.identity.linkerd.cluster.local\",dst_namespace=\"ns\"}} {}",
            round * 3
        );
    }
    out.push_str("# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1764500000\n# EOF\n");
    out
}

/// The child: 1,000 pods in a Kubernetes pod list, and their proxies' `/metrics` on one
/// port (every pod's IP is 127.0.0.1; the Host header does not matter, the request count
/// picks the round so counters grow from cycle to cycle).
fn serve() {
    use axum::routing::get;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let rounds: Arc<Vec<String>> = Arc::new((1..=CYCLES as u64 + 1).map(|r| proxy_body(7, r)).collect());
        let served = Arc::new(AtomicU64::new(0));
        let pods = pod_list(port);
        let router = axum::Router::new()
            .route(
                "/api/v1/pods",
                get(move || async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        pods.clone(),
                    )
                }),
            )
            .route(
                "/metrics",
                get(move || {
                    let (rounds, served) = (Arc::clone(&rounds), Arc::clone(&served));
                    async move {
                        let n = served.fetch_add(1, Ordering::Relaxed) as usize / PODS;
                        rounds[n.min(rounds.len() - 1)].clone()
                    }
                }),
            );
        println!("{port}");
        axum::serve(listener, router).await.unwrap();
    });
}

fn pod_list(port: u16) -> String {
    let items: Vec<serde_json::Value> = (0..PODS)
        .map(|i| {
            serde_json::json!({
                "metadata": {"name": format!("web-{i}"), "namespace": format!("ns-{}", i % 20), "labels": {
                    "app": "web", "linkerd.io/control-plane-ns": "linkerd",
                    "linkerd.io/proxy-deployment": format!("web-{}", i % 50)}},
                "spec": {"nodeName": "node-1", "containers": [{"name": "linkerd-proxy",
                    "ports": [{"name": "linkerd-admin", "containerPort": port}]}]},
                "status": {"phase": "Running", "podIP": "127.0.0.1"}
            })
        })
        .collect();
    serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items})
        .to_string()
}

/// User + system CPU seconds of this process so far (`/proc/self/stat`, clock ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the name; USER_HZ is 100.
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
