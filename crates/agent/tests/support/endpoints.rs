//! Loopback metrics endpoints serving bodies the test sets, in the real formats: a Linkerd
//! proxy (classic families as proxies from 2.18 on label them, then the OpenMetrics tail and
//! `# EOF`), Traefik v3, node_exporter. One listener per endpoint, since the agent scrapes
//! `http://{podIP}:{port}/metrics`.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;

/// Linkerd's `response_latency_ms` bounds.
pub const LINKERD_LE_MS: [f64; 25] = [
    1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 1000.0, 2000.0,
    3000.0, 4000.0, 5000.0, 10000.0, 20000.0, 30000.0, 40000.0, 50000.0,
];

#[derive(Clone)]
pub struct Endpoint {
    pub port: u16,
    body: Arc<Mutex<String>>,
}

#[derive(Clone)]
struct Served {
    body: Arc<Mutex<String>>,
    delay: Duration,
}

impl Endpoint {
    /// Serves `/metrics` on 127.0.0.1 (any port), answering after `delay`.
    pub async fn start(delay: Duration) -> Self {
        let body = Arc::new(Mutex::new(String::new()));
        let served = Served {
            body: Arc::clone(&body),
            delay,
        };
        let router = Router::new().route("/metrics", get(metrics)).with_state(served);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { port, body }
    }

    pub fn set(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }
}

async fn metrics(State(served): State<Served>) -> String {
    if !served.delay.is_zero() {
        tokio::time::sleep(served.delay).await;
    }
    served.body.lock().unwrap().clone()
}

/// A port on which nothing listens (bound, then closed).
pub fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Cumulative traffic of one status code on one series set.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status_code: u16,
    pub count: u64,
    /// Observations per finite Linkerd bucket (not cumulative), by index into
    /// [`LINKERD_LE_MS`]; the rest fall in `+Inf`.
    pub per_bucket: Vec<(usize, u64)>,
}

/// One side of a proxy's traffic: an outbound edge to a Service, or inbound traffic with an
/// authority (the ingress controller's proxy).
#[derive(Debug, Clone)]
pub enum Route {
    Outbound {
        dst_namespace: String,
        dst_service: String,
    },
    Inbound {
        authority: String,
    },
}

/// A Linkerd proxy body with these cumulative counters (`process_start` in Unix seconds).
pub fn linkerd_body(process_start: f64, routes: &[(Route, Vec<Outcome>)]) -> String {
    let mut out = String::new();
    let mut requests = String::new();
    let mut responses = String::new();
    let mut latency = String::new();
    for (route, outcomes) in routes {
        let labels = route_labels(route);
        let total: u64 = outcomes.iter().map(|o| o.count).sum();
        let _ = writeln!(requests, "request_total{{{labels}}} {total}");
        for outcome in outcomes {
            let code = outcome.status_code;
            let class = if code >= 500 { "failure" } else { "success" };
            let _ = writeln!(
                responses,
                "response_total{{{labels},status_code=\"{code}\",classification=\"{class}\",grpc_status=\"\",error=\"\"}} {}",
                outcome.count
            );
            let mut cumulative = 0;
            for (i, le) in LINKERD_LE_MS.iter().enumerate() {
                cumulative += outcome
                    .per_bucket
                    .iter()
                    .filter(|(b, _)| *b == i)
                    .map(|(_, n)| n)
                    .sum::<u64>();
                let _ = writeln!(
                    latency,
                    "response_latency_ms_bucket{{{labels},status_code=\"{code}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                latency,
                "response_latency_ms_bucket{{{labels},status_code=\"{code}\",le=\"+Inf\"}} {}\n\
                 response_latency_ms_count{{{labels},status_code=\"{code}\"}} {}\n\
                 response_latency_ms_sum{{{labels},status_code=\"{code}\"}} 0",
                outcome.count, outcome.count
            );
        }
    }
    out.push_str("# HELP request_total Total count of HTTP requests.\n# TYPE request_total counter\n");
    out.push_str(&requests);
    out.push_str("# HELP response_total Total count of HTTP responses.\n# TYPE response_total counter\n");
    out.push_str(&responses);
    out.push_str("# HELP response_latency_ms Elapsed times between a request's headers being received and its response stream completing\n# TYPE response_latency_ms histogram\n");
    out.push_str(&latency);
    let _ = writeln!(
        out,
        "# HELP tcp_open_total Total count of opened connections\n# TYPE tcp_open_total counter\n\
         tcp_open_total{{direction=\"inbound\",peer=\"src\",target_addr=\"0.0.0.0:4191\",target_ip=\"0.0.0.0\",target_port=\"4191\",tls=\"disabled\"}} 7\n\
         # HELP process_start_time_seconds Time that the process started (in seconds since the UNIX epoch)\n\
         # TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {process_start}\n\
         # HELP outbound_http_balancer_endpoints The number of endpoints currently in a HTTP request balancer.\n\
         # TYPE outbound_http_balancer_endpoints gauge\n\
         outbound_http_balancer_endpoints{{endpoint_state=\"ready\",parent_group=\"core\",parent_kind=\"Service\",parent_namespace=\"shop\",parent_name=\"api\",parent_port=\"8080\",parent_section_name=\"\",backend_group=\"core\",backend_kind=\"Service\",backend_namespace=\"shop\",backend_name=\"api\",backend_port=\"8080\",backend_section_name=\"\"}} 2\n\
         # EOF"
    );
    out
}

fn route_labels(route: &Route) -> String {
    match route {
        Route::Outbound {
            dst_namespace,
            dst_service,
        } => format!(
            "direction=\"outbound\",authority=\"{dst_service}.{dst_namespace}.svc.cluster.local:8080\",target_addr=\"10.42.2.9:8080\",target_ip=\"10.42.2.9\",target_port=\"8080\",tls=\"true\",server_id=\"{dst_service}.{dst_namespace}.serviceaccount.identity.linkerd.cluster.local\",dst_control_plane_ns=\"linkerd\",dst_deployment=\"{dst_service}\",dst_namespace=\"{dst_namespace}\",dst_pod=\"{dst_service}-7f5c9c8d4-x2b9q\",dst_pod_template_hash=\"7f5c9c8d4\",dst_service=\"{dst_service}\",dst_serviceaccount=\"{dst_service}\",dst_zone=\"\",dst_zone_locality=\"unknown\""
        ),
        Route::Inbound { authority } => format!(
            "direction=\"inbound\",authority=\"{authority}\",target_addr=\"10.42.1.7:8000\",target_ip=\"10.42.1.7\",target_port=\"8000\",tls=\"no_identity\",no_tls_reason=\"no_tls_from_remote\",srv_group=\"\",srv_kind=\"default\",srv_name=\"all-unauthenticated\",srv_port=\"8000\",route_group=\"\",route_kind=\"default\",route_name=\"default\",authz_group=\"\",authz_kind=\"default\",authz_name=\"all-unauthenticated\""
        ),
    }
}

/// A Traefik v3 body: `traefik_service_requests_total` and its duration histogram (default
/// buckets 0.1, 0.3, 1.2, 5 s) for one service, with (code, count, per-bucket) rows.
pub fn traefik_body(service: &str, rows: &[(u16, u64, [u64; 5])]) -> String {
    let mut out = String::from(
        "# HELP traefik_service_requests_total How many HTTP requests processed on a service, partitioned by status code, protocol, and method.\n# TYPE traefik_service_requests_total counter\n",
    );
    for (code, count, _) in rows {
        let _ = writeln!(
            out,
            "traefik_service_requests_total{{code=\"{code}\",method=\"GET\",protocol=\"http\",service=\"{service}\"}} {count}"
        );
    }
    out.push_str("# HELP traefik_service_request_duration_seconds How long it took to process the request on a service, partitioned by status code, protocol, and method.\n# TYPE traefik_service_request_duration_seconds histogram\n");
    for (code, count, per_bucket) in rows {
        let mut cumulative = 0;
        for (le, n) in ["0.1", "0.3", "1.2", "5", "+Inf"].iter().zip(per_bucket) {
            cumulative += n;
            let _ = writeln!(
                out,
                "traefik_service_request_duration_seconds_bucket{{code=\"{code}\",method=\"GET\",protocol=\"http\",service=\"{service}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "traefik_service_request_duration_seconds_sum{{code=\"{code}\",method=\"GET\",protocol=\"http\",service=\"{service}\"}} 1.5\n\
             traefik_service_request_duration_seconds_count{{code=\"{code}\",method=\"GET\",protocol=\"http\",service=\"{service}\"}} {count}"
        );
    }
    out.push_str("# HELP traefik_open_connections How many open connections exist.\n# TYPE traefik_open_connections gauge\ntraefik_open_connections{entrypoint=\"web\",protocol=\"TCP\"} 3\n");
    out
}

/// A node_exporter body with two cores at `busy` share of `seconds_running`, memory 25 %
/// available.
pub fn node_body(seconds_running: f64, busy: f64) -> String {
    let idle = seconds_running * (1.0 - busy);
    let user = seconds_running * busy;
    format!(
        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds_total counter\n\
         node_cpu_seconds_total{{cpu=\"0\",mode=\"idle\"}} {idle}\nnode_cpu_seconds_total{{cpu=\"0\",mode=\"user\"}} {user}\n\
         node_cpu_seconds_total{{cpu=\"1\",mode=\"idle\"}} {idle}\nnode_cpu_seconds_total{{cpu=\"1\",mode=\"user\"}} {user}\n\
         # TYPE node_load1 gauge\nnode_load1 1.25\n\
         # TYPE node_memory_MemTotal_bytes gauge\nnode_memory_MemTotal_bytes 8e+09\n\
         # TYPE node_memory_MemAvailable_bytes gauge\nnode_memory_MemAvailable_bytes 2e+09\n\
         # TYPE node_pressure_memory_waiting_seconds_total counter\nnode_pressure_memory_waiting_seconds_total {}\n",
        seconds_running * 0.1
    )
}
