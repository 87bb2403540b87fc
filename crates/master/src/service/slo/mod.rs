//! SLO overview and detail (seed 000 §5.2), objectives, error budgets and burn rates
//! (DESIGN.md §5.5). Every number is computed from stored counters, so any window is exact;
//! `budget.rs` has the arithmetic.

mod budget;

use std::collections::BTreeMap;
use std::sync::Arc;

use atlhyper_model::{ServiceSlo, SloCounters, SloGroupKey, SloType, Timestamp};
use atlhyper_slo::{BurnAlert, entry_from_counters};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use budget::parse_range;
use budget::{BudgetContext, Objectives, distribution, series, step_ms};

use crate::service::access::{Caller, Operator};
use crate::service::audit::Audit;
use crate::service::clusters::Clusters;
use crate::service::{Clock, ServiceError, ServiceResult};
use crate::store::{SloTargetRecord, Store};

/// The objective used where none is set.
pub const DEFAULT_AVAILABILITY: f64 = 99.9;

pub const DEFAULT_PERIOD_DAYS: u32 = 30;

/// Burn-rate rules are skipped below this many responses in their long window.
pub const MIN_RESPONSES_FOR_ALERTS: f64 = 20.0;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Objective {
    /// Availability objective, percent.
    pub availability: f64,
    pub latency_p95_ms: Option<f64>,
    pub period_days: u32,
}

/// Where an entry's numbers come from. The ingress layer has two sources for the same host:
/// Traefik's own metrics (the edge: what users saw) and the Linkerd proxies of the Traefik pods
/// (the mesh inbound: what reached Traefik through the mesh). Both are shown; they count the
/// same requests at two points, so their totals are close but their latencies differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Linkerd proxy metrics: mesh inbound (ingress) or outbound (service to service).
    Linkerd,
    /// Traefik's metrics (ingress only).
    Traefik,
}

impl Origin {
    /// The origin of a group key, exact for the keys the agent writes: a Linkerd ingress group
    /// has only its authority (no backend, no namespace), while a Traefik group has the backend
    /// an Ingress routes its host to, or is still Traefik's `service@provider` name.
    pub fn of(key: &SloGroupKey) -> Self {
        let traefik = key.kind == SloType::Ingress
            && (!key.target.is_empty() || !key.namespace.is_empty() || key.source.contains('@'));
        if traefik { Self::Traefik } else { Self::Linkerd }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub entry: ServiceSlo,
    /// `traefik` (the edge) or `linkerd` (the mesh); see [`Origin`].
    pub origin: Origin,
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

#[derive(Clone)]
pub struct Slo {
    store: Arc<dyn Store>,
    clock: Clock,
    clusters: Clusters,
    audit: Audit,
}

impl Slo {
    pub fn new(store: Arc<dyn Store>, clock: Clock, clusters: Clusters, audit: Audit) -> Self {
        Self {
            store,
            clock,
            clusters,
            audit,
        }
    }

    /// Every SLO entry of a cluster over a range, with its objective, budget and burn rates.
    pub async fn overview(&self, cluster_id: String, q: OverviewQuery) -> ServiceResult<Overview> {
        self.clusters.find(&cluster_id).await?;
        let range_text = q.range.unwrap_or_else(|| "1h".to_owned());
        let range_ms = parse_range(&range_text)?;
        let now = (self.clock)();
        let from = Timestamp(now.0 - range_ms);
        let current = self.store.window_counters(&cluster_id, from, now).await?;
        let objectives = Objectives::load(self.store.as_ref(), &cluster_id).await?;
        let context = BudgetContext::load(
            self.store.as_ref(),
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

    /// One entry over a range: the time series, the range's totals and quantiles from the summed
    /// counters, the latency distribution, the error budget and burn rates.
    pub async fn detail(&self, cluster_id: &str, q: &DetailQuery) -> ServiceResult<Detail> {
        let cluster_id = cluster_id.to_owned();
        self.clusters.find(&cluster_id).await?;
        let kind = match q.kind.as_str() {
            "ingress" => SloType::Ingress,
            "service" => SloType::Service,
            other => {
                return Err(ServiceError::bad_request(format!(
                    "invalid type {other:?}: expected ingress or service"
                )));
            }
        };
        let range_text = q.range.clone().unwrap_or_else(|| "1h".to_owned());
        let range_ms = parse_range(&range_text)?;
        let now = (self.clock)();
        let from = Timestamp(now.0 - range_ms);
        let all = self.store.window_counters(&cluster_id, from, now).await?;
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
                return Err(ServiceError::not_found(format!(
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
                return Err(ServiceError::bad_request(format!(
                    "{} entries match; add source_namespace and namespace: {}",
                    names.len(),
                    names.join(", ")
                )));
            }
        };
        let objectives = Objectives::load(self.store.as_ref(), &cluster_id).await?;
        let context = BudgetContext::load(
            self.store.as_ref(),
            &cluster_id,
            now,
            &objectives,
            std::iter::once(key),
        )
        .await?;
        let summary = context.view(
            entry_from_counters(key, counters, range_ms as f64 / 1000.0, now),
            &objectives,
        );
        let raw = self
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

    /// The cluster's stored objectives, as records.
    pub async fn target_records(&self, cluster_id: &str) -> ServiceResult<Vec<SloTargetRecord>> {
        self.clusters.find(cluster_id).await?;
        Ok(self.store.slo_targets(cluster_id).await?)
    }

    /// The cluster's SLO objectives (entries without one use 99.9 % over 30 days).
    pub async fn targets(&self, cluster_id: &str) -> ServiceResult<Vec<TargetView>> {
        self.clusters.find(cluster_id).await?;
        Ok(self
            .store
            .slo_targets(cluster_id)
            .await?
            .iter()
            .map(target_view)
            .collect())
    }

    /// Sets an objective (operator; audited, a refusal too).
    pub async fn put_target(
        &self,
        caller: &Caller,
        cluster_id: &str,
        req: PutTarget,
    ) -> ServiceResult<TargetView> {
        let cluster_id = cluster_id.to_owned();
        let target = format!(
            "cluster/{cluster_id}/slo/{}/{}->{}",
            req.kind,
            req.source.as_deref().unwrap_or("*"),
            req.target.as_deref().unwrap_or("*")
        );
        let operator: Operator = self.audit.authorize(caller, "slo.target.update", &target).await?;
        let detail = format!(
            "availability={} latency_p95_ms={:?} period_days={:?}",
            req.availability, req.latency_p95_ms, req.period_days
        );
        let outcome = async {
            self.clusters.find(&cluster_id).await?;
            let kind = match req.kind.as_str() {
                "ingress" => SloType::Ingress,
                "service" => SloType::Service,
                other => {
                    return Err(ServiceError::bad_request(format!(
                        "invalid type {other:?}: expected ingress or service"
                    )));
                }
            };
            if !(req.availability > 0.0 && req.availability < 100.0) {
                return Err(ServiceError::bad_request(
                    "availability must be more than 0 and less than 100 (percent)",
                ));
            }
            if req.latency_p95_ms.is_some_and(|ms| !(ms > 0.0 && ms.is_finite())) {
                return Err(ServiceError::bad_request(
                    "latency_p95_ms must be a positive number of milliseconds",
                ));
            }
            let period_days = req.period_days.unwrap_or(DEFAULT_PERIOD_DAYS);
            if !(1..=90).contains(&period_days) {
                return Err(ServiceError::bad_request("period_days must be from 1 to 90"));
            }
            if req.source.is_some() != req.target.is_some() {
                return Err(ServiceError::bad_request(
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
                updated_by: operator.username.clone(),
                updated_at: (self.clock)(),
            };
            self.store.put_slo_target(&record).await?;
            Ok(target_view(&record))
        }
        .await;
        self.audit
            .outcome(&operator, "slo.target.update", &target, &detail, outcome)
            .await
    }
}
