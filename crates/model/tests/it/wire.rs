//! The versioned wire fixtures (`tests/fixtures/v1/`) still read, and mean what they meant.
//!
//! A change to the model that breaks one of these is a protocol change: it needs a new
//! version, not an edited fixture.

use std::path::PathBuf;

use atlhyper_model::{
    Action, AgentSnapshot, CommandReport, CommandStatus, ContainerProblem, ContainerState, PolledCommands,
    ResourceKind, SNAPSHOT_VERSION, container,
};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v1")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[test]
fn a_version_one_snapshot_reads_with_its_typed_fields() {
    let snapshot: AgentSnapshot = serde_json::from_str(&fixture("snapshot.json")).unwrap();
    assert_eq!(snapshot.version, SNAPSHOT_VERSION);
    assert_eq!((snapshot.cluster_id.as_str(), snapshot.seq), ("prod-eu", 42));
    assert_eq!(snapshot.slo.len(), 2);
    assert!(!snapshot.slo_counters.is_empty());
    let resources = snapshot.resources.as_ref().unwrap();
    let pod = &resources.pods[0];
    let c = &pod.containers[0];
    assert_eq!(c.state, ContainerState::Waiting);
    assert_eq!(
        container::problems(c, snapshot.taken_at.0),
        [ContainerProblem::OomKilled, ContainerProblem::CrashLoopBackOff]
    );
    let selector = resources.deployments[0].selector.as_ref().unwrap();
    assert_eq!(selector.match_labels.len(), 1, "{selector}");
    assert_eq!(selector.match_expressions.len(), 1, "{selector}");
    assert!(selector.to_string().ends_with("tier in (fe,be)"), "{selector}");
}

#[test]
fn a_version_one_snapshot_keeps_its_meaning_after_a_round_trip() {
    let original: Value = serde_json::from_str(&fixture("snapshot.json")).unwrap();
    let typed: AgentSnapshot = serde_json::from_value(original.clone()).unwrap();
    let again: AgentSnapshot = serde_json::from_value(serde_json::to_value(&typed).unwrap()).unwrap();
    assert_eq!(again, typed);
    // Every field of the fixture is still a field of the model: a rename would drop one.
    let written = serde_json::to_value(&typed).unwrap();
    for key in original.as_object().unwrap().keys() {
        assert!(written.get(key).is_some(), "the model lost the field {key:?}");
    }
}

#[test]
fn version_one_commands_read_as_typed_actions() {
    let polled: PolledCommands = serde_json::from_str(&fixture("commands.json")).unwrap();
    let commands: Vec<_> = polled.commands.iter().map(|p| p.parse().unwrap()).collect();
    let actions: Vec<&Action> = commands.iter().map(|c| &c.action).collect();
    assert_eq!(actions[0], &Action::Scale { replicas: 3 });
    assert_eq!(actions[1], &Action::Restart);
    assert_eq!(
        actions[2],
        &Action::Logs {
            container: None,
            tail_lines: 50,
            previous: true
        }
    );
    assert_eq!(commands[3].target.kind, ResourceKind::Node);
    assert_eq!(
        actions[4],
        &Action::UpdateImage {
            image: "shop/cart:1.4.2".into(),
            container: Some("cart".into())
        }
    );
    assert_eq!(commands[1].timeout_s, Some(120));
    assert_eq!(commands[0].created_by, "otto");
}

#[test]
fn a_version_one_result_reads() {
    let report: CommandReport = serde_json::from_str(&fixture("result.json")).unwrap();
    assert_eq!(report.status, CommandStatus::Succeeded);
    assert_eq!(report.result["output"]["replicas"], 3);
}
