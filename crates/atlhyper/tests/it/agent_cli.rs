//! `atlhyper agent` as an operator starts it: a missing or bad setting stops it at once with a
//! message that names the setting.

use std::process::{Command, Output};

fn agent(args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_atlhyper"));
    command
        .arg("agent")
        .args(args)
        .env_remove("ATLHYPER_AGENT_TOKEN")
        .env_remove("ATLHYPER_CLUSTER_ID")
        .env_remove("ATLHYPER_MASTER_URL")
        .env_remove("KUBECONFIG");
    if let Some(token) = token {
        command.env("ATLHYPER_AGENT_TOKEN", token);
    }
    command.output().expect("run atlhyper")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn without_a_cluster_id_it_says_how_to_give_one() {
    let out = agent(&["--master", "http://127.0.0.1:9"], Some("t"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--cluster-id"), "{}", stderr(&out));
}

#[test]
fn without_a_token_it_names_the_variable_and_the_flag() {
    let out = agent(&["--cluster-id", "c1"], None);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("ATLHYPER_AGENT_TOKEN") && e.contains("--token-file"),
        "{e}"
    );
}

#[test]
fn a_bad_master_url_or_config_key_is_named() {
    let out = agent(&["--cluster-id", "c1", "--master", "master:8081"], Some("t"));
    assert!(
        stderr(&out).contains("--master \"master:8081\""),
        "{}",
        stderr(&out)
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.yaml");
    std::fs::write(&config, "listen: nowhere\n").unwrap();
    let out = agent(
        &["--cluster-id", "c1", "--config", config.to_str().unwrap()],
        Some("t"),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("listen: must be an address"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn direct_mode_without_kubernetes_access_says_what_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-kubeconfig");
    let out = agent(
        &["--cluster-id", "c1", "--kubeconfig", missing.to_str().unwrap()],
        Some("t"),
    );
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("Kubernetes") && e.contains("no-such-kubeconfig"),
        "{e}"
    );
}
