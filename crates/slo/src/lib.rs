//! The pure SLO math of DESIGN.md §5.2–5.4: no I/O, no clock.
//!
//! - [`Window`] takes parsed scrapes in time order and keeps, per target and series, the last
//!   value: increases are reset-aware and per series, summed per SLO group afterwards.
//! - [`extract`](crate::extract) decides which group and counter a sample feeds (Linkerd
//!   classic and route families, Traefik).
//! - [`histogram_quantile`] is Prometheus' function, exactly.
//! - [`entry_from_counters`] turns a group's counters into the seed's `ServiceSLO` entry.
//! - [`budget_remaining`], [`burn_rate`] and [`evaluate_burn`] are the error-budget math of
//!   §5.5 with the SRE workbook's multi-window rules.

mod budget;
mod entry;
mod extract;
mod quantile;
mod rules;
mod window;

pub use budget::{
    BurnAlert, BurnRule, Severity, WORKBOOK_RULES, budget_remaining, burn_rate, error_ratio,
    evaluate as evaluate_burn, rule_windows,
};
pub use entry::{bucket_pairs, entry_from_counters, success_rate};
pub use quantile::{histogram_quantile, quantile_or_none};
pub use rules::{LinkerdFamilies, Rules};
pub use window::{Round, RoundStats, Target, Window};
