//! Helpers shared by the agent integration tests: a fake Kubernetes API, metrics endpoints,
//! and a real master on loopback.
#![allow(dead_code)]

pub mod endpoints;
pub mod fake_kube;

use std::path::Path;
use std::time::Duration;

use atlhyper_agent::config::ConfigDuration;
use atlhyper_agent::push::AgentToken;
use atlhyper_agent::{Agent, AgentConfig, AgentSettings};
use atlhyper_master::system_clock;
use atlhyper_master::{MasterConfig, RunningMaster};
use serde_json::{Value, json};

/// A real master on loopback with one registered cluster.
pub struct TestMaster {
    pub master: Option<RunningMaster>,
    pub gateway: String,
    pub agentsdk: String,
    pub agentsdk_port: u16,
    pub admin: String,
    pub http: reqwest::Client,
}

impl TestMaster {
    /// Starts a master on `data_dir`; `agentsdk_port` 0 picks one.
    pub async fn start(data_dir: &Path, agentsdk_port: u16) -> Self {
        let mut config = MasterConfig::for_tests(data_dir.to_owned());
        config.agentsdk_port = agentsdk_port;
        let master = atlhyper_master::start(config, system_clock()).await.unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let gateway = format!("http://{}", master.gateway_addr);
        let login: Value = http
            .post(format!("{gateway}/api/v2/auth/login"))
            .json(&json!({"username": "admin", "password": "admin-password"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            agentsdk: format!("http://{}", master.agentsdk_addr),
            agentsdk_port: master.agentsdk_addr.port(),
            gateway,
            master: Some(master),
            admin: login["token"].as_str().unwrap().to_owned(),
            http,
        }
    }

    /// Registers a cluster and returns its agent token.
    pub async fn register(&self, id: &str) -> String {
        let body: Value = self
            .http
            .post(format!("{}/api/v2/clusters", self.gateway))
            .bearer_auth(&self.admin)
            .json(&json!({"id": id, "name": id}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.gateway))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    pub async fn stop(&mut self) {
        if let Some(master) = self.master.take() {
            master.stop().await.unwrap();
        }
    }
}

/// An agent configuration for tests: fast intervals, the spool in `spool_dir`, nothing
/// served on its own port.
pub fn agent_config(master_url: &str, spool_dir: &Path) -> AgentConfig {
    let mut config = AgentConfig {
        cluster_id: "c1".into(),
        master_url: master_url.to_owned(),
        listen: String::new(),
        ..AgentConfig::default()
    };
    config.slo.linkerd.traefik_namespace = "ingress".into();
    config.slo.linkerd.scrape_timeout = ConfigDuration(Duration::from_millis(800));
    config.push.timeout = ConfigDuration(Duration::from_secs(2));
    config.push.max_backoff = ConfigDuration(Duration::from_millis(700));
    config.spool.dir = spool_dir.to_owned();
    config
}

pub fn agent(config: AgentConfig, token: &str, kube: Option<kube::Client>) -> std::sync::Arc<Agent> {
    Agent::new(AgentSettings {
        cluster_id: config.cluster_id.clone(),
        config,
        token: AgentToken::new(token),
        kube,
    })
    .unwrap()
}

/// Polls `check` every 50 ms until it holds or `limit` passes.
pub async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check().await
}
