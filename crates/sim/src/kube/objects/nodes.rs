//! Nodes: labels, taints (cordon, memory pressure), conditions, capacity and system info.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node as KNode, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{labels, meta, sim_uid, time};
use crate::cluster::SimCluster;
use crate::model;

pub(super) fn node(sim: &SimCluster, n: &model::Node) -> KNode {
    let mut m = meta(None, &n.name, &n.uid, n.created_ms);
    let role = if n.name == "node-1" {
        "control-plane"
    } else {
        "worker"
    };
    let mut l = labels(&[
        ("beta.kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/hostname", &n.name),
        ("kubernetes.io/os", "linux"),
    ]);
    l.insert(format!("node-role.kubernetes.io/{role}"), String::new());
    m.labels = Some(l);
    m.annotations = Some(labels(&[
        ("node.alpha.kubernetes.io/ttl", "0"),
        ("volumes.kubernetes.io/controller-managed-attach-detach", "true"),
    ]));
    let mut taints = Vec::new();
    if n.unschedulable {
        taints.push(Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            time_added: Some(time(sim.now_ms)),
            ..Taint::default()
        });
    }
    if n.memory_pressure {
        taints.push(Taint {
            key: "node.kubernetes.io/memory-pressure".into(),
            effect: "NoSchedule".into(),
            time_added: Some(time(sim.now_ms)),
            ..Taint::default()
        });
    }
    let heartbeat = time(sim.now_ms - sim.now_ms.rem_euclid(60_000));
    let cond = |type_: &str, status: bool, reason: &str, message: &str| NodeCondition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(heartbeat.clone()),
        last_transition_time: Some(time(n.created_ms)),
    };
    let (mem_reason, mem_message) = if n.memory_pressure {
        (
            "KubeletHasInsufficientMemory",
            "kubelet has insufficient memory available",
        )
    } else {
        (
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        )
    };
    let quantity = |s: &str| Quantity(s.to_owned());
    let capacity: BTreeMap<String, Quantity> = [
        ("cpu", n.cpus.to_string()),
        ("ephemeral-storage", "102687672Ki".into()),
        ("memory", format!("{}Ki", n.memory_bytes / 1024)),
        ("pods", "110".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), quantity(&v)))
    .collect();
    let mut allocatable = capacity.clone();
    allocatable.insert(
        "memory".into(),
        quantity(&format!("{}Ki", n.memory_bytes / 1024 - 102_400)),
    );
    KNode {
        metadata: m,
        spec: Some(NodeSpec {
            pod_cidr: Some(format!("10.42.{}.0/24", n.name.trim_start_matches("node-"))),
            provider_id: Some(format!("sim://{}/{}", sim.cfg.name, n.name)),
            taints: (!taints.is_empty()).then_some(taints),
            unschedulable: n.unschedulable.then_some(true),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: n.ip.clone(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: n.name.clone(),
                },
            ]),
            allocatable: Some(allocatable),
            capacity: Some(capacity),
            conditions: Some(vec![
                cond("MemoryPressure", n.memory_pressure, mem_reason, mem_message),
                cond(
                    "DiskPressure",
                    false,
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    false,
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                cond("Ready", true, "KubeletReady", "kubelet is posting ready status"),
            ]),
            node_info: Some(NodeSystemInfo {
                architecture: "amd64".into(),
                boot_id: sim_uid(&format!("boot/{}", n.name)),
                container_runtime_version: "containerd://2.0.2".into(),
                kernel_version: "6.8.0-51-generic".into(),
                kube_proxy_version: String::new(),
                kubelet_version: model::KUBELET_VERSION.into(),
                machine_id: sim_uid(&format!("machine/{}", n.name)).replace('-', ""),
                operating_system: "linux".into(),
                os_image: "Ubuntu 24.04.1 LTS".into(),
                system_uuid: sim_uid(&format!("system/{}", n.name)),
                ..NodeSystemInfo::default()
            }),
            ..NodeStatus::default()
        }),
    }
}
