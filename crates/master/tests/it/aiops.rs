//! The AIOps engine inside the master, over real HTTP: snapshots pushed through the AgentSDK
//! at a manual clock open an incident; risk, graph, explain, incidents and statistics answer
//! through the Gateway; bad parameters are 4xx naming them; the state survives a restart.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::support::master::{TestMaster, now_ms};
use atlhyper_model::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A master on `clock` with its data in `dir`.
async fn master(dir: &Path, clock: &Arc<AtomicI64>) -> TestMaster {
    let clock = Arc::clone(clock);
    TestMaster::start_in(dir, Arc::new(move || Timestamp(clock.load(Ordering::SeqCst)))).await
}

fn rfc3339(ms: i64) -> Value {
    serde_json::to_value(Timestamp(ms)).unwrap()
}

/// 30 s of traffic: web → api (healthy) and api → payments with `failures` of 300 failing,
/// plus one node.
fn snapshot(cluster: &str, seq: u64, end_ms: i64, failures: f64) -> Value {
    let group = |source: &str, target: &str, failure: f64| {
        json!({"type": "service", "source": source, "source_namespace": "shop", "target": target,
               "namespace": "shop", "total": 300.0, "success": 300.0 - failure, "failure": failure,
               "buckets": [{"le": 10.0, "count": 150.0}, {"le": 100.0, "count": 300.0}],
               "observations": 300.0})
    };
    json!({
        "version": 1, "cluster_id": cluster, "seq": seq,
        "taken_at": rfc3339(end_ms), "interval_start": rfc3339(end_ms - 30_000),
        "interval_end": rfc3339(end_ms),
        "slo_counters": [group("web", "api", 0.0), group("api", "payments", failures)],
        "nodes": [{"node": "node-1", "timestamp": rfc3339(end_ms), "cpu": {"usage_pct": 30.0},
                   "memory": {"usage_pct": 50.0}, "psi": {}, "temperature": {}, "uptime_seconds": 1000.0}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_open_an_incident_explained_over_http_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start = now_ms();
    let clock = Arc::new(AtomicI64::new(start));
    let m = master(dir.path(), &clock).await;
    let admin = m.admin_token().await;
    let agent = m.register(&admin, "prod").await;

    // 20 healthy cycles, then payments fails 30 % of its responses for 6 minutes.
    let mut seq = 0;
    let mut t = start;
    for failing in [false; 20].into_iter().chain([true; 12]) {
        seq += 1;
        t += 30_000;
        clock.store(t, Ordering::SeqCst);
        m.push_json(
            "prod",
            &agent,
            &snapshot("prod", seq, t, if failing { 90.0 } else { 0.0 }),
        )
        .await;
    }

    let (status, risk) = m.get(&admin, "/api/v2/aiops/risk?cluster=prod").await;
    assert_eq!(status, StatusCode::OK, "{risk}");
    assert_eq!(risk["ranking"][0]["key"], "shop/service/payments", "{risk}");
    assert!(risk["risk"]["risk"].as_f64().unwrap() > 0.0);
    assert_eq!(risk["risk"]["total_entities"], 4, "{risk}");

    let (status, graph) = m.get(&admin, "/api/v2/aiops/graph?cluster=prod").await;
    assert_eq!(status, StatusCode::OK);
    let edges = graph["edges"].as_array().unwrap();
    assert!(edges.iter().any(|e| e["from"] == "shop/service/api"
        && e["to"] == "shop/service/payments"
        && e["kind"] == "calls"));

    let (status, page) = m
        .get(&admin, "/api/v2/aiops/incidents?cluster=prod&state=open")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1, "{page}");
    let summary = &page["incidents"][0];
    assert_eq!(summary["root_cause"], "shop/service/payments");
    let id = summary["id"].as_str().unwrap().to_owned();

    let (status, incident) = m.get(&admin, &format!("/api/v2/aiops/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let member = &incident["entities"][0];
    assert_eq!(member["key"], "shop/service/payments");
    assert_eq!(member["role"], "root_cause");
    assert!(member["r_local"].as_f64().unwrap() > 0.5 && member["r_final"].as_f64().unwrap() > 0.3);
    let events: Vec<&str> = incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"anomaly_detected") && events.contains(&"root_cause_identified"),
        "{events:?}"
    );

    let (status, why) = m
        .get(
            &admin,
            "/api/v2/aiops/explain?cluster=prod&entity=shop/service/payments",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{why}");
    assert_eq!(why["root_cause"], "shop/service/payments");
    let metrics = why["metrics"].as_array().unwrap();
    let error_rate = metrics.iter().find(|m| m["metric"] == "error_rate").unwrap();
    assert_eq!(error_rate["value"], 0.3);
    assert!(error_rate["baseline"].is_object(), "{error_rate}");
    assert!(
        metrics
            .iter()
            .any(|m| m["metric"] == "slo_burn" && m["anomalous"] == true)
    );
    assert!(!why["formula"].as_array().unwrap().is_empty());
    assert!(why["local"]["r_local"].as_f64().unwrap() > 0.5);

    let (status, stats) = m.get(&admin, "/api/v2/aiops/statistics").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["total"], 1);
    assert_eq!(
        stats["top_root_causes"][0]["entity"], "shop/service/payments",
        "{stats}"
    );

    // Bad parameters name themselves; unknown things are 404; no token is 401.
    for (path, status, word) in [
        ("/api/v2/aiops/risk", StatusCode::BAD_REQUEST, "cluster"),
        ("/api/v2/aiops/risk?cluster=nope", StatusCode::NOT_FOUND, "nope"),
        (
            "/api/v2/aiops/risk?cluster=prod&limit=x",
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            "/api/v2/aiops/explain?cluster=prod",
            StatusCode::BAD_REQUEST,
            "entity",
        ),
        (
            "/api/v2/aiops/explain?cluster=prod&entity=payments",
            StatusCode::BAD_REQUEST,
            "entity",
        ),
        (
            "/api/v2/aiops/explain?cluster=prod&entity=shop/service/nope",
            StatusCode::NOT_FOUND,
            "nope",
        ),
        (
            "/api/v2/aiops/incidents?state=sleeping",
            StatusCode::BAD_REQUEST,
            "state",
        ),
        (
            "/api/v2/aiops/incidents?offset=-1",
            StatusCode::BAD_REQUEST,
            "offset",
        ),
        (
            "/api/v2/aiops/incidents/inc-1-0001",
            StatusCode::NOT_FOUND,
            "inc-1-0001",
        ),
        (
            "/api/v2/aiops/statistics?from=yesterday",
            StatusCode::BAD_REQUEST,
            "from",
        ),
        (
            "/api/v2/aiops/statistics?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "from",
        ),
    ] {
        let (got, body) = m.get(&admin, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains(word), "{path}: {body}");
    }
    let (status, _) = m.get("not-a-token", "/api/v2/aiops/risk?cluster=prod").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, openapi) = m.get(&admin, "/api/v2/openapi.json").await;
    for path in [
        "/api/v2/aiops/risk",
        "/api/v2/aiops/incidents/{id}",
        "/api/v2/aiops/statistics",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }

    // A restart on the same data keeps the incident, its timeline and the baselines.
    m.stop().await;
    let m = master(dir.path(), &clock).await;
    let admin = m.admin_token().await;
    let (status, again) = m.get(&admin, &format!("/api/v2/aiops/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, incident);
    let (_, why_again) = m
        .get(
            &admin,
            "/api/v2/aiops/explain?cluster=prod&entity=shop/service/payments",
        )
        .await;
    assert_eq!(why_again["metrics"], why["metrics"]);
    // And the engine goes on from there: the next failing cycle updates the same incident.
    seq += 1;
    t += 30_000;
    clock.store(t, Ordering::SeqCst);
    m.push_json("prod", &agent, &snapshot("prod", seq, t, 90.0)).await;
    let (_, page) = m.get(&admin, "/api/v2/aiops/incidents?cluster=prod").await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["incidents"][0]["id"], id.as_str());
    m.stop().await;
}

/// Runs SQL against a stopped master's database.
async fn sql(dir: &Path, statements: &[&str]) {
    let url = format!("sqlite://{}", dir.join("atlhyper.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

/// What a stopped master left: its agent's token, the open incident (id and as the API showed
/// it) and the last seq and time pushed.
struct Opened {
    agent: String,
    id: String,
    seq: u64,
    t: i64,
    before: Value,
}

/// Starts a master in `dir`, registers `prod`, opens an incident and stops the master.
async fn stopped_with_an_open_incident(dir: &Path, clock: &Arc<AtomicI64>) -> Opened {
    let m = master(dir, clock).await;
    let admin = m.admin_token().await;
    let agent = m.register(&admin, "prod").await;
    let (id, seq, t) = open_an_incident(&m, &agent, clock, clock.load(Ordering::SeqCst)).await;
    let (_, before) = m.get(&admin, &format!("/api/v2/aiops/incidents/{id}")).await;
    m.stop().await;
    Opened {
        agent,
        id,
        seq,
        t,
        before,
    }
}

/// Pushes 20 healthy cycles and 12 with payments failing; returns the open incident's id and
/// the last seq and time.
async fn open_an_incident(m: &TestMaster, agent: &str, clock: &AtomicI64, start: i64) -> (String, u64, i64) {
    let admin = m.admin_token().await;
    let (mut seq, mut t) = (0, start);
    for failing in [false; 20].into_iter().chain([true; 12]) {
        seq += 1;
        t += 30_000;
        clock.store(t, Ordering::SeqCst);
        m.push_json(
            "prod",
            agent,
            &snapshot("prod", seq, t, if failing { 90.0 } else { 0.0 }),
        )
        .await;
    }
    let (_, page) = m
        .get(&admin, "/api/v2/aiops/incidents?cluster=prod&state=open")
        .await;
    assert_eq!(page["total"], 1, "{page}");
    (page["incidents"][0]["id"].as_str().unwrap().to_owned(), seq, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_engine_state_version_relearns_and_keeps_the_incident_history() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(now_ms()));
    let Opened {
        agent,
        id,
        seq,
        t,
        before,
    } = stopped_with_an_open_incident(dir.path(), &clock).await;

    // The next version of the engine reads another format: as if this state were older.
    sql(
        dir.path(),
        &["UPDATE aiops_engine_state SET version = version + 1000"],
    )
    .await;
    clock.store(t + 10_000, Ordering::SeqCst);
    let m = master(dir.path(), &clock).await;
    let admin = m.admin_token().await;
    let (status, after) = m.get(&admin, &format!("/api/v2/aiops/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK, "the incident is still there: {after}");
    assert_eq!(after["root_cause"], before["root_cause"]);
    assert_eq!(after["started_at_ms"], before["started_at_ms"]);
    let timeline = |v: &Value| v["timeline"].as_array().unwrap().clone();
    let (old, new) = (timeline(&before), timeline(&after));
    assert_eq!(new[..old.len()], old[..], "its timeline is kept whole");
    assert_eq!(new.last().unwrap()["event"]["type"], "relearned", "{after}");
    assert_eq!(after["state"], "stable", "no engine follows it any more: closed");
    assert_eq!(after["resolved_at_ms"], t + 10_000);
    let (_, stats) = m.get(&admin, "/api/v2/aiops/statistics").await;
    assert_eq!(
        (stats["total"].as_u64(), stats["resolved"].as_u64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    let (_, risk) = m.get(&admin, "/api/v2/aiops/risk?cluster=prod").await;
    assert!(risk["risk"].is_null(), "the engine relearns from nothing: {risk}");

    // It learns again from the next snapshots on; the next incident is a new one.
    clock.store(t + 30_000, Ordering::SeqCst);
    m.push_json("prod", &agent, &snapshot("prod", seq + 1, t + 30_000, 0.0))
        .await;
    let (_, risk) = m.get(&admin, "/api/v2/aiops/risk?cluster=prod").await;
    assert_eq!(risk["risk"]["total_entities"], 4, "{risk}");
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_single_document_of_an_earlier_version_moves_into_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(now_ms()));
    let Opened {
        agent,
        id,
        seq,
        t,
        before,
    } = stopped_with_an_open_incident(dir.path(), &clock).await;

    // What an earlier master left: the whole engine as one document, no tables. A
    // one-cluster engine has exactly the earlier format.
    sql(
        dir.path(),
        &[
            "INSERT INTO aiops_state (id, json, updated_at) SELECT 1, state, saved_at FROM aiops_engine_state",
            "DELETE FROM aiops_engine_state",
            "DELETE FROM aiops_incidents",
        ],
    )
    .await;
    let m = master(dir.path(), &clock).await;
    let admin = m.admin_token().await;
    let (status, after) = m.get(&admin, &format!("/api/v2/aiops/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after, before, "moved whole, still open: the engine continues it");
    clock.store(t + 30_000, Ordering::SeqCst);
    m.push_json("prod", &agent, &snapshot("prod", seq + 1, t + 30_000, 90.0))
        .await;
    let (_, page) = m
        .get(&admin, "/api/v2/aiops/incidents?cluster=prod&state=open")
        .await;
    assert_eq!(page["incidents"][0]["id"], id.as_str(), "{page}");
    m.stop().await;
    let url = format!("sqlite://{}", dir.path().join("atlhyper.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM aiops_state")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "the earlier document is emptied once moved");
}
