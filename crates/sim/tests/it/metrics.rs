//! The metrics endpoints, found through the Kubernetes API as the agent finds them, parse
//! with our parser, and the counters they expose between two scrapes equal the ground truth.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use atlhyper_sim::{GroupKey, LINKERD_BUCKETS, LINKERD_LE_MS, TRAEFIK_BUCKETS, TRAEFIK_LE_S};
use serde_json::Value;

use crate::support::{TestSim, assert_well_grouped};

/// A scrape target: the pod's namespace, workload label and URL.
struct Target {
    pod: String,
    namespace: String,
    workload: String,
    url: String,
}

/// Targets of pods matching `selector` whose container `container` has port `port_name`.
async fn targets(t: &TestSim, selector: &str, container: &str, port_name: &str) -> Vec<Target> {
    let (code, pods) = t.get(&format!("/api/v1/pods?labelSelector={selector}")).await;
    assert_eq!(code, 200);
    let mut out = Vec::new();
    for p in pods["items"].as_array().unwrap() {
        let ports = p["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] == container)
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default());
        let port = ports
            .into_iter()
            .find(|pt| pt["name"] == port_name)
            .expect("named port")["containerPort"]
            .clone();
        let labels = &p["metadata"]["labels"];
        let workload = labels["linkerd.io/proxy-deployment"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        out.push(Target {
            pod: p["metadata"]["name"].as_str().unwrap().to_owned(),
            namespace: p["metadata"]["namespace"].as_str().unwrap().to_owned(),
            workload,
            url: format!("http://{}:{port}/metrics", p["status"]["podIP"].as_str().unwrap()),
        });
    }
    out
}

async fn scrape(t: &TestSim, targets: &[Target]) -> Vec<String> {
    let mut out = Vec::new();
    for target in targets {
        out.push(t.text(&target.url).await);
    }
    out
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    total: u64,
    success: u64,
    failure: u64,
    buckets: Vec<u64>,
}

/// Per-series increase from `before` to `after` (a new series counts from zero).
fn increases<'a>(
    before: &'a str,
    after: &'a str,
    names: &[&str],
) -> Vec<(atlhyper_promtext::Sample<'a>, u64)> {
    let old = atlhyper_promtext::parse(before).expect("first scrape parses");
    let new = atlhyper_promtext::parse(after).expect("second scrape parses");
    let prev: HashMap<(String, String), f64> = old
        .samples
        .iter()
        .map(|s| ((s.name.to_owned(), s.labels.raw().to_owned()), s.value))
        .collect();
    new.samples
        .into_iter()
        .filter(|s| names.contains(&s.name))
        .map(|s| {
            let p = prev
                .get(&(s.name.to_owned(), s.labels.raw().to_owned()))
                .copied()
                .unwrap_or(0.0);
            assert!(s.value >= p, "counter went down: {} {}", s.name, s.labels.raw());
            let inc = (s.value - p) as u64;
            (s, inc)
        })
        .collect()
}

fn le_index(le: &str, bounds: &[f64]) -> usize {
    if le == "+Inf" {
        return bounds.len();
    }
    let v: f64 = le.parse().unwrap();
    bounds.iter().position(|b| *b == v).expect("known bucket bound")
}

/// SLO groups from Linkerd proxies, as DESIGN §5.4 defines them.
fn linkerd_groups(targets: &[Target], before: &[String], after: &[String]) -> BTreeMap<GroupKey, Counts> {
    let bounds: Vec<f64> = LINKERD_LE_MS.iter().map(|b| *b as f64).collect();
    let mut out: BTreeMap<GroupKey, Counts> = BTreeMap::new();
    let names = ["request_total", "response_total", "response_latency_ms_bucket"];
    for (i, target) in targets.iter().enumerate() {
        for (s, inc) in increases(&before[i], &after[i], &names) {
            let label = |n: &str| s.label(n).map(|v| v.into_owned()).unwrap_or_default();
            let key = match label("direction").as_str() {
                "inbound" if target.namespace == "ingress" => {
                    let a = label("authority");
                    if a.is_empty() || a.contains(".svc.cluster.local") {
                        continue;
                    }
                    GroupKey::Ingress { domain: a }
                }
                "outbound" => GroupKey::Service {
                    source_namespace: target.namespace.clone(),
                    source: target.workload.clone(),
                    namespace: label("dst_namespace"),
                    target: label("dst_service"),
                },
                _ => continue,
            };
            let c = out.entry(key).or_insert_with(|| Counts {
                buckets: vec![0; LINKERD_BUCKETS],
                ..Counts::default()
            });
            match s.name {
                "request_total" => c.total += inc,
                "response_total" if label("classification") == "failure" => c.failure += inc,
                "response_total" => c.success += inc,
                _ => c.buckets[le_index(&label("le"), &bounds)] += inc,
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkerd_and_traefik_counters_equal_the_ground_truth() {
    let t = TestSim::default().await;
    let proxies = targets(
        &t,
        "linkerd.io%2Fcontrol-plane-ns%3Dlinkerd",
        "linkerd-proxy",
        "linkerd-admin",
    )
    .await;
    assert_eq!(
        proxies.len(),
        2 + 3 + 3 + 2 * 5,
        "traefik and the shop's meshed pods"
    );
    let traefik = targets(&t, "app.kubernetes.io%2Fname%3Dtraefik", "traefik", "metrics").await;
    assert_eq!(traefik.len(), 2);
    t.advance(Duration::from_secs(60));
    let truth0 = t.sim.lock().unwrap().truth();
    let (l0, t0) = (scrape(&t, &proxies).await, scrape(&t, &traefik).await);
    t.advance(Duration::from_secs(300));
    let truth1 = t.sim.lock().unwrap().truth();
    let (l1, t1) = (scrape(&t, &proxies).await, scrape(&t, &traefik).await);
    let delta = truth1.since(&truth0);

    for body in l1.iter().chain(t1.iter()) {
        assert_well_grouped(body);
    }
    for body in l1.iter() {
        assert!(
            body.ends_with("# EOF\n"),
            "the OpenMetrics tail ends the proxy body"
        );
        assert!(body.contains("\nprocess_start_time_seconds "));
        assert!(body.contains("# UNIT identity_cert_expiration_timestamp_seconds seconds"));
    }
    let groups = linkerd_groups(&proxies, &l0, &l1);
    assert_eq!(
        groups.len(),
        delta.groups.len(),
        "{:?}",
        groups.keys().collect::<Vec<_>>()
    );
    for (key, truth) in &delta.groups {
        let got = groups
            .get(key)
            .unwrap_or_else(|| panic!("no scraped traffic for {key:?}"));
        assert!(truth.total > 0);
        let want = Counts {
            total: truth.total,
            success: truth.success,
            failure: truth.failure,
            buckets: truth.linkerd_buckets().to_vec(),
        };
        assert_eq!(got, &want, "{key:?}");
    }
    // Ingress domains again, from Traefik: service → host through the Ingress objects.
    let (_, ingresses) = t.get("/apis/networking.k8s.io/v1/ingresses").await;
    let mut host_of = HashMap::new();
    for g in ingresses["items"].as_array().unwrap() {
        let rule = &g["spec"]["rules"][0];
        let backend = &rule["http"]["paths"][0]["backend"]["service"];
        let svc = format!(
            "{}-{}-{}@kubernetes",
            g["metadata"]["namespace"].as_str().unwrap(),
            backend["name"].as_str().unwrap(),
            backend["port"]["number"]
        );
        host_of.insert(svc, rule["host"].as_str().unwrap().to_owned());
    }
    let mut by_host: BTreeMap<String, Counts> = BTreeMap::new();
    let names = [
        "traefik_service_requests_total",
        "traefik_service_request_duration_seconds_bucket",
    ];
    for i in 0..traefik.len() {
        for (s, inc) in increases(&t0[i], &t1[i], &names) {
            let host = host_of[s.label("service").unwrap().as_ref()].clone();
            let c = by_host.entry(host).or_insert_with(|| Counts {
                buckets: vec![0; TRAEFIK_BUCKETS],
                ..Counts::default()
            });
            if s.name == "traefik_service_requests_total" {
                c.total += inc;
                let code: u16 = s.label("code").unwrap().parse().unwrap();
                if code >= 500 {
                    c.failure += inc
                } else {
                    c.success += inc
                }
            } else {
                c.buckets[le_index(&s.label("le").unwrap(), &TRAEFIK_LE_S)] += inc;
            }
        }
    }
    assert_eq!(by_host.len(), 2);
    for (host, got) in &by_host {
        let truth = delta.ingress(host).expect("ingress truth");
        let want = Counts {
            total: truth.total,
            success: truth.success,
            failure: truth.failure,
            buckets: truth.traefik_buckets().to_vec(),
        };
        assert_eq!(got, &want, "{host}");
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_serves_each_node_and_counters_move_with_time() {
    let t = TestSim::default().await;
    let (_, pods) = t
        .get("/api/v1/namespaces/monitoring/pods?labelSelector=app.kubernetes.io%2Fname%3Dnode-exporter")
        .await;
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let mut nodes: Vec<&str> = items
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["node-1", "node-2", "node-3"]);
    let port = |p: &Value| {
        p["spec"]["containers"][0]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "metrics")
            .unwrap()["containerPort"]
            .clone()
    };
    let url = format!("http://127.0.0.1:{}/metrics", port(&items[0]));
    let before = t.text(&url).await;
    t.advance(Duration::from_secs(120));
    let after = t.text(&url).await;
    assert_well_grouped(&after);
    let a = atlhyper_promtext::parse(&before).unwrap();
    let b = atlhyper_promtext::parse(&after).unwrap();
    let sum = |s: &atlhyper_promtext::Scrape<'_>, name: &str| {
        s.samples
            .iter()
            .filter(|x| x.name == name)
            .map(|x| x.value)
            .sum::<f64>()
    };
    for family in [
        "node_memory_MemAvailable_bytes",
        "node_filesystem_avail_bytes",
        "node_pressure_memory_waiting_seconds_total",
        "node_hwmon_temp_celsius",
        "node_load1",
        "node_network_receive_bytes_total",
        "node_disk_read_bytes_total",
    ] {
        assert!(b.family(family).is_some(), "{family}");
    }
    // Four CPUs, eight modes; two minutes of CPU time pass on each CPU.
    assert_eq!(
        b.samples
            .iter()
            .filter(|x| x.name == "node_cpu_seconds_total")
            .count(),
        32
    );
    let cpu = sum(&b, "node_cpu_seconds_total") - sum(&a, "node_cpu_seconds_total");
    assert!((cpu - 4.0 * 120.0).abs() < 0.1, "{cpu}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_scaling_and_gzip_is_served() {
    let t = TestSim::default().await;
    t.sim.lock().unwrap().scale("shop", "payments", 4).unwrap();
    t.advance(Duration::from_secs(30));
    let proxies = targets(
        &t,
        "linkerd.io%2Fproxy-deployment%3Dpayments",
        "linkerd-proxy",
        "linkerd-admin",
    )
    .await;
    assert_eq!(proxies.len(), 4);
    for p in &proxies {
        let body = t.text(&p.url).await;
        assert!(atlhyper_promtext::parse(&body).is_ok());
    }
    let r = t
        .http
        .get(&proxies[0].url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert!(
        r.text().await.unwrap().contains("request_total"),
        "reqwest gunzips it"
    );
    t.sim.lock().unwrap().scale("shop", "payments", 2).unwrap();
    let left = t.sim.lock().unwrap().pod_names("shop", "payments");
    let gone = proxies
        .iter()
        .find(|p| !left.contains(&p.pod))
        .unwrap()
        .url
        .clone();
    // The listener of a deleted pod closes: connecting fails or the server is gone.
    let mut closed = false;
    for _ in 0..50 {
        match t.http.get(&gone).send().await {
            Err(_) => {
                closed = true;
                break;
            }
            Ok(r) if r.status() == 404 => {
                closed = true;
                break;
            }
            Ok(_) => tokio::task::yield_now().await,
        }
    }
    assert!(closed, "the deleted pod's listener still answers");
    t.stop().await;
}
