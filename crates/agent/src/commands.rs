//! Remote operations: the commands the master queues, run against the Kubernetes API.
//!
//! | action | kinds | params | what it does |
//! |---|---|---|---|
//! | `restart` | Deployment, StatefulSet, DaemonSet | | `kubectl rollout restart`: the pod template's `kubectl.kubernetes.io/restartedAt` annotation set to now |
//! | `delete_pod` | Pod | `grace_period_seconds` | deletes the pod (its controller replaces it) |
//! | `scale` | Deployment, StatefulSet, ReplicaSet | `replicas` (0–10000) | the `scale` subresource |
//! | `cordon`, `uncordon` | Node | | `spec.unschedulable` |
//! | `update_image` | Deployment, StatefulSet, DaemonSet | `image`, `container` (needed when there are several) | strategic merge of the container's image |
//! | `logs` | Pod | `container`, `tail_lines` (100, at most 5000), `previous` | the log text (at most 1 MiB) |
//! | `get` | any of the 20 kinds | | the agent's summary of the object (Secrets: type and keys only) |
//!
//! Every command has a timeout (`timeout_s` in the command, else the agent's default); a
//! command past it is reported `timed_out`. Results are JSON; none carries a Secret value.

use std::sync::Arc;
use std::time::Duration;

use atlhyper_model::resources::ResourceKind;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, LimitRange, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod,
    ResourceQuota, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::api::{Api, DeleteParams, LogParams, Patch, PatchParams};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::push::MasterClient;
use crate::resources::Summarize;

/// The longest timeout a command may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Log lines returned when `tail_lines` is not given, and the most that may be asked for.
const DEFAULT_TAIL_LINES: i64 = 100;
const MAX_TAIL_LINES: i64 = 5000;
/// The most log text one result carries.
const MAX_LOG_BYTES: i64 = 1 << 20;
/// Commands of one poll run at most this many at once.
const CONCURRENCY: usize = 8;
/// The field manager named in patches.
const FIELD_MANAGER: &str = "atlhyper-agent";

/// One command as the master sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    pub action: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub params: Value,
    pub timeout: Duration,
}

impl CommandSpec {
    /// Reads the master's payload; `default_timeout` applies when it names none.
    pub fn parse(payload: &Value, default_timeout: Duration) -> Result<Self, String> {
        let text = |key: &str| payload.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
        let action = text("action");
        if action.is_empty() {
            return Err("the command has no action".into());
        }
        let timeout = match payload.get("timeout_s") {
            None | Some(Value::Null) => default_timeout,
            Some(v) => {
                let s = v.as_u64().filter(|s| *s > 0).ok_or_else(|| {
                    format!("timeout_s must be a positive whole number of seconds, not {v}")
                })?;
                Duration::from_secs(s).min(MAX_TIMEOUT)
            }
        };
        Ok(Self {
            action,
            kind: text("kind"),
            namespace: text("namespace"),
            name: text("name"),
            params: payload.get("params").cloned().unwrap_or(Value::Null),
            timeout,
        })
    }

    fn kind(&self) -> Result<ResourceKind, String> {
        ResourceKind::parse(&self.kind).ok_or_else(|| format!("unknown kind {:?}", self.kind))
    }

    fn namespace(&self) -> Result<&str, String> {
        if self.namespace.is_empty() {
            Err(format!("{} {} needs a namespace", self.kind, self.name))
        } else {
            Ok(&self.namespace)
        }
    }

    fn param_str(&self, key: &str) -> Result<Option<&str>, String> {
        match self.params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.is_empty())),
            Some(other) => Err(format!("params.{key} must be a string, not {other}")),
        }
    }

    fn param_int(&self, key: &str) -> Result<Option<i64>, String> {
        match self.params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("params.{key} must be a whole number, not {v}")),
        }
    }

    fn param_bool(&self, key: &str) -> Result<bool, String> {
        match self.params.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(format!("params.{key} must be true or false, not {other}")),
        }
    }
}

/// How a command ended: the status reported to the master, and its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `succeeded`, `failed` or `timed_out`.
    pub status: &'static str,
    pub result: Value,
}

/// Runs commands with one Kubernetes client.
#[derive(Clone)]
pub struct CommandExecutor {
    client: kube::Client,
    default_timeout: Duration,
}

impl CommandExecutor {
    pub fn new(client: kube::Client, default_timeout: Duration) -> Self {
        Self {
            client,
            default_timeout,
        }
    }

    /// Runs one command payload within its timeout.
    pub async fn run(&self, payload: &Value) -> Outcome {
        let spec = match CommandSpec::parse(payload, self.default_timeout) {
            Ok(spec) => spec,
            Err(error) => {
                return Outcome {
                    status: "failed",
                    result: json!({ "error": error }),
                };
            }
        };
        let started = std::time::Instant::now();
        match tokio::time::timeout(spec.timeout, self.execute(&spec)).await {
            Ok(Ok(output)) => Outcome {
                status: "succeeded",
                result: json!({ "output": output, "duration_ms": started.elapsed().as_millis() as u64 }),
            },
            Ok(Err(error)) => Outcome {
                status: "failed",
                result: json!({ "error": error, "duration_ms": started.elapsed().as_millis() as u64 }),
            },
            Err(_) => Outcome {
                status: "timed_out",
                result: json!({ "error": format!("{} did not finish within {} s", spec.action, spec.timeout.as_secs()) }),
            },
        }
    }

    /// Runs a parsed command without a timeout; the output JSON on success.
    pub async fn execute(&self, spec: &CommandSpec) -> Result<Value, String> {
        if spec.name.is_empty() {
            return Err("the command names no object".into());
        }
        match spec.action.as_str() {
            "restart" => self.restart(spec).await,
            "delete_pod" => self.delete_pod(spec).await,
            "scale" => self.scale(spec).await,
            "cordon" => self.cordon(spec, true).await,
            "uncordon" => self.cordon(spec, false).await,
            "update_image" => self.update_image(spec).await,
            "logs" => self.logs(spec).await,
            "get" => self.get(spec).await,
            other => Err(format!("unknown action {other:?}")),
        }
    }

    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    async fn restart(&self, spec: &CommandSpec) -> Result<Value, String> {
        let ns = spec.namespace()?;
        let at = k8s_openapi::jiff::Timestamp::now().to_string();
        let patch = Patch::Merge(restart_patch(&at));
        let params = PatchParams::apply(FIELD_MANAGER);
        match spec.kind()? {
            ResourceKind::Deployment => self
                .api::<Deployment>(ns)
                .patch(&spec.name, &params, &patch)
                .await
                .map(drop),
            ResourceKind::StatefulSet => self
                .api::<StatefulSet>(ns)
                .patch(&spec.name, &params, &patch)
                .await
                .map(drop),
            ResourceKind::DaemonSet => self
                .api::<DaemonSet>(ns)
                .patch(&spec.name, &params, &patch)
                .await
                .map(drop),
            other => {
                return Err(format!(
                    "restart works on Deployment, StatefulSet and DaemonSet, not {other}"
                ));
            }
        }
        .map_err(|e| kube_error("restart", spec, &e))?;
        Ok(json!({ "restarted_at": at }))
    }

    async fn delete_pod(&self, spec: &CommandSpec) -> Result<Value, String> {
        if spec.kind()? != ResourceKind::Pod {
            return Err(format!("delete_pod works on pods, not {}", spec.kind));
        }
        let grace = spec.param_int("grace_period_seconds")?;
        if grace.is_some_and(|g| !(0..=3600).contains(&g)) {
            return Err("params.grace_period_seconds must be 0 to 3600".into());
        }
        let params = DeleteParams {
            grace_period_seconds: grace.map(|g| g as u32),
            ..DeleteParams::default()
        };
        self.api::<Pod>(spec.namespace()?)
            .delete(&spec.name, &params)
            .await
            .map_err(|e| kube_error("delete", spec, &e))?;
        Ok(json!({ "deleted": format!("{}/{}", spec.namespace, spec.name) }))
    }

    async fn scale(&self, spec: &CommandSpec) -> Result<Value, String> {
        let replicas = spec.param_int("replicas")?.ok_or("scale needs params.replicas")?;
        if !(0..=10_000).contains(&replicas) {
            return Err(format!("params.replicas must be 0 to 10000, not {replicas}"));
        }
        let ns = spec.namespace()?;
        let patch = Patch::Merge(json!({ "spec": { "replicas": replicas } }));
        let params = PatchParams::default();
        let scale = match spec.kind()? {
            ResourceKind::Deployment => {
                self.api::<Deployment>(ns)
                    .patch_scale(&spec.name, &params, &patch)
                    .await
            }
            ResourceKind::StatefulSet => {
                self.api::<StatefulSet>(ns)
                    .patch_scale(&spec.name, &params, &patch)
                    .await
            }
            ResourceKind::ReplicaSet => {
                self.api::<ReplicaSet>(ns)
                    .patch_scale(&spec.name, &params, &patch)
                    .await
            }
            other => {
                return Err(format!(
                    "scale works on Deployment, StatefulSet and ReplicaSet, not {other}"
                ));
            }
        }
        .map_err(|e| kube_error("scale", spec, &e))?;
        Ok(json!({ "replicas": scale.spec.and_then(|s| s.replicas).unwrap_or(replicas as i32) }))
    }

    async fn cordon(&self, spec: &CommandSpec, unschedulable: bool) -> Result<Value, String> {
        if spec.kind()? != ResourceKind::Node {
            return Err(format!("{} works on nodes, not {}", spec.action, spec.kind));
        }
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = Patch::Merge(json!({ "spec": { "unschedulable": unschedulable } }));
        let node = api
            .patch(&spec.name, &PatchParams::default(), &patch)
            .await
            .map_err(|e| kube_error(&spec.action, spec, &e))?;
        Ok(json!({
            "node": spec.name,
            "unschedulable": node.spec.and_then(|s| s.unschedulable).unwrap_or(false),
        }))
    }

    async fn update_image(&self, spec: &CommandSpec) -> Result<Value, String> {
        let image = spec
            .param_str("image")?
            .ok_or("update_image needs params.image")?
            .to_owned();
        if image.chars().any(char::is_whitespace) {
            return Err(format!("params.image {image:?} is not an image reference"));
        }
        let wanted = spec.param_str("container")?.map(str::to_owned);
        let ns = spec.namespace()?;
        let containers = match spec.kind()? {
            ResourceKind::Deployment => self
                .api::<Deployment>(ns)
                .get(&spec.name)
                .await
                .map(|d| d.spec.and_then(|s| s.template.spec).map(|s| s.containers)),
            ResourceKind::StatefulSet => self
                .api::<StatefulSet>(ns)
                .get(&spec.name)
                .await
                .map(|d| d.spec.and_then(|s| s.template.spec).map(|s| s.containers)),
            ResourceKind::DaemonSet => self
                .api::<DaemonSet>(ns)
                .get(&spec.name)
                .await
                .map(|d| d.spec.and_then(|s| s.template.spec).map(|s| s.containers)),
            other => {
                return Err(format!(
                    "update_image works on Deployment, StatefulSet and DaemonSet, not {other}"
                ));
            }
        }
        .map_err(|e| kube_error("get", spec, &e))?
        .unwrap_or_default();
        let names: Vec<String> = containers.iter().map(|c| c.name.clone()).collect();
        let container = pick_container(&names, wanted.as_deref(), &spec.name)?;
        let previous = containers
            .iter()
            .find(|c| c.name == container)
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        let patch = Patch::Strategic(image_patch(&container, &image));
        let params = PatchParams::default();
        match spec.kind()? {
            ResourceKind::Deployment => self
                .api::<Deployment>(ns)
                .patch(&spec.name, &params, &patch)
                .await
                .map(drop),
            ResourceKind::StatefulSet => self
                .api::<StatefulSet>(ns)
                .patch(&spec.name, &params, &patch)
                .await
                .map(drop),
            _ => self
                .api::<DaemonSet>(ns)
                .patch(&spec.name, &params, &patch)
                .await
                .map(drop),
        }
        .map_err(|e| kube_error("update_image", spec, &e))?;
        Ok(json!({ "container": container, "image": image, "previous_image": previous }))
    }

    async fn logs(&self, spec: &CommandSpec) -> Result<Value, String> {
        if spec.kind()? != ResourceKind::Pod {
            return Err(format!("logs works on pods, not {}", spec.kind));
        }
        let tail = spec.param_int("tail_lines")?.unwrap_or(DEFAULT_TAIL_LINES);
        if !(1..=MAX_TAIL_LINES).contains(&tail) {
            return Err(format!(
                "params.tail_lines must be 1 to {MAX_TAIL_LINES}, not {tail}"
            ));
        }
        let previous = spec.param_bool("previous")?;
        let api = self.api::<Pod>(spec.namespace()?);
        let container = match spec.param_str("container")? {
            Some(c) => c.to_owned(),
            None => {
                let pod = api
                    .get(&spec.name)
                    .await
                    .map_err(|e| kube_error("get", spec, &e))?;
                let names: Vec<String> = pod
                    .spec
                    .map(|s| s.containers.into_iter().map(|c| c.name).collect())
                    .unwrap_or_default();
                main_container(&names).ok_or_else(|| format!("pod {} has no containers", spec.name))?
            }
        };
        let params = LogParams {
            container: Some(container.clone()),
            tail_lines: Some(tail),
            previous,
            limit_bytes: Some(MAX_LOG_BYTES),
            ..LogParams::default()
        };
        let text = api
            .logs(&spec.name, &params)
            .await
            .map_err(|e| kube_error("logs", spec, &e))?;
        Ok(json!({
            "container": container,
            "previous": previous,
            "lines": text.lines().count(),
            "log": text,
        }))
    }

    async fn get(&self, spec: &CommandSpec) -> Result<Value, String> {
        let kind = spec.kind()?;
        macro_rules! get {
            (namespaced: $($nv:ident),* ; cluster: $($cv:ident),* $(,)?) => {
                match kind {
                    $(ResourceKind::$nv => {
                        let api: Api<$nv> = Api::namespaced(self.client.clone(), spec.namespace()?);
                        summary_of(api, spec).await
                    })*
                    $(ResourceKind::$cv => {
                        let api: Api<$cv> = Api::all(self.client.clone());
                        summary_of(api, spec).await
                    })*
                }
            };
        }
        get!(
            namespaced: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Service,
                Ingress, ConfigMap, Secret, Event, PersistentVolumeClaim, ResourceQuota, LimitRange,
                NetworkPolicy, ServiceAccount;
            cluster: Node, Namespace, PersistentVolume,
        )
    }
}

/// The summary of one object: never the object itself, so a Secret's values stay in the
/// cluster.
async fn summary_of<K: Summarize>(api: Api<K>, spec: &CommandSpec) -> Result<Value, String> {
    let object = api
        .get(&spec.name)
        .await
        .map_err(|e| kube_error("get", spec, &e))?;
    let mut summary =
        serde_json::to_value(object.summarize()).map_err(|e| format!("cannot encode the summary: {e}"))?;
    if let Some(map) = summary.as_object_mut() {
        map.insert("kind".into(), Value::String(K::KIND.as_str().into()));
        let labels = object.meta().labels.clone().unwrap_or_default();
        map.insert("labels".into(), json!(labels));
    }
    Ok(summary)
}

/// The merge patch of `kubectl rollout restart`.
pub fn restart_patch(at: &str) -> Value {
    json!({ "spec": { "template": { "metadata": { "annotations": {
        "kubectl.kubernetes.io/restartedAt": at
    } } } } })
}

/// The strategic merge patch that sets one container's image.
pub fn image_patch(container: &str, image: &str) -> Value {
    json!({ "spec": { "template": { "spec": { "containers": [
        { "name": container, "image": image }
    ] } } } })
}

/// The container an image update targets: the one named, else the only one (besides a
/// Linkerd proxy).
pub fn pick_container(names: &[String], wanted: Option<&str>, object: &str) -> Result<String, String> {
    if let Some(w) = wanted {
        return names
            .iter()
            .find(|n| *n == w)
            .cloned()
            .ok_or_else(|| format!("{object} has no container {w:?} (it has {})", names.join(", ")));
    }
    let app: Vec<&String> = names.iter().filter(|n| !is_sidecar(n)).collect();
    match app.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("{object} has no containers")),
        _ => Err(format!(
            "{object} has several containers ({}): name one in params.container",
            names.join(", ")
        )),
    }
}

/// Mesh sidecars, never the container a user means by default.
fn is_sidecar(name: &str) -> bool {
    matches!(
        name,
        "linkerd-proxy" | "linkerd-init" | "istio-proxy" | "istio-init"
    )
}

/// The container whose logs are shown by default: the first that is not a sidecar.
pub fn main_container(names: &[String]) -> Option<String> {
    names
        .iter()
        .find(|n| !is_sidecar(n))
        .or_else(|| names.first())
        .cloned()
}

fn kube_error(verb: &str, spec: &CommandSpec, e: &kube::Error) -> String {
    let object = if spec.namespace.is_empty() {
        format!("{} {}", spec.kind, spec.name)
    } else {
        format!("{} {}/{}", spec.kind, spec.namespace, spec.name)
    };
    match e {
        kube::Error::Api(status) => format!("{verb} {object}: {} ({})", status.message, status.code),
        other => format!("{verb} {object}: {other}"),
    }
}

/// Long-polls the master for commands, runs each (at most eight at once) and reports its
/// outcome, until `shutdown`. A failing poll waits with backoff.
pub async fn command_loop(
    master: MasterClient,
    executor: CommandExecutor,
    poll: Duration,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut running = tokio::task::JoinSet::new();
    let mut backoff = crate::push::Backoff::new(
        Duration::from_millis(500),
        Duration::from_secs(30),
        crate::push::jitter_seed(),
    );
    loop {
        let polled = tokio::select! {
            () = shutdown.cancelled() => break,
            polled = master.poll_commands(poll) => polled,
        };
        while running.try_join_next().is_some() {}
        match polled {
            Ok(commands) => {
                backoff.reset();
                for (id, payload) in commands {
                    let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                        break;
                    };
                    let (master, executor) = (master.clone(), executor.clone());
                    running.spawn(async move {
                        let outcome = executor.run(&payload).await;
                        tracing::info!(
                            id,
                            status = outcome.status,
                            action = payload["action"].as_str().unwrap_or(""),
                            "command done"
                        );
                        if let Err(e) = master.report_result(&id, outcome.status, &outcome.result).await {
                            tracing::warn!(id, error = %e, "cannot report a command result");
                        }
                        drop(slot);
                    });
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "command poll failed");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
    running.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_with_timeouts_and_bad_ones_are_errors() {
        let spec = CommandSpec::parse(
            &json!({"action": "scale", "kind": "Deployment", "namespace": "shop", "name": "web", "params": {"replicas": 3}, "timeout_s": 5}),
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(spec.timeout, Duration::from_secs(5));
        assert_eq!(spec.param_int("replicas").unwrap(), Some(3));
        assert_eq!(
            CommandSpec::parse(
                &json!({"action": "get", "timeout_s": 10_000}),
                Duration::from_secs(60)
            )
            .unwrap()
            .timeout,
            MAX_TIMEOUT
        );
        assert!(CommandSpec::parse(&json!({"kind": "Pod"}), Duration::from_secs(1)).is_err());
        assert!(
            CommandSpec::parse(
                &json!({"action": "get", "timeout_s": "x"}),
                Duration::from_secs(1)
            )
            .is_err()
        );
        let bad = CommandSpec::parse(
            &json!({"action": "scale", "params": {"replicas": "three"}}),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(bad.param_int("replicas").unwrap_err().contains("whole number"));
    }

    #[test]
    fn containers_are_picked_past_sidecars() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            pick_container(&names(&["app", "linkerd-proxy"]), None, "web").unwrap(),
            "app"
        );
        assert!(
            pick_container(&names(&["a", "b"]), None, "web")
                .unwrap_err()
                .contains("several")
        );
        assert!(
            pick_container(&names(&["a"]), Some("b"), "web")
                .unwrap_err()
                .contains("no container")
        );
        assert_eq!(
            main_container(&names(&["linkerd-proxy", "app"])).as_deref(),
            Some("app")
        );
        assert_eq!(
            main_container(&names(&["linkerd-proxy"])).as_deref(),
            Some("linkerd-proxy")
        );
        assert_eq!(
            restart_patch("t")["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "t"
        );
        assert_eq!(
            image_patch("app", "x:2")["spec"]["template"]["spec"]["containers"][0]["image"],
            "x:2"
        );
    }
}
