//! The workload controllers (Deployment, StatefulSet, DaemonSet, ReplicaSet), Jobs and
//! CronJobs.

use atlhyper_model::resources::{Condition, CronJobSummary, JobSummary, WorkloadSummary};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::{count, meta, owner, ts, typed_selector};

/// `Healthy`, `Progressing`, `Degraded`, `Unavailable` or `ScaledDown` from replica counts.
pub fn workload_status(desired: u32, available: u32, updated: u32) -> String {
    match () {
        () if desired == 0 => "ScaledDown",
        () if available >= desired && updated >= desired => "Healthy",
        () if available >= desired => "Progressing",
        () if available == 0 => "Unavailable",
        () => "Degraded",
    }
    .to_owned()
}

fn images(spec: Option<&k8s_openapi::api::core::v1::PodSpec>) -> Vec<String> {
    spec.iter()
        .flat_map(|s| s.containers.iter())
        .filter_map(|c| c.image.clone())
        .collect()
}

fn workload(
    m: &ObjectMeta,
    (desired, ready, available, updated): (u32, u32, u32, u32),
    images: Vec<String>,
    selector: Option<&LabelSelector>,
) -> WorkloadSummary {
    WorkloadSummary {
        meta: meta(m),
        status: workload_status(desired, available, updated),
        desired,
        ready,
        available,
        updated,
        images,
        owner: owner(m),
        conditions: Vec::new(),
        selector: selector.map(typed_selector).filter(|s| !s.is_empty()),
    }
}

pub fn summarize_deployment(d: &Deployment) -> WorkloadSummary {
    let spec = d.spec.as_ref();
    let st = d.status.as_ref();
    let desired = count(spec.and_then(|s| s.replicas).or(Some(1)));
    let mut w = workload(
        &d.metadata,
        (
            desired,
            count(st.and_then(|s| s.ready_replicas)),
            count(st.and_then(|s| s.available_replicas)),
            count(st.and_then(|s| s.updated_replicas)),
        ),
        images(spec.and_then(|s| s.template.spec.as_ref())),
        spec.map(|s| &s.selector),
    );
    w.conditions = st
        .and_then(|s| s.conditions.as_ref())
        .iter()
        .flat_map(|cs| cs.iter())
        .map(|c| Condition {
            kind: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
            since: ts(c.last_transition_time.as_ref()),
        })
        .collect();
    w
}

pub fn summarize_stateful_set(s: &StatefulSet) -> WorkloadSummary {
    let spec = s.spec.as_ref();
    let st = s.status.as_ref();
    workload(
        &s.metadata,
        (
            count(spec.and_then(|s| s.replicas).or(Some(1))),
            count(st.and_then(|s| s.ready_replicas)),
            count(st.and_then(|s| s.available_replicas)),
            count(st.and_then(|s| s.updated_replicas)),
        ),
        images(spec.and_then(|s| s.template.spec.as_ref())),
        spec.map(|s| &s.selector),
    )
}

pub fn summarize_daemon_set(d: &DaemonSet) -> WorkloadSummary {
    let spec = d.spec.as_ref();
    let st = d.status.as_ref();
    workload(
        &d.metadata,
        (
            count(st.map(|s| s.desired_number_scheduled)),
            count(st.map(|s| s.number_ready)),
            count(st.and_then(|s| s.number_available)),
            count(st.and_then(|s| s.updated_number_scheduled)),
        ),
        images(spec.and_then(|s| s.template.spec.as_ref())),
        spec.map(|s| &s.selector),
    )
}

pub fn summarize_replica_set(r: &ReplicaSet) -> WorkloadSummary {
    let spec = r.spec.as_ref();
    let st = r.status.as_ref();
    let desired = count(spec.and_then(|s| s.replicas).or(Some(1)));
    let available = count(st.and_then(|s| s.available_replicas));
    workload(
        &r.metadata,
        (
            desired,
            count(st.and_then(|s| s.ready_replicas)),
            available,
            // A ReplicaSet is one template: every replica is up to date.
            count(st.map(|s| s.replicas)),
        ),
        images(
            spec.and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref()),
        ),
        spec.map(|s| &s.selector),
    )
}

pub fn summarize_job(j: &Job) -> JobSummary {
    let st = j.status.as_ref();
    let condition = |kind: &str| {
        st.and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
    };
    let status = if condition("Complete") {
        "Complete"
    } else if condition("Failed") {
        "Failed"
    } else {
        "Running"
    };
    JobSummary {
        meta: meta(&j.metadata),
        status: status.into(),
        active: count(st.and_then(|s| s.active)),
        succeeded: count(st.and_then(|s| s.succeeded)),
        failed: count(st.and_then(|s| s.failed)),
        completions: j
            .spec
            .as_ref()
            .and_then(|s| s.completions)
            .map(|c| count(Some(c))),
        start_time: ts(st.and_then(|s| s.start_time.as_ref())),
        completion_time: ts(st.and_then(|s| s.completion_time.as_ref())),
        owner: owner(&j.metadata),
    }
}

pub fn summarize_cron_job(c: &CronJob) -> CronJobSummary {
    let spec = c.spec.as_ref();
    let st = c.status.as_ref();
    let suspend = spec.and_then(|s| s.suspend).unwrap_or(false);
    let active = st.and_then(|s| s.active.as_ref()).map_or(0, |a| a.len() as u32);
    CronJobSummary {
        meta: meta(&c.metadata),
        status: if suspend {
            "Suspended"
        } else if active > 0 {
            "Active"
        } else {
            "Scheduled"
        }
        .into(),
        schedule: spec.map(|s| s.schedule.clone()).unwrap_or_default(),
        suspend,
        active,
        last_schedule: ts(st.and_then(|s| s.last_schedule_time.as_ref())),
        last_successful: ts(st.and_then(|s| s.last_successful_time.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::summarize::from_json as from;
    use serde_json::json;

    #[test]
    fn a_degraded_deployment_summarizes() {
        let d: Deployment = from(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "shop/web:2"}]}}},
            "status": {"replicas": 4, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 4}
        }));
        let w = summarize_deployment(&d);
        assert_eq!((w.desired, w.available, w.status.as_str()), (4, 1, "Degraded"));
        assert_eq!(w.images, ["shop/web:2"]);
        assert_eq!(w.selector.map(|s| s.to_string()).as_deref(), Some("app=web"));
        assert_eq!(workload_status(3, 3, 3), "Healthy");
        assert_eq!(workload_status(3, 0, 3), "Unavailable");
        assert_eq!(workload_status(0, 0, 0), "ScaledDown");
    }
}
