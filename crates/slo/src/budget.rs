//! Error budgets and burn rates (DESIGN.md §5.5), from counters.
//!
//! For an availability objective of T %, the error budget is (100 − T) % of the responses in
//! the budget period; the burn rate of a window is its error ratio divided by (1 − T/100): at
//! 1× the budget lasts exactly the period, at 14.4× a 30-day budget is gone in 50 hours.
//! Alerts follow the Google SRE workbook's multi-window, multi-burn-rate rules.

use atlhyper_model::SloCounters;
use serde::{Deserialize, Serialize};

/// The error ratio of an interval: failures over responses; `None` without responses.
pub fn error_ratio(counters: &SloCounters) -> Option<f64> {
    let responses = counters.success + counters.failure;
    (responses > 0.0).then(|| counters.failure / responses)
}

/// The burn rate of an interval against an availability objective in percent.
pub fn burn_rate(counters: &SloCounters, objective_percent: f64) -> Option<f64> {
    let budget = allowed_error_ratio(objective_percent)?;
    error_ratio(counters).map(|ratio| ratio / budget)
}

/// The fraction of the period's error budget left (1 = untouched, 0 = spent, negative =
/// overspent). With no responses nothing was spent. `None` for a 100 % objective, which has
/// no budget.
pub fn budget_remaining(period: &SloCounters, objective_percent: f64) -> Option<f64> {
    let budget = allowed_error_ratio(objective_percent)?;
    Some(match error_ratio(period) {
        Some(ratio) => 1.0 - ratio / budget,
        None => 1.0,
    })
}

fn allowed_error_ratio(objective_percent: f64) -> Option<f64> {
    let allowed = 1.0 - objective_percent / 100.0;
    (allowed > 0.0 && allowed.is_finite()).then_some(allowed)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Page,
    Ticket,
}

/// One multi-window rule: fires when both windows burn at `factor` or more.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BurnRule {
    pub severity: Severity,
    pub long_window_s: u64,
    pub short_window_s: u64,
    pub factor: f64,
}

/// The SRE workbook's rules for a 30-day budget: page on 1 h & 5 m at 14.4× (2 % of the budget
/// in an hour) and on 6 h & 30 m at 6× (5 % in six hours); ticket on 1 d & 2 h at 3× and on
/// 3 d & 6 h at 1×.
pub const WORKBOOK_RULES: [BurnRule; 4] = [
    BurnRule {
        severity: Severity::Page,
        long_window_s: 3600,
        short_window_s: 300,
        factor: 14.4,
    },
    BurnRule {
        severity: Severity::Page,
        long_window_s: 6 * 3600,
        short_window_s: 1800,
        factor: 6.0,
    },
    BurnRule {
        severity: Severity::Ticket,
        long_window_s: 86_400,
        short_window_s: 7200,
        factor: 3.0,
    },
    BurnRule {
        severity: Severity::Ticket,
        long_window_s: 3 * 86_400,
        short_window_s: 6 * 3600,
        factor: 1.0,
    },
];

/// Every window length the workbook rules read, in seconds, shortest first.
pub fn rule_windows(rules: &[BurnRule]) -> Vec<u64> {
    let mut windows: Vec<u64> = rules
        .iter()
        .flat_map(|r| [r.short_window_s, r.long_window_s])
        .collect();
    windows.sort_unstable();
    windows.dedup();
    windows
}

/// The state of one rule for one SLO entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnAlert {
    pub rule: BurnRule,
    pub long_burn: Option<f64>,
    pub short_burn: Option<f64>,
    pub firing: bool,
    /// Why the rule was not evaluated, when it was not.
    pub skipped: Option<String>,
}

/// Evaluates `rules`. `window(seconds)` returns the counters of the window of that length
/// ending now, and the seconds of it that data covers. A rule is skipped, never fired, when its
/// long window has fewer than `min_responses` responses or data for less than 90 % of it.
pub fn evaluate(
    rules: &[BurnRule],
    objective_percent: f64,
    min_responses: f64,
    mut window: impl FnMut(u64) -> (SloCounters, u64),
) -> Vec<BurnAlert> {
    rules
        .iter()
        .map(|rule| {
            let (long, long_covered) = window(rule.long_window_s);
            let (short, _) = window(rule.short_window_s);
            let long_burn = burn_rate(&long, objective_percent);
            let short_burn = burn_rate(&short, objective_percent);
            let responses = long.success + long.failure;
            let skipped = if responses < min_responses {
                Some(format!(
                    "{responses} responses in the long window, fewer than {min_responses}"
                ))
            } else if (long_covered as f64) < 0.9 * rule.long_window_s as f64 {
                Some(format!(
                    "data covers {long_covered}s of the {}s long window",
                    rule.long_window_s
                ))
            } else {
                None
            };
            let firing = skipped.is_none()
                && long_burn.is_some_and(|b| b >= rule.factor)
                && short_burn.is_some_and(|b| b >= rule.factor);
            BurnAlert {
                rule: *rule,
                long_burn,
                short_burn,
                firing,
                skipped,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(success: f64, failure: f64) -> SloCounters {
        SloCounters {
            total: success + failure,
            success,
            failure,
            ..Default::default()
        }
    }

    #[test]
    fn burn_rate_is_error_ratio_over_allowed_ratio_without_percent_units() {
        // 1 % errors against 99.9 %: ten times the allowed 0.1 %.
        let b = burn_rate(&counters(990.0, 10.0), 99.9).unwrap();
        assert!((b - 10.0).abs() < 1e-9, "{b}");
        assert_eq!(burn_rate(&counters(0.0, 0.0), 99.9), None);
        assert_eq!(burn_rate(&counters(10.0, 1.0), 100.0), None);
    }

    #[test]
    fn budget_remaining_goes_negative_when_overspent() {
        let half = budget_remaining(&counters(9995.0, 5.0), 99.9).unwrap();
        assert!((half - 0.5).abs() < 1e-9, "{half}");
        let over = budget_remaining(&counters(980.0, 20.0), 99.0).unwrap();
        assert!((over + 1.0).abs() < 1e-9, "{over}");
        assert_eq!(budget_remaining(&counters(0.0, 0.0), 99.0), Some(1.0));
    }

    #[test]
    fn pages_only_when_both_windows_burn() {
        let fast = [WORKBOOK_RULES[0]];
        // 2 % errors against 99.9 % = 20×, in both windows.
        let alerts = evaluate(&fast, 99.9, 10.0, |_| (counters(980.0, 20.0), 3600));
        assert!(alerts[0].firing);
        // The short window has recovered: no page.
        let alerts = evaluate(&fast, 99.9, 10.0, |w| {
            if w == 300 {
                (counters(1000.0, 0.0), 300)
            } else {
                (counters(980.0, 20.0), 3600)
            }
        });
        assert!(!alerts[0].firing);
    }

    #[test]
    fn too_little_traffic_or_data_is_skipped_not_paged() {
        let fast = [WORKBOOK_RULES[0]];
        let alerts = evaluate(&fast, 99.9, 10.0, |_| (counters(3.0, 2.0), 3600));
        assert!(!alerts[0].firing && alerts[0].skipped.is_some());
        let alerts = evaluate(&fast, 99.9, 10.0, |_| (counters(980.0, 20.0), 600));
        assert!(!alerts[0].firing && alerts[0].skipped.as_deref().unwrap().contains("600s"));
    }

    #[test]
    fn workbook_windows() {
        assert_eq!(
            rule_windows(&WORKBOOK_RULES),
            [300, 1800, 3600, 7200, 21_600, 86_400, 259_200]
        );
    }
}
