//! Fault scenarios: scheduling and validating them, switching each fault on and off at its
//! start and end, and what faults do to pods over time (crash loops, OOM kills).

use super::{STARTUP_MS, SimCluster};
use crate::error::SimError;
use crate::model;
use crate::scenario::{Fault, Scenario, ScenarioState, ScheduledScenario};

impl SimCluster {
    /// Schedules a scenario, starting `start_in_secs` from now; returns its id.
    pub fn schedule(&mut self, scenario: Scenario) -> Result<u64, SimError> {
        self.check_fault(&scenario.fault)?;
        let id = self.next_scenario;
        self.next_scenario += 1;
        let start_ms = self.now_ms + scenario.start_in_secs as i64 * 1000;
        self.scenarios.push(ScheduledScenario {
            id,
            name: scenario.fault.name().to_owned(),
            entity: scenario.fault.entity(),
            fault: scenario.fault,
            start_ms,
            end_ms: start_ms + scenario.duration_secs as i64 * 1000,
            state: ScenarioState::Pending,
        });
        // A scenario starting now takes effect before the next traffic is drawn.
        self.scenario_transitions();
        if self.dirty {
            self.sync_store();
        }
        Ok(id)
    }

    fn check_fault(&self, fault: &Fault) -> Result<(), SimError> {
        let ratio_ok = |r: f64| (0.0..=1.0).contains(&r);
        match fault {
            Fault::ErrorSpike {
                namespace,
                service,
                error_ratio,
            } => {
                self.service_index(namespace, service)?;
                if !ratio_ok(*error_ratio) {
                    return Err(SimError::Invalid(format!(
                        "error_ratio {error_ratio} is not within 0 to 1"
                    )));
                }
            }
            Fault::LatencyRegression {
                namespace,
                service,
                factor,
            } => {
                self.service_index(namespace, service)?;
                if !(*factor > 0.0 && factor.is_finite()) {
                    return Err(SimError::Invalid(format!("factor {factor} must be positive")));
                }
            }
            Fault::CrashLoop {
                namespace,
                deployment,
            }
            | Fault::OomKill {
                namespace,
                deployment,
            } => {
                self.deployment_index(namespace, deployment)?;
            }
            Fault::BadRollout {
                namespace,
                deployment,
                error_ratio,
            } => {
                self.deployment_index(namespace, deployment)?;
                if !ratio_ok(*error_ratio) {
                    return Err(SimError::Invalid(format!(
                        "error_ratio {error_ratio} is not within 0 to 1"
                    )));
                }
            }
            Fault::NodeMemoryPressure { node } => {
                if !self.nodes.iter().any(|n| &n.name == node) {
                    return Err(SimError::NotFound {
                        kind: "nodes",
                        namespace: String::new(),
                        name: node.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Starts the scenarios whose time has come and ends those whose time is up.
    pub(super) fn scenario_transitions(&mut self) {
        for i in 0..self.scenarios.len() {
            let (state, start, end) = (
                self.scenarios[i].state,
                self.scenarios[i].start_ms,
                self.scenarios[i].end_ms,
            );
            if state == ScenarioState::Pending && self.now_ms >= start {
                self.scenarios[i].state = ScenarioState::Active;
                let fault = self.scenarios[i].fault.clone();
                self.activate(&fault);
            }
            if self.scenarios[i].state == ScenarioState::Active && self.now_ms >= end {
                self.scenarios[i].state = ScenarioState::Done;
                let fault = self.scenarios[i].fault.clone();
                self.deactivate(&fault);
            }
        }
    }

    pub(crate) fn active_faults(&self) -> impl Iterator<Item = &Fault> {
        self.scenarios.iter().filter(|s| s.is_active()).map(|s| &s.fault)
    }

    /// Whether a crash-loop fault holds the workload (its new pods crash at once too).
    pub(super) fn crash_looping(&self, workload: usize) -> bool {
        let w = &self.workloads[workload];
        self.active_faults().any(
            |f| matches!(f, Fault::CrashLoop { namespace, deployment } if *namespace == w.namespace && *deployment == w.name),
        )
    }

    fn activate(&mut self, fault: &Fault) {
        self.dirty = true;
        match fault {
            Fault::CrashLoop {
                namespace,
                deployment,
            } => {
                let Ok(w) = self.workload_index(namespace, deployment) else {
                    return;
                };
                for i in 0..self.pods.len() {
                    if self.pods[i].workload == w {
                        self.crash(i);
                    }
                }
            }
            Fault::NodeMemoryPressure { node } => {
                if let Some(n) = self.nodes.iter_mut().find(|n| &n.name == node) {
                    n.memory_pressure = true;
                    let (name, uid) = (n.name.clone(), n.uid.clone());
                    self.node_event(
                        &name,
                        &uid,
                        "Normal",
                        "NodeHasInsufficientMemory",
                        format!("Node {name} status is now: NodeHasInsufficientMemory"),
                    );
                }
            }
            Fault::BadRollout {
                namespace,
                deployment,
                ..
            } => {
                let Ok(w) = self.workload_index(namespace, deployment) else {
                    return;
                };
                let image = bumped_image(&self.workloads[w].image);
                self.set_template(w, image, self.workloads[w].restarted_at.clone(), true);
            }
            Fault::ErrorSpike { .. } | Fault::LatencyRegression { .. } | Fault::OomKill { .. } => {}
        }
    }

    fn deactivate(&mut self, fault: &Fault) {
        self.dirty = true;
        match fault {
            Fault::CrashLoop {
                namespace,
                deployment,
            } => {
                let Ok(w) = self.workload_index(namespace, deployment) else {
                    return;
                };
                let now = self.now_ms;
                for p in self
                    .pods
                    .iter_mut()
                    .filter(|p| p.workload == w && p.crashing.is_some())
                {
                    p.crashing = None;
                    p.started_ms = now;
                    p.ready_at_ms = now + STARTUP_MS;
                }
            }
            Fault::NodeMemoryPressure { node } => {
                if let Some(n) = self.nodes.iter_mut().find(|n| &n.name == node) {
                    n.memory_pressure = false;
                    let (name, uid) = (n.name.clone(), n.uid.clone());
                    self.node_event(
                        &name,
                        &uid,
                        "Normal",
                        "NodeHasSufficientMemory",
                        format!("Node {name} status is now: NodeHasSufficientMemory"),
                    );
                }
            }
            Fault::BadRollout {
                namespace,
                deployment,
                ..
            } => {
                // Roll back: the newest good revision's template comes back.
                let Ok(w) = self.workload_index(namespace, deployment) else {
                    return;
                };
                let good = self.workloads[w]
                    .revisions
                    .iter()
                    .filter(|r| !r.bad)
                    .max_by_key(|r| r.revision)
                    .cloned();
                if let Some(good) = good {
                    self.set_template(w, good.image, good.restarted_at, false);
                }
            }
            Fault::ErrorSpike { .. } | Fault::LatencyRegression { .. } | Fault::OomKill { .. } => {}
        }
    }

    /// Makes pod `i`'s container exit and enter CrashLoopBackOff.
    pub(super) fn crash(&mut self, i: usize) {
        let now = self.now_ms;
        let p = &mut self.pods[i];
        p.restarts += 1;
        p.last_terminated = Some(model::Terminated {
            reason: "Error",
            exit_code: 1,
            started_ms: p.started_ms,
            finished_ms: now,
        });
        let backoff = (10_000i64 << p.restarts.min(5)).min(300_000);
        p.crashing = Some(model::Crashing {
            next_restart_ms: now + backoff,
        });
        let message = format!(
            "Back-off restarting failed container app in pod {}_{}({})",
            p.name, p.namespace, p.uid
        );
        self.pod_event(i, "Warning", "BackOff", message, "kubelet");
        self.dirty = true;
    }

    /// Pods during the step that started at `before`: crash-looping containers restart and exit
    /// again, pods that became ready change their objects, and under an OOM-kill fault each
    /// ready pod is killed about once every three minutes.
    pub(super) fn lifecycle(&mut self, before: i64) {
        let now = self.now_ms;
        let oom: Vec<usize> = self
            .active_faults()
            .filter_map(|f| match f {
                Fault::OomKill {
                    namespace,
                    deployment,
                } => self.workload_index(namespace, deployment).ok(),
                _ => None,
            })
            .collect();
        for i in 0..self.pods.len() {
            let w = self.pods[i].workload;
            if let Some(c) = &self.pods[i].crashing {
                if now >= c.next_restart_ms {
                    // The kubelet restarts it; it exits again a moment later.
                    self.pods[i].started_ms = now;
                    self.crash(i);
                }
                continue;
            }
            if self.pods[i].ready_at_ms > before && self.pods[i].ready_at_ms <= now {
                self.dirty = true;
            }
            if oom.contains(&w) && self.pods[i].is_ready(now) {
                let dt = (now - before) as f64;
                if self.rng.f64() < dt / 180_000.0 {
                    self.oom_kill(i);
                }
            }
        }
    }

    /// Pod `i`'s container is OOM-killed (exit code 137) and restarts at once.
    fn oom_kill(&mut self, i: usize) {
        let now = self.now_ms;
        let p = &mut self.pods[i];
        p.restarts += 1;
        p.last_terminated = Some(model::Terminated {
            reason: "OOMKilled",
            exit_code: 137,
            started_ms: p.started_ms,
            finished_ms: now,
        });
        p.started_ms = now + 1_000;
        p.ready_at_ms = now + 1_000 + STARTUP_MS;
        let node = p.node.clone().unwrap_or_default();
        let pid = 1000 + self.rng.below(30_000);
        if let Some((name, uid)) = self
            .nodes
            .iter()
            .find(|n| n.name == node)
            .map(|n| (n.name.clone(), n.uid.clone()))
        {
            let message = format!(
                "Memory cgroup out of memory: Killed process {pid} (app) total-vm:1843212kB, anon-rss:524288kB, file-rss:0kB, shmem-rss:0kB"
            );
            self.node_event(&name, &uid, "Warning", "OOMKilling", message);
        }
        self.pod_event(
            i,
            "Normal",
            "Pulled",
            "Container image already present on machine".to_owned(),
            "kubelet",
        );
        self.pod_event(
            i,
            "Normal",
            "Started",
            "Started container app".to_owned(),
            "kubelet",
        );
        self.dirty = true;
    }
}

/// The image a bad rollout ships: the same repository with the next minor version.
fn bumped_image(image: &str) -> String {
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let mut parts: Vec<u64> = tag.split('.').filter_map(|p| p.parse().ok()).collect();
    if parts.len() >= 2 {
        parts[1] += 1;
        if parts.len() > 2 {
            parts[2] = 0;
        }
        let tag: Vec<String> = parts.iter().map(u64::to_string).collect();
        format!("{repo}:{}", tag.join("."))
    } else {
        format!("{repo}:{tag}-next")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_rollout_ships_the_next_minor_version() {
        assert_eq!(bumped_image("a/b:1.4.3"), "a/b:1.5.0");
    }
}
