//! The master keeps accepting what version-1 agents send (`crates/model/tests/fixtures/v1/`),
//! over real HTTP, and hands version-1 agents commands they can read.

use std::path::PathBuf;

use atlhyper_master::store::CommandRecord;
use atlhyper_model::{Command, CommandStatus, PolledCommands, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::master::{TestMaster, gzip, now_ms};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/fixtures/v1")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[tokio::test]
async fn a_version_one_snapshot_is_stored_and_served() {
    let m = TestMaster::start().await;
    let admin = m.admin_token().await;
    let token = m.register(&admin, "prod-eu").await;
    let body = fixture("snapshot.json");
    let (status, reply) = m.push("prod-eu", &token, gzip(body.as_bytes()), true).await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (StatusCode::OK, Some("stored")),
        "{reply}"
    );

    let (status, pods) = m.get(&admin, "/api/v2/clusters/prod-eu/resources?kind=Pod").await;
    assert_eq!(status, StatusCode::OK, "{pods}");
    let first = &pods["items"][0];
    assert_eq!(first["summary"]["containers"][0]["state"], "waiting", "{first}");
    let (status, deployments) = m
        .get(&admin, "/api/v2/clusters/prod-eu/resources?kind=Deployment")
        .await;
    assert_eq!(status, StatusCode::OK, "{deployments}");
    let selectors: Vec<&str> = deployments["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["summary"]["selector"].as_str())
        .collect();
    assert!(
        selectors.iter().any(|s| s.ends_with("tier in (fe,be)")),
        "the version-1 expression form reads and is served in kubectl's syntax: {selectors:?}"
    );
    m.stop().await;
}

#[tokio::test]
async fn version_one_commands_and_results_cross_the_agent_channel() {
    let m = TestMaster::start().await;
    let admin = m.admin_token().await;
    let token = m.register(&admin, "prod").await;
    let polled: PolledCommands = serde_json::from_str(&fixture("commands.json")).unwrap();
    let store = &m.master.as_ref().unwrap().store;
    for (i, p) in polled.commands.iter().enumerate() {
        // Queued just now, so none has timed out when the agent polls.
        let at = Timestamp(now_ms() + i64::try_from(i).unwrap());
        let command: Command = p.parse().unwrap();
        store
            .enqueue_command(&CommandRecord {
                id: p.id.clone(),
                cluster_id: "prod".into(),
                command,
                status: CommandStatus::Pending,
                created_by: "otto".into(),
                created_at: at,
                updated_at: at,
                result: None,
            })
            .await
            .unwrap();
    }
    let answer: Value = m
        .agent(
            "prod",
            &token,
            reqwest::Method::GET,
            "/agent/commands?timeout_s=1",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent: Value = serde_json::from_str(&fixture("commands.json")).unwrap();
    assert_eq!(answer["commands"].as_array().map(Vec::len), Some(5), "{answer}");
    for (got, want) in answer["commands"]
        .as_array()
        .unwrap()
        .iter()
        .zip(sent["commands"].as_array().unwrap())
    {
        assert_eq!(got["id"], want["id"]);
        for field in ["action", "kind", "namespace", "name", "created_by", "timeout_s"] {
            assert_eq!(
                got["command"][field], want["command"][field],
                "{field} of {}",
                want["id"]
            );
        }
    }
    let response = m
        .agent("prod", &token, reqwest::Method::POST, "/agent/result")
        .header("content-type", "application/json")
        .body(fixture("result.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, done) = m
        .get(&admin, "/api/v2/clusters/prod/commands/9f3c2a7d51e04b8a6c1d0e22")
        .await;
    assert_eq!(
        (done["status"].as_str(), &done["result"]["output"]["replicas"]),
        (Some("succeeded"), &json!(3)),
        "{done}"
    );
    m.stop().await;
}
