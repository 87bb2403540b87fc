//! Container logs: deterministic lines per pod and container run, so `kubectl logs` and the
//! agent's log command have something real-looking to show, including the last words of a
//! crashed (`previous`) container.

use std::fmt::Write as _;

use crate::cluster::SimCluster;
use crate::model::{Pod, Role};
use crate::rng::{Rng, fnv};

pub enum LogError {
    NotFound,
    Bad(String),
}

/// Seconds between two log lines of a running container.
const LINE_EVERY_MS: i64 = 15_000;
/// Lines a container run keeps (kubelet log rotation).
const MAX_LINES: usize = 2_000;

pub fn pod_log(
    sim: &SimCluster,
    namespace: &str,
    name: &str,
    container: Option<&str>,
    previous: bool,
    tail: Option<usize>,
) -> Result<String, LogError> {
    let pod = sim
        .pods
        .iter()
        .find(|p| p.namespace == namespace && p.name == name)
        .ok_or(LogError::NotFound)?;
    let w = &sim.workloads[pod.workload];
    let app = match w.role {
        Role::Traefik => "traefik",
        Role::NodeExporter => "node-exporter",
        Role::Mesh | Role::Plain => "app",
    };
    let proxy = w.meshed;
    let container = container.unwrap_or(app);
    if container != app && !(proxy && container == "linkerd-proxy") {
        let mut names = vec![app];
        if proxy {
            names.push("linkerd-proxy");
        }
        return Err(LogError::Bad(format!(
            "container {container} is not valid for pod {name}, choose one of: [{}]",
            names.join(" ")
        )));
    }
    let lines = if container == "linkerd-proxy" {
        if previous {
            return Err(LogError::Bad(format!(
                "previous terminated container \"linkerd-proxy\" in pod \"{name}\" not found"
            )));
        }
        proxy_lines(pod, w.service_account())
    } else if previous {
        let Some(t) = &pod.last_terminated else {
            return Err(LogError::Bad(format!(
                "previous terminated container \"{app}\" in pod \"{name}\" not found"
            )));
        };
        app_lines(pod, w.role, t.started_ms, t.finished_ms, Some(t.reason))
    } else if pod.crashing.is_some() {
        // A crash-looping container's current log is its last run's.
        let t = pod.last_terminated.as_ref();
        let (start, end) = t.map_or((pod.started_ms, sim.now_ms()), |t| (t.started_ms, t.finished_ms));
        app_lines(pod, w.role, start, end, Some("Error"))
    } else {
        app_lines(pod, w.role, pod.started_ms, sim.now_ms(), None)
    };
    let skip = tail.map_or(0, |n| lines.len().saturating_sub(n));
    let mut out = String::new();
    for l in &lines[skip..] {
        out.push_str(l);
        out.push('\n');
    }
    Ok(out)
}

fn stamp(ms: i64) -> String {
    let t = k8s_openapi::jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    format!("{t:.3}")
}

fn app_lines(pod: &Pod, role: Role, start: i64, end: i64, ended: Option<&str>) -> Vec<String> {
    let mut rng = Rng::new(fnv(&pod.uid) ^ start as u64);
    let mut lines = vec![
        format!(
            "{} level=info msg=\"starting\" version=\"{}\" pid=1",
            stamp(start),
            pod.revision_hash
        ),
        format!(
            "{} level=info msg=\"listening\" addr=\"0.0.0.0:8080\"",
            stamp(start + 120)
        ),
    ];
    if ended == Some("Error") {
        lines.push(format!(
            "{} level=error msg=\"cannot load configuration\" error=\"dial tcp 10.43.10.21:6379: connect: connection refused\"",
            stamp(start + 900)
        ));
        lines.push(format!(
            "{} level=fatal msg=\"exiting\" code=1",
            stamp(start + 950)
        ));
        return lines;
    }
    let first = start + LINE_EVERY_MS - start.rem_euclid(LINE_EVERY_MS);
    let count = ((end - first).max(0) / LINE_EVERY_MS) as usize;
    let from = count.saturating_sub(MAX_LINES);
    for k in from..count {
        let at = first + k as i64 * LINE_EVERY_MS;
        let mut line = String::new();
        let status = match rng.below(100) {
            0 => 500,
            1..=3 => 404,
            _ => 200,
        };
        let ms = 2 + rng.below(80);
        let path = ["/", "/items", "/items/42", "/cart", "/healthz"][rng.below(5) as usize];
        let level = if status >= 500 { "error" } else { "info" };
        let _ = match role {
            Role::NodeExporter => write!(
                line,
                "{} level=info msg=\"collector succeeded\" name=cpu duration_seconds=0.00{}",
                stamp(at),
                ms
            ),
            _ => write!(
                line,
                "{} level={level} msg=\"request\" method=GET path={path} status={status} duration_ms={ms}",
                stamp(at)
            ),
        };
        lines.push(line);
    }
    if ended == Some("OOMKilled") {
        lines.push(format!(
            "{} level=warn msg=\"heap usage high\" heap_bytes=531628032",
            stamp(end - 2_000)
        ));
    }
    lines
}

fn proxy_lines(pod: &Pod, serviceaccount: &str) -> Vec<String> {
    let t0 = pod.created_ms + 1_000;
    vec![
        format!(
            "[     0.001{:03}s]  INFO ThreadId(01) linkerd2_proxy: release {} by linkerd on 2024-11-27T19:47:12Z",
            t0.rem_euclid(1000),
            crate::model::PROXY_VERSION
        ),
        "[     0.002345s]  INFO ThreadId(01) linkerd2_proxy: Admin interface on [::]:4191".to_owned(),
        "[     0.002371s]  INFO ThreadId(01) linkerd2_proxy: Inbound interface on 0.0.0.0:4143".to_owned(),
        "[     0.002379s]  INFO ThreadId(01) linkerd2_proxy: Outbound interface on 127.0.0.1:4140".to_owned(),
        format!(
            "[     0.021712s]  INFO ThreadId(02) daemon:identity: linkerd_app: Certified identity id={serviceaccount}.{}.serviceaccount.identity.linkerd.cluster.local",
            pod.namespace
        ),
    ]
}
