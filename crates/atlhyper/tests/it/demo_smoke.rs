//! `atlhyper demo` as a newcomer runs it: it starts on loopback, prints its URL and login,
//! and within 90 seconds the API shows two clusters with resources and SLO entries; Ctrl-C (SIGTERM here)
//! stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The demo's stdout lines, read on a thread so the test can wait with a bound.
fn start_demo(data_dir: &std::path::Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atlhyper"))
        .args([
            "demo",
            "--gateway-port",
            "0",
            "--agentsdk-port",
            "0",
            "--history-minutes",
            "10",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("MASTER_ADMIN_USERNAME")
        .env_remove("MASTER_ADMIN_PASSWORD")
        .env_remove("MASTER_GATEWAY_PORT")
        .env_remove("MASTER_AGENTSDK_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start atlhyper demo");
    let stdout = child.stdout.take().unwrap();
    let (lines, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    (child, receive)
}

/// The value after `label` on the first line that has it.
fn field(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(|rest| rest.split_whitespace().collect::<Vec<_>>())
        .unwrap_or_else(|| panic!("no {label:?} line in {lines:#?}"))
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_two_clusters_with_resources_and_slo_entries_within_90_seconds() {
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (mut child, lines) = start_demo(data.path());
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("press Ctrl-C")) {
        let left = Duration::from_secs(90).saturating_sub(started.elapsed());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(e) => {
                let _ = child.kill();
                panic!("demo not ready within 90 s ({e}): {seen:#?}");
            }
        }
    }
    let gateway = field(&seen, "dashboard and API");
    let login = field(&seen, "login");
    let (user, password) = login.split_once(" / ").expect("user / password");
    assert_eq!(user, "admin");
    assert!(password.len() >= 12, "a generated password: {password}");

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let token: Value = http
        .post(format!("{gateway}/api/v2/auth/login"))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().expect("a login token").to_owned();
    let get = async |path: &str| -> Value {
        http.get(format!("{gateway}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let clusters = get("/api/v2/clusters").await;
    let ids: Vec<&str> = clusters
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{clusters}");
    for id in ids {
        let overview = get(&format!("/api/v2/clusters/{id}/slo/overview?range=1h")).await;
        let services = overview["services"].as_array().unwrap();
        let ingress = overview["ingress"].as_array().unwrap();
        assert!(services.len() >= 8, "{id}: mesh edges: {overview}");
        assert!(!ingress.is_empty(), "{id}: ingress domains: {overview}");
        assert!(
            services
                .iter()
                .any(|e| e["total_requests"].as_u64().unwrap_or(0) > 1000),
            "{id}: the history fill delivered traffic: {overview}"
        );
        // The cluster half: its Kubernetes objects arrive with the first live snapshots after
        // the watchers synced (a collect interval after "ready"), within the 90 s budget.
        let total = async |kind: &str| -> u64 {
            let page = get(&format!("/api/v2/clusters/{id}/resources?kind={kind}&limit=5")).await;
            page["total"].as_u64().unwrap_or(0)
        };
        while (total("pod").await < 10 || total("node").await < 3)
            && started.elapsed() < Duration::from_secs(90)
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(total("pod").await >= 10, "{id}: pods within 90 s");
        assert!(total("node").await >= 3, "{id}: nodes within 90 s");
        let status = get(&format!("/api/v2/clusters/{id}/status")).await;
        assert_eq!(status["online"], true, "{status}");
        assert_eq!(status["seq_gaps"], 0, "{status}");
    }

    let stopped = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(stopped.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "demo did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "clean stop: {exit:?}");
}
