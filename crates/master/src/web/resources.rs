//! Kubernetes resources of a cluster (every kind, with filters and a detail view), events,
//! anomalies, remote operations with a confirmation step, and the command history. The data
//! comes from `gateway::resources` and `gateway::commands`, the JSON API's own functions.

use askama::Template;
use atlhyper_model::resources::ResourceKind;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::i18n::Tr;
use super::pages::{Page, Scripts, render};
use super::session::WebUser;
use super::{InLang, WebError, fmt};
use crate::auth::Role;
use crate::gateway::commands::{CommandListQuery, CommandRequest, enqueue_as, list_commands_of};
use crate::gateway::resources::{
    AnomalyQuery, EventQuery, ResourceQuery, cluster_summary_of, list_anomalies_of, list_events_of,
    list_resources_of, resource_detail_of,
};
use crate::state::SharedState;
use atlhyper_model::CommandStatus;

const PAGE: usize = 100;

/// The detail page of an object.
pub fn resource_href(cluster: &str, kind: &str, namespace: &str, name: &str) -> String {
    let ns = if namespace.is_empty() { "_" } else { namespace };
    format!(
        "/clusters/{cluster}/resources/{kind}/{}/{}",
        fmt::url_encode(ns),
        fmt::url_encode(name)
    )
}

/// An AIOps/anomaly entity key (`namespace/kind/name`, `_cluster/node/NAME`) → detail page.
pub fn entity_href(cluster: &str, kind: ResourceKind, entity: &str) -> String {
    let mut parts = entity.splitn(3, '/');
    let ns = parts.next().unwrap_or_default();
    let name = parts.nth(1).unwrap_or_default();
    let ns = if kind.namespaced() { ns } else { "" };
    resource_href(cluster, kind.as_str(), ns, name)
}

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

fn clean(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or_default().to_owned()
}

fn some(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

pub async fn list(
    State(state): State<SharedState>,
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
    let page_data = list_resources_of(
        &state,
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
    let summary = cluster_summary_of(&state, id.clone()).await.lang(user.lang)?;
    let page = Page::of_cluster(
        &state,
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

pub struct EventRow {
    pub kind_class: &'static str,
    pub event_type: String,
    pub reason: String,
    pub object: String,
    pub href: String,
    pub message: String,
    pub count: u32,
    pub last_seen: String,
}

fn event_row(cluster: &str, e: &atlhyper_model::resources::EventSummary) -> EventRow {
    let kind = ResourceKind::parse(&e.involved.kind);
    let ns = if e.involved.namespace.is_empty() {
        &e.meta.namespace
    } else {
        &e.involved.namespace
    };
    EventRow {
        kind_class: if e.event_type == "Warning" {
            "warning"
        } else {
            "neutral"
        },
        event_type: e.event_type.clone(),
        reason: e.reason.clone(),
        object: format!("{}/{}", e.involved.kind, e.involved.name),
        href: kind.map_or_else(String::new, |k| {
            resource_href(
                cluster,
                k.as_str(),
                if k.namespaced() { ns } else { "" },
                &e.involved.name,
            )
        }),
        message: e.message.clone(),
        count: e.count,
        last_seen: e.last_seen.map_or_else(|| fmt::NONE.to_owned(), fmt::time),
    }
}

pub struct AnomalyRow {
    pub severity: String,
    pub severity_class: &'static str,
    pub entity: String,
    pub href: String,
    pub reason: String,
    pub evidence: String,
    pub since: String,
    pub cluster: String,
}

pub fn anomaly_row(t: Tr, cluster: &str, a: &atlhyper_model::resources::Anomaly) -> AnomalyRow {
    let (severity, class) = match a.severity {
        atlhyper_model::Severity::Critical => (t.get("status.critical"), "critical"),
        atlhyper_model::Severity::Warning => (t.get("status.warning"), "warning"),
        atlhyper_model::Severity::Info => (t.get("resources.info_severity"), "info"),
    };
    AnomalyRow {
        severity: severity.to_owned(),
        severity_class: class,
        href: entity_href(cluster, a.kind, &a.entity),
        entity: a.entity.clone(),
        reason: a.reason.clone(),
        evidence: a.evidence.clone(),
        since: a.since.map_or_else(|| fmt::NONE.to_owned(), fmt::time),
        cluster: cluster.to_owned(),
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

fn operations(t: Tr, kind: ResourceKind) -> Vec<Operation> {
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
    State(state): State<SharedState>,
    user: WebUser,
    uri: Uri,
    Path((id, kind, namespace, name)): Path<(String, String, String, String)>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let found = resource_detail_of(&state, id.clone(), &kind, namespace, name)
        .await
        .lang(user.lang)?;
    let item = &found.item;
    let mut page = Page::new(
        &state,
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

#[derive(Template)]
#[template(path = "events.html")]
pub struct EventsPage {
    pub page: Page,
    pub event_type: String,
    pub namespace: String,
    pub q: String,
    pub rows: Vec<EventRow>,
    pub total: usize,
}

#[derive(Debug, Default, Deserialize)]
pub struct EventParams {
    #[serde(rename = "type")]
    event_type: Option<String>,
    namespace: Option<String>,
    q: Option<String>,
}

pub async fn events(
    State(state): State<SharedState>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
    Query(p): Query<EventParams>,
) -> Result<Response, WebError> {
    let (event_type, namespace, q) = (clean(&p.event_type), clean(&p.namespace), clean(&p.q));
    let found = list_events_of(
        &state,
        id.clone(),
        EventQuery {
            namespace: some(&namespace),
            event_type: some(&event_type),
            reason: None,
            kind: None,
            name: None,
            q: some(&q),
            limit: Some(500),
            offset: None,
        },
    )
    .await
    .lang(user.lang)?;
    let page = Page::of_cluster(&state, &user, &uri, "events", &id, Scripts::Plain, "events.title").await?;
    Ok(render(&EventsPage {
        rows: found.items.iter().map(|e| event_row(&id, e)).collect(),
        total: found.total,
        event_type,
        namespace,
        q,
        page,
    })?
    .into_response())
}

#[derive(Template)]
#[template(path = "anomalies.html")]
pub struct AnomaliesPage {
    pub page: Page,
    pub severity: String,
    pub namespace: String,
    pub q: String,
    pub rows: Vec<AnomalyRow>,
    pub total: usize,
}

#[derive(Debug, Default, Deserialize)]
pub struct AnomalyParams {
    severity: Option<String>,
    namespace: Option<String>,
    q: Option<String>,
}

/// A cluster's anomalies, critical first (also used by the overview).
pub async fn anomaly_rows(
    state: &SharedState,
    t: Tr,
    cluster: &str,
    limit: usize,
) -> Result<Vec<AnomalyRow>, crate::error::ApiError> {
    let q = AnomalyQuery {
        namespace: None,
        kind: None,
        severity: None,
        reason: None,
        q: None,
        limit: Some(limit),
        offset: None,
    };
    Ok(list_anomalies_of(state, cluster.to_owned(), q)
        .await?
        .items
        .iter()
        .map(|a| anomaly_row(t, cluster, a))
        .collect())
}

pub async fn anomalies(
    State(state): State<SharedState>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
    Query(p): Query<AnomalyParams>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let (severity, namespace, q) = (clean(&p.severity), clean(&p.namespace), clean(&p.q));
    let found = list_anomalies_of(
        &state,
        id.clone(),
        AnomalyQuery {
            namespace: some(&namespace),
            kind: None,
            severity: some(&severity),
            reason: None,
            q: some(&q),
            limit: Some(500),
            offset: None,
        },
    )
    .await
    .lang(user.lang)?;
    let page = Page::of_cluster(
        &state,
        &user,
        &uri,
        "anomalies",
        &id,
        Scripts::Plain,
        "anomalies.title",
    )
    .await?;
    Ok(render(&AnomaliesPage {
        rows: found.items.iter().map(|a| anomaly_row(t, &id, a)).collect(),
        total: found.total,
        severity,
        namespace,
        q,
        page,
    })?
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct OperateForm {
    csrf: String,
    action: String,
    kind: String,
    #[serde(default)]
    namespace: String,
    name: String,
    #[serde(default)]
    replicas: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    tail_lines: String,
    /// `review` (the default) shows the confirmation; `confirm` queues the command.
    #[serde(default)]
    step: String,
}

#[derive(Template)]
#[template(path = "operate.html")]
pub struct ConfirmPage {
    pub page: Page,
    pub action: String,
    pub action_label: &'static str,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub replicas: String,
    pub image: String,
    pub tail_lines: String,
    pub params: String,
    pub danger: bool,
    pub cancel: String,
}

fn params_of(form: &OperateForm) -> Result<Value, crate::error::ApiError> {
    let bad = |what: &str| crate::error::ApiError::bad_request(format!("{what} must be a whole number"));
    Ok(match form.action.as_str() {
        "scale" => json!({ "replicas": form.replicas.trim().parse::<i64>().map_err(|_| bad("replicas"))? }),
        "update_image" => json!({ "image": form.image.trim() }),
        "logs" if !form.tail_lines.trim().is_empty() => {
            json!({ "tail_lines": form.tail_lines.trim().parse::<i64>().map_err(|_| bad("tail_lines"))? })
        }
        _ => json!({}),
    })
}

/// Step one shows what will run and asks to confirm; step two queues it through
/// `gateway::commands::enqueue_as` (validated and audited like the API) and opens the history.
pub async fn operate(
    State(state): State<SharedState>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
    Form(form): Form<OperateForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let target = format!("cluster/{id}/{}/{}/{}", form.kind, form.namespace, form.name);
    user.require(
        &state,
        Role::Operator,
        Some((&format!("command.{}", form.action), &target)),
    )
    .await?;
    let t = Tr::new(user.lang);
    let kind = ResourceKind::parse(&form.kind).unwrap_or(ResourceKind::Pod);
    let detail = resource_href(&id, &form.kind, &form.namespace, &form.name);
    let params = params_of(&form);
    if form.step != "confirm" {
        let ops = operations(t, kind);
        let Some(op) = ops.iter().find(|o| o.action == form.action) else {
            return Err(WebError::not_found(
                user.lang,
                t.fill("ops.unknown", &[("action", &form.action)]),
            ));
        };
        let mut page = Page::new(
            &state,
            &user,
            &uri,
            "resources",
            t.get("ops.confirm_title").to_owned(),
            Some(&id),
            Scripts::Plain,
        )
        .await?;
        page.title = t.fill(
            "ops.confirm_title_of",
            &[("action", op.label), ("name", &form.name)],
        );
        // The page answers a POST: its language links go back to the object.
        page.langs = super::pages::lang_links(user.lang, &detail);
        return Ok(render(&ConfirmPage {
            action_label: op.label,
            danger: op.danger,
            params: params
                .as_ref()
                .map_or_else(|e| e.message.clone(), Value::to_string),
            action: form.action.clone(),
            kind: form.kind.clone(),
            namespace: form.namespace.clone(),
            name: form.name.clone(),
            replicas: form.replicas.clone(),
            image: form.image.clone(),
            tail_lines: form.tail_lines.clone(),
            cancel: detail,
            page,
        })?
        .into_response());
    }
    let outcome = match params {
        Ok(params) => {
            let request = CommandRequest {
                action: form.action.clone(),
                kind: form.kind.clone(),
                namespace: form.namespace.clone(),
                name: form.name.clone(),
                params,
                confirm: true,
                timeout_s: None,
            };
            enqueue_as(&state, &user.user, &id, request).await.map(|c| c.id)
        }
        Err(e) => Err(e),
    };
    let history = format!("/clusters/{id}/commands");
    Ok(match outcome {
        Ok(cmd) => Redirect::to(&format!("{history}?{}", fmt::query(&[("queued", &cmd)]))),
        Err(e) => Redirect::to(&format!("{history}?{}", fmt::query(&[("error", &e.message)]))),
    }
    .into_response())
}

pub struct CommandRow {
    pub id: String,
    pub action: String,
    pub target: String,
    pub status: String,
    pub status_class: &'static str,
    pub created_by: String,
    pub created: String,
    pub updated: String,
    pub result: String,
    pub highlight: bool,
}

pub struct CommandsLive {
    pub t: Tr,
    pub rows: Vec<CommandRow>,
    pub total: u64,
    pub refresh: String,
}

#[derive(Template)]
#[template(path = "commands.html")]
pub struct CommandsPage {
    pub page: Page,
    pub queued: String,
    pub queued_text: String,
    pub error: String,
    pub live: CommandsLive,
}

#[derive(Template)]
#[template(source = r#"{% include "partials/commands_live.html" %}"#, ext = "html")]
pub struct CommandsFragment {
    pub live: CommandsLive,
}

#[derive(Debug, Default, Deserialize)]
pub struct HistoryParams {
    queued: Option<String>,
    error: Option<String>,
}

async fn build_commands(
    state: &SharedState,
    user: &WebUser,
    id: &str,
    queued: &str,
) -> Result<CommandsLive, WebError> {
    let t = Tr::new(user.lang);
    let list = list_commands_of(
        state,
        &user.user,
        id,
        CommandListQuery {
            status: None,
            limit: Some(200),
            offset: None,
        },
    )
    .await
    .lang(user.lang)?;
    let rows = list
        .items
        .iter()
        .map(|c| {
            let action = &c.command.action;
            let params = action.params();
            let target = &c.command.target;
            CommandRow {
                highlight: c.id == queued,
                id: c.id.clone(),
                action: if params.as_object().is_some_and(|m| !m.is_empty()) {
                    format!("{} {params}", action.name())
                } else {
                    action.name().to_owned()
                },
                target: format!("{}/{}/{}", target.kind, target.namespace, target.name).replace("//", "/"),
                status_class: match c.status {
                    CommandStatus::Succeeded => "healthy",
                    CommandStatus::Failed | CommandStatus::TimedOut => "critical",
                    CommandStatus::Running => "info",
                    CommandStatus::Pending => "warning",
                },
                status: c.status.as_str().to_owned(),
                created_by: c.created_by.clone(),
                created: fmt::time(c.created_at),
                updated: fmt::time(c.updated_at),
                result: c.result.as_ref().map_or_else(String::new, |r| {
                    let text = r.get("output").and_then(Value::as_str).map_or_else(
                        || serde_json::to_string_pretty(r).unwrap_or_default(),
                        str::to_owned,
                    );
                    if text.chars().count() > 4000 {
                        text.chars().take(4000).collect::<String>() + "…"
                    } else {
                        text
                    }
                }),
            }
        })
        .collect();
    Ok(CommandsLive {
        t,
        rows,
        total: list.total,
        refresh: format!(
            "/clusters/{id}/commands/live?{}",
            fmt::query(&[("queued", queued)])
        ),
    })
}

pub async fn commands(
    State(state): State<SharedState>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
    Query(p): Query<HistoryParams>,
) -> Result<Response, WebError> {
    user.require(&state, Role::Operator, None).await?;
    let t = Tr::new(user.lang);
    let queued = clean(&p.queued);
    let live = build_commands(&state, &user, &id, &queued).await?;
    let page = Page::of_cluster(
        &state,
        &user,
        &uri,
        "commands",
        &id,
        Scripts::Plain,
        "commands.title",
    )
    .await?;
    Ok(render(&CommandsPage {
        queued_text: t.fill("commands.queued", &[("id", &queued)]),
        queued,
        error: clean(&p.error),
        live,
        page,
    })?
    .into_response())
}

pub async fn commands_live(
    State(state): State<SharedState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(p): Query<HistoryParams>,
) -> Result<Response, WebError> {
    user.require(&state, Role::Operator, None).await?;
    let live = build_commands(&state, &user, &id, &clean(&p.queued)).await?;
    Ok(render(&CommandsFragment { live })?.into_response())
}
