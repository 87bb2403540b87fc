//! The SLO dashboard (seed 000 §6: tabs Ingress / Service-to-Service), the detail of one entry
//! (trends, latency histogram, outcome distribution, budget burn), and the mesh topology. All
//! of it from the SLO service, as the JSON API's.

use askama::Template;
use atlhyper_model::{SloType, Timestamp};
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::i18n::{Lang, Tr};
use super::overview::budget_class;
use super::pages::{Page, Scripts, bar_chart, line_chart, pie_chart, point, render, series};
use super::session::WebUser;
use super::{InLang, WebError, fmt};
use crate::service::App;
use crate::service::ErrorKind;
use crate::service::slo::{Detail, DetailPoint, DetailQuery, EntryView, Overview, OverviewQuery};

pub const RANGES: [&str; 4] = ["1h", "24h", "7d", "30d"];

fn range_or_default(range: Option<&str>) -> &'static str {
    RANGES
        .iter()
        .find(|r| Some(**r) == range)
        .copied()
        .unwrap_or("1h")
}

fn range_label(t: Tr, range: &str) -> &'static str {
    match range {
        "24h" => t.get("range.24h"),
        "7d" => t.get("range.7d"),
        "30d" => t.get("range.30d"),
        _ => t.get("range.1h"),
    }
}

pub struct RangeLink {
    pub label: &'static str,
    pub href: String,
    pub active: bool,
}

fn range_links(t: Tr, current: &str, href: impl Fn(&str) -> String) -> Vec<RangeLink> {
    RANGES
        .iter()
        .map(|r| RangeLink {
            label: range_label(t, r),
            href: href(r),
            active: *r == current,
        })
        .collect()
}

pub fn status_label(t: Tr, status: &str) -> &'static str {
    match status {
        "healthy" => t.get("status.healthy"),
        "warning" => t.get("status.warning"),
        "critical" => t.get("status.critical"),
        _ => t.get("status.unknown"),
    }
}

pub fn status_class(status: &str) -> &'static str {
    match status {
        "healthy" => "healthy",
        "warning" => "warning",
        "critical" => "critical",
        _ => "neutral",
    }
}

fn burn_label(t: Tr, alert: &str) -> &'static str {
    match alert {
        "page" => t.get("slo.burn_page"),
        "ticket" => t.get("slo.burn_ticket"),
        _ => t.get("slo.burn_none"),
    }
}

fn burn_class(alert: &str) -> &'static str {
    match alert {
        "page" => "critical",
        "ticket" => "warning",
        _ => "healthy",
    }
}

/// No rule could be evaluated (too little data or history for every window pair).
fn burn_unknown(e: &EntryView) -> bool {
    e.burn_alert == "none" && !e.burn_rules.is_empty() && e.burn_rules.iter().all(|r| r.skipped.is_some())
}

pub fn detail_href(cluster: &str, e: &EntryView, range: &str) -> String {
    let kind = e.entry.kind.as_str();
    format!(
        "/clusters/{cluster}/slo/detail?{}",
        fmt::query(&[
            ("type", kind),
            ("source", &e.entry.source),
            ("target", &e.entry.target),
            ("source_namespace", &e.entry.source_namespace),
            ("namespace", &e.entry.namespace),
            ("range", range),
        ])
    )
}

pub struct SloRow {
    pub source: String,
    pub source_namespace: String,
    pub target: String,
    pub namespace: String,
    pub success: String,
    pub success_class: &'static str,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub rps: String,
    pub requests: String,
    pub budget: String,
    pub budget_class: &'static str,
    pub status: &'static str,
    pub status_class: &'static str,
    pub burn: &'static str,
    pub burn_class: &'static str,
    pub href: String,
}

fn row(t: Tr, cluster: &str, range: &str, e: &EntryView) -> SloRow {
    SloRow {
        source: e.entry.source.clone(),
        source_namespace: e.entry.source_namespace.clone(),
        target: if e.entry.target.is_empty() {
            fmt::NONE.to_owned()
        } else {
            e.entry.target.clone()
        },
        namespace: e.entry.namespace.clone(),
        success: fmt::pct(e.entry.success_rate),
        success_class: match e.entry.success_rate {
            None => "neutral",
            Some(r) if r < e.objective.availability => "critical",
            Some(_) => "healthy",
        },
        p50: fmt::ms(e.entry.latency_p50),
        p95: fmt::ms(e.entry.latency_p95),
        p99: fmt::ms(e.entry.latency_p99),
        rps: fmt::rps(e.entry.request_rate),
        requests: fmt::count(e.entry.total_requests),
        budget: fmt::pct(e.error_budget_remaining),
        budget_class: budget_class(e.error_budget_remaining),
        status: status_label(t, &e.status),
        status_class: status_class(&e.status),
        burn: if burn_unknown(e) {
            t.get("slo.burn_unknown")
        } else {
            burn_label(t, &e.burn_alert)
        },
        burn_class: if burn_unknown(e) {
            "neutral"
        } else {
            burn_class(&e.burn_alert)
        },
        href: detail_href(cluster, e, range),
    }
}

pub struct SummaryCard {
    pub label: &'static str,
    pub value: String,
    pub class: &'static str,
}

pub struct SloTable {
    pub t: Tr,
    pub tab: &'static str,
    pub range: &'static str,
    pub refresh: String,
    pub rows: Vec<SloRow>,
    pub cards: Vec<SummaryCard>,
}

fn summary_cards(t: Tr, overview: &Overview) -> Vec<SummaryCard> {
    let all: Vec<&EntryView> = overview.ingress.iter().chain(&overview.services).collect();
    let (ok, total) = all.iter().fold((0u64, 0u64), |(ok, total), e| {
        (ok + e.entry.success_requests, total + e.entry.total_requests)
    });
    let p95: Vec<f64> = all.iter().filter_map(|e| e.entry.latency_p95).collect();
    let alerts = all.iter().filter(|e| e.burn_alert != "none").count();
    let rps: f64 = overview.ingress.iter().map(|e| e.entry.request_rate).sum();
    vec![
        SummaryCard {
            label: t.get("slo.card_domains"),
            value: overview.ingress.len().to_string(),
            class: "",
        },
        SummaryCard {
            label: t.get("slo.card_edges"),
            value: overview.services.len().to_string(),
            class: "",
        },
        SummaryCard {
            label: t.get("slo.card_availability"),
            value: if total > 0 {
                fmt::pct(Some(ok as f64 / total as f64 * 100.0))
            } else {
                fmt::NONE.to_owned()
            },
            class: "",
        },
        SummaryCard {
            label: t.get("slo.card_p95"),
            value: fmt::ms((!p95.is_empty()).then(|| p95.iter().sum::<f64>() / p95.len() as f64)),
            class: "",
        },
        SummaryCard {
            label: t.get("slo.card_rps"),
            value: fmt::rps(rps),
            class: "",
        },
        SummaryCard {
            label: t.get("slo.card_alerts"),
            value: alerts.to_string(),
            class: if alerts > 0 { "critical" } else { "healthy" },
        },
    ]
}

#[derive(Debug, Deserialize)]
pub struct DashboardQuery {
    tab: Option<String>,
    range: Option<String>,
}

async fn build_table(app: &App, lang: Lang, cluster: &str, q: &DashboardQuery) -> Result<SloTable, WebError> {
    let t = Tr::new(lang);
    let tab = if q.tab.as_deref() == Some("service") {
        "service"
    } else {
        "ingress"
    };
    let range = range_or_default(q.range.as_deref());
    let overview = app
        .slo
        .overview(
            cluster.to_owned(),
            OverviewQuery {
                range: Some(range.to_owned()),
            },
        )
        .await
        .lang(lang)?;
    let mut entries: Vec<&EntryView> = if tab == "service" {
        overview.services.iter().collect()
    } else {
        overview.ingress.iter().collect()
    };
    entries.sort_by(|a, b| {
        (
            a.entry.namespace.as_str(),
            a.entry.source.as_str(),
            a.entry.target.as_str(),
        )
            .cmp(&(
                b.entry.namespace.as_str(),
                b.entry.source.as_str(),
                b.entry.target.as_str(),
            ))
    });
    Ok(SloTable {
        t,
        refresh: format!(
            "/clusters/{cluster}/slo/table?{}",
            fmt::query(&[("tab", tab), ("range", range)])
        ),
        rows: entries.iter().map(|e| row(t, cluster, range, e)).collect(),
        cards: summary_cards(t, &overview),
        tab,
        range,
    })
}

pub struct Tab {
    pub id: &'static str,
    pub label: &'static str,
    pub href: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "slo.html")]
pub struct DashboardPage {
    pub page: Page,
    pub tabs: Vec<Tab>,
    pub ranges: Vec<RangeLink>,
    pub table: SloTable,
}

#[derive(Template)]
#[template(source = r#"{% include "partials/slo_table.html" %}"#, ext = "html")]
pub struct TableFragment {
    pub table: SloTable,
}

pub async fn dashboard(
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Query<DashboardQuery>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let table = build_table(&app, user.lang, &id, &q).await?;
    let page = Page::of_cluster(&app, &user, &uri, "slo", &id, Scripts::Plain, "slo.title").await?;
    let (tab, range) = (table.tab, table.range);
    let base = format!("/clusters/{id}/slo");
    Ok(render(&DashboardPage {
        tabs: [("ingress", "slo.tab_ingress"), ("service", "slo.tab_service")]
            .iter()
            .map(|(tid, key)| Tab {
                id: tid,
                label: t.get(key),
                href: format!("{base}?{}", fmt::query(&[("tab", tid), ("range", range)])),
                active: *tid == tab,
            })
            .collect(),
        ranges: range_links(t, range, |r| {
            format!("{base}?{}", fmt::query(&[("tab", tab), ("range", r)]))
        }),
        table,
        page,
    })?
    .into_response())
}

/// The summary cards and the table alone, for htmx (every 15 s and on tab switches).
pub async fn table(
    State(app): State<App>,
    user: WebUser,
    Path(id): Path<String>,
    Query(q): Query<DashboardQuery>,
) -> Result<Response, WebError> {
    let table = build_table(&app, user.lang, &id, &q).await?;
    Ok(render(&TableFragment { table })?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct DetailParams {
    #[serde(rename = "type")]
    kind: String,
    source: String,
    target: String,
    #[serde(default)]
    source_namespace: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    range: Option<String>,
}

pub struct BurnRow {
    pub window: String,
    pub rate: String,
    pub class: &'static str,
}

pub struct RuleRow {
    pub severity: &'static str,
    pub windows: String,
    pub factor: String,
    pub long_burn: String,
    pub short_burn: String,
    pub state: &'static str,
    pub class: &'static str,
}

#[derive(Template)]
#[template(path = "slo_detail.html")]
pub struct DetailPage {
    pub page: Page,
    pub kind_label: &'static str,
    pub namespace: String,
    pub range_name: &'static str,
    pub ranges: Vec<RangeLink>,
    pub back: String,
    pub found: bool,
    pub message: String,
    pub cards: Vec<SummaryCard>,
    pub objective: String,
    pub burns: Vec<BurnRow>,
    pub rules: Vec<RuleRow>,
    pub data: String,
}

fn window_seconds_label(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    }
}

fn detail_charts(t: Tr, d: &Detail) -> Vec<Value> {
    let ms: Vec<i64> = d
        .points
        .iter()
        .map(|p| Timestamp::parse_rfc3339(&p.timestamp).map_or(0, |t| t.0))
        .collect();
    let line = |pick: &dyn Fn(&DetailPoint) -> Option<f64>| -> Vec<Value> {
        d.points
            .iter()
            .zip(&ms)
            .map(|(p, at)| point(*at, pick(p)))
            .collect()
    };
    let availability = d.summary.objective.availability;
    let mut success = vec![series(t.get("detail.success_rate"), line(&|p| p.success_rate))];
    success.push(json!({ "name": t.get("detail.objective"), "data": ms.iter().map(|at| point(*at, Some(availability))).collect::<Vec<_>>(), "dashed": true }));
    let categories: Vec<String> = d
        .latency_buckets
        .iter()
        .map(|b| {
            b.le.map_or_else(|| "+Inf".to_owned(), |le| format!("≤{}", fmt::ms(Some(le))))
        })
        .collect();
    let counts: Vec<f64> = d.latency_buckets.iter().map(|b| b.count).collect();
    let total = d.summary.entry.total_requests as f64;
    let ok = d.summary.entry.success_requests as f64;
    vec![
        line_chart("chart-success", t.get("detail.chart_success"), "%", success),
        line_chart(
            "chart-latency",
            t.get("detail.chart_latency"),
            "ms",
            vec![
                series("P50", line(&|p| p.latency_p50)),
                series("P95", line(&|p| p.latency_p95)),
                series("P99", line(&|p| p.latency_p99)),
            ],
        ),
        line_chart(
            "chart-rps",
            t.get("detail.chart_rps"),
            "rps",
            vec![series("RPS", line(&|p| Some(p.request_rate)))],
        ),
        line_chart(
            "chart-budget",
            t.get("detail.chart_budget"),
            "%",
            vec![series(
                t.get("detail.budget_remaining"),
                line(&|p| p.error_budget_remaining),
            )],
        ),
        bar_chart(
            "chart-histogram",
            t.get("detail.chart_histogram"),
            "",
            categories,
            counts,
        ),
        pie_chart(
            "chart-outcome",
            t.get("detail.chart_outcome"),
            vec![
                (t.get("detail.outcome_success").to_owned(), ok, "#2e9d6a"),
                (
                    t.get("detail.outcome_failure").to_owned(),
                    (total - ok).max(0.0),
                    "#d64545",
                ),
            ],
        ),
    ]
}

pub async fn detail(
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Query<DetailParams>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let range = range_or_default(q.range.as_deref());
    let query = DetailQuery {
        kind: q.kind.clone(),
        source: q.source.clone(),
        target: q.target.clone(),
        source_namespace: q.source_namespace.clone().filter(|s| !s.is_empty()),
        namespace: q.namespace.clone().filter(|s| !s.is_empty()),
        range: Some(range.to_owned()),
    };
    let result = app.slo.detail(&id, &query).await;
    let detail = match result {
        Ok(d) => Some(d),
        // No data in this range: the page still shows, with the range switch.
        Err(e) if e.kind == ErrorKind::NotFound && app.clusters.find(&id).await.is_ok() => None,
        Err(e) => return Err(WebError::from(e).in_lang(user.lang)),
    };
    let kind_label = if q.kind == "ingress" {
        t.get("slo.tab_ingress")
    } else {
        t.get("slo.tab_service")
    };
    let mut page = Page::new(
        &app,
        &user,
        &uri,
        "slo",
        String::new(),
        Some(&id),
        Scripts::Charts,
    )
    .await?;
    let target = if q.target.is_empty() {
        fmt::NONE.to_owned()
    } else {
        q.target.clone()
    };
    page.title = t.fill("detail.title", &[("source", &q.source), ("target", &target)]);
    let base = |r: &str| {
        format!(
            "/clusters/{id}/slo/detail?{}",
            fmt::query(&[
                ("type", &q.kind),
                ("source", &q.source),
                ("target", &q.target),
                ("source_namespace", q.source_namespace.as_deref().unwrap_or("")),
                ("namespace", q.namespace.as_deref().unwrap_or("")),
                ("range", r),
            ])
        )
    };
    let tab = if q.kind == "ingress" {
        SloType::Ingress
    } else {
        SloType::Service
    };
    let back = format!(
        "/clusters/{id}/slo?{}",
        fmt::query(&[("tab", tab.as_str()), ("range", range)])
    );
    let ranges = range_links(t, range, base);
    let Some(d) = detail else {
        return Ok(render(&DetailPage {
            kind_label,
            namespace: q.namespace.clone().unwrap_or_default(),
            range_name: range_label(t, range),
            ranges,
            back,
            found: false,
            message: t.fill("detail.no_data", &[("range", range_label(t, range))]),
            cards: Vec::new(),
            objective: String::new(),
            burns: Vec::new(),
            rules: Vec::new(),
            data: fmt::script_json(&json!({ "charts": [] })),
            page,
        })?
        .into_response());
    };
    let s = &d.summary;
    let cards = vec![
        SummaryCard {
            label: t.get("detail.success_rate"),
            value: fmt::pct(s.entry.success_rate),
            class: status_class(&s.status),
        },
        SummaryCard {
            label: "P50",
            value: fmt::ms(s.entry.latency_p50),
            class: "",
        },
        SummaryCard {
            label: "P95",
            value: fmt::ms(s.entry.latency_p95),
            class: "",
        },
        SummaryCard {
            label: "P99",
            value: fmt::ms(s.entry.latency_p99),
            class: "",
        },
        SummaryCard {
            label: "RPS",
            value: fmt::rps(s.entry.request_rate),
            class: "",
        },
        SummaryCard {
            label: t.get("detail.requests"),
            value: fmt::count(s.entry.total_requests),
            class: "",
        },
        SummaryCard {
            label: t.get("detail.budget_remaining"),
            value: fmt::pct(s.error_budget_remaining),
            class: budget_class(s.error_budget_remaining),
        },
        SummaryCard {
            label: t.get("detail.status"),
            value: status_label(t, &s.status).to_owned(),
            class: status_class(&s.status),
        },
    ];
    let objective = t.fill(
        "detail.objective_text",
        &[
            ("availability", &format!("{}", s.objective.availability)),
            ("days", &s.objective.period_days.to_string()),
            (
                "p95",
                &s.objective
                    .latency_p95_ms
                    .map_or_else(|| fmt::NONE.to_owned(), |v| fmt::ms(Some(v))),
            ),
        ],
    );
    let burns = s
        .burn_rates
        .iter()
        .map(|(w, r)| BurnRow {
            window: w.clone(),
            rate: r.map_or_else(|| fmt::NONE.to_owned(), |r| format!("{r:.2}×")),
            class: match r {
                Some(r) if *r >= 6.0 => "critical",
                Some(r) if *r >= 1.0 => "warning",
                Some(_) => "healthy",
                None => "neutral",
            },
        })
        .collect();
    let rules = s
        .burn_rules
        .iter()
        .map(|r| {
            let page_rule = r.rule.severity == atlhyper_slo::Severity::Page;
            RuleRow {
                severity: if page_rule {
                    t.get("slo.burn_page")
                } else {
                    t.get("slo.burn_ticket")
                },
                windows: format!(
                    "{} & {}",
                    window_seconds_label(r.rule.long_window_s),
                    window_seconds_label(r.rule.short_window_s)
                ),
                factor: format!("{}×", r.rule.factor),
                long_burn: r
                    .long_burn
                    .map_or_else(|| fmt::NONE.to_owned(), |b| format!("{b:.2}×")),
                short_burn: r
                    .short_burn
                    .map_or_else(|| fmt::NONE.to_owned(), |b| format!("{b:.2}×")),
                state: if r.firing {
                    t.get("detail.rule_firing")
                } else if r.skipped.is_some() {
                    t.get("detail.rule_skipped")
                } else {
                    t.get("detail.rule_quiet")
                },
                class: if r.firing {
                    if page_rule { "critical" } else { "warning" }
                } else if r.skipped.is_some() {
                    "neutral"
                } else {
                    "healthy"
                },
            }
        })
        .collect();
    let charts = detail_charts(t, &d);
    Ok(render(&DetailPage {
        kind_label,
        namespace: s.entry.namespace.clone(),
        range_name: range_label(t, range),
        ranges,
        back,
        found: true,
        message: String::new(),
        cards,
        objective,
        burns,
        rules,
        data: fmt::script_json(&json!({ "charts": charts })),
        page,
    })?
    .into_response())
}

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
