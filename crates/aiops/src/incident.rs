//! M5: incidents, in memory and serializable; the master persists them.
//!
//! An incident groups every entity whose trouble has one root cause (see
//! [`crate::engine`] for the rule). Its state follows its active members:
//!
//! - any member in `incident` → `incident`;
//! - else any member in `warning` → `warning`, except that an escalated incident stays
//!   `incident` and a recovering one counts a recurrence;
//! - else any member in `recovery` → `recovery`;
//! - else (every member healthy, stable or expired) → `stable`: resolved.
//!
//! Severity follows the peak R_final ever seen (≥ 0.9 critical, ≥ 0.7 high, ≥ 0.5 medium,
//! else low) and so survives resolution; the original recomputed it from the current, low,
//! risk and blanked it when resolving.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::entity::EntityKind;
use crate::metric::Metric;
use crate::state::{Reason, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn of(peak_risk: f64) -> Self {
        if peak_risk >= 0.9 {
            Self::Critical
        } else if peak_risk >= 0.7 {
            Self::High
        } else if peak_risk >= 0.5 {
            Self::Medium
        } else {
            Self::Low
        }
    }
}

/// What an entity is to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The most upstream cause: the deepest dependency with high local risk of its own.
    RootCause,
    /// Depends on the root cause and shows anomalies of its own.
    Affected,
    /// Its risk is inherited: no local anomaly worth the name (e.g. the ingress in front of a
    /// failing service).
    Symptom,
}

/// One member of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEntity {
    pub key: String,
    pub kind: EntityKind,
    pub role: Role,
    /// Latest R_local and R_final while the member was active.
    pub r_local: f64,
    pub r_final: f64,
    pub peak_r_final: f64,
    /// The member's own state-machine state (`healthy` before it warned or after it left).
    pub state: State,
    pub joined_at_ms: i64,
    /// False once the member went back to healthy, stable or expired.
    pub active: bool,
}

/// The events of a timeline. The engine writes every one of them but [`Event::Relearned`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Event {
    /// An entity joined the incident, with its anomalous metrics at that moment.
    AnomalyDetected { role: Role, metrics: Vec<Metric> },
    /// The root cause was set (at opening) or moved deeper (`previous` was the root before).
    RootCauseIdentified { previous: Option<String> },
    /// A member's own state machine moved.
    EntityStateChange { from: State, to: State, reason: Reason },
    /// The incident's state moved.
    StateChange { from: State, to: State },
    /// The peak risk crossed into a higher severity.
    SeverityRaised { from: Severity, to: Severity },
    /// Recovery went back to warning.
    Recurrence { count: u32 },
    /// Another incident turned out to have the same root cause and was folded into this one.
    Merged { incident: String },
    /// Every member is quiet: the incident is closed.
    Resolved,
    /// Closed by the master, not by the engine: the engine's learning state was saved by
    /// another version and could not be restored, so the engine relearns from scratch and
    /// can no longer follow this incident.
    Relearned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at_ms: i64,
    /// The entity the event is about.
    pub entity: String,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `inc-<cluster>-<started ms>-<sequence>`: unique across clusters, whose engines count
    /// their sequences apart.
    pub id: String,
    pub cluster: String,
    pub state: State,
    pub severity: Severity,
    pub root_cause: String,
    pub peak_risk: f64,
    pub started_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    pub recurrence: u32,
    pub entities: Vec<IncidentEntity>,
    pub timeline: Vec<TimelineEntry>,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.resolved_at_ms.is_none()
    }

    /// Time to resolution, or so far.
    pub fn duration_ms(&self, now_ms: i64) -> i64 {
        self.resolved_at_ms.unwrap_or(now_ms) - self.started_at_ms
    }

    pub fn member(&self, key: &str) -> Option<&IncidentEntity> {
        self.entities.iter().find(|e| e.key == key)
    }

    pub fn member_mut(&mut self, key: &str) -> Option<&mut IncidentEntity> {
        self.entities.iter_mut().find(|e| e.key == key)
    }

    pub fn record(&mut self, at_ms: i64, entity: &str, event: Event) {
        self.timeline.push(TimelineEntry {
            at_ms,
            entity: entity.to_owned(),
            event,
        });
    }

    /// Raises the peak risk and, with it, the severity.
    pub fn observe_risk(&mut self, at_ms: i64, entity: &str, r_final: f64) {
        if r_final <= self.peak_risk {
            return;
        }
        self.peak_risk = r_final;
        let severity = Severity::of(r_final);
        if severity > self.severity {
            let from = std::mem::replace(&mut self.severity, severity);
            self.record(at_ms, entity, Event::SeverityRaised { from, to: severity });
        }
    }

    /// The state its active members imply, per the module rules.
    fn implied_state(&self) -> State {
        let active = || self.entities.iter().filter(|e| e.active);
        if active().any(|e| e.state == State::Incident) {
            State::Incident
        } else if active().any(|e| e.state == State::Warning) {
            match self.state {
                State::Incident => State::Incident,
                _ => State::Warning,
            }
        } else if active().any(|e| e.state == State::Recovery) {
            State::Recovery
        } else {
            State::Stable
        }
    }

    /// Moves the incident to the state its members imply, writing the timeline. Returns true
    /// if it was resolved by this call.
    pub fn settle(&mut self, at_ms: i64) -> bool {
        let to = self.implied_state();
        let from = self.state;
        if to == from || !self.is_open() {
            return false;
        }
        self.state = to;
        let root = self.root_cause.clone();
        self.record(at_ms, &root, Event::StateChange { from, to });
        if from == State::Recovery && to == State::Warning {
            self.recurrence += 1;
            let count = self.recurrence;
            self.record(at_ms, &root, Event::Recurrence { count });
        }
        if to == State::Stable {
            self.resolved_at_ms = Some(at_ms);
            self.record(at_ms, &root, Event::Resolved);
            return true;
        }
        false
    }
}

/// All incidents, open and resolved, keyed by sequence number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentStore {
    incidents: BTreeMap<u64, Incident>,
    open: BTreeSet<u64>,
    next_seq: u64,
}

impl IncidentStore {
    /// Opens an incident in state warning with its root cause as first member.
    pub fn open(&mut self, cluster: &str, root: IncidentEntity, metrics: Vec<Metric>, at_ms: i64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = root.key.clone();
        let mut incident = Incident {
            id: format!("inc-{cluster}-{at_ms}-{seq:04}"),
            cluster: cluster.to_owned(),
            state: State::Warning,
            severity: Severity::of(root.peak_r_final),
            root_cause: key.clone(),
            peak_risk: root.peak_r_final,
            started_at_ms: at_ms,
            resolved_at_ms: None,
            recurrence: 0,
            entities: vec![root],
            timeline: Vec::new(),
        };
        incident.record(
            at_ms,
            &key,
            Event::AnomalyDetected {
                role: Role::RootCause,
                metrics,
            },
        );
        incident.record(at_ms, &key, Event::RootCauseIdentified { previous: None });
        self.incidents.insert(seq, incident);
        self.open.insert(seq);
        seq
    }

    pub fn get(&self, seq: u64) -> Option<&Incident> {
        self.incidents.get(&seq)
    }

    pub fn get_mut(&mut self, seq: u64) -> Option<&mut Incident> {
        self.incidents.get_mut(&seq)
    }

    pub fn by_id(&self, id: &str) -> Option<&Incident> {
        self.incidents.values().find(|i| i.id == id)
    }

    /// Sequence numbers of the open incidents, oldest first.
    pub fn open_seqs(&self) -> Vec<u64> {
        self.open.iter().copied().collect()
    }

    /// The open incident of `cluster` that has `key` as a member, oldest first.
    pub fn open_with_member(&self, cluster: &str, key: &str) -> Option<u64> {
        self.open.iter().copied().find(|seq| {
            let i = &self.incidents[seq];
            i.cluster == cluster && i.member(key).is_some()
        })
    }

    /// Marks an incident resolved in the index (its state was already settled).
    pub fn close(&mut self, seq: u64) {
        self.open.remove(&seq);
    }

    /// Removes an incident folded into another.
    pub fn remove(&mut self, seq: u64) -> Option<Incident> {
        self.open.remove(&seq);
        self.incidents.remove(&seq)
    }

    /// Every incident, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.values()
    }

    pub fn len(&self) -> usize {
        self.incidents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.incidents.is_empty()
    }

    /// Drops resolved incidents resolved before `cutoff_ms` (retention is the master's
    /// decision; the original kept everything forever). Returns how many went.
    pub fn prune_resolved_before(&mut self, cutoff_ms: i64) -> usize {
        let before = self.incidents.len();
        self.incidents
            .retain(|_, i| i.resolved_at_ms.is_none_or(|at| at >= cutoff_ms));
        before - self.incidents.len()
    }

    /// Statistics over the incidents that started in [from_ms, to_ms).
    pub fn statistics(&self, from_ms: i64, to_ms: i64) -> Statistics {
        statistics(self.iter(), from_ms, to_ms)
    }

    /// Keeps only the incidents of `cluster` (for splitting an engine by cluster).
    pub fn retain_cluster(&mut self, cluster: &str) {
        self.incidents.retain(|_, i| i.cluster == cluster);
        let kept = &self.incidents;
        self.open.retain(|seq| kept.contains_key(seq));
    }
}

/// Statistics over the incidents among `incidents` that started in [from_ms, to_ms): MTTR,
/// recurrence rate, counts by severity and state, the most frequent root causes.
pub fn statistics<'a>(
    incidents: impl IntoIterator<Item = &'a Incident>,
    from_ms: i64,
    to_ms: i64,
) -> Statistics {
    let in_period: Vec<&Incident> = incidents
        .into_iter()
        .filter(|i| (from_ms..to_ms).contains(&i.started_at_ms))
        .collect();
    let durations: Vec<i64> = in_period
        .iter()
        .filter_map(|i| i.resolved_at_ms.map(|at| at - i.started_at_ms))
        .collect();
    let mut by_severity = BTreeMap::new();
    let mut by_state = BTreeMap::new();
    let mut roots: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for i in &in_period {
        *by_severity.entry(i.severity).or_default() += 1;
        *by_state.entry(i.state).or_default() += 1;
        *roots
            .entry((i.cluster.as_str(), i.root_cause.as_str()))
            .or_default() += 1;
    }
    let mut top_root_causes: Vec<RootCauseCount> = roots
        .into_iter()
        .map(|((cluster, entity), count)| RootCauseCount {
            cluster: cluster.to_owned(),
            entity: entity.to_owned(),
            count,
        })
        .collect();
    top_root_causes.sort_by_key(|r| std::cmp::Reverse(r.count));
    top_root_causes.truncate(TOP_ROOT_CAUSES);
    let total = in_period.len();
    let recurring = in_period.iter().filter(|i| i.recurrence > 0).count();
    Statistics {
        from_ms,
        to_ms,
        total,
        active: in_period.iter().filter(|i| i.is_open()).count(),
        resolved: durations.len(),
        mttr_ms: (!durations.is_empty())
            .then(|| durations.iter().sum::<i64>() as f64 / durations.len() as f64),
        recurrence_rate: (total > 0).then(|| recurring as f64 / total as f64),
        by_severity,
        by_state,
        top_root_causes,
    }
}

/// How many root causes [`Statistics::top_root_causes`] lists.
pub const TOP_ROOT_CAUSES: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCauseCount {
    pub cluster: String,
    pub entity: String,
    pub count: usize,
}

/// Incident statistics of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Incidents that started in the period.
    pub total: usize,
    /// Of those, still open.
    pub active: usize,
    pub resolved: usize,
    /// Mean time to resolution (start → stable) of the resolved ones, in milliseconds.
    pub mttr_ms: Option<f64>,
    /// Fraction (0–1, not a percentage) of incidents with at least one recurrence.
    pub recurrence_rate: Option<f64>,
    pub by_severity: BTreeMap<Severity, usize>,
    pub by_state: BTreeMap<State, usize>,
    /// Most frequent root causes, most first (ties by cluster and key).
    pub top_root_causes: Vec<RootCauseCount>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn member(key: &str, role: Role, r: f64, state: State) -> IncidentEntity {
        IncidentEntity {
            key: key.to_owned(),
            kind: EntityKind::Pod,
            role,
            r_local: r,
            r_final: r,
            peak_r_final: r,
            state,
            joined_at_ms: T0,
            active: true,
        }
    }

    #[test]
    fn severity_thresholds() {
        let s: Vec<Severity> = [0.2, 0.5, 0.7, 0.9].into_iter().map(Severity::of).collect();
        use Severity::*;
        assert_eq!(s, [Low, Medium, High, Critical]);
    }

    #[test]
    fn state_follows_members_and_severity_survives_resolution() {
        let mut store = IncidentStore::default();
        let seq = store.open(
            "c1",
            member("a/pod/p", Role::RootCause, 0.3, State::Warning),
            vec![],
            T0,
        );
        let i = store.get_mut(seq).unwrap();
        assert_eq!(i.id, format!("inc-c1-{T0}-0000"));
        i.observe_risk(T0 + 1, "a/pod/p", 0.75);
        assert_eq!(i.severity, Severity::High);
        i.entities[0].state = State::Incident;
        assert!(!i.settle(T0 + 2));
        i.entities
            .push(member("a/pod/q", Role::Affected, 0.3, State::Warning));
        i.entities[0].state = State::Recovery;
        assert!(!i.settle(T0 + 3));
        assert_eq!(
            i.state,
            State::Incident,
            "an escalated incident does not fall back to warning"
        );
        i.entities[1].active = false;
        i.settle(T0 + 4);
        assert_eq!(i.state, State::Recovery);
        i.entities[0].state = State::Warning;
        i.settle(T0 + 5);
        assert_eq!((i.state, i.recurrence), (State::Warning, 1));
        i.entities[0].active = false;
        assert!(i.settle(T0 + 6));
        assert_eq!(i.state, State::Stable);
        assert_eq!(i.severity, Severity::High);
        assert_eq!(i.resolved_at_ms, Some(T0 + 6));
        let events: Vec<&str> = i
            .timeline
            .iter()
            .map(|e| match e.event {
                Event::AnomalyDetected { .. } => "anomaly",
                Event::RootCauseIdentified { .. } => "root",
                Event::SeverityRaised { .. } => "severity",
                Event::StateChange { .. } => "state",
                Event::Recurrence { .. } => "recurrence",
                Event::Resolved => "resolved",
                _ => "other",
            })
            .collect();
        assert_eq!(
            events,
            [
                "anomaly",
                "root",
                "severity",
                "state",
                "state",
                "state",
                "recurrence",
                "state",
                "resolved"
            ]
        );
    }

    #[test]
    fn statistics_over_a_half_open_period() {
        let mut store = IncidentStore::default();
        let hour = 3_600_000;
        for (n, (start, length, recur, root)) in [
            (0, Some(10 * 60_000), 0, "a/pod/p"),
            (hour, Some(30 * 60_000), 2, "a/pod/p"),
            (2 * hour, None, 0, "_cluster/node/n"),
            (3 * hour, Some(1), 0, "a/pod/late"),
        ]
        .into_iter()
        .enumerate()
        {
            let peak = 0.45 + 0.2 * n as f64;
            let seq = store.open(
                "c1",
                member(root, Role::RootCause, peak, State::Warning),
                vec![],
                T0 + start,
            );
            let i = store.get_mut(seq).unwrap();
            i.recurrence = recur;
            if let Some(length) = length {
                i.entities[0].active = false;
                i.settle(T0 + start + length);
                store.close(seq);
            }
        }
        let s = store.statistics(T0, T0 + 3 * hour);
        assert_eq!((s.total, s.active, s.resolved), (3, 1, 2));
        assert_eq!(s.mttr_ms, Some(20.0 * 60_000.0));
        assert!((s.recurrence_rate.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.by_severity[&Severity::Low], 1);
        assert_eq!(s.by_severity[&Severity::Medium], 1);
        assert_eq!(s.by_severity[&Severity::High], 1);
        assert_eq!(s.by_state[&State::Stable], 2);
        assert_eq!(s.top_root_causes[0].entity, "a/pod/p");
        assert_eq!(s.top_root_causes[0].count, 2);
        let empty = store.statistics(0, 1);
        assert_eq!(
            (empty.total, empty.mttr_ms, empty.recurrence_rate),
            (0, None, None)
        );
        assert_eq!(store.prune_resolved_before(T0 + hour), 1);
        assert_eq!(store.len(), 3);
    }
}
