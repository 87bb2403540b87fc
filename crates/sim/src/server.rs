//! [`SimServer`]: the simulated cluster over HTTP on loopback — the Kubernetes API and the
//! simulator's own routes on one port, one listener per metrics endpoint of every pod — and
//! the clock driver that maps wall-clock time × speed onto simulated time.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cluster::{SharedSim, SimCluster};
use crate::error::SimError;
use crate::kube::api::{self, ApiState, status};
use crate::scenario::Scenario;

/// A running simulated cluster server. Dropping it stops its tasks without waiting for them;
/// [`shutdown`](Self::shutdown) waits.
pub struct SimServer {
    addr: SocketAddr,
    name: String,
    sim: SharedSim,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    listeners: Arc<Mutex<HashMap<u16, JoinHandle<()>>>>,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("addr", &self.addr)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn lock(sim: &SharedSim) -> std::sync::MutexGuard<'_, SimCluster> {
    sim.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SimServer {
    /// Serves the Kubernetes API (and `/sim/*`) on `bind`, and every pod's metrics listener.
    pub async fn start(sim: SharedSim, bind: SocketAddr) -> Result<SimServer, SimError> {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| SimError::Bind {
                addr: bind.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: bind.to_string(),
            source,
        })?;
        let cancel = CancellationToken::new();
        let name = lock(&sim).name().to_owned();
        let state = ApiState {
            sim: sim.clone(),
            cancel: cancel.clone(),
            server_address: addr.to_string(),
        };
        let app = Router::new()
            .route("/sim/truth", get(truth))
            .route("/sim/status", get(sim_status))
            .route("/sim/scenarios", get(scenarios).post(schedule))
            .route("/sim/advance", axum::routing::post(advance))
            .fallback(api::handle)
            .with_state(state);
        let token = cancel.clone();
        let api_task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned());
            if let Err(error) = serve.await {
                tracing::warn!(%error, "simulated kubernetes api stopped");
            }
        });
        let mut server = SimServer {
            addr,
            name,
            sim,
            cancel,
            tasks: vec![api_task],
            listeners: Arc::new(Mutex::new(HashMap::new())),
        };
        server.tasks.push(server.spawn_listener_manager());
        Ok(server)
    }

    /// Keeps one HTTP server per metrics port: new pods' listeners are served, deleted
    /// pods' closed.
    fn spawn_listener_manager(&self) -> JoinHandle<()> {
        let (sim, cancel, listeners) = (self.sim.clone(), self.cancel.clone(), self.listeners.clone());
        let notify = lock(&sim).listeners_notify();
        tokio::spawn(async move {
            loop {
                let (new, closed) = lock(&sim).take_listener_changes();
                {
                    let mut map = listeners
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    for (port, std_listener) in new {
                        match serve_metrics(sim.clone(), port, std_listener, cancel.clone()) {
                            Ok(task) => {
                                map.insert(port, task);
                            }
                            Err(error) => tracing::warn!(%error, port, "cannot serve a metrics listener"),
                        }
                    }
                    for port in closed {
                        if let Some(task) = map.remove(&port) {
                            task.abort();
                        }
                    }
                }
                tokio::select! {
                    () = notify.notified() => {}
                    () = cancel.cancelled() => return,
                }
            }
        })
    }

    /// Advances the simulated clock by wall-clock time × `speed`, checked every 200 ms.
    pub fn drive(&mut self, speed: f64) {
        let (sim, cancel) = (self.sim.clone(), self.cancel.clone());
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        self.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = tokio::time::Instant::now();
            let mut owed = 0.0f64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = cancel.cancelled() => return,
                }
                let now = tokio::time::Instant::now();
                owed += (now - last).as_secs_f64() * speed * 1000.0;
                last = now;
                let ms = owed.floor();
                owed -= ms;
                if ms >= 1.0 {
                    lock(&sim).advance(Duration::from_millis(ms as u64));
                }
            }
        }));
    }

    /// The Kubernetes API (and simulator) address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn kube_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared cluster this server serves.
    pub fn sim(&self) -> SharedSim {
        self.sim.clone()
    }

    /// A kubeconfig for kubectl and kube clients: plain HTTP, a dummy token.
    pub fn kubeconfig_yaml(&self) -> String {
        let n = &self.name;
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {n}\n  cluster:\n    server: {url}\ncontexts:\n- name: {n}\n  context:\n    cluster: {n}\n    user: {n}-admin\n    namespace: default\ncurrent-context: {n}\nusers:\n- name: {n}-admin\n  user:\n    token: atlhyper-sim\npreferences: {{}}\n",
            url = self.kube_url()
        )
    }

    /// Writes [`kubeconfig_yaml`](Self::kubeconfig_yaml) to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> Result<(), SimError> {
        let serve = |source| SimError::Serve {
            what: format!("kubeconfig {}", path.display()),
            source,
        };
        let mut f = std::fs::File::create(path).map_err(serve)?;
        f.write_all(self.kubeconfig_yaml().as_bytes()).map_err(serve)
    }

    /// `http://127.0.0.1:PORT/metrics` of every metrics endpoint: (namespace, pod, kind, URL).
    pub fn metrics_urls(&self) -> Vec<(String, String, crate::model::EndpointKind, String)> {
        lock(&self.sim)
            .metrics_endpoints()
            .into_iter()
            .map(|(ns, pod, kind, port)| (ns, pod, kind, format!("http://127.0.0.1:{port}/metrics")))
            .collect()
    }

    /// Stops every task: the API server (after its open watches end), the metrics
    /// listeners and the driver.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        let listeners: Vec<_> = {
            let mut map = self
                .listeners
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.drain().map(|(_, t)| t).collect()
        };
        for t in listeners {
            t.abort();
        }
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for SimServer {
    /// A server dropped without [`shutdown`](SimServer::shutdown) (a failing test) still
    /// stops serving.
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn serve_metrics(
    sim: SharedSim,
    port: u16,
    listener: std::net::TcpListener,
    cancel: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state((sim, port));
    Ok(tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(cancel.cancelled_owned());
        if let Err(error) = serve.await {
            tracing::warn!(%error, port, "metrics listener stopped");
        }
    }))
}

async fn metrics(State((sim, port)): State<(SharedSim, u16)>, headers: HeaderMap) -> Response {
    let Some((_, body)) = lock(&sim).render_metrics(port) else {
        return (StatusCode::NOT_FOUND, "no such metrics endpoint\n").into_response();
    };
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if enc.write_all(body.as_bytes()).is_ok()
            && let Ok(bytes) = enc.finish()
        {
            return (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CONTENT_ENCODING, "gzip"),
                ],
                bytes,
            )
                .into_response();
        }
    }
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn json_ok(code: StatusCode, v: &Value) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// `GET /sim/truth`: cumulative since the start, or between `from_ms` and `to_ms`
/// (simulated unix ms, to the minute; `to_ms` defaults to now).
async fn truth(State(st): State<ApiState>, uri: axum::http::Uri) -> Response {
    let query = crate::kube::select::parse_query(uri.query());
    let ms = |k: &str| {
        query.get(k).map(|v| {
            v.parse::<i64>()
                .map_err(|_| format!("{k} must be unix milliseconds"))
        })
    };
    let sim = lock(&st.sim);
    let (from, to) = match (ms("from_ms"), ms("to_ms")) {
        (Some(Err(e)), _) | (_, Some(Err(e))) => {
            return status(StatusCode::BAD_REQUEST, "BadRequest", e, None);
        }
        (from, to) => (
            from.and_then(Result::ok),
            to.and_then(Result::ok).unwrap_or(sim.now_ms()),
        ),
    };
    let truth = match from {
        None => sim.truth_at(to),
        Some(from) => sim.truth_between(from, to),
    };
    match truth {
        Some(t) => json_ok(StatusCode::OK, &t.to_json()),
        None => status(
            StatusCode::GONE,
            "Expired",
            "that time is older than the kept truth history",
            None,
        ),
    }
}

async fn sim_status(State(st): State<ApiState>) -> Response {
    let sim = lock(&st.sim);
    let endpoints: Vec<Value> = sim
        .metrics_endpoints()
        .into_iter()
        .map(|(ns, pod, kind, port)| {
            json!({"namespace": ns, "pod": pod, "kind": format!("{kind:?}"), "url": format!("http://127.0.0.1:{port}/metrics")})
        })
        .collect();
    let now = sim.now_ms();
    json_ok(
        StatusCode::OK,
        &json!({"name": sim.name(), "now_ms": now, "now": crate::kube::objects::time(now).0.to_string(), "metrics_endpoints": endpoints}),
    )
}

async fn scenarios(State(st): State<ApiState>) -> Response {
    let sim = lock(&st.sim);
    json_ok(
        StatusCode::OK,
        &json!({"now_ms": sim.now_ms(), "scenarios": sim.scenarios()}),
    )
}

async fn schedule(State(st): State<ApiState>, body: Bytes) -> Response {
    let scenario: Scenario = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("invalid scenario: {e}"),
                None,
            );
        }
    };
    let mut sim = lock(&st.sim);
    match sim.schedule(scenario) {
        Ok(id) => {
            let s = sim
                .scenarios()
                .iter()
                .find(|s| s.id == id)
                .map(|s| json!(s))
                .unwrap_or_default();
            json_ok(StatusCode::CREATED, &s)
        }
        Err(SimError::NotFound { kind, name, .. }) => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{kind} \"{name}\" not found"),
            None,
        ),
        Err(e) => status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e.to_string(), None),
    }
}

/// `POST /sim/advance?seconds=N`: moves simulated time forward (for scripts and tests).
async fn advance(State(st): State<ApiState>, uri: axum::http::Uri) -> Response {
    let query = crate::kube::select::parse_query(uri.query());
    let Some(seconds) = query.get("seconds").and_then(|s| s.parse::<f64>().ok()) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "seconds is required (a number)",
            None,
        );
    };
    if !(seconds.is_finite() && (0.0..=31.0 * 86_400.0).contains(&seconds)) {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "seconds must be within 0 to 31 days",
            None,
        );
    }
    let mut sim = lock(&st.sim);
    sim.advance(Duration::from_millis((seconds * 1000.0) as u64));
    json_ok(StatusCode::OK, &json!({"now_ms": sim.now_ms()}))
}
