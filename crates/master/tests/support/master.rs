//! A real master on loopback for the HTTP tests.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use atlhyper_master::service::Clock;
use atlhyper_master::{MasterConfig, system_clock};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A master on loopback with a temporary data directory, and an HTTP client for it.
pub struct TestMaster {
    pub master: Option<atlhyper_master::RunningMaster>,
    pub gateway: String,
    pub agentsdk: String,
    pub http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

impl TestMaster {
    /// A master on the wall clock in a new temporary directory.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut master = Self::start_in(dir.path(), system_clock()).await;
        master._dir = Some(dir);
        master
    }

    /// A master on `clock` with its data in `dir` (which outlives it, for restarts).
    pub async fn start_in(dir: &Path, clock: Clock) -> Self {
        let config = MasterConfig::for_tests(dir.to_owned());
        let master = atlhyper_master::start(config, clock).await.unwrap();
        Self {
            gateway: format!("http://{}", master.gateway_addr),
            agentsdk: format!("http://{}", master.agentsdk_addr),
            master: Some(master),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            _dir: None,
        }
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v2/auth/login", self.gateway))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_token(&self) -> String {
        let response = self.login("admin", "admin-password").await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.gateway))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.gateway))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn register(&self, admin: &str, id: &str) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                admin,
                "/api/v2/clusters",
                json!({"id": id, "name": id}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub fn agent(
        &self,
        cluster: &str,
        token: &str,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.agentsdk))
            .bearer_auth(token)
            .header("x-cluster-id", cluster)
    }

    pub async fn push(&self, cluster: &str, token: &str, body: Vec<u8>, gzip: bool) -> (StatusCode, Value) {
        let mut request = self
            .agent(cluster, token, reqwest::Method::POST, "/agent/snapshot")
            .header("content-type", "application/json");
        if gzip {
            request = request.header("content-encoding", "gzip");
        }
        let response = request.body(body).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Pushes a snapshot as JSON, expects it stored, and waits until the cluster's AIOps engine
    /// has ticked it (it does so on a task of its own), as a reader of the API would.
    pub async fn push_json(&self, cluster: &str, token: &str, snapshot: &Value) {
        let (status, reply) = self
            .push(cluster, token, serde_json::to_vec(snapshot).unwrap(), false)
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        self.master.as_ref().unwrap().app.aiops.caught_up(cluster).await;
    }

    pub async fn stop(mut self) {
        self.master.take().unwrap().stop().await.unwrap();
    }
}

pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}
