//! M5 within one tick: entities that start warning join the open incident of their root cause
//! (or open one), incidents follow their members' states, roots move deeper, and two open
//! incidents that end up with one root cause are merged into the older.

use crate::cluster::ClusterState;
use crate::engine::EngineConfig;
use crate::incident::{Event, Incident, IncidentEntity, IncidentStore, Role};
use crate::report::{Merge, StateChange, TickOutput};
use crate::state::{State, Transition};

/// M5 for one cluster within one tick.
pub(crate) struct Lifecycle<'a> {
    name: &'a str,
    cluster: &'a ClusterState,
    incidents: &'a mut IncidentStore,
    config: &'a EngineConfig,
    now_ms: i64,
    out: &'a mut TickOutput,
}

fn is_active(state: State) -> bool {
    matches!(state, State::Warning | State::Incident | State::Recovery)
}

impl<'a> Lifecycle<'a> {
    pub(crate) fn new(
        name: &'a str,
        cluster: &'a ClusterState,
        incidents: &'a mut IncidentStore,
        config: &'a EngineConfig,
        now_ms: i64,
        out: &'a mut TickOutput,
    ) -> Self {
        Self {
            name,
            cluster,
            incidents,
            config,
            now_ms,
            out,
        }
    }

    pub(crate) fn apply(&mut self, transitions: Vec<(String, Transition)>) {
        for (key, transition) in transitions {
            let member_of = self.incidents.open_with_member(self.name, &key);
            match (member_of, transition.from, transition.to) {
                (Some(seq), ..) => self.update_member(seq, &key, &transition),
                (None, State::Healthy | State::Recovery, State::Warning) => self.join(&key),
                // Not part of an incident (restored state, or merged away): nothing to record.
                (None, ..) => {}
            }
            self.out.state_changes.push(StateChange {
                cluster: self.name.to_owned(),
                entity: key,
                transition,
            });
        }
    }

    fn update_member(&mut self, seq: u64, key: &str, transition: &Transition) {
        let Some(incident) = self.incidents.get_mut(seq) else {
            return;
        };
        if let Some(member) = incident.member_mut(key) {
            member.state = transition.to;
            member.active = is_active(transition.to);
        }
        incident.record(
            transition.at_ms,
            key,
            Event::EntityStateChange {
                from: transition.from,
                to: transition.to,
                reason: transition.reason,
            },
        );
    }

    fn member(&self, index: usize, role: Role) -> IncidentEntity {
        let node = self.cluster.graph.node(index);
        let record = &self.cluster.records[index];
        let state = self.cluster.machine_state(&node.key);
        IncidentEntity {
            key: node.key.clone(),
            kind: node.kind,
            role,
            r_local: record.local.r_local,
            r_final: record.r_final,
            peak_r_final: record.r_final,
            state,
            joined_at_ms: self.now_ms,
            active: is_active(state),
        }
    }

    fn role_of(&self, index: usize, root: usize) -> Role {
        if index == root {
            Role::RootCause
        } else if self.cluster.records[index].r_weighted >= self.config.root_cause_min_local {
            Role::Affected
        } else {
            Role::Symptom
        }
    }

    /// An entity started warning and belongs to no open incident.
    fn join(&mut self, key: &str) {
        let cluster = self.cluster;
        let Some(index) = cluster.graph.index_of(key) else {
            return;
        };
        let (root, _) = cluster.root_cause(index, self.config);
        let root_key = &cluster.graph.node(root).key;
        let existing = self
            .incidents
            .open_with_member(self.name, root_key)
            .or_else(|| self.open_rooted_at(root));
        let seq = match existing {
            Some(seq) => seq,
            None => {
                let metrics = cluster.anomalous_metrics(root_key);
                let first = self.member(root, Role::RootCause);
                let seq = self.incidents.open(self.name, first, metrics, self.now_ms);
                let id = self.incidents.get(seq).map(|i| i.id.clone()).unwrap_or_default();
                self.out.incidents_opened.push(id);
                if root == index {
                    return;
                }
                seq
            }
        };
        let role = self.role_of(index, root);
        let member = self.member(index, role);
        let metrics = cluster.anomalous_metrics(key);
        if let Some(incident) = self.incidents.get_mut(seq) {
            incident.entities.push(member);
            incident.record(self.now_ms, key, Event::AnomalyDetected { role, metrics });
        }
    }

    /// The open incident whose root cause now leads to `root`, if any.
    fn open_rooted_at(&self, root: usize) -> Option<u64> {
        self.incidents.open_seqs().into_iter().find(|&seq| {
            let Some(incident) = self.incidents.get(seq) else {
                return false;
            };
            incident.cluster == self.name
                && self
                    .cluster
                    .graph
                    .index_of(&incident.root_cause)
                    .is_some_and(|i| self.cluster.root_cause(i, self.config).0 == root)
        })
    }

    /// Refreshes members' risks, moves root causes deeper, merges, settles states.
    pub(crate) fn maintain(&mut self) {
        let open: Vec<u64> = self
            .incidents
            .open_seqs()
            .into_iter()
            .filter(|&seq| self.incidents.get(seq).is_some_and(|i| i.cluster == self.name))
            .collect();
        for &seq in &open {
            self.reroot(seq);
        }
        for seq in open {
            let Some(incident) = self.incidents.get_mut(seq) else {
                continue;
            };
            refresh_members(incident, self.cluster, self.now_ms);
            if incident.settle(self.now_ms) {
                self.out.incidents_resolved.push(incident.id.clone());
                self.incidents.close(seq);
            }
        }
    }

    fn reroot(&mut self, seq: u64) {
        let cluster = self.cluster;
        let Some(incident) = self.incidents.get(seq) else {
            return;
        };
        let Some(current) = cluster.graph.index_of(&incident.root_cause) else {
            return;
        };
        let (root, _) = cluster.root_cause(current, self.config);
        if root == current {
            return;
        }
        let root_key = cluster.graph.node(root).key.clone();
        let other = self
            .incidents
            .open_seqs()
            .into_iter()
            .filter(|&o| o != seq)
            .find(|&o| {
                self.incidents
                    .get(o)
                    .is_some_and(|i| i.cluster == self.name && i.member(&root_key).is_some())
            });
        let survivor = match other {
            Some(other) => {
                let (survivor, absorbed) = (seq.min(other), seq.max(other));
                let Some(absorbed) = self.incidents.remove(absorbed) else {
                    return;
                };
                let Some(target) = self.incidents.get_mut(survivor) else {
                    return;
                };
                self.out.incidents_merged.push(Merge {
                    from: absorbed.id.clone(),
                    into: target.id.clone(),
                });
                fold(target, absorbed, self.now_ms);
                survivor
            }
            None => seq,
        };
        let Some(previous) = self.incidents.get(survivor).map(|i| i.root_cause.clone()) else {
            return;
        };
        if previous == root_key {
            return;
        }
        let previous_role = cluster
            .graph
            .index_of(&previous)
            .map_or(Role::Affected, |i| self.role_of(i, root));
        let new_root = self.member(root, Role::RootCause);
        let Some(incident) = self.incidents.get_mut(survivor) else {
            return;
        };
        incident.root_cause = root_key.clone();
        if let Some(old) = incident.member_mut(&previous) {
            old.role = previous_role;
        }
        match incident.member_mut(&root_key) {
            Some(member) => member.role = Role::RootCause,
            None => incident.entities.push(new_root),
        }
        incident.record(
            self.now_ms,
            &root_key,
            Event::RootCauseIdentified {
                previous: Some(previous),
            },
        );
    }
}

/// Latest risks of the members; the peak risk (and severity) follow the active ones.
fn refresh_members(incident: &mut Incident, cluster: &ClusterState, now_ms: i64) {
    let mut active = Vec::new();
    for member in &mut incident.entities {
        if let Some(record) = cluster.record(&member.key) {
            member.r_local = record.local.r_local;
            member.r_final = record.r_final;
        }
        if member.active {
            member.peak_r_final = member.peak_r_final.max(member.r_final);
            active.push((member.key.clone(), member.r_final));
        }
    }
    for (key, r_final) in active {
        incident.observe_risk(now_ms, &key, r_final);
    }
}

/// Folds `absorbed` into `target`: members, timeline, peaks.
fn fold(target: &mut Incident, absorbed: Incident, now_ms: i64) {
    for member in absorbed.entities {
        match target.member_mut(&member.key) {
            Some(existing) => {
                if member.active {
                    existing.active = true;
                    existing.state = member.state;
                }
                existing.peak_r_final = existing.peak_r_final.max(member.peak_r_final);
            }
            None => target.entities.push(IncidentEntity {
                role: match member.role {
                    Role::RootCause => Role::Affected,
                    role => role,
                },
                ..member
            }),
        }
    }
    target.timeline.extend(absorbed.timeline);
    target.timeline.sort_by_key(|e| e.at_ms);
    target.recurrence = target.recurrence.max(absorbed.recurrence);
    target.peak_risk = target.peak_risk.max(absorbed.peak_risk);
    target.severity = target.severity.max(absorbed.severity);
    target.started_at_ms = target.started_at_ms.min(absorbed.started_at_ms);
    let root = target.root_cause.clone();
    target.record(
        now_ms,
        &root,
        Event::Merged {
            incident: absorbed.id,
        },
    );
}
