//! M4: the lifecycle of one entity.
//!
//! ```text
//!            R > 0.20 for 2 min            R > 0.50 (or cluster risk > 80) for 5 min
//!   Healthy ───────────────────▶ Warning ──────────────────────────────▶ Incident
//!      ▲   R < 0.15 for 5 min      │  ▲                                    │
//!      └───────────────────────────┘  │ R > 0.20, at once (recurrence)     │ R < 0.15 for 10 min
//!                                     └──────────── Recovery ◀─────────────┘
//!                                                      │ quiet for 10 min
//!                                                      ▼
//!                                                    Stable
//! ```
//!
//! Each condition has its own timer, started when the condition becomes true and cleared when
//! it becomes false, and every timer is cleared on a transition: a duration is always "held
//! continuously, in this state". (The original shared one timer between conditions and reset
//! it whenever nothing matched, so in recovery, where R ≤ 0.2 matches nothing, the timer to
//! stable was reset on every evaluation and never completed.) The recovery hold is measured
//! from the entry into recovery: every moment in recovery is quiet, because any R > 0.2 leaves
//! it at once. An entry not evaluated for 30 minutes (its pod was deleted) goes to stable.

use serde::{Deserialize, Serialize};

/// The five states of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Healthy,
    Warning,
    Incident,
    Recovery,
    Stable,
}

/// Thresholds (on R_final, 0–1) and durations (ms). Defaults are the seed's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateConfig {
    pub warning_enter: f64,
    pub warning_enter_ms: i64,
    pub warning_clear: f64,
    pub warning_clear_ms: i64,
    pub incident_enter: f64,
    pub incident_enter_ms: i64,
    /// Cluster risk (0–100) above which a warning also escalates.
    pub cluster_escalation: f64,
    pub recovery_enter: f64,
    pub recovery_enter_ms: i64,
    /// R_final above which a recovering entity is warning again, immediately.
    pub recurrence: f64,
    /// Time in recovery without recurrence before stable. The seed's periodic check is 10
    /// minutes; the original code asked for 48 hours and never got there.
    pub recovery_hold_ms: i64,
    /// An entry not evaluated for this long is closed.
    pub stale_after_ms: i64,
}

const MINUTE: i64 = 60_000;

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            warning_enter: 0.20,
            warning_enter_ms: 2 * MINUTE,
            warning_clear: 0.15,
            warning_clear_ms: 5 * MINUTE,
            incident_enter: 0.50,
            incident_enter_ms: 5 * MINUTE,
            cluster_escalation: 80.0,
            recovery_enter: 0.15,
            recovery_enter_ms: 10 * MINUTE,
            recurrence: 0.20,
            recovery_hold_ms: 10 * MINUTE,
            stale_after_ms: 30 * MINUTE,
        }
    }
}

/// Why a transition fired.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum Reason {
    /// R_final stayed above `threshold` for `held_ms`.
    RiskAbove { threshold: f64, held_ms: i64 },
    /// R_final stayed below `threshold` for `held_ms`.
    RiskBelow { threshold: f64, held_ms: i64 },
    /// Cluster risk stayed above `threshold` for `held_ms`.
    ClusterRiskAbove { threshold: f64, held_ms: i64 },
    /// A recovering entity crossed `threshold` again.
    Recurrence { threshold: f64 },
    /// Recovery lasted `held_ms` without recurrence.
    RecoveryHeld { held_ms: i64 },
    /// Not evaluated since `last_evaluated_ms`.
    Expired { last_evaluated_ms: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub at_ms: i64,
    pub reason: Reason,
}

/// Start times of the conditions that currently hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timers {
    pub above_warning: Option<i64>,
    pub below_clear: Option<i64>,
    pub above_incident: Option<i64>,
    pub cluster_hot: Option<i64>,
    pub below_recovery: Option<i64>,
}

/// The state machine of one entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub state: State,
    pub entered_at_ms: i64,
    pub last_evaluated_ms: i64,
    pub timers: Timers,
    /// Times this entity went from recovery back to warning.
    pub recurrence: u32,
}

/// Starts or clears a condition's timer; returns how long the condition has held.
fn hold(since: &mut Option<i64>, condition: bool, now_ms: i64) -> Option<i64> {
    if condition {
        Some(now_ms - *since.get_or_insert(now_ms))
    } else {
        *since = None;
        None
    }
}

impl Machine {
    pub fn new(now_ms: i64) -> Self {
        Self {
            state: State::Healthy,
            entered_at_ms: now_ms,
            last_evaluated_ms: now_ms,
            timers: Timers::default(),
            recurrence: 0,
        }
    }

    /// Whether the machine carries anything worth keeping: healthy with no running timer is
    /// the same as no machine at all.
    pub fn is_idle(&self) -> bool {
        self.state == State::Healthy && self.timers == Timers::default()
    }

    /// One evaluation with this tick's R_final and cluster risk.
    pub fn evaluate(
        &mut self,
        now_ms: i64,
        r_final: f64,
        cluster_risk: f64,
        config: &StateConfig,
    ) -> Option<Transition> {
        self.last_evaluated_ms = now_ms;
        let t = &mut self.timers;
        let (to, reason) = match self.state {
            State::Healthy => {
                let held = hold(&mut t.above_warning, r_final > config.warning_enter, now_ms)?;
                (held >= config.warning_enter_ms).then_some((
                    State::Warning,
                    Reason::RiskAbove {
                        threshold: config.warning_enter,
                        held_ms: held,
                    },
                ))?
            }
            State::Warning => {
                let clear = hold(&mut t.below_clear, r_final < config.warning_clear, now_ms);
                let high = hold(&mut t.above_incident, r_final > config.incident_enter, now_ms);
                let hot = hold(
                    &mut t.cluster_hot,
                    cluster_risk > config.cluster_escalation,
                    now_ms,
                );
                if let Some(held) = high.filter(|&h| h >= config.incident_enter_ms) {
                    let threshold = config.incident_enter;
                    (
                        State::Incident,
                        Reason::RiskAbove {
                            threshold,
                            held_ms: held,
                        },
                    )
                } else if let Some(held) = hot.filter(|&h| h >= config.incident_enter_ms) {
                    let threshold = config.cluster_escalation;
                    (
                        State::Incident,
                        Reason::ClusterRiskAbove {
                            threshold,
                            held_ms: held,
                        },
                    )
                } else if let Some(held) = clear.filter(|&h| h >= config.warning_clear_ms) {
                    let threshold = config.warning_clear;
                    (
                        State::Healthy,
                        Reason::RiskBelow {
                            threshold,
                            held_ms: held,
                        },
                    )
                } else {
                    return None;
                }
            }
            State::Incident => {
                let held = hold(&mut t.below_recovery, r_final < config.recovery_enter, now_ms)?;
                (held >= config.recovery_enter_ms).then_some((
                    State::Recovery,
                    Reason::RiskBelow {
                        threshold: config.recovery_enter,
                        held_ms: held,
                    },
                ))?
            }
            State::Recovery => {
                if r_final > config.recurrence {
                    self.recurrence += 1;
                    let threshold = config.recurrence;
                    (State::Warning, Reason::Recurrence { threshold })
                } else {
                    let held = now_ms - self.entered_at_ms;
                    (held >= config.recovery_hold_ms)
                        .then_some((State::Stable, Reason::RecoveryHeld { held_ms: held }))?
                }
            }
            State::Stable => return None,
        };
        Some(self.enter(to, now_ms, reason))
    }

    /// Closes an entry that has not been evaluated for too long. A healthy entry just goes.
    pub fn expire(&mut self, now_ms: i64, config: &StateConfig) -> Option<Transition> {
        let stale = now_ms - self.last_evaluated_ms > config.stale_after_ms;
        if !stale || matches!(self.state, State::Healthy | State::Stable) {
            return None;
        }
        let last_evaluated_ms = self.last_evaluated_ms;
        Some(self.enter(State::Stable, now_ms, Reason::Expired { last_evaluated_ms }))
    }

    fn enter(&mut self, to: State, now_ms: i64, reason: Reason) -> Transition {
        let from = self.state;
        self.state = to;
        self.entered_at_ms = now_ms;
        self.timers = Timers::default();
        Transition {
            from,
            to,
            at_ms: now_ms,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;
    const TICK: i64 = 10_000;

    /// Feeds `r` every 10 s from `from` for `duration`, returns the transitions.
    fn run(m: &mut Machine, from: i64, duration: i64, r: f64) -> Vec<(i64, State, State)> {
        let config = StateConfig::default();
        let mut out = Vec::new();
        let mut t = from;
        while t <= from + duration {
            if let Some(tr) = m.evaluate(t, r, 0.0, &config) {
                out.push((tr.at_ms - from, tr.from, tr.to));
            }
            t += TICK;
        }
        out
    }

    fn in_state(state: State) -> Machine {
        Machine {
            state,
            ..Machine::new(T0)
        }
    }

    #[test]
    fn healthy_to_warning_after_two_minutes_above_020() {
        let mut m = Machine::new(T0);
        let tr = run(&mut m, T0, 3 * MINUTE, 0.25);
        assert_eq!(tr, [(2 * MINUTE, State::Healthy, State::Warning)]);
    }

    #[test]
    fn a_dip_restarts_the_warning_timer() {
        let mut m = Machine::new(T0);
        assert!(run(&mut m, T0, 90_000, 0.25).is_empty());
        assert!(run(&mut m, T0 + 100_000, 0, 0.1).is_empty());
        assert!(m.is_idle());
        let tr = run(&mut m, T0 + 110_000, 3 * MINUTE, 0.25);
        assert_eq!(tr[0].0, 2 * MINUTE);
    }

    #[test]
    fn warning_clears_after_five_minutes_below_015() {
        let mut m = in_state(State::Warning);
        assert!(run(&mut m, T0, 5 * MINUTE, 0.17).is_empty(), "hysteresis band");
        let tr = run(&mut m, T0 + 6 * MINUTE, 6 * MINUTE, 0.1);
        assert_eq!(tr, [(5 * MINUTE, State::Warning, State::Healthy)]);
    }

    #[test]
    fn warning_escalates_after_five_minutes_above_050() {
        let mut m = in_state(State::Warning);
        let tr = run(&mut m, T0, 6 * MINUTE, 0.55);
        assert_eq!(tr, [(5 * MINUTE, State::Warning, State::Incident)]);
    }

    #[test]
    fn warning_escalates_on_cluster_risk() {
        let config = StateConfig::default();
        let mut m = in_state(State::Warning);
        let mut fired = None;
        for i in 0..=40 {
            let t = T0 + i * TICK;
            if let Some(tr) = m.evaluate(t, 0.3, 85.0, &config) {
                fired = Some(tr);
                break;
            }
        }
        let tr = fired.unwrap();
        assert_eq!((tr.to, tr.at_ms - T0), (State::Incident, 5 * MINUTE));
        assert!(matches!(tr.reason, Reason::ClusterRiskAbove { .. }));
    }

    #[test]
    fn conditions_have_their_own_timers() {
        // Alternating between "above 0.5" and "below 0.15" must start neither escalation nor
        // clearing; with a shared timer the original could fire on the mix.
        let config = StateConfig::default();
        let mut m = in_state(State::Warning);
        for i in 0..100 {
            let r = if i % 2 == 0 { 0.6 } else { 0.1 };
            assert_eq!(m.evaluate(T0 + i * TICK, r, 0.0, &config), None);
        }
    }

    #[test]
    fn incident_recovers_after_ten_minutes_below_015() {
        let mut m = in_state(State::Incident);
        let tr = run(&mut m, T0, 11 * MINUTE, 0.1);
        assert_eq!(tr, [(10 * MINUTE, State::Incident, State::Recovery)]);
    }

    #[test]
    fn recovery_rewarns_at_once_and_counts_recurrence() {
        let mut m = in_state(State::Recovery);
        let tr = run(&mut m, T0, 0, 0.21);
        assert_eq!(tr, [(0, State::Recovery, State::Warning)]);
        assert_eq!(m.recurrence, 1);
    }

    #[test]
    fn recovery_reaches_stable_while_evaluated_every_tick() {
        let mut m = Machine::new(T0);
        run(&mut m, T0, 2 * MINUTE, 0.6);
        run(&mut m, T0 + 2 * MINUTE + TICK, 5 * MINUTE, 0.6);
        assert_eq!(m.state, State::Incident);
        let start = m.entered_at_ms + TICK;
        let tr = run(&mut m, start, 30 * MINUTE, 0.18);
        assert_eq!(tr.len(), 0, "0.18 is neither recovery (< 0.15) nor recurrence");
        let start = start + 30 * MINUTE + TICK;
        let tr = run(&mut m, start, 25 * MINUTE, 0.05);
        assert_eq!(
            tr,
            [
                (10 * MINUTE, State::Incident, State::Recovery),
                (20 * MINUTE, State::Recovery, State::Stable)
            ]
        );
    }

    #[test]
    fn stale_entries_expire_after_thirty_minutes() {
        let config = StateConfig::default();
        let mut m = in_state(State::Incident);
        assert_eq!(m.expire(T0 + 30 * MINUTE, &config), None);
        let tr = m.expire(T0 + 30 * MINUTE + 1, &config).unwrap();
        assert_eq!((tr.from, tr.to), (State::Incident, State::Stable));
        let mut healthy = Machine::new(T0);
        assert_eq!(healthy.expire(T0 + 60 * MINUTE, &config), None);
    }

    #[test]
    fn stable_is_terminal() {
        let mut m = in_state(State::Stable);
        assert!(run(&mut m, T0, 10 * MINUTE, 0.9).is_empty());
    }
}
