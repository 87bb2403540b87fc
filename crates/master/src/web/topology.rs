//! The mesh topology of a cluster: service-to-service edges from the SLO counters, drawn by
//! cytoscape with each edge's traffic and health.

use super::i18n::Tr;
use super::pages::{Page, Scripts, render};
use super::session::WebUser;
use super::slo::*;
use super::{InLang, WebError, fmt};
use crate::service::App;
use crate::service::slo::OverviewQuery;
use askama::Template;
use atlhyper_model::SloType;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

pub struct EdgeRow {
    pub source: String,
    pub target: String,
    pub rps: String,
    pub success: String,
    pub p95: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub href: String,
}

#[derive(Template)]
#[template(path = "topology.html")]
pub struct TopologyPage {
    pub page: Page,
    pub ranges: Vec<RangeLink>,
    pub edges: Vec<EdgeRow>,
    pub data: String,
}

#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    range: Option<String>,
}

/// Services (and ingress domains) as nodes, calls as edges labelled with RPS, success rate
/// and P95, coloured by the entry's status; a click opens the SLO detail.
pub async fn topology(
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let range = range_or_default(q.range.as_deref());
    let overview = app
        .slo
        .overview(
            id.clone(),
            OverviewQuery {
                range: Some(range.to_owned()),
            },
        )
        .await
        .lang(user.lang)?;
    let page = Page::of_cluster(
        &app,
        &user,
        &uri,
        "topology",
        &id,
        Scripts::Graph,
        "topology.title",
    )
    .await?;
    let mut nodes: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
    let mut edges = Vec::new();
    let mut rows = Vec::new();
    let mut worst: std::collections::BTreeMap<String, u8> = std::collections::BTreeMap::new();
    let rank = |status: &str| match status {
        "critical" => 3u8,
        "warning" => 2,
        "healthy" => 1,
        _ => 0,
    };
    for e in overview.ingress.iter().chain(&overview.services) {
        let (source_id, source_label, source_kind) = match e.entry.kind {
            SloType::Ingress => (
                format!("ingress:{}", e.entry.source),
                e.entry.source.clone(),
                "ingress",
            ),
            SloType::Service => (
                format!("{}/{}", e.entry.source_namespace, e.entry.source),
                e.entry.source.clone(),
                "service",
            ),
        };
        if e.entry.target.is_empty() {
            continue;
        }
        let target_id = format!("{}/{}", e.entry.namespace, e.entry.target);
        nodes
            .entry(source_id.clone())
            .or_insert_with(|| json!({ "id": source_id, "label": source_label, "kind": source_kind }));
        nodes.entry(target_id.clone()).or_insert_with(
            || json!({ "id": target_id, "label": e.entry.target, "kind": "service", "namespace": e.entry.namespace }),
        );
        let w = worst.entry(target_id.clone()).or_default();
        *w = (*w).max(rank(&e.status));
        let href = detail_href(&id, e, range);
        let label = format!(
            "{} rps · {} · p95 {}",
            fmt::rps(e.entry.request_rate),
            fmt::pct(e.entry.success_rate),
            fmt::ms(e.entry.latency_p95)
        );
        edges.push(json!({ "source": source_id, "target": target_id, "label": label,
                           "health": status_class(&e.status), "href": href }));
        rows.push(EdgeRow {
            source: source_label,
            target: format!("{}/{}", e.entry.namespace, e.entry.target),
            rps: fmt::rps(e.entry.request_rate),
            success: fmt::pct(e.entry.success_rate),
            p95: fmt::ms(e.entry.latency_p95),
            status: status_label(t, &e.status),
            status_class: status_class(&e.status),
            href,
        });
    }
    let nodes: Vec<Value> = nodes
        .into_iter()
        .map(|(key, mut node)| {
            let health = match worst.get(&key).copied().unwrap_or(0) {
                3 => "critical",
                2 => "warning",
                1 => "healthy",
                _ => "neutral",
            };
            node["health"] = json!(health);
            node
        })
        .collect();
    let base = format!("/clusters/{id}/topology");
    Ok(render(&TopologyPage {
        ranges: range_links(t, range, |r| format!("{base}?range={r}")),
        data: fmt::script_json(&json!({ "graph": { "el": "topology", "nodes": nodes, "edges": edges } })),
        edges: rows,
        page,
    })?
    .into_response())
}
