//! Placement of pods: pending pods onto the schedulable node with the fewest pods, and the
//! loopback ports of their metrics listeners.

use super::{STARTUP_MS, SimCluster};

/// Where metrics ports come from.
#[derive(Debug)]
pub(super) enum Ports {
    /// A real listener on 127.0.0.1 per port, handed to the server.
    Bind,
    /// Made-up numbers counting up from this one (`SimConfig::bind_listeners` false).
    Fake(u16),
}

impl SimCluster {
    /// Puts every pending pod on a node, or records why it cannot (at most once a minute).
    pub(super) fn schedule_pending(&mut self) {
        for i in 0..self.pods.len() {
            if self.pods[i].node.is_some() {
                continue;
            }
            match self.pick_node() {
                Some(node) => {
                    let message = format!(
                        "Successfully assigned {}/{} to {node}",
                        self.pods[i].namespace, self.pods[i].name
                    );
                    self.pods[i].node = Some(node);
                    self.pods[i].started_ms = self.now_ms + 2_000;
                    self.pods[i].ready_at_ms = self.now_ms + STARTUP_MS;
                    self.pod_event(i, "Normal", "Scheduled", message, "default-scheduler");
                }
                None => {
                    // The scheduler retries with back-off; one event a minute is plenty.
                    let uid = &self.pods[i].uid;
                    let recent = self.events.iter().any(|e| {
                        e.object_uid == *uid
                            && e.reason == "FailedScheduling"
                            && self.now_ms - e.last_ms < 60_000
                    });
                    if recent {
                        continue;
                    }
                    let n = self.nodes.len();
                    let message = format!(
                        "0/{n} nodes are available: {n} node(s) were unschedulable or had untolerated taints. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
                    );
                    self.pod_event(i, "Warning", "FailedScheduling", message, "default-scheduler");
                }
            }
            self.dirty = true;
        }
    }

    /// The schedulable node with the fewest pods.
    fn pick_node(&self) -> Option<String> {
        self.nodes
            .iter()
            .filter(|n| !n.unschedulable && !n.memory_pressure)
            .min_by_key(|n| {
                self.pods
                    .iter()
                    .filter(|p| p.node.as_deref() == Some(&n.name))
                    .count()
            })
            .map(|n| n.name.clone())
    }

    /// A port for a new pod's metrics listener; `None` (no listener) when binding fails.
    pub(super) fn allocate_port(&mut self) -> Option<u16> {
        match &mut self.ports {
            Ports::Fake(next) => {
                *next += 1;
                Some(*next)
            }
            Ports::Bind => match std::net::TcpListener::bind(("127.0.0.1", 0)) {
                Ok(listener) => {
                    let port = listener.local_addr().ok()?.port();
                    self.pending_listeners.push((port, listener));
                    self.listeners_changed.notify_one();
                    Some(port)
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot bind a metrics listener on 127.0.0.1");
                    None
                }
            },
        }
    }
}
