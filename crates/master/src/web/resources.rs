//! Kubernetes resources of a cluster: every kind with filters, and one object's detail with
//! its events, anomalies and the operations it offers. Events and anomalies have their pages
//! in `events.rs`, operations and the command history in `operations.rs`.

use askama::Template;
use atlhyper_model::resources::ResourceKind;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::i18n::Tr;
use super::pages::{Page, Scripts, render};
use super::session::WebUser;
use super::{InLang, WebError, fmt};
use crate::auth::Role;
use crate::service::App;
use crate::service::resources::ResourceQuery;

use super::events::{AnomalyRow, EventRow, anomaly_row, event_row};
use super::fmt::{clean, some};
use super::pages::resource_href;

/// Rows per page of the resource, event and anomaly lists.
pub const PAGE: usize = 100;

pub fn status_class(status: &str) -> &'static str {
    match status {
        "Running" | "Ready" | "Healthy" | "Active" | "Bound" | "Succeeded" | "Complete" | "Available" => {
            "healthy"
        }
        "Pending" | "Progressing" | "Degraded" | "Unknown" | "SchedulingDisabled" | "Suspended" => "warning",
        "" => "neutral",
        _ => "critical",
    }
}

/// A few telling fields of a summary, for the list.
fn highlights(kind: &str, summary: &Value) -> String {
    let mut out = Vec::new();
    if kind == "Pod"
        && let Some(containers) = summary["containers"].as_array()
    {
        let ready = containers.iter().filter(|c| c["ready"] == true).count();
        let restarts: i64 = containers.iter().filter_map(|c| c["restarts"].as_i64()).sum();
        out.push(format!("ready {ready}/{}", containers.len()));
        out.push(format!("restarts {restarts}"));
    }
    for key in [
        "node",
        "ready",
        "desired",
        "available",
        "replicas",
        "service_type",
        "cluster_ip",
        "class",
        "phase",
        "schedule",
        "capacity_bytes",
        "storage_class",
    ] {
        if out.len() >= 4 {
            break;
        }
        match &summary[key] {
            Value::String(s) if !s.is_empty() => out.push(format!("{key} {s}")),
            Value::Number(n) => out.push(format!("{key} {n}")),
            Value::Bool(b) => out.push(format!("{key} {b}")),
            _ => {}
        }
    }
    if let Some(images) = summary["images"].as_array()
        && out.len() < 4
    {
        let names: Vec<&str> = images.iter().filter_map(Value::as_str).collect();
        out.push(names.join(", "));
    }
    out.join(" · ")
}

pub struct KindLink {
    pub label: &'static str,
    pub href: String,
    pub active: bool,
    pub count: String,
}

pub struct ResourceRow {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    pub info: String,
    pub href: String,
}

pub struct CountCard {
    pub label: &'static str,
    pub value: String,
    pub class: &'static str,
}

#[derive(Template)]
#[template(path = "resources.html")]
pub struct ResourcesPage {
    pub page: Page,
    pub kinds: Vec<KindLink>,
    pub kind: String,
    pub namespace: String,
    pub status: String,
    pub q: String,
    pub cards: Vec<CountCard>,
    pub rows: Vec<ResourceRow>,
    pub shown: String,
    pub prev: String,
    pub next: String,
    pub taken_at: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    kind: Option<String>,
    namespace: Option<String>,
    status: Option<String>,
    q: Option<String>,
    offset: Option<usize>,
}

pub async fn list(
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let (kind, namespace, status, q) = (clean(&p.kind), clean(&p.namespace), clean(&p.status), clean(&p.q));
    let offset = p.offset.unwrap_or(0);
    let kind = match ResourceKind::parse(&kind) {
        Some(k) => k.as_str().to_owned(),
        None if kind.is_empty() => String::new(),
        None => {
            return Err(WebError::not_found(
                user.lang,
                t.fill("resources.unknown_kind", &[("kind", &kind)]),
            ));
        }
    };
    let page_data = app
        .resources
        .list(
            id.clone(),
            ResourceQuery {
                kind: some(&kind),
                namespace: some(&namespace),
                status: some(&status),
                q: some(&q),
                limit: Some(PAGE),
                offset: Some(offset),
            },
        )
        .await
        .lang(user.lang)?;
    let summary = app.resources.summary(id.clone()).await.lang(user.lang)?;
    let page = Page::of_cluster(
        &app,
        &user,
        &uri,
        "resources",
        &id,
        Scripts::Plain,
        "resources.title",
    )
    .await?;
    let counts: std::collections::HashMap<String, usize> = summary
        .kinds
        .iter()
        .map(|k| (k.kind.clone(), k.items as usize))
        .collect();
    let link = |k: &str, off: usize| {
        format!(
            "/clusters/{id}/resources?{}",
            fmt::query(&[
                ("kind", k),
                ("namespace", &namespace),
                ("status", &status),
                ("q", &q),
                ("offset", &off.to_string())
            ])
        )
    };
    let mut kinds = vec![KindLink {
        label: t.get("resources.all_kinds"),
        href: link("", 0),
        active: kind.is_empty(),
        count: String::new(),
    }];
    for k in ResourceKind::ALL.iter().filter(|k| **k != ResourceKind::Event) {
        kinds.push(KindLink {
            label: k.as_str(),
            href: link(k.as_str(), 0),
            active: kind == k.as_str(),
            count: counts
                .get(k.as_str())
                .map_or_else(String::new, ToString::to_string),
        });
    }
    let s = &summary.summary;
    let cards = vec![
        CountCard {
            label: t.get("resources.nodes_ready"),
            value: format!("{} / {}", s.ready_nodes, s.total_nodes),
            class: if s.ready_nodes < s.total_nodes {
                "warning"
            } else {
                ""
            },
        },
        CountCard {
            label: t.get("resources.pods_running"),
            value: format!("{} / {}", s.running_pods, s.total_pods),
            class: "",
        },
        CountCard {
            label: t.get("resources.pods_pending_failed"),
            value: format!("{} / {}", s.pending_pods, s.failed_pods),
            class: if s.failed_pods > 0 {
                "critical"
            } else if s.pending_pods > 0 {
                "warning"
            } else {
                ""
            },
        },
        CountCard {
            label: t.get("resources.deployments_healthy"),
            value: format!("{} / {}", s.healthy_deployments, s.total_deployments),
            class: if s.healthy_deployments < s.total_deployments {
                "warning"
            } else {
                ""
            },
        },
        CountCard {
            label: t.get("resources.warning_events"),
            value: s.warning_events.to_string(),
            class: if s.warning_events > 0 { "warning" } else { "" },
        },
        CountCard {
            label: t.get("resources.anomalies"),
            value: format!(
                "{} ({} {})",
                s.anomalies,
                s.critical_anomalies,
                t.get("status.critical")
            ),
            class: if s.critical_anomalies > 0 { "critical" } else { "" },
        },
    ];
    let rows: Vec<ResourceRow> = page_data
        .items
        .iter()
        .map(|i| ResourceRow {
            href: resource_href(&id, &i.kind, &i.namespace, &i.name),
            info: highlights(&i.kind, &i.summary),
            status_class: status_class(&i.status),
            kind: i.kind.clone(),
            namespace: i.namespace.clone(),
            name: i.name.clone(),
            status: i.status.clone(),
        })
        .collect();
    let shown = if page_data.total == 0 {
        String::new()
    } else {
        t.fill(
            "resources.shown",
            &[
                ("from", &(offset + 1).to_string()),
                ("to", &(offset + rows.len()).to_string()),
                ("total", &page_data.total.to_string()),
            ],
        )
    };
    Ok(render(&ResourcesPage {
        prev: if offset > 0 {
            link(&kind, offset.saturating_sub(PAGE))
        } else {
            String::new()
        },
        next: if offset + PAGE < page_data.total {
            link(&kind, offset + PAGE)
        } else {
            String::new()
        },
        taken_at: page_data
            .taken_at
            .map_or_else(|| t.get("common.never").to_owned(), fmt::time),
        shown,
        kinds,
        kind,
        namespace,
        status,
        q,
        cards,
        rows,
        page,
    })?
    .into_response())
}

pub struct Field {
    pub key: String,
    pub value: String,
}

pub struct SubTable {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => fmt::NONE.to_owned(),
        other => other.to_string(),
    }
}

/// A summary as fields (scalars, nested objects flattened) and tables (arrays of objects).
fn flatten(prefix: &str, value: &Value, fields: &mut Vec<Field>, tables: &mut Vec<SubTable>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, fields, tables);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            let mut headers: Vec<String> = Vec::new();
            for item in items {
                if let Some(map) = item.as_object() {
                    for k in map.keys() {
                        if !headers.contains(k) {
                            headers.push(k.clone());
                        }
                    }
                }
            }
            let rows = items
                .iter()
                .map(|item| {
                    headers
                        .iter()
                        .map(|h| item.get(h).map_or_else(String::new, scalar))
                        .collect()
                })
                .collect();
            tables.push(SubTable {
                title: prefix.to_owned(),
                headers,
                rows,
            });
        }
        Value::Array(items) => fields.push(Field {
            key: prefix.to_owned(),
            value: items.iter().map(scalar).collect::<Vec<_>>().join(", "),
        }),
        other => fields.push(Field {
            key: prefix.to_owned(),
            value: scalar(other),
        }),
    }
}

/// One remote operation offered on a detail page.
pub struct Operation {
    pub action: &'static str,
    pub label: &'static str,
    /// `replicas`, `image`, `tail_lines` or empty.
    pub input: &'static str,
    pub danger: bool,
}

pub fn operations(t: Tr, kind: ResourceKind) -> Vec<Operation> {
    use ResourceKind as K;
    let op = |action, key, input, danger| Operation {
        action,
        label: t.get(key),
        input,
        danger,
    };
    let mut out = Vec::new();
    if matches!(kind, K::Deployment | K::StatefulSet | K::DaemonSet) {
        out.push(op("restart", "ops.restart", "", true));
        out.push(op("update_image", "ops.update_image", "image", true));
    }
    if matches!(kind, K::Deployment | K::StatefulSet | K::ReplicaSet) {
        out.push(op("scale", "ops.scale", "replicas", true));
    }
    if kind == K::Pod {
        out.push(op("logs", "ops.logs", "tail_lines", false));
        out.push(op("delete_pod", "ops.delete_pod", "", true));
    }
    if kind == K::Node {
        out.push(op("cordon", "ops.cordon", "", true));
        out.push(op("uncordon", "ops.uncordon", "", true));
    }
    out.push(op("get", "ops.get", "", false));
    out
}

#[derive(Template)]
#[template(path = "resource_detail.html")]
pub struct DetailPage {
    pub page: Page,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    pub entity: String,
    pub risk_href: String,
    pub fields: Vec<Field>,
    pub tables: Vec<SubTable>,
    pub events: Vec<EventRow>,
    pub anomalies: Vec<AnomalyRow>,
    pub operations: Vec<Operation>,
    pub back: String,
}

pub async fn detail(
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Path((id, kind, namespace, name)): Path<(String, String, String, String)>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let found = app
        .resources
        .detail(id.clone(), &kind, namespace, name)
        .await
        .lang(user.lang)?;
    let item = &found.item;
    let mut page = Page::new(
        &app,
        &user,
        &uri,
        "resources",
        String::new(),
        Some(&id),
        Scripts::Plain,
    )
    .await?;
    page.title = format!("{} {}", item.kind, item.name);
    let (mut fields, mut tables) = (Vec::new(), Vec::new());
    flatten("", &item.summary, &mut fields, &mut tables);
    let kind = ResourceKind::parse(&item.kind).unwrap_or(ResourceKind::Pod);
    Ok(render(&DetailPage {
        status_class: status_class(&item.status),
        risk_href: format!(
            "/aiops/explain?{}",
            fmt::query(&[("cluster", &id), ("entity", &item.entity)])
        ),
        events: found.events.iter().map(|e| event_row(&id, e)).collect(),
        anomalies: found.anomalies.iter().map(|a| anomaly_row(t, &id, a)).collect(),
        operations: if user.role() >= Role::Operator {
            operations(t, kind)
        } else {
            Vec::new()
        },
        back: format!("/clusters/{id}/resources?{}", fmt::query(&[("kind", &item.kind)])),
        kind: item.kind.clone(),
        namespace: item.namespace.clone(),
        name: item.name.clone(),
        status: item.status.clone(),
        entity: item.entity.clone(),
        fields,
        tables,
        page,
    })?
    .into_response())
}
