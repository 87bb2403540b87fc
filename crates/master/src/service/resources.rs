//! The cluster's Kubernetes resources, events, anomalies and counts, from the latest
//! snapshot (in memory, else the store, so a restarted master serves the last state it had).

use std::sync::Arc;

use atlhyper_model::resources::{
    Anomaly, ClusterSummary, EventSummary, KindStatus, ResourceKind, ResourceRef, ResourceSnapshot,
};
use atlhyper_model::{AgentSnapshot, Severity, Timestamp, entity_key};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::service::clusters::Clusters;
use crate::service::{ServiceError, ServiceResult};

#[derive(Clone)]
pub struct Resources {
    clusters: Clusters,
}

/// Pages hold 100 items unless `limit` says otherwise, and at most this many.
const MAX_LIMIT: usize = 1000;

const DEFAULT_LIMIT: usize = 100;

fn resources(snapshot: &AgentSnapshot) -> &ResourceSnapshot {
    static EMPTY: std::sync::OnceLock<ResourceSnapshot> = std::sync::OnceLock::new();
    snapshot
        .resources
        .as_ref()
        .unwrap_or_else(|| EMPTY.get_or_init(ResourceSnapshot::default))
}

fn page(limit: Option<usize>, offset: Option<usize>) -> ServiceResult<(usize, usize)> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ServiceError::bad_request(format!(
            "limit must be 1 to {MAX_LIMIT}, not {limit}"
        )));
    }
    Ok((limit, offset.unwrap_or(0)))
}

fn parse_kind(kind: &str) -> ServiceResult<ResourceKind> {
    ResourceKind::parse(kind).ok_or_else(|| {
        let known: Vec<&str> = ResourceKind::ALL.iter().map(|k| k.as_str()).collect();
        ServiceError::bad_request(format!("unknown kind {kind:?}; known: {}", known.join(", ")))
    })
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Whether the lowercase `needle` is in one of `fields`; no needle, no text filter.
fn text_matches(needle: Option<&str>, fields: &[&String]) -> bool {
    needle.is_none_or(|n| fields.iter().any(|s| s.to_ascii_lowercase().contains(n)))
}

/// How many items matched in all, and the page of them that `limit` and `offset` select.
fn paginate<T: Clone>(matching: Vec<&T>, limit: usize, offset: usize) -> (usize, Vec<T>) {
    let total = matching.len();
    (
        total,
        matching.into_iter().skip(offset).take(limit).cloned().collect(),
    )
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ResourceQuery {
    /// One kind (`Pod`, `deployments`, `svc`, …); without it every kind except Event.
    pub kind: Option<String>,
    pub namespace: Option<String>,
    /// The object's status, exactly (`Running`, `CrashLoopBackOff`, `Ready`, `Degraded`, …).
    pub status: Option<String>,
    /// Text in the name, namespace, status, node, image, host (case-insensitive).
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceItem {
    pub kind: String,
    /// `namespace/kind/name` (cluster-scoped: `_cluster/kind/name`), as AIOps keys it.
    pub entity: String,
    pub namespace: String,
    pub name: String,
    pub status: String,
    /// The summary the agent sent (ConfigMaps and Secrets: keys only).
    #[schema(value_type = Object)]
    pub summary: Value,
}

fn item(kind: ResourceKind, r: &ResourceRef<'_>) -> ServiceResult<ResourceItem> {
    let meta = r.meta();
    Ok(ResourceItem {
        kind: kind.as_str().to_owned(),
        entity: entity_key(kind, &meta.namespace, &meta.name),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        status: r.status().to_owned(),
        summary: serde_json::to_value(r)
            .map_err(|e| ServiceError::internal("encoding a resource summary", e))?,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePage {
    pub cluster_id: String,
    /// `taken_at` of the snapshot the list comes from; null before any arrived.
    #[schema(value_type = Option<String>)]
    pub taken_at: Option<Timestamp>,
    /// Items matching the filters, before pagination.
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub items: Vec<ResourceItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceDetail {
    #[serde(flatten)]
    pub item: ResourceItem,
    /// Events whose involved object is this one, newest first.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<EventSummary>,
    /// Anomalies of this object.
    #[schema(value_type = Vec<Object>)]
    pub anomalies: Vec<Anomaly>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventQuery {
    pub namespace: Option<String>,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub reason: Option<String>,
    /// The involved object's kind.
    pub kind: Option<String>,
    /// The involved object's name.
    pub name: Option<String>,
    /// Text in the reason, message or object.
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub cluster_id: String,
    #[schema(value_type = Option<String>)]
    pub taken_at: Option<Timestamp>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    /// Newest first (by last time seen).
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<EventSummary>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AnomalyQuery {
    pub namespace: Option<String>,
    /// The object's kind.
    pub kind: Option<String>,
    /// `info`, `warning` or `critical`: this severity and above.
    pub severity: Option<String>,
    pub reason: Option<String>,
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnomalyPage {
    pub cluster_id: String,
    #[schema(value_type = Option<String>)]
    pub taken_at: Option<Timestamp>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    /// Critical first, then by entity.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Anomaly>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryView {
    pub cluster_id: String,
    #[schema(value_type = Option<String>)]
    pub taken_at: Option<Timestamp>,
    #[schema(value_type = Object)]
    pub summary: ClusterSummary,
    /// Each kind's watch: synced, items, the last error (403, missing API).
    #[schema(value_type = Vec<Object>)]
    pub kinds: Vec<KindStatus>,
    pub metrics_available: bool,
}

impl Resources {
    pub fn new(clusters: Clusters) -> Self {
        Self { clusters }
    }

    /// The latest snapshot, when it carries resources (in memory, else from the store).
    pub async fn latest(&self, cluster_id: &str) -> ServiceResult<Option<Arc<AgentSnapshot>>> {
        self.clusters.find(cluster_id).await?;
        let snapshot = self.clusters.latest(cluster_id).await?;
        Ok(snapshot.filter(|s| s.resources.is_some()))
    }

    /// Resources with filters and pagination; without a kind, every kind but Event.
    pub async fn list(&self, cluster_id: String, q: ResourceQuery) -> ServiceResult<ResourcePage> {
        let (limit, offset) = page(q.limit, q.offset)?;
        let kinds: Vec<ResourceKind> = match nonempty(&q.kind) {
            Some(k) => vec![parse_kind(k)?],
            None => ResourceKind::ALL
                .into_iter()
                .filter(|k| *k != ResourceKind::Event)
                .collect(),
        };
        let snapshot = self.latest(&cluster_id).await?;
        let mut total = 0;
        let mut items = Vec::new();
        if let Some(snapshot) = &snapshot {
            let res = resources(snapshot);
            let needle = nonempty(&q.q).map(str::to_ascii_lowercase);
            for kind in kinds {
                for r in res.items(kind) {
                    let meta = r.meta();
                    if nonempty(&q.namespace).is_some_and(|ns| meta.namespace != ns)
                        || nonempty(&q.status).is_some_and(|s| r.status() != s)
                        || needle.as_deref().is_some_and(|n| !r.matches_text(n))
                    {
                        continue;
                    }
                    total += 1;
                    if total > offset && items.len() < limit {
                        items.push(item(kind, &r)?);
                    }
                }
            }
        }
        Ok(ResourcePage {
            cluster_id,
            taken_at: snapshot.map(|s| s.taken_at),
            total,
            limit,
            offset,
            items,
        })
    }

    /// One object: its summary, events and anomalies; namespace `_` for cluster-scoped kinds.
    pub async fn detail(
        &self,
        cluster_id: String,
        kind: &str,
        namespace: String,
        name: String,
    ) -> ServiceResult<ResourceDetail> {
        let kind = parse_kind(kind)?;
        let namespace = if namespace == "_" {
            String::new()
        } else {
            namespace
        };
        let not_found =
            || ServiceError::not_found(format!("no {kind} {namespace}/{name} in cluster {cluster_id:?}"));
        let snapshot = self.latest(&cluster_id).await?.ok_or_else(not_found)?;
        let res = resources(&snapshot);
        let found = res.find(kind, &namespace, &name).ok_or_else(not_found)?;
        let entity = entity_key(kind, &namespace, &name);
        let mut events: Vec<EventSummary> = res
            .events
            .iter()
            .filter(|e| {
                e.involved.name == name
                    && ResourceKind::parse(&e.involved.kind) == Some(kind)
                    && (!kind.namespaced()
                        || e.involved.namespace == namespace
                        || e.meta.namespace == namespace)
            })
            .cloned()
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
        Ok(ResourceDetail {
            item: item(kind, &found)?,
            events,
            anomalies: res
                .anomalies
                .iter()
                .filter(|a| a.entity == entity)
                .cloned()
                .collect(),
        })
    }

    /// The cluster's events, newest first, with filters and pagination.
    pub async fn events(&self, cluster_id: String, q: EventQuery) -> ServiceResult<EventPage> {
        let (limit, offset) = page(q.limit, q.offset)?;
        let kind = nonempty(&q.kind).map(parse_kind).transpose()?;
        let snapshot = self.latest(&cluster_id).await?;
        let needle = nonempty(&q.q).map(str::to_ascii_lowercase);
        let mut matching: Vec<&EventSummary> = snapshot
            .as_deref()
            .map(|s| resources(s).events.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|e| {
                nonempty(&q.namespace).is_none_or(|n| e.meta.namespace == n)
                    && nonempty(&q.event_type).is_none_or(|t| e.event_type.eq_ignore_ascii_case(t))
                    && nonempty(&q.reason).is_none_or(|r| e.reason == r)
                    && nonempty(&q.name).is_none_or(|n| e.involved.name == n)
                    && kind.is_none_or(|k| ResourceKind::parse(&e.involved.kind) == Some(k))
                    && text_matches(
                        needle.as_deref(),
                        &[&e.reason, &e.message, &e.involved.name, &e.involved.kind],
                    )
            })
            .collect();
        matching.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
        let (total, items) = paginate(matching, limit, offset);
        Ok(EventPage {
            cluster_id,
            taken_at: snapshot.as_ref().map(|s| s.taken_at),
            total,
            limit,
            offset,
            items,
        })
    }

    /// The anomalies of the latest snapshot, with filters and pagination.
    pub async fn anomalies(&self, cluster_id: String, q: AnomalyQuery) -> ServiceResult<AnomalyPage> {
        let (limit, offset) = page(q.limit, q.offset)?;
        let kind = nonempty(&q.kind).map(parse_kind).transpose()?;
        let min = match nonempty(&q.severity) {
            None | Some("info") => Severity::Info,
            Some("warning") => Severity::Warning,
            Some("critical") => Severity::Critical,
            Some(other) => {
                return Err(ServiceError::bad_request(format!(
                    "severity must be info, warning or critical, not {other:?}"
                )));
            }
        };
        let snapshot = self.latest(&cluster_id).await?;
        let needle = nonempty(&q.q).map(str::to_ascii_lowercase);
        let matching: Vec<&Anomaly> = snapshot
            .as_deref()
            .map(|s| resources(s).anomalies.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|a| {
                a.severity >= min
                    && kind.is_none_or(|k| a.kind == k)
                    && nonempty(&q.namespace).is_none_or(|ns| a.entity.split('/').next() == Some(ns))
                    && nonempty(&q.reason).is_none_or(|r| a.reason == r)
                    && text_matches(needle.as_deref(), &[&a.entity, &a.evidence, &a.reason])
            })
            .collect();
        let (total, items) = paginate(matching, limit, offset);
        Ok(AnomalyPage {
            cluster_id,
            taken_at: snapshot.as_ref().map(|s| s.taken_at),
            total,
            limit,
            offset,
            items,
        })
    }

    /// The cluster's counts and each kind's watch status.
    pub async fn summary(&self, cluster_id: String) -> ServiceResult<SummaryView> {
        let snapshot = self.latest(&cluster_id).await?;
        let res = snapshot.as_deref().map(resources);
        Ok(SummaryView {
            cluster_id,
            taken_at: snapshot.as_ref().map(|s| s.taken_at),
            summary: res.map(|r| r.summary.clone()).unwrap_or_default(),
            kinds: res.map(|r| r.kinds.clone()).unwrap_or_default(),
            metrics_available: res.is_some_and(|r| r.metrics_available),
        })
    }
}
