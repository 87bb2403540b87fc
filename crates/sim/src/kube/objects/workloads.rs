//! The workload kinds: Deployments with their ReplicaSets (one per revision), DaemonSets and
//! StatefulSets, with the pod templates and status counts they share.

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetStatus, Deployment, DeploymentCondition, DeploymentSpec,
    DeploymentStatus, DeploymentStrategy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus,
    RollingUpdateDeployment, StatefulSet, StatefulSetSpec, StatefulSetStatus,
};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::pods::app_container;
use super::{Labels, labels, meta, owner, time};
use crate::cluster::SimCluster;
use crate::model::{self, Pod, Role, Workload, WorkloadKind};

pub(super) fn selector_labels(w: &Workload) -> Labels {
    match w.role {
        Role::Traefik | Role::NodeExporter => labels(&[("app.kubernetes.io/name", &w.name)]),
        Role::Mesh | Role::Plain => labels(&[("app", &w.name)]),
    }
}

fn workload_meta(w: &Workload) -> ObjectMeta {
    let mut m = meta(Some(&w.namespace), &w.name, &w.uid, w.created_ms);
    let mut l = selector_labels(w);
    l.extend(w.labels.clone());
    m.labels = Some(l);
    m.generation = Some(w.generation);
    if w.kind == WorkloadKind::Deployment {
        let rev = w.current().map_or(1, |r| r.revision);
        m.annotations = Some(labels(&[("deployment.kubernetes.io/revision", &rev.to_string())]));
    }
    m
}

/// The pod template of a workload at one revision's image and restart annotation.
fn template(w: &Workload, image: &str, restarted_at: Option<&str>, hash: Option<&str>) -> PodTemplateSpec {
    let mut l = selector_labels(w);
    if let Some(h) = hash {
        l.insert("pod-template-hash".into(), h.to_owned());
    }
    let mut annotations = Labels::new();
    if w.meshed {
        annotations.insert("linkerd.io/inject".into(), "enabled".into());
    }
    if let Some(at) = restarted_at {
        annotations.insert("kubectl.kubernetes.io/restartedAt".into(), at.to_owned());
    }
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(l),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![app_container(w, image, None)],
            service_account_name: Some(w.service_account().to_owned()),
            ..PodSpec::default()
        }),
    }
}

/// The pods of workload `w`, whatever their revision.
pub(super) fn pods_of<'a>(sim: &'a SimCluster, w: &'a Workload) -> impl Iterator<Item = &'a Pod> {
    sim.pods
        .iter()
        .filter(move |p| sim.workloads[p.workload].uid == w.uid)
}

pub(super) fn deployment(sim: &SimCluster, w: &Workload) -> Deployment {
    let now = sim.now_ms;
    let current = w.current().map(|r| r.hash.clone()).unwrap_or_default();
    let total = pods_of(sim, w).count() as i32;
    let updated = pods_of(sim, w).filter(|p| p.revision_hash == current).count() as i32;
    let ready = pods_of(sim, w).filter(|p| p.is_ready(now)).count() as i32;
    let available = ready.min(w.replicas as i32);
    let progressing = updated == w.replicas as i32 && total == updated;
    let cond = |type_: &str, ok: bool, reason: &str, message: String| DeploymentCondition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: Some(time(w.created_ms)),
        last_update_time: Some(time(w.created_ms)),
    };
    let rs = format!("{}-{current}", w.name);
    Deployment {
        metadata: workload_meta(w),
        spec: Some(DeploymentSpec {
            replicas: Some(w.replicas as i32),
            selector: LabelSelector {
                match_labels: Some(selector_labels(w)),
                ..LabelSelector::default()
            },
            template: template(w, &w.image, w.restarted_at.as_deref(), None),
            progress_deadline_seconds: Some(600),
            revision_history_limit: Some(10),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::String("25%".into())),
                    max_unavailable: Some(IntOrString::String("25%".into())),
                }),
            }),
            ..DeploymentSpec::default()
        }),
        status: Some(DeploymentStatus {
            observed_generation: Some(w.generation),
            replicas: Some(total),
            updated_replicas: Some(updated),
            ready_replicas: (ready > 0).then_some(ready),
            available_replicas: (available > 0).then_some(available),
            unavailable_replicas: (w.replicas as i32 > available).then_some(w.replicas as i32 - available),
            conditions: Some(vec![
                cond(
                    "Available",
                    available >= w.replicas as i32 - w.replicas as i32 / 4,
                    if available >= w.replicas as i32 - w.replicas as i32 / 4 {
                        "MinimumReplicasAvailable"
                    } else {
                        "MinimumReplicasUnavailable"
                    },
                    "Deployment has minimum availability.".into(),
                ),
                cond(
                    "Progressing",
                    true,
                    if progressing {
                        "NewReplicaSetAvailable"
                    } else {
                        "ReplicaSetUpdated"
                    },
                    if progressing {
                        format!("ReplicaSet \"{rs}\" has successfully progressed.")
                    } else {
                        format!("ReplicaSet \"{rs}\" is progressing.")
                    },
                ),
            ]),
            ..DeploymentStatus::default()
        }),
    }
}

pub(super) fn replica_set(sim: &SimCluster, w: &Workload, r: &model::Revision) -> ReplicaSet {
    let now = sim.now_ms;
    let name = format!("{}-{}", w.name, r.hash);
    let mut m = meta(Some(&w.namespace), &name, &r.uid, r.created_ms.min(now));
    let mut l = selector_labels(w);
    l.insert("pod-template-hash".into(), r.hash.clone());
    m.labels = Some(l.clone());
    m.annotations = Some(labels(&[
        (
            "deployment.kubernetes.io/desired-replicas",
            &w.replicas.to_string(),
        ),
        (
            "deployment.kubernetes.io/max-replicas",
            &(w.replicas + w.replicas.div_ceil(4)).to_string(),
        ),
        ("deployment.kubernetes.io/revision", &r.revision.to_string()),
    ]));
    m.owner_references = Some(vec![owner("apps/v1", "Deployment", &w.name, &w.uid)]);
    m.generation = Some(1);
    let pods: Vec<&Pod> = pods_of(sim, w).filter(|p| p.revision_hash == r.hash).collect();
    let ready = pods.iter().filter(|p| p.is_ready(now)).count() as i32;
    let replicas = pods.len() as i32;
    ReplicaSet {
        metadata: m,
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(l),
                ..LabelSelector::default()
            },
            template: Some(template(w, &r.image, r.restarted_at.as_deref(), Some(&r.hash))),
            ..ReplicaSetSpec::default()
        }),
        status: Some(ReplicaSetStatus {
            replicas,
            fully_labeled_replicas: (replicas > 0).then_some(replicas),
            ready_replicas: (ready > 0).then_some(ready),
            available_replicas: (ready > 0).then_some(ready),
            observed_generation: Some(1),
            ..ReplicaSetStatus::default()
        }),
    }
}

pub(super) fn daemon_set(sim: &SimCluster, w: &Workload) -> DaemonSet {
    let now = sim.now_ms;
    let pods: Vec<&Pod> = pods_of(sim, w).collect();
    let ready = pods.iter().filter(|p| p.is_ready(now)).count() as i32;
    let desired = sim.nodes.len() as i32;
    let mut t = template(w, &w.image, None, None);
    if let Some(spec) = &mut t.spec {
        spec.host_network = Some(true);
    }
    DaemonSet {
        metadata: workload_meta(w),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(selector_labels(w)),
                ..LabelSelector::default()
            },
            template: t,
            ..DaemonSetSpec::default()
        }),
        status: Some(DaemonSetStatus {
            current_number_scheduled: pods.len() as i32,
            desired_number_scheduled: desired,
            number_available: Some(ready),
            number_misscheduled: 0,
            number_ready: ready,
            number_unavailable: (desired > ready).then_some(desired - ready),
            observed_generation: Some(w.generation),
            updated_number_scheduled: Some(pods.len() as i32),
            ..DaemonSetStatus::default()
        }),
    }
}

pub(super) fn stateful_set(sim: &SimCluster, w: &Workload) -> StatefulSet {
    let now = sim.now_ms;
    let pods: Vec<&Pod> = pods_of(sim, w).collect();
    let ready = pods.iter().filter(|p| p.is_ready(now)).count() as i32;
    let rev = w
        .current()
        .map(|r| format!("{}-{}", w.name, r.hash))
        .unwrap_or_default();
    StatefulSet {
        metadata: workload_meta(w),
        spec: Some(StatefulSetSpec {
            replicas: Some(w.replicas as i32),
            selector: LabelSelector {
                match_labels: Some(selector_labels(w)),
                ..LabelSelector::default()
            },
            service_name: Some(w.name.clone()),
            template: template(w, &w.image, None, None),
            ..StatefulSetSpec::default()
        }),
        status: Some(StatefulSetStatus {
            replicas: pods.len() as i32,
            ready_replicas: Some(ready),
            available_replicas: Some(ready),
            current_replicas: Some(pods.len() as i32),
            updated_replicas: Some(pods.len() as i32),
            current_revision: Some(rev.clone()),
            update_revision: Some(rev),
            observed_generation: Some(w.generation),
            ..StatefulSetStatus::default()
        }),
    }
}
