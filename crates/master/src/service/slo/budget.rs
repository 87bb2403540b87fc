//! The arithmetic behind the SLO views, pure but for one store read: which objective applies to
//! an entry, the counters of the budget periods and burn-rate windows, an entry's budget, burn
//! rates and status, chart series and the latency distribution.

use std::collections::{BTreeMap, HashMap};

use atlhyper_model::{ServiceSlo, SloCounters, SloGroupKey, Timestamp};
use atlhyper_slo::{
    Severity, WORKBOOK_RULES, bucket_pairs, budget_remaining, burn_rate, evaluate_burn, quantile_or_none,
    rule_windows, success_rate,
};

use super::{
    DEFAULT_AVAILABILITY, DEFAULT_PERIOD_DAYS, DetailPoint, EntryView, LatencyBucketView,
    MIN_RESPONSES_FOR_ALERTS, Objective, Origin,
};
use crate::service::{ServiceError, ServiceResult};
use crate::store::{CounterPoint, SloTargetRecord, Store};

/// A window length accepted by the API.
pub fn parse_range(text: &str) -> ServiceResult<i64> {
    Ok(match text {
        "5m" => 5 * 60_000,
        "1h" => 3_600_000,
        "24h" | "1d" => 86_400_000,
        "7d" => 7 * 86_400_000,
        "30d" => 30 * 86_400_000,
        _ => {
            return Err(ServiceError::bad_request(format!(
                "invalid range {text:?}: expected 5m, 1h, 24h, 7d or 30d"
            )));
        }
    })
}

/// Seconds between points of a detail chart for a range.
pub(super) fn step_ms(range_ms: i64) -> i64 {
    match range_ms {
        r if r <= 3_600_000 => 60_000,
        r if r <= 86_400_000 => 600_000,
        r if r <= 7 * 86_400_000 => 3_600_000,
        _ => 6 * 3_600_000,
    }
}

fn window_label(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    }
}

/// Objectives of one cluster: per entry, else per type, else the default.
pub(super) struct Objectives(Vec<SloTargetRecord>);

impl Objectives {
    pub(super) async fn load(store: &dyn Store, cluster_id: &str) -> ServiceResult<Self> {
        Ok(Self(store.slo_targets(cluster_id).await?))
    }

    pub(super) fn of(&self, key: &SloGroupKey) -> Objective {
        let exact = self.0.iter().find(|t| {
            t.kind == key.kind
                && t.source.as_deref() == Some(&key.source)
                && t.target.as_deref() == Some(&key.target)
        });
        let default = || {
            self.0
                .iter()
                .find(|t| t.kind == key.kind && t.source.is_none() && t.target.is_none())
        };
        exact.or_else(default).map_or(
            Objective {
                availability: DEFAULT_AVAILABILITY,
                latency_p95_ms: None,
                period_days: DEFAULT_PERIOD_DAYS,
            },
            |t| Objective {
                availability: t.availability,
                latency_p95_ms: t.latency_p95_ms,
                period_days: t.period_days,
            },
        )
    }
}

/// Counters of the budget periods and burn-rate windows, read once per request.
pub(super) struct BudgetContext {
    /// Per period in days: every group's counters over it.
    periods: HashMap<u32, HashMap<SloGroupKey, SloCounters>>,
    /// Per burn window in seconds: every group's counters over it.
    windows: BTreeMap<u64, HashMap<SloGroupKey, SloCounters>>,
    /// Seconds of each window that stored data covers (from the cluster's first counters).
    covered: BTreeMap<u64, u64>,
}

impl BudgetContext {
    pub(super) async fn load<'k>(
        store: &dyn Store,
        cluster_id: &str,
        now: Timestamp,
        objectives: &Objectives,
        keys: impl Iterator<Item = &'k SloGroupKey>,
    ) -> ServiceResult<Self> {
        let mut period_days: Vec<u32> = keys.map(|k| objectives.of(k).period_days).collect();
        period_days.sort_unstable();
        period_days.dedup();
        let mut periods = HashMap::new();
        for days in period_days {
            let from = Timestamp(now.0 - i64::from(days) * 86_400_000);
            periods.insert(
                days,
                store
                    .window_counters(cluster_id, from, now)
                    .await?
                    .into_iter()
                    .collect(),
            );
        }
        let first = store.first_counter_time(cluster_id).await?;
        let mut windows = BTreeMap::new();
        let mut covered = BTreeMap::new();
        for seconds in rule_windows(&WORKBOOK_RULES) {
            let from = Timestamp(now.0 - i64::try_from(seconds).unwrap_or(i64::MAX / 1000) * 1000);
            windows.insert(
                seconds,
                store
                    .window_counters(cluster_id, from, now)
                    .await?
                    .into_iter()
                    .collect(),
            );
            let data_ms = first.map_or(0, |f| (now.0 - f.0).max(0));
            covered.insert(seconds, seconds.min(u64::try_from(data_ms / 1000).unwrap_or(0)));
        }
        Ok(Self {
            periods,
            windows,
            covered,
        })
    }

    pub(super) fn view(&self, entry: ServiceSlo, objectives: &Objectives) -> EntryView {
        let key = entry.key();
        let objective = objectives.of(&key);
        let empty = SloCounters::default();
        let period = self
            .periods
            .get(&objective.period_days)
            .and_then(|p| p.get(&key))
            .unwrap_or(&empty);
        let burn_rates = self
            .windows
            .iter()
            .map(|(seconds, groups)| {
                (
                    window_label(*seconds),
                    groups
                        .get(&key)
                        .and_then(|c| burn_rate(c, objective.availability)),
                )
            })
            .collect();
        let rules = evaluate_burn(
            &WORKBOOK_RULES,
            objective.availability,
            MIN_RESPONSES_FOR_ALERTS,
            |seconds| {
                let counters = self
                    .windows
                    .get(&seconds)
                    .and_then(|g| g.get(&key))
                    .cloned()
                    .unwrap_or_default();
                (counters, self.covered.get(&seconds).copied().unwrap_or(0))
            },
        );
        let firing = |severity| rules.iter().any(|r| r.firing && r.rule.severity == severity);
        let burn_alert = if firing(Severity::Page) {
            "page"
        } else if firing(Severity::Ticket) {
            "ticket"
        } else {
            "none"
        };
        let status = match entry.success_rate {
            None => "unknown",
            Some(rate) if rate < objective.availability || burn_alert == "page" => "critical",
            Some(_) if burn_alert == "ticket" => "warning",
            Some(_)
                if objective
                    .latency_p95_ms
                    .zip(entry.latency_p95)
                    .is_some_and(|(limit, p95)| p95 > limit) =>
            {
                "warning"
            }
            Some(_) => "healthy",
        };
        EntryView {
            error_budget_remaining: budget_remaining(period, objective.availability).map(|f| f * 100.0),
            origin: Origin::of(&key),
            objective,
            entry,
            burn_rates,
            burn_alert: burn_alert.to_owned(),
            burn_rules: rules,
            status: status.to_owned(),
        }
    }
}

/// Merges stored points into chart steps of `step` ms over `[from, to)`, every step present.
pub(super) fn series(
    raw: &[CounterPoint],
    from: Timestamp,
    to: Timestamp,
    step: i64,
    availability: f64,
) -> Vec<DetailPoint> {
    let slots = usize::try_from(((to.0 - from.0) + step - 1) / step).unwrap_or(0);
    let mut merged = vec![SloCounters::default(); slots];
    for point in raw {
        let slot = usize::try_from((point.start_ms - from.0).max(0) / step).unwrap_or(usize::MAX);
        if let Some(counters) = merged.get_mut(slot) {
            counters.merge(&point.counters);
        }
    }
    let mut cumulative = SloCounters::default();
    merged
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cumulative.merge(c);
            let buckets = bucket_pairs(c);
            let start = from.0 + i64::try_from(i).unwrap_or(0) * step;
            DetailPoint {
                timestamp: Timestamp(start).to_string(),
                total_requests: c.total,
                success_requests: c.success,
                failure_requests: c.failure,
                success_rate: success_rate(c),
                request_rate: c.total / (step as f64 / 1000.0),
                latency_p50: quantile_or_none(0.5, &buckets),
                latency_p95: quantile_or_none(0.95, &buckets),
                latency_p99: quantile_or_none(0.99, &buckets),
                error_budget_remaining: budget_remaining(&cumulative, availability).map(|f| f * 100.0),
            }
        })
        .collect()
}

/// The latency histogram as per-bucket counts.
pub(super) fn distribution(counters: &SloCounters) -> Vec<LatencyBucketView> {
    let mut previous = 0.0;
    let mut out: Vec<LatencyBucketView> = counters
        .buckets
        .iter()
        .map(|b| {
            let count = (b.count - previous).max(0.0);
            previous = previous.max(b.count);
            LatencyBucketView {
                le: Some(b.le),
                count,
            }
        })
        .collect();
    out.push(LatencyBucketView {
        le: None,
        count: (counters.observations - previous).max(0.0),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use atlhyper_model::SloType;

    #[test]
    fn series_fills_every_step_and_tracks_the_budget() {
        let key = SloGroupKey {
            kind: SloType::Service,
            source: "web".into(),
            source_namespace: "shop".into(),
            target: "api".into(),
            namespace: "shop".into(),
        };
        let point = |minute: i64, success: f64, failure: f64| CounterPoint {
            start_ms: minute * 60_000,
            key: key.clone(),
            counters: SloCounters {
                total: success + failure,
                success,
                failure,
                ..Default::default()
            },
        };
        let raw = [point(0, 999.0, 1.0), point(1, 1000.0, 0.0), point(3, 990.0, 10.0)];
        let points = series(&raw, Timestamp(0), Timestamp(5 * 60_000), 60_000, 99.9);
        assert_eq!(points.len(), 5);
        assert_eq!(points[2].total_requests, 0.0);
        assert_eq!(points[2].success_rate, None);
        assert!(
            points[0].error_budget_remaining.unwrap().abs() < 1e-9,
            "0.1 % errors spend a 99.9 % budget"
        );
        let after_two = points[1].error_budget_remaining.unwrap();
        assert!((after_two - 50.0).abs() < 1e-9, "{after_two}");
        assert_eq!(points[0].request_rate, 1000.0 / 60.0);
    }

    #[test]
    fn distribution_is_per_bucket() {
        let mut c = SloCounters {
            observations: 10.0,
            ..Default::default()
        };
        c.add_bucket(10.0, 4.0);
        c.add_bucket(20.0, 9.0);
        let d = distribution(&c);
        let counts: Vec<(Option<f64>, f64)> = d.iter().map(|b| (b.le, b.count)).collect();
        assert_eq!(counts, [(Some(10.0), 4.0), (Some(20.0), 5.0), (None, 1.0)]);
    }

    #[test]
    fn an_entry_names_its_origin() {
        let key = |kind, source: &str, target: &str, namespace: &str| SloGroupKey {
            kind,
            source: source.into(),
            source_namespace: String::new(),
            target: target.into(),
            namespace: namespace.into(),
        };
        let ingress = SloType::Ingress;
        assert_eq!(
            Origin::of(&key(ingress, "shop.example.com", "", "")),
            Origin::Linkerd
        );
        assert_eq!(
            Origin::of(&key(ingress, "shop.example.com", "web", "shop")),
            Origin::Traefik
        );
        assert_eq!(Origin::of(&key(ingress, "other@file", "", "")), Origin::Traefik);
        assert_eq!(
            Origin::of(&key(SloType::Service, "web", "api", "shop")),
            Origin::Linkerd
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("7d").unwrap(), 604_800_000);
        assert!(parse_range("2w").is_err());
        assert_eq!(window_label(300), "5m");
        assert_eq!(window_label(21_600), "6h");
        assert_eq!(window_label(259_200), "3d");
    }
}
