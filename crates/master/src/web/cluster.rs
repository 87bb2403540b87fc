//! One cluster: agent status and delivery, scrape targets, nodes with their latest figures,
//! and charts of the agent's one-hour node rings.

use askama::Template;
use atlhyper_model::{AgentSnapshot, NodePoint};
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::i18n::Tr;
use super::pages::{Page, Scripts, line_chart, point, render, series};
use super::session::WebUser;
use super::{InLang, WebError, fmt};
use crate::gateway::clusters::find;
use crate::state::SharedState;

pub struct NodeRow {
    pub name: String,
    pub cpu: String,
    pub cpu_class: &'static str,
    pub memory: String,
    pub memory_class: &'static str,
    pub load: String,
    pub cores: String,
    pub disk: String,
    pub net_rx: String,
    pub net_tx: String,
    pub temperature: String,
    pub uptime: String,
}

pub struct TargetRow {
    pub target: String,
    pub ok: bool,
    pub last_success: String,
    pub error: String,
    pub series: u64,
    pub duration: String,
}

pub struct ClusterLive {
    pub t: Tr,
    pub id: String,
    pub online: bool,
    pub last_seen: String,
    pub last_snapshot: String,
    pub received: String,
    pub gaps: u64,
    pub dropped: u64,
    pub nodes: Vec<NodeRow>,
    pub targets: Vec<TargetRow>,
}

#[derive(Template)]
#[template(path = "cluster.html")]
pub struct ClusterPage {
    pub page: Page,
    pub live: ClusterLive,
    pub data: String,
    pub has_series: bool,
}

#[derive(Template)]
#[template(source = r#"{% include "partials/cluster_live.html" %}"#, ext = "html")]
pub struct ClusterFragment {
    pub live: ClusterLive,
}

fn usage_class(value: Option<f64>) -> &'static str {
    match value {
        Some(v) if v >= 90.0 => "critical",
        Some(v) if v >= 75.0 => "warning",
        Some(_) => "healthy",
        None => "neutral",
    }
}

async fn latest(state: &SharedState, id: &str) -> Result<Option<AgentSnapshot>, crate::error::ApiError> {
    Ok(match state.hub.get(id).latest {
        Some(held) => Some((*held).clone()),
        None => state.store.latest_snapshot(id).await?,
    })
}

async fn build_live(
    state: &SharedState,
    user: &WebUser,
    id: &str,
) -> Result<(ClusterLive, Option<AgentSnapshot>), WebError> {
    let t = Tr::new(user.lang);
    let lang = user.lang;
    find(state, id).await.lang(lang)?;
    let hub = state.hub.get(id);
    let offline_ms = i64::try_from(state.config.offline_after.as_millis()).unwrap_or(i64::MAX);
    let stats = state
        .store
        .seq_stats(id)
        .await
        .map_err(crate::error::ApiError::from)
        .lang(lang)?;
    let snapshot = latest(state, id).await.lang(lang)?;
    let never = || t.get("common.never").to_owned();
    let nodes = snapshot
        .as_ref()
        .map(|s| {
            s.nodes
                .iter()
                .map(|n| {
                    let fullest = n
                        .filesystems
                        .iter()
                        .filter_map(|f| f.usage_pct)
                        .max_by(f64::total_cmp);
                    let rx: f64 = n.networks.iter().filter_map(|d| d.receive_bytes_per_sec).sum();
                    let tx: f64 = n.networks.iter().filter_map(|d| d.transmit_bytes_per_sec).sum();
                    NodeRow {
                        name: n.node.clone(),
                        cpu: fmt::pct(n.cpu.usage_pct),
                        cpu_class: usage_class(n.cpu.usage_pct),
                        memory: fmt::pct(n.memory.usage_pct),
                        memory_class: usage_class(n.memory.usage_pct),
                        load: fmt::num(n.cpu.load1, 2),
                        cores: n
                            .cpu
                            .cores
                            .map_or_else(|| fmt::NONE.to_owned(), |c| c.to_string()),
                        disk: fmt::pct(fullest),
                        net_rx: format!("{}/s", fmt::bytes(Some(rx))),
                        net_tx: format!("{}/s", fmt::bytes(Some(tx))),
                        temperature: n
                            .temperature
                            .cpu_celsius
                            .map_or_else(|| fmt::NONE.to_owned(), |c| format!("{c:.0} °C")),
                        uptime: n
                            .uptime_seconds
                            .map_or_else(|| fmt::NONE.to_owned(), fmt::duration_s),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let targets = snapshot
        .as_ref()
        .map(|s| {
            s.targets
                .iter()
                .map(|h| TargetRow {
                    target: h.target.clone(),
                    ok: h.last_error.is_none(),
                    last_success: h.last_success.map_or_else(never, fmt::time),
                    error: h.last_error.clone().unwrap_or_default(),
                    series: h.series,
                    duration: fmt::ms(Some(h.duration_ms)),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((
        ClusterLive {
            t,
            id: id.to_owned(),
            online: state.hub.online(id, state.now(), offline_ms),
            last_seen: hub.last_seen.map_or_else(never, fmt::time),
            last_snapshot: stats.last_snapshot_at.map_or_else(never, fmt::time),
            received: fmt::count(stats.snapshots_received),
            gaps: stats.seq_gaps,
            dropped: stats.agent_dropped,
            nodes,
            targets,
        },
        snapshot,
    ))
}

/// One chart per figure of the node rings, one series per node.
fn node_charts(t: Tr, snapshot: &AgentSnapshot) -> Vec<Value> {
    type Pick = fn(&NodePoint) -> Option<f64>;
    let figures: [(&str, &str, &str, Pick); 7] = [
        ("chart-cpu", "nodes.chart_cpu", "%", |p| p.cpu_pct),
        ("chart-memory", "nodes.chart_memory", "%", |p| p.memory_pct),
        ("chart-load", "nodes.chart_load", "", |p| p.load1),
        ("chart-disk", "nodes.chart_disk", "%", |p| p.disk_pct),
        ("chart-rx", "nodes.chart_rx", "B/s", |p| {
            p.network_receive_bytes_per_sec
        }),
        ("chart-tx", "nodes.chart_tx", "B/s", |p| {
            p.network_transmit_bytes_per_sec
        }),
        ("chart-psi", "nodes.chart_psi", "%", |p| p.psi_cpu_some_pct),
    ];
    figures
        .iter()
        .map(|(el, key, unit, pick)| {
            let lines = snapshot
                .node_series
                .iter()
                .map(|s| {
                    series(
                        &s.node,
                        s.points.iter().map(|p| point(p.minute.0, pick(p))).collect(),
                    )
                })
                .collect();
            line_chart(el, t.get(key), unit, lines)
        })
        .collect()
}

pub async fn page(
    State(state): State<SharedState>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let (live, snapshot) = build_live(&state, &user, &id).await?;
    let page = Page::of_cluster(
        &state,
        &user,
        &uri,
        "cluster",
        &id,
        Scripts::Charts,
        "cluster.title",
    )
    .await?;
    let charts = snapshot.as_ref().map(|s| node_charts(t, s)).unwrap_or_default();
    let has_series = snapshot
        .as_ref()
        .is_some_and(|s| s.node_series.iter().any(|n| !n.points.is_empty()));
    Ok(render(&ClusterPage {
        data: fmt::script_json(&json!({ "charts": charts })),
        has_series,
        live,
        page,
    })?
    .into_response())
}

pub async fn live(
    State(state): State<SharedState>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let (live, _) = build_live(&state, &user, &id).await?;
    Ok(render(&ClusterFragment { live })?.into_response())
}
