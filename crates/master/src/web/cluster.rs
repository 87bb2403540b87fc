//! One cluster: agent status and delivery, scrape targets, nodes with their latest figures,
//! and charts of the agent's one-hour node rings.

use askama::Template;
use std::sync::Arc;

use atlhyper_model::{AgentSnapshot, NodeMetrics, NodePoint};
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::i18n::Tr;
use super::pages::{Page, Scripts, line_chart, point, render, series};
use super::session::WebUser;
use super::{InLang, WebError, fmt};
use crate::service::App;

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

/// One node's row: usage with its warning class, load, the fullest filesystem, network rates,
/// temperature and uptime.
pub fn node_row(n: &NodeMetrics) -> NodeRow {
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
}

async fn build_live(
    app: &App,
    user: &WebUser,
    id: &str,
) -> Result<(ClusterLive, Option<Arc<AgentSnapshot>>), WebError> {
    let t = Tr::new(user.lang);
    let lang = user.lang;
    let stats = app.clusters.seq_stats(id).await.lang(lang)?;
    let hub = app.clusters.live(id);
    let snapshot = app.clusters.latest(id).await.lang(lang)?;
    let never = || t.get("common.never").to_owned();
    let nodes = snapshot
        .as_ref()
        .map(|s| s.nodes.iter().map(node_row).collect())
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
            online: app.clusters.online(id),
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
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let (live, snapshot) = build_live(&app, &user, &id).await?;
    let page = Page::of_cluster(
        &app,
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
    State(app): State<App>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let (live, _) = build_live(&app, &user, &id).await?;
    Ok(render(&ClusterFragment { live })?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_row_flags_high_usage_and_takes_the_fullest_filesystem() {
        use atlhyper_model::{CpuMetrics, FilesystemMetrics, MemoryMetrics, NetworkMetrics};
        let fs = |usage| FilesystemMetrics {
            usage_pct: Some(usage),
            ..FilesystemMetrics::default()
        };
        let net = |rx, tx| NetworkMetrics {
            receive_bytes_per_sec: Some(rx),
            transmit_bytes_per_sec: tx,
            ..NetworkMetrics::default()
        };
        let node = NodeMetrics {
            node: "node-1".into(),
            cpu: CpuMetrics {
                usage_pct: Some(93.0),
                cores: Some(4),
                load1: Some(1.234),
                ..CpuMetrics::default()
            },
            memory: MemoryMetrics {
                usage_pct: Some(80.0),
                ..MemoryMetrics::default()
            },
            filesystems: vec![fs(40.0), fs(71.5)],
            networks: vec![net(1000.0, Some(24.0)), net(24.0, None)],
            ..NodeMetrics::default()
        };
        let row = node_row(&node);
        assert_eq!((row.cpu_class, row.memory_class), ("critical", "warning"));
        assert_eq!(row.disk, fmt::pct(Some(71.5)));
        assert_eq!(row.net_rx, format!("{}/s", fmt::bytes(Some(1024.0))));
        assert_eq!(
            (row.cores.as_str(), row.load.as_str()),
            ("4", fmt::num(Some(1.234), 2).as_str())
        );
        assert_eq!(row.uptime, fmt::NONE);
    }
}
