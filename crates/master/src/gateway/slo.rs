//! SLO overview and detail (seed 000 §5.2), objectives, error budgets and burn rates
//! (DESIGN.md §5.5). Every number is computed from stored counters, so any window is exact.

use std::collections::{BTreeMap, HashMap};

use atlhyper_model::{ServiceSlo, SloCounters, SloGroupKey, SloType, Timestamp};
use atlhyper_slo::{
    BurnAlert, Severity, WORKBOOK_RULES, bucket_pairs, budget_remaining, burn_rate, entry_from_counters,
    evaluate_burn, quantile_or_none, rule_windows, success_rate,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{CurrentUser, audited, clusters::find};
use crate::auth::Role;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use crate::store::{CounterPoint, SloTargetRecord};

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(detail))
        .routes(routes!(list_targets, put_target))
}

/// The objective used where none is set.
pub const DEFAULT_AVAILABILITY: f64 = 99.9;
pub const DEFAULT_PERIOD_DAYS: u32 = 30;
/// Burn-rate rules are skipped below this many responses in their long window.
pub const MIN_RESPONSES_FOR_ALERTS: f64 = 20.0;

/// A window length accepted by the API.
pub fn parse_range(text: &str) -> ApiResult<i64> {
    Ok(match text {
        "5m" => 5 * 60_000,
        "1h" => 3_600_000,
        "24h" | "1d" => 86_400_000,
        "7d" => 7 * 86_400_000,
        "30d" => 30 * 86_400_000,
        _ => {
            return Err(ApiError::bad_request(format!(
                "invalid range {text:?}: expected 5m, 1h, 24h, 7d or 30d"
            )));
        }
    })
}

/// Seconds between points of a detail chart for a range.
fn step_ms(range_ms: i64) -> i64 {
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

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Objective {
    /// Availability objective, percent.
    pub availability: f64,
    pub latency_p95_ms: Option<f64>,
    pub period_days: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub entry: ServiceSlo,
    pub objective: Objective,
    /// Percent of the period's error budget left: 100 untouched, 0 spent, negative overspent.
    pub error_budget_remaining: Option<f64>,
    /// Burn rate per window (5m … 3d); null without responses.
    pub burn_rates: BTreeMap<String, Option<f64>>,
    /// `page`, `ticket` or `none`: the most severe multi-window rule firing.
    pub burn_alert: String,
    #[schema(value_type = Vec<Object>)]
    pub burn_rules: Vec<BurnAlert>,
    /// `healthy`, `warning`, `critical` or `unknown` (no traffic).
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub cluster_id: String,
    pub range: String,
    pub from: String,
    pub to: String,
    pub ingress: Vec<EntryView>,
    pub services: Vec<EntryView>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OverviewQuery {
    /// 5m, 1h (default), 24h, 7d or 30d.
    pub range: Option<String>,
}

/// Every SLO entry of a cluster over a range, with its objective, budget and burn rates.
#[utoipa::path(get, path = "/api/v2/clusters/{id}/slo/overview", params(("id" = String, Path), OverviewQuery),
    responses((status = 200, body = Overview), (status = 400), (status = 404)))]
async fn overview(
    State(state): State<SharedState>,
    _user: CurrentUser,
    Path(cluster_id): Path<String>,
    Query(q): Query<OverviewQuery>,
) -> ApiResult<Json<Overview>> {
    Ok(Json(overview_of(&state, cluster_id, q).await?))
}

/// What `GET …/slo/overview` answers (the web dashboard calls it too).
pub async fn overview_of(state: &SharedState, cluster_id: String, q: OverviewQuery) -> ApiResult<Overview> {
    find(state, &cluster_id).await?;
    let range_text = q.range.unwrap_or_else(|| "1h".to_owned());
    let range_ms = parse_range(&range_text)?;
    let now = state.now();
    let from = Timestamp(now.0 - range_ms);
    let current = state.store.window_counters(&cluster_id, from, now).await?;
    let objectives = Objectives::load(state, &cluster_id).await?;
    let context = BudgetContext::load(
        state,
        &cluster_id,
        now,
        &objectives,
        current.iter().map(|(k, _)| k),
    )
    .await?;
    let mut overview = Overview {
        cluster_id,
        range: range_text,
        from: from.to_string(),
        to: now.to_string(),
        ingress: Vec::new(),
        services: Vec::new(),
    };
    for (key, counters) in &current {
        let entry = entry_from_counters(key, counters, range_ms as f64 / 1000.0, now);
        let view = context.view(entry, &objectives);
        match key.kind {
            SloType::Ingress => overview.ingress.push(view),
            SloType::Service => overview.services.push(view),
        }
    }
    Ok(overview)
}

/// Objectives of one cluster: per entry, else per type, else the default.
struct Objectives(Vec<SloTargetRecord>);

impl Objectives {
    async fn load(state: &SharedState, cluster_id: &str) -> ApiResult<Self> {
        Ok(Self(state.store.slo_targets(cluster_id).await?))
    }

    fn of(&self, key: &SloGroupKey) -> Objective {
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
struct BudgetContext {
    /// Per period in days: every group's counters over it.
    periods: HashMap<u32, HashMap<SloGroupKey, SloCounters>>,
    /// Per burn window in seconds: every group's counters over it.
    windows: BTreeMap<u64, HashMap<SloGroupKey, SloCounters>>,
    /// Seconds of each window that stored data covers (from the cluster's first counters).
    covered: BTreeMap<u64, u64>,
}

impl BudgetContext {
    async fn load<'k>(
        state: &SharedState,
        cluster_id: &str,
        now: Timestamp,
        objectives: &Objectives,
        keys: impl Iterator<Item = &'k SloGroupKey>,
    ) -> ApiResult<Self> {
        let mut period_days: Vec<u32> = keys.map(|k| objectives.of(k).period_days).collect();
        period_days.sort_unstable();
        period_days.dedup();
        let mut periods = HashMap::new();
        for days in period_days {
            let from = Timestamp(now.0 - i64::from(days) * 86_400_000);
            periods.insert(
                days,
                state
                    .store
                    .window_counters(cluster_id, from, now)
                    .await?
                    .into_iter()
                    .collect(),
            );
        }
        let first = state.store.first_counter_time(cluster_id).await?;
        let mut windows = BTreeMap::new();
        let mut covered = BTreeMap::new();
        for seconds in rule_windows(&WORKBOOK_RULES) {
            let from = Timestamp(now.0 - i64::try_from(seconds).unwrap_or(i64::MAX / 1000) * 1000);
            windows.insert(
                seconds,
                state
                    .store
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

    fn view(&self, entry: ServiceSlo, objectives: &Objectives) -> EntryView {
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
            objective,
            entry,
            burn_rates,
            burn_alert: burn_alert.to_owned(),
            burn_rules: rules,
            status: status.to_owned(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DetailQuery {
    /// `ingress` or `service`.
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    /// Needed only when source and target exist in several namespaces.
    pub source_namespace: Option<String>,
    pub namespace: Option<String>,
    /// 1h (default), 24h, 7d or 30d.
    pub range: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DetailPoint {
    pub timestamp: String,
    pub total_requests: f64,
    pub success_requests: f64,
    pub failure_requests: f64,
    pub success_rate: Option<f64>,
    pub request_rate: f64,
    pub latency_p50: Option<f64>,
    pub latency_p95: Option<f64>,
    pub latency_p99: Option<f64>,
    /// Percent of the range's error budget left at the end of this point, counted from the
    /// range's start.
    pub error_budget_remaining: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LatencyBucketView {
    /// Upper bound in ms; null for the `+Inf` bucket.
    pub le: Option<f64>,
    /// Observations in this bucket alone (not cumulative).
    pub count: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Detail {
    pub range: String,
    pub from: String,
    pub to: String,
    pub step_seconds: i64,
    /// The whole range, with budget and burn rates.
    pub summary: EntryView,
    pub points: Vec<DetailPoint>,
    pub latency_buckets: Vec<LatencyBucketView>,
}

/// One entry over a range: the time series, the range's totals and quantiles from the summed
/// counters, the latency distribution, the error budget and burn rates.
#[utoipa::path(get, path = "/api/v2/clusters/{id}/slo/detail", params(("id" = String, Path), DetailQuery),
    responses((status = 200, body = Detail), (status = 400), (status = 404)))]
async fn detail(
    State(state): State<SharedState>,
    _user: CurrentUser,
    Path(cluster_id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> ApiResult<Json<Detail>> {
    Ok(Json(detail_of(&state, &cluster_id, &q).await?))
}

/// What `GET …/slo/detail` answers (the web dashboard calls it too).
pub async fn detail_of(state: &SharedState, cluster_id: &str, q: &DetailQuery) -> ApiResult<Detail> {
    let cluster_id = cluster_id.to_owned();
    find(state, &cluster_id).await?;
    let kind = match q.kind.as_str() {
        "ingress" => SloType::Ingress,
        "service" => SloType::Service,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid type {other:?}: expected ingress or service"
            )));
        }
    };
    let range_text = q.range.clone().unwrap_or_else(|| "1h".to_owned());
    let range_ms = parse_range(&range_text)?;
    let now = state.now();
    let from = Timestamp(now.0 - range_ms);
    let all = state.store.window_counters(&cluster_id, from, now).await?;
    let matching: Vec<&(SloGroupKey, SloCounters)> = all
        .iter()
        .filter(|(k, _)| {
            k.kind == kind
                && k.source == q.source
                && k.target == q.target
                && q.source_namespace
                    .as_ref()
                    .is_none_or(|ns| *ns == k.source_namespace)
                && q.namespace.as_ref().is_none_or(|ns| *ns == k.namespace)
        })
        .collect();
    let (key, counters) = match matching.as_slice() {
        [one] => (&one.0, &one.1),
        [] => {
            return Err(ApiError::not_found(format!(
                "no {} entry {:?} -> {:?} with data in the last {range_text}",
                q.kind, q.source, q.target
            )));
        }
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|(k, _)| {
                    format!(
                        "{}/{} -> {}/{}",
                        k.source_namespace, k.source, k.namespace, k.target
                    )
                })
                .collect();
            return Err(ApiError::bad_request(format!(
                "{} entries match; add source_namespace and namespace: {}",
                names.len(),
                names.join(", ")
            )));
        }
    };
    let objectives = Objectives::load(state, &cluster_id).await?;
    let context = BudgetContext::load(state, &cluster_id, now, &objectives, std::iter::once(key)).await?;
    let summary = context.view(
        entry_from_counters(key, counters, range_ms as f64 / 1000.0, now),
        &objectives,
    );
    let raw = state
        .store
        .counter_points(&cluster_id, Some(key), from, now)
        .await?;
    let step = step_ms(range_ms);
    let points = series(&raw, from, now, step, summary.objective.availability);
    Ok(Detail {
        range: range_text,
        from: from.to_string(),
        to: now.to_string(),
        step_seconds: step / 1000,
        summary,
        points,
        latency_buckets: distribution(counters),
    })
}

/// Merges stored points into chart steps of `step` ms over `[from, to)`, every step present.
fn series(
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
fn distribution(counters: &SloCounters) -> Vec<LatencyBucketView> {
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

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    #[serde(rename = "type")]
    pub kind: String,
    /// Null: the default for every entry of this type.
    pub source: Option<String>,
    pub target: Option<String>,
    pub availability: f64,
    pub latency_p95_ms: Option<f64>,
    pub period_days: u32,
    pub updated_by: String,
    pub updated_at: String,
}

fn target_view(t: &SloTargetRecord) -> TargetView {
    TargetView {
        kind: t.kind.as_str().to_owned(),
        source: t.source.clone(),
        target: t.target.clone(),
        availability: t.availability,
        latency_p95_ms: t.latency_p95_ms,
        period_days: t.period_days,
        updated_by: t.updated_by.clone(),
        updated_at: t.updated_at.to_string(),
    }
}

/// The cluster's SLO objectives (entries without one use 99.9 % over 30 days).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/slo/targets", params(("id" = String, Path)),
    responses((status = 200, body = Vec<TargetView>), (status = 404)))]
async fn list_targets(
    State(state): State<SharedState>,
    _user: CurrentUser,
    Path(cluster_id): Path<String>,
) -> ApiResult<Json<Vec<TargetView>>> {
    find(&state, &cluster_id).await?;
    Ok(Json(
        state
            .store
            .slo_targets(&cluster_id)
            .await?
            .iter()
            .map(target_view)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PutTarget {
    /// `ingress` or `service`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Omit both source and target to set the default of the type.
    pub source: Option<String>,
    pub target: Option<String>,
    /// Percent, more than 0 and less than 100.
    pub availability: f64,
    pub latency_p95_ms: Option<f64>,
    /// 1 to 90; 30 by default.
    pub period_days: Option<u32>,
}

/// Sets an objective (operator and admin).
#[utoipa::path(put, path = "/api/v2/clusters/{id}/slo/targets", request_body = PutTarget, params(("id" = String, Path)),
    responses((status = 200, body = TargetView), (status = 400), (status = 403), (status = 404)))]
async fn put_target(
    State(state): State<SharedState>,
    user: CurrentUser,
    Path(cluster_id): Path<String>,
    Json(req): Json<PutTarget>,
) -> ApiResult<Json<TargetView>> {
    Ok(Json(put_target_as(&state, &user, &cluster_id, req).await?))
}

/// What `PUT …/slo/targets` does, audited (the web dashboard's settings form calls it too).
pub async fn put_target_as(
    state: &SharedState,
    user: &CurrentUser,
    cluster_id: &str,
    req: PutTarget,
) -> ApiResult<TargetView> {
    let cluster_id = cluster_id.to_owned();
    let target = format!(
        "cluster/{cluster_id}/slo/{}/{}->{}",
        req.kind,
        req.source.as_deref().unwrap_or("*"),
        req.target.as_deref().unwrap_or("*")
    );
    user.require(state, Role::Operator, "slo.target.update", &target)
        .await?;
    let detail = format!(
        "availability={} latency_p95_ms={:?} period_days={:?}",
        req.availability, req.latency_p95_ms, req.period_days
    );
    let outcome = async {
        find(state, &cluster_id).await?;
        let kind = match req.kind.as_str() {
            "ingress" => SloType::Ingress,
            "service" => SloType::Service,
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid type {other:?}: expected ingress or service"
                )));
            }
        };
        if !(req.availability > 0.0 && req.availability < 100.0) {
            return Err(ApiError::bad_request(
                "availability must be more than 0 and less than 100 (percent)",
            ));
        }
        if req.latency_p95_ms.is_some_and(|ms| !(ms > 0.0 && ms.is_finite())) {
            return Err(ApiError::bad_request(
                "latency_p95_ms must be a positive number of milliseconds",
            ));
        }
        let period_days = req.period_days.unwrap_or(DEFAULT_PERIOD_DAYS);
        if !(1..=90).contains(&period_days) {
            return Err(ApiError::bad_request("period_days must be from 1 to 90"));
        }
        if req.source.is_some() != req.target.is_some() {
            return Err(ApiError::bad_request(
                "give both source and target, or neither for the type's default",
            ));
        }
        let record = SloTargetRecord {
            cluster_id: cluster_id.clone(),
            kind,
            source: req.source.clone(),
            target: req.target.clone(),
            availability: req.availability,
            latency_p95_ms: req.latency_p95_ms,
            period_days,
            updated_by: user.username.clone(),
            updated_at: state.now(),
        };
        state.store.put_slo_target(&record).await?;
        Ok(target_view(&record))
    }
    .await;
    audited(state, user, "slo.target.update", &target, &detail, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn ranges() {
        assert_eq!(parse_range("7d").unwrap(), 604_800_000);
        assert!(parse_range("2w").is_err());
        assert_eq!(window_label(300), "5m");
        assert_eq!(window_label(21_600), "6h");
        assert_eq!(window_label(259_200), "3d");
    }
}
