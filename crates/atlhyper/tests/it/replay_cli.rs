//! `atlhyper slo replay` as a user runs it: exit codes, stdout JSON, and error messages that
//! name the file, line, column or configuration key.

use std::path::Path;
use std::process::{Command, Output};

fn replay(config: &Path, dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atlhyper"))
        .args(["slo", "replay", "--config"])
        .arg(config)
        .arg(dir)
        .output()
        .expect("run atlhyper")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(config: &str, files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agent.yaml"), config).unwrap();
        std::fs::create_dir(dir.path().join("scrapes")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join("scrapes").join(name), text).unwrap();
        }
        Self { dir }
    }

    fn run(&self) -> Output {
        replay(
            &self.dir.path().join("agent.yaml"),
            &self.dir.path().join("scrapes"),
        )
    }
}

const CONFIG: &str = "cluster_id: cli\nslo:\n  linkerd:\n    traefik_namespace: ingress\n";
const EDGE: &str = r#"direction="outbound",namespace="shop",deployment="web",dst_namespace="shop",dst_service="api",instance="10.0.0.1:4191""#;

#[test]
fn prints_one_json_object_with_the_design_fields() {
    let case = Case::new(
        CONFIG,
        &[
            (
                "1764000000.prom",
                &format!("# TYPE request_total untyped\nrequest_total{{{EDGE}}} 100 1764000000000\n"),
            ),
            (
                "1764000060.prom",
                &format!("# TYPE request_total untyped\nrequest_total{{{EDGE}}} 160 1764000060000\n"),
            ),
        ],
    );
    let output = case.run();
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["cluster_id"], "cli");
    assert_eq!(json["timestamp"], "2025-11-24T16:01:00Z");
    assert_eq!(json["ingress"], serde_json::json!([]));
    let entry = &json["services"][0];
    let mut fields: Vec<&str> = entry.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "latency_p50",
            "latency_p95",
            "latency_p99",
            "namespace",
            "request_rate",
            "source",
            "source_namespace",
            "success_rate",
            "success_requests",
            "target",
            "timestamp",
            "total_requests",
            "type"
        ]
    );
    assert_eq!(
        (entry["total_requests"].as_u64(), entry["request_rate"].as_f64()),
        (Some(60), Some(1.0))
    );
    assert_eq!(
        entry["success_rate"],
        serde_json::Value::Null,
        "no responses: null, not 0 or 100"
    );
}

#[test]
fn a_malformed_scrape_names_the_file_line_and_column() {
    let case = Case::new(
        CONFIG,
        &[
            ("1764000000.prom", "ok 1\n"),
            ("1764000030.prom", "ok 1\nok{a=\"1\" 2\n"),
        ],
    );
    let output = case.run();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("1764000030.prom: line 2, column 10: expected ',' or '}'"),
        "{message}"
    );
    assert!(output.stdout.is_empty(), "no partial JSON on failure");
}

#[test]
fn a_bad_config_key_is_named() {
    let case = Case::new(
        "slo:\n  linkerd:\n    traefik_namespace: ingress\n    target_namespace: [shop]\n",
        &[("1.prom", "")],
    );
    let output = case.run();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("agent.yaml") && message.contains("target_namespace"),
        "{message}"
    );
}

#[test]
fn an_empty_or_missing_directory_is_an_error() {
    let case = Case::new(CONFIG, &[]);
    let message = stderr(&case.run());
    assert!(
        message.contains("no scrape files") && message.contains("<unix-seconds>.prom"),
        "{message}"
    );
    let missing = replay(&case.dir.path().join("agent.yaml"), &case.dir.path().join("nope"));
    assert!(stderr(&missing).contains("cannot list"), "{}", stderr(&missing));
    let no_config = replay(
        &case.dir.path().join("absent.yaml"),
        &case.dir.path().join("scrapes"),
    );
    assert!(
        stderr(&no_config).contains("cannot read config"),
        "{}",
        stderr(&no_config)
    );
}

#[test]
fn a_misnamed_scrape_file_is_refused_not_skipped() {
    let case = Case::new(
        CONFIG,
        &[("1764000000.prom", "ok 1\n"), ("latest.prom", "ok 1\n")],
    );
    let message = stderr(&case.run());
    assert!(
        message.contains("latest.prom: a scrape file must be named <unix-seconds>.prom"),
        "{message}"
    );
}
