//! The master over real HTTP on loopback: agent ingest, authentication, roles, audit, SLO API,
//! command long poll.

use std::time::Duration;

use crate::support::master::{TestMaster, gzip, now_ms};
use atlhyper_model::{
    AgentSnapshot, GroupCounters, SNAPSHOT_VERSION, SloCounters, SloGroupKey, SloType, Timestamp,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn edge() -> SloGroupKey {
    SloGroupKey {
        kind: SloType::Service,
        source: "web".into(),
        source_namespace: "shop".into(),
        target: "api".into(),
        namespace: "shop".into(),
    }
}

fn snapshot(cluster: &str, seq: u64, end_ms: i64, success: f64, failure: f64) -> AgentSnapshot {
    let mut counters = SloCounters {
        total: success + failure,
        success,
        failure,
        observations: success + failure,
        ..Default::default()
    };
    counters.add_bucket(10.0, (success + failure) / 2.0);
    counters.add_bucket(100.0, success + failure);
    AgentSnapshot {
        version: SNAPSHOT_VERSION,
        cluster_id: cluster.into(),
        seq,
        taken_at: Timestamp(end_ms),
        slo: Vec::new(),
        slo_counters: vec![GroupCounters {
            key: edge(),
            counters,
        }],
        interval_start: Timestamp(end_ms - 30_000),
        interval_end: Timestamp(end_ms),
        dropped_snapshots: 0,
        targets: Vec::new(),
        nodes: Vec::new(),
        node_series: Vec::new(),
        resources: None,
    }
}

#[tokio::test]
async fn agent_ingest_is_authenticated_idempotent_and_counted() {
    let m = TestMaster::start().await;
    let admin = m.admin_token().await;
    let token = m.register(&admin, "prod").await;
    let now = now_ms();

    let body = serde_json::to_vec(&snapshot("prod", 1, now - 60_000, 990.0, 10.0)).unwrap();
    let (status, reply) = m.push("prod", &token, gzip(&body), true).await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (StatusCode::OK, Some("stored")),
        "{reply}"
    );
    let (status, reply) = m.push("prod", &token, gzip(&body), true).await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (StatusCode::OK, Some("duplicate")),
        "a repeated seq is acknowledged and ignored"
    );
    let plain = serde_json::to_vec(&snapshot("prod", 3, now - 30_000, 500.0, 0.0)).unwrap();
    assert_eq!(m.push("prod", &token, plain, false).await.0, StatusCode::OK);

    let (status, st) = m.get(&admin, "/api/v2/clusters/prod/status").await;
    assert_eq!(status, StatusCode::OK, "{st}");
    assert_eq!(
        (
            st["last_seq"].as_u64(),
            st["snapshots_received"].as_u64(),
            st["seq_gaps"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(st["agent_dropped"].as_u64(), Some(0));
    assert_eq!(st["online"], true);

    // The duplicate did not double the counters: 1,000 + 500 requests over the hour.
    let (status, overview) = m.get(&admin, "/api/v2/clusters/prod/slo/overview?range=1h").await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    let entry = &overview["services"][0];
    assert_eq!(entry["total_requests"].as_u64(), Some(1500), "{entry}");
    assert_eq!(entry["success_requests"].as_u64(), Some(1490), "{entry}");
    m.stop().await;
}

#[tokio::test]
async fn bad_agent_input_gets_a_4xx_with_a_message() {
    let m = TestMaster::start().await;
    let admin = m.admin_token().await;
    let token = m.register(&admin, "prod").await;
    let good = serde_json::to_vec(&snapshot("prod", 1, now_ms(), 1.0, 0.0)).unwrap();

    let (status, reply) = m.push("prod", "not-the-token", good.clone(), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{reply}");
    let (status, reply) = m.push("nope", &token, good.clone(), false).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("unknown cluster"),
        "{reply}"
    );

    let (status, reply) = m
        .push("prod", &token, b"{\"version\": 1, \"seq\": ".to_vec(), false)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid snapshot json"),
        "{reply}"
    );

    // 64 MiB of zeros inflate from about 64 KiB of gzip: refused without inflating it all.
    let bomb = gzip(&vec![b' '; 64 << 20]);
    assert!(bomb.len() < 1 << 20);
    let (status, reply) = m.push("prod", &token, bomb, true).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");

    let other = serde_json::to_vec(&snapshot("staging", 1, now_ms(), 1.0, 0.0)).unwrap();
    let (status, reply) = m.push("prod", &token, other, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");

    let (_, st) = m.get(&admin, "/api/v2/clusters/prod/status").await;
    assert_eq!(
        st["snapshots_received"].as_u64(),
        Some(0),
        "nothing bad was stored"
    );
    m.stop().await;
}

#[tokio::test]
async fn gateway_needs_a_valid_token_and_the_right_role() {
    let m = TestMaster::start().await;
    for path in ["/api/v2/clusters", "/api/v2/audit", "/metrics", "/api/v2/auth/me"] {
        let status = m
            .http
            .get(format!("{}{path}", m.gateway))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    for path in ["/healthz", "/api/v2/openapi.json"] {
        let status = m
            .http
            .get(format!("{}{path}", m.gateway))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    assert_eq!(
        m.login("admin", "wrong-password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        m.login("nobody", "wrong-password").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // An expired token, signed with the right secret.
    let issuer = atlhyper_master::auth::TokenIssuer::new(
        b"test-secret-test-secret-test-secret-0123",
        Duration::from_secs(60),
    );
    let old = u64::try_from(now_ms() / 1000).unwrap() - 3600;
    let expired = issuer
        .issue("admin", atlhyper_master::auth::Role::Admin, old)
        .unwrap();
    assert_eq!(
        m.get(&expired, "/api/v2/clusters").await.0,
        StatusCode::UNAUTHORIZED
    );
    let forged = atlhyper_master::auth::TokenIssuer::new(
        b"another-secret-another-secret-123",
        Duration::from_secs(60),
    )
    .issue("admin", atlhyper_master::auth::Role::Admin, old + 3600)
    .unwrap();
    assert_eq!(
        m.get(&forged, "/api/v2/clusters").await.0,
        StatusCode::UNAUTHORIZED
    );

    let admin = m.admin_token().await;
    let (status, _) = m
        .send(
            reqwest::Method::POST,
            &admin,
            "/api/v2/users",
            json!({"username": "vera", "password": "viewer-pass", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let viewer = m
        .login("vera", "viewer-pass")
        .await
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(m.get(&viewer, "/api/v2/clusters").await.0, StatusCode::OK);
    let (status, reply) = m
        .send(
            reqwest::Method::POST,
            &viewer,
            "/api/v2/clusters",
            json!({"id": "x", "name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert_eq!(m.get(&viewer, "/api/v2/audit").await.0, StatusCode::FORBIDDEN);

    // The refusal and the user creation are both in the audit log, with who, what and where.
    let (status, audit) = m.get(&admin, "/api/v2/audit?action=cluster.register").await;
    assert_eq!(status, StatusCode::OK);
    let row = &audit[0];
    assert_eq!(
        (
            row["actor"].as_str(),
            row["result"].as_str(),
            row["target"].as_str()
        ),
        (Some("vera"), Some("denied"), Some("cluster/x"))
    );
    assert_eq!(row["source_addr"], "127.0.0.1");
    let (_, created) = m.get(&admin, "/api/v2/audit?action=user.create").await;
    assert_eq!(
        (created[0]["actor"].as_str(), created[0]["result"].as_str()),
        (Some("admin"), Some("ok"))
    );

    // A role change applies to tokens already issued.
    let (status, _) = m
        .send(
            reqwest::Method::PUT,
            &admin,
            "/api/v2/users/vera",
            json!({"role": "operator"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.get(&viewer, "/api/v2/audit").await.0, StatusCode::OK);
    m.stop().await;
}

#[tokio::test]
async fn login_is_rate_limited_per_source() {
    let m = TestMaster::start().await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(m.login("admin", "wrong-password").await.status());
    }
    assert!(
        statuses[..10].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        m.login("admin", "admin-password").await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password, for a minute"
    );
    m.stop().await;
}

#[tokio::test]
async fn slo_detail_budget_and_targets_come_from_stored_counters() {
    let m = TestMaster::start().await;
    let admin = m.admin_token().await;
    let token = m.register(&admin, "prod").await;
    let now = now_ms();
    // Twenty minutes of 30-second intervals: 100 requests each, 2 failures in the last ten minutes.
    for i in 0..40u64 {
        let end = now - 20 * 60_000 + i64::try_from(i).unwrap() * 30_000;
        let failure = if i >= 20 { 2.0 } else { 0.0 };
        let body = serde_json::to_vec(&snapshot("prod", i + 1, end, 100.0 - failure, failure)).unwrap();
        assert_eq!(m.push("prod", &token, gzip(&body), true).await.0, StatusCode::OK);
    }
    let (status, target) = m
        .send(
            reqwest::Method::PUT,
            &admin,
            "/api/v2/clusters/prod/slo/targets",
            json!({"type": "service", "availability": 99.0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{target}");

    let (status, detail) = m
        .get(
            &admin,
            "/api/v2/clusters/prod/slo/detail?type=service&source=web&target=api&range=1h",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let summary = &detail["summary"];
    assert_eq!(summary["total_requests"].as_u64(), Some(4000));
    assert_eq!(summary["success_requests"].as_u64(), Some(3960));
    assert!((summary["success_rate"].as_f64().unwrap() - 99.0).abs() < 1e-9);
    // 1 % errors against a 99 % objective: the whole 30-day budget is spent, burn rate 1 over the hour.
    assert!(
        summary["error_budget_remaining"].as_f64().unwrap().abs() < 1e-9,
        "{summary}"
    );
    assert!(
        (summary["burn_rates"]["1h"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{summary}"
    );
    // 2 % errors over the last 5 minutes: burn rate 2.
    assert!(
        (summary["burn_rates"]["5m"].as_f64().unwrap() - 2.0).abs() < 1e-9,
        "{summary}"
    );
    assert_eq!(summary["objective"]["availability"].as_f64(), Some(99.0));
    assert_eq!(detail["points"].as_array().unwrap().len(), 60);
    let per_minute: f64 = detail["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["total_requests"].as_f64().unwrap())
        .sum();
    assert_eq!(per_minute, 4000.0, "the series adds up to the window");
    assert_eq!(summary["latency_p50"].as_f64(), Some(10.0));

    let (status, reply) = m
        .get(
            &admin,
            "/api/v2/clusters/prod/slo/detail?type=service&source=web&target=nope&range=1h",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
    let (status, reply) = m
        .get(
            &admin,
            "/api/v2/clusters/prod/slo/detail?type=mesh&source=web&target=api",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    let (status, _) = m.get(&admin, "/api/v2/clusters/nope/slo/overview").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    m.stop().await;
}

#[tokio::test]
async fn commands_reach_the_agent_by_long_poll_and_results_are_audited() {
    let m = TestMaster::start().await;
    let admin = m.admin_token().await;
    let token = m.register(&admin, "prod").await;

    let poll = {
        let request = m.agent(
            "prod",
            &token,
            reqwest::Method::GET,
            "/agent/commands?timeout_s=10",
        );
        tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, reply) = m
        .send(
            reqwest::Method::POST,
            &admin,
            "/api/v2/clusters/prod/commands",
            json!({"action": "scale", "kind": "Deployment", "namespace": "shop", "name": "web", "params": {"replicas": 3}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "scale needs confirm: {reply}");
    let (status, reply) = m
        .send(
            reqwest::Method::POST,
            &admin,
            "/api/v2/clusters/prod/commands",
            json!({"action": "scale", "kind": "Deployment", "namespace": "shop", "name": "web", "params": {"replicas": 3}, "confirm": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let id = reply["id"].as_str().unwrap().to_owned();
    let delivered = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("the long poll answers at once")
        .unwrap();
    assert_eq!(
        delivered["commands"][0]["id"].as_str(),
        Some(id.as_str()),
        "{delivered}"
    );
    assert_eq!(delivered["commands"][0]["command"]["params"]["replicas"], 3);

    let (_, running) = m
        .get(&admin, &format!("/api/v2/clusters/prod/commands/{id}"))
        .await;
    assert_eq!(running["status"], "running");
    let response = m
        .agent("prod", &token, reqwest::Method::POST, "/agent/result")
        .json(&json!({"id": id, "status": "succeeded", "result": {"replicas": 3}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, done) = m
        .get(&admin, &format!("/api/v2/clusters/prod/commands/{id}"))
        .await;
    assert_eq!(
        (done["status"].as_str(), &done["result"]["replicas"]),
        (Some("succeeded"), &json!(3))
    );

    let (_, audit) = m.get(&admin, "/api/v2/audit?target=cluster/prod").await;
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert!(actions.contains(&("command.result", "succeeded")), "{actions:?}");
    assert!(actions.contains(&("command.scale", "ok")), "{actions:?}");
    assert!(
        actions
            .iter()
            .any(|(a, r)| *a == "command.scale" && r.starts_with("error: scale changes the cluster")),
        "{actions:?}"
    );

    // An empty poll returns when its timeout passes.
    let started = std::time::Instant::now();
    let empty: Value = m
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
    assert_eq!(empty["commands"], json!([]));
    assert!(started.elapsed() < Duration::from_secs(5));
    m.stop().await;
}

#[tokio::test]
async fn openapi_and_metrics_describe_the_running_master() {
    let m = TestMaster::start().await;
    let doc: Value = m
        .http
        .get(format!("{}/api/v2/openapi.json", m.gateway))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v2/auth/login",
        "/api/v2/clusters",
        "/api/v2/clusters/{id}/slo/detail",
        "/api/v2/audit",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let admin = m.admin_token().await;
    let text = m
        .http
        .get(format!("{}/metrics", m.gateway))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = atlhyper_promtext::parse(&text).unwrap();
    let logins = scrape
        .samples
        .iter()
        .find(|s| s.name == "atlhyper_master_logins_total" && s.label("outcome").as_deref() == Some("ok"))
        .unwrap();
    assert_eq!(logins.value, 1.0);
    m.stop().await;
}
