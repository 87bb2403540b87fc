//! `atlhyper aiops evaluate` end to end (issue 7's "done when"): every fault scenario of the
//! simulator opens an incident whose root cause is the injected entity within 5 simulated
//! minutes, and 24 fault-free simulated hours open no incident. The binary runs a real
//! simulator, agent and master on loopback; the test reads its JSON.

use std::process::Command;

use serde_json::Value;

fn evaluate(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_atlhyper"))
        .args(["aiops", "evaluate"])
        .args(args)
        .output()
        .expect("run atlhyper aiops evaluate");
    assert!(
        out.status.success(),
        "aiops evaluate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn every_scenario_finds_its_root_cause_within_five_minutes_and_a_quiet_day_opens_nothing() {
    let result = evaluate(&["--scenario", "all", "--hours", "24"]);
    let scenarios = result["scenarios"].as_array().expect("scenarios");
    let names: Vec<&str> = scenarios.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "error_spike",
            "latency_regression",
            "crash_loop",
            "oom_kill",
            "node_memory_pressure",
            "bad_rollout"
        ]
    );
    for s in scenarios {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["detected"], true, "{name} opened no incident: {s}");
        // The very key injected: a Deployment's fault names the Deployment, not a pod of it
        // or the Service in front of it.
        assert_eq!(
            s["root_cause"], s["injected"],
            "{name}: the root cause is not the injected entity: {s}"
        );
        assert_eq!(s["root_cause_matches"], true, "{name}: {s}");
        let delay = s["delay_s"].as_f64().unwrap();
        assert!(
            (0.0..=300.0).contains(&delay),
            "{name}: detected after {delay} s: {s}"
        );
        assert_eq!(
            s["incidents_before_injection"].as_array().map(Vec::len),
            Some(0),
            "{name}: incidents before the fault: {s}"
        );
    }
    assert_eq!(result["fault_free_hours"], 24.0);
    let false_positives = result["false_positives"].as_array().unwrap();
    assert!(
        false_positives.is_empty(),
        "{} incidents in 24 fault-free hours: {false_positives:?}",
        false_positives.len()
    );
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    for (args, word) in [
        (vec!["--scenario", "meteor_strike"], "meteor_strike"),
        (vec!["--hours=-1"], "--hours"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_atlhyper"))
            .args(["aiops", "evaluate"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(word), "{args:?}: {stderr}");
    }
}
