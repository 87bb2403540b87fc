//! A real master on loopback for the HTTP tests.

use std::io::Write;
use std::time::Duration;

use atlhyper_master::MasterConfig;
use atlhyper_master::system_clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A master on loopback with a temporary data directory, and an HTTP client for it.
pub struct TestMaster {
    pub master: Option<atlhyper_master::RunningMaster>,
    pub gateway: String,
    pub agentsdk: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl TestMaster {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = MasterConfig::for_tests(dir.path().to_owned());
        let master = atlhyper_master::start(config, system_clock()).await.unwrap();
        Self {
            gateway: format!("http://{}", master.gateway_addr),
            agentsdk: format!("http://{}", master.agentsdk_addr),
            master: Some(master),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            _dir: dir,
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
