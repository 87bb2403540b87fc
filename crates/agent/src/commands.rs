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
use atlhyper_model::{Action, Command, CommandReport, CommandStatus, PolledCommand, Target};
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

/// The most log text one result carries.
const MAX_LOG_BYTES: i64 = 1 << 20;
/// Commands of one poll run at most this many at once.
const CONCURRENCY: usize = 8;
/// The field manager named in patches.
const FIELD_MANAGER: &str = "atlhyper-agent";

/// Why a command failed on the agent. Its `Display` text is the `error` of the command's
/// result, which the master stores and shows: change a text here and users see it change.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The API server answered with a status: `scale Deployment shop/web: … not found (404)`.
    #[error("{verb} {object}: {message} ({code})")]
    Api {
        verb: &'static str,
        object: String,
        message: String,
        code: u16,
    },
    /// The call got no answer from the API server (connection, TLS, decoding).
    #[error("{verb} {object}: {source}")]
    Kube {
        verb: &'static str,
        object: String,
        source: kube::Error,
    },
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("cannot encode the summary: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Why no container could be picked for an image update or a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerError {
    #[error("{object} has no container {wanted:?} (it has {})", .names.join(", "))]
    NotFound {
        object: String,
        wanted: String,
        names: Vec<String>,
    },
    #[error("{object} has no containers")]
    NoContainers { object: String },
    #[error("{object} has several containers ({}): name one in params.container", .names.join(", "))]
    Several { object: String, names: Vec<String> },
}

/// How a command ended: the status reported to the master, and its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `succeeded`, `failed` or `timed_out`.
    pub status: CommandStatus,
    pub result: Value,
}

impl Outcome {
    fn failed(error: impl std::fmt::Display) -> Self {
        Self {
            status: CommandStatus::Failed,
            result: json!({ "error": error.to_string() }),
        }
    }
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

    /// Runs one polled command within its timeout. A command this version cannot read (a
    /// newer master's action, a bad parameter) fails with the reason, without running.
    pub async fn run(&self, polled: &PolledCommand) -> Outcome {
        let command = match polled.parse() {
            Ok(command) => command,
            Err(error) => return Outcome::failed(error),
        };
        let timeout = command
            .timeout_s
            .map_or(self.default_timeout, Duration::from_secs);
        let started = std::time::Instant::now();
        let elapsed_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match tokio::time::timeout(timeout, self.execute(&command)).await {
            Ok(Ok(output)) => Outcome {
                status: CommandStatus::Succeeded,
                result: json!({ "output": output, "duration_ms": elapsed_ms() }),
            },
            Ok(Err(error)) => Outcome {
                status: CommandStatus::Failed,
                result: json!({ "error": error.to_string(), "duration_ms": elapsed_ms() }),
            },
            Err(_) => Outcome {
                status: CommandStatus::TimedOut,
                result: json!({ "error": format!("{} did not finish within {} s", command.action.name(), timeout.as_secs()) }),
            },
        }
    }

    /// Runs a checked command without a timeout; the output JSON on success.
    pub async fn execute(&self, command: &Command) -> Result<Value, CommandError> {
        let target = &command.target;
        match &command.action {
            Action::Restart => self.restart(target).await,
            Action::DeletePod { grace_period_seconds } => {
                self.delete_pod(target, *grace_period_seconds).await
            }
            Action::Scale { replicas } => self.scale(target, *replicas).await,
            Action::Cordon => self.cordon(target, true).await,
            Action::Uncordon => self.cordon(target, false).await,
            Action::UpdateImage { image, container } => {
                self.update_image(target, image, container.as_deref()).await
            }
            Action::Logs {
                container,
                tail_lines,
                previous,
            } => {
                self.logs(target, container.as_deref(), *tail_lines, *previous)
                    .await
            }
            Action::Get => self.get(target).await,
        }
    }

    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    async fn restart(&self, t: &Target) -> Result<Value, CommandError> {
        let ns = &t.namespace;
        let at = k8s_openapi::jiff::Timestamp::now().to_string();
        let patch = Patch::Merge(restart_patch(&at));
        let params = PatchParams::apply(FIELD_MANAGER);
        match t.kind {
            ResourceKind::Deployment => self
                .api::<Deployment>(ns)
                .patch(&t.name, &params, &patch)
                .await
                .map(drop),
            ResourceKind::StatefulSet => self
                .api::<StatefulSet>(ns)
                .patch(&t.name, &params, &patch)
                .await
                .map(drop),
            _ => self
                .api::<DaemonSet>(ns)
                .patch(&t.name, &params, &patch)
                .await
                .map(drop),
        }
        .map_err(|e| kube_error("restart", t, e))?;
        Ok(json!({ "restarted_at": at }))
    }

    async fn delete_pod(&self, t: &Target, grace: Option<u32>) -> Result<Value, CommandError> {
        let params = DeleteParams {
            grace_period_seconds: grace,
            ..DeleteParams::default()
        };
        self.api::<Pod>(&t.namespace)
            .delete(&t.name, &params)
            .await
            .map_err(|e| kube_error("delete", t, e))?;
        Ok(json!({ "deleted": format!("{}/{}", t.namespace, t.name) }))
    }

    async fn scale(&self, t: &Target, replicas: u32) -> Result<Value, CommandError> {
        let ns = &t.namespace;
        let patch = Patch::Merge(json!({ "spec": { "replicas": replicas } }));
        let params = PatchParams::default();
        let scale = match t.kind {
            ResourceKind::Deployment => {
                self.api::<Deployment>(ns)
                    .patch_scale(&t.name, &params, &patch)
                    .await
            }
            ResourceKind::StatefulSet => {
                self.api::<StatefulSet>(ns)
                    .patch_scale(&t.name, &params, &patch)
                    .await
            }
            _ => {
                self.api::<ReplicaSet>(ns)
                    .patch_scale(&t.name, &params, &patch)
                    .await
            }
        }
        .map_err(|e| kube_error("scale", t, e))?;
        let now = scale
            .spec
            .and_then(|s| s.replicas)
            .map_or(i64::from(replicas), i64::from);
        Ok(json!({ "replicas": now }))
    }

    async fn cordon(&self, t: &Target, unschedulable: bool) -> Result<Value, CommandError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = Patch::Merge(json!({ "spec": { "unschedulable": unschedulable } }));
        let verb = if unschedulable { "cordon" } else { "uncordon" };
        let node = api
            .patch(&t.name, &PatchParams::default(), &patch)
            .await
            .map_err(|e| kube_error(verb, t, e))?;
        Ok(json!({
            "node": t.name,
            "unschedulable": node.spec.and_then(|s| s.unschedulable).unwrap_or(false),
        }))
    }

    async fn update_image(
        &self,
        t: &Target,
        image: &str,
        wanted: Option<&str>,
    ) -> Result<Value, CommandError> {
        let ns = &t.namespace;
        let containers = match t.kind {
            ResourceKind::Deployment => self
                .api::<Deployment>(ns)
                .get(&t.name)
                .await
                .map(|d| d.spec.and_then(|s| s.template.spec).map(|s| s.containers)),
            ResourceKind::StatefulSet => self
                .api::<StatefulSet>(ns)
                .get(&t.name)
                .await
                .map(|d| d.spec.and_then(|s| s.template.spec).map(|s| s.containers)),
            _ => self
                .api::<DaemonSet>(ns)
                .get(&t.name)
                .await
                .map(|d| d.spec.and_then(|s| s.template.spec).map(|s| s.containers)),
        }
        .map_err(|e| kube_error("get", t, e))?
        .unwrap_or_default();
        let names: Vec<String> = containers.iter().map(|c| c.name.clone()).collect();
        let container = pick_container(&names, wanted, &t.name)?;
        let previous = containers
            .iter()
            .find(|c| c.name == container)
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        let patch = Patch::Strategic(image_patch(&container, image));
        let params = PatchParams::default();
        match t.kind {
            ResourceKind::Deployment => self
                .api::<Deployment>(ns)
                .patch(&t.name, &params, &patch)
                .await
                .map(drop),
            ResourceKind::StatefulSet => self
                .api::<StatefulSet>(ns)
                .patch(&t.name, &params, &patch)
                .await
                .map(drop),
            _ => self
                .api::<DaemonSet>(ns)
                .patch(&t.name, &params, &patch)
                .await
                .map(drop),
        }
        .map_err(|e| kube_error("update_image", t, e))?;
        Ok(json!({ "container": container, "image": image, "previous_image": previous }))
    }

    async fn logs(
        &self,
        t: &Target,
        container: Option<&str>,
        tail_lines: u32,
        previous: bool,
    ) -> Result<Value, CommandError> {
        let api = self.api::<Pod>(&t.namespace);
        let container = match container {
            Some(c) => c.to_owned(),
            None => {
                let pod = api.get(&t.name).await.map_err(|e| kube_error("get", t, e))?;
                let names: Vec<String> = pod
                    .spec
                    .map(|s| s.containers.into_iter().map(|c| c.name).collect())
                    .unwrap_or_default();
                main_container(&names).ok_or_else(|| ContainerError::NoContainers {
                    object: format!("pod {}", t.name),
                })?
            }
        };
        let params = LogParams {
            container: Some(container.clone()),
            tail_lines: Some(i64::from(tail_lines)),
            previous,
            limit_bytes: Some(MAX_LOG_BYTES),
            ..LogParams::default()
        };
        let text = api
            .logs(&t.name, &params)
            .await
            .map_err(|e| kube_error("logs", t, e))?;
        Ok(json!({
            "container": container,
            "previous": previous,
            "lines": text.lines().count(),
            "log": text,
        }))
    }

    async fn get(&self, t: &Target) -> Result<Value, CommandError> {
        macro_rules! get {
            (namespaced: $($nv:ident),* ; cluster: $($cv:ident),* $(,)?) => {
                match t.kind {
                    $(ResourceKind::$nv => {
                        let api: Api<$nv> = Api::namespaced(self.client.clone(), &t.namespace);
                        summary_of(api, t).await
                    })*
                    $(ResourceKind::$cv => {
                        let api: Api<$cv> = Api::all(self.client.clone());
                        summary_of(api, t).await
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
async fn summary_of<K: Summarize>(api: Api<K>, t: &Target) -> Result<Value, CommandError> {
    let object = api.get(&t.name).await.map_err(|e| kube_error("get", t, e))?;
    let mut summary = serde_json::to_value(object.summarize())?;
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
pub fn pick_container(
    names: &[String],
    wanted: Option<&str>,
    object: &str,
) -> Result<String, ContainerError> {
    if let Some(w) = wanted {
        return names
            .iter()
            .find(|n| *n == w)
            .cloned()
            .ok_or_else(|| ContainerError::NotFound {
                object: object.to_owned(),
                wanted: w.to_owned(),
                names: names.to_vec(),
            });
    }
    let app: Vec<&String> = names.iter().filter(|n| !is_sidecar(n)).collect();
    match app.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ContainerError::NoContainers {
            object: object.to_owned(),
        }),
        _ => Err(ContainerError::Several {
            object: object.to_owned(),
            names: names.to_vec(),
        }),
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

fn kube_error(verb: &'static str, t: &Target, e: kube::Error) -> CommandError {
    let object = if t.namespace.is_empty() {
        format!("{} {}", t.kind, t.name)
    } else {
        format!("{} {}/{}", t.kind, t.namespace, t.name)
    };
    match e {
        kube::Error::Api(status) => CommandError::Api {
            verb,
            object,
            message: status.message,
            code: status.code,
        },
        source => CommandError::Kube { verb, object, source },
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
                for polled in commands {
                    let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                        break;
                    };
                    let (master, executor) = (master.clone(), executor.clone());
                    running.spawn(async move {
                        let outcome = executor.run(&polled).await;
                        let id = polled.id;
                        tracing::info!(
                            id,
                            status = %outcome.status,
                            action = polled.command["action"].as_str().unwrap_or(""),
                            "command done"
                        );
                        let report = CommandReport {
                            id,
                            status: outcome.status,
                            result: outcome.result,
                        };
                        if let Err(e) = master.report_result(&report).await {
                            tracing::warn!(id = report.id, error = %e, "cannot report a command result");
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
    fn containers_are_picked_past_sidecars() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            pick_container(&names(&["app", "linkerd-proxy"]), None, "web").unwrap(),
            "app"
        );
        assert_eq!(
            pick_container(&names(&["a", "b"]), None, "web")
                .unwrap_err()
                .to_string(),
            "web has several containers (a, b): name one in params.container"
        );
        assert_eq!(
            pick_container(&names(&["a"]), Some("b"), "web")
                .unwrap_err()
                .to_string(),
            r#"web has no container "b" (it has a)"#
        );
        assert_eq!(
            pick_container(&names(&["linkerd-proxy"]), None, "web")
                .unwrap_err()
                .to_string(),
            "web has no containers"
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
