//! Helpers shared by the simulator's integration tests: a server on loopback, HTTP calls and
//! a reader for watch streams.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlhyper_sim::{SharedSim, SimCluster, SimConfig, SimServer};
use serde_json::Value;

/// Upper bound for anything a test waits on over the network; the simulator never needs it
/// (time is advanced by the test), it only turns a hang into a failure.
pub const GUARD: Duration = Duration::from_secs(20);

pub struct TestSim {
    pub server: SimServer,
    pub sim: SharedSim,
    pub http: reqwest::Client,
}

impl TestSim {
    pub async fn start(cfg: SimConfig) -> TestSim {
        let sim = Arc::new(Mutex::new(SimCluster::new(cfg).expect("sim")));
        let server = SimServer::start(sim.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("server");
        let http = reqwest::Client::builder().timeout(GUARD).build().unwrap();
        TestSim { server, sim, http }
    }

    pub async fn default() -> TestSim {
        TestSim::start(SimConfig::default()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.kube_url())
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("get");
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .patch(self.url(path))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .expect("patch");
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn text(&self, url: &str) -> String {
        let r = self.http.get(url).send().await.expect("get text");
        assert!(r.status().is_success(), "{url}: {}", r.status());
        r.text().await.expect("body")
    }

    pub fn advance(&self, d: Duration) {
        self.sim.lock().unwrap().advance(d);
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// Reads newline-delimited JSON events from a watch response.
pub struct WatchReader {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl WatchReader {
    pub async fn open(t: &TestSim, path: &str) -> WatchReader {
        let resp = t.http.get(t.url(path)).send().await.expect("watch");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        WatchReader {
            resp,
            buf: Vec::new(),
        }
    }

    /// The next event, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(serde_json::from_slice(&line).expect("watch event json"));
            }
            let chunk = tokio::time::timeout(GUARD, self.resp.chunk())
                .await
                .expect("watch stalled")
                .ok()??;
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// Events until one satisfies `want` (returned), failing if the stream ends first.
    pub async fn until(&mut self, mut want: impl FnMut(&Value) -> bool) -> Value {
        loop {
            let e = self.next().await.expect("watch ended before the expected event");
            if want(&e) {
                return e;
            }
        }
    }
}

pub fn pod_names(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks the exposition's grouping: every sample follows its own family's `# TYPE` (with
/// the histogram and counter suffixes), and no family is declared twice.
pub fn assert_well_grouped(body: &str) {
    let mut seen = std::collections::HashSet::new();
    let mut current = String::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap().to_owned();
            assert!(seen.insert(name.clone()), "family {name} declared twice");
            current = name;
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap();
            let ok = name == current
                || ["_bucket", "_sum", "_count", "_total"]
                    .iter()
                    .any(|s| name.strip_suffix(s) == Some(current.as_str()));
            assert!(ok, "sample {name} is not in family {current}");
        }
    }
}
