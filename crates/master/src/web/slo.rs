//! The SLO dashboard (seed 000 §6: tabs Ingress / Service-to-Service), the detail of one entry
//! (trends, latency histogram, outcome distribution, budget burn), and the mesh topology. All
//! of it from the SLO service, as the JSON API's.

use super::i18n::{Lang, Tr};
use super::overview::budget_class;
use super::pages::{Page, Scripts, render};
use super::session::WebUser;
use super::{InLang, WebError, fmt};
use crate::service::App;
use crate::service::slo::{EntryView, Origin, Overview, OverviewQuery};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

pub const RANGES: [&str; 4] = ["1h", "24h", "7d", "30d"];

pub(super) fn range_or_default(range: Option<&str>) -> &'static str {
    RANGES
        .iter()
        .find(|r| Some(**r) == range)
        .copied()
        .unwrap_or("1h")
}

pub(super) fn range_label(t: Tr, range: &str) -> &'static str {
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

pub(super) fn range_links(t: Tr, current: &str, href: impl Fn(&str) -> String) -> Vec<RangeLink> {
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

pub(super) fn burn_label(t: Tr, alert: &str) -> &'static str {
    match alert {
        "page" => t.get("slo.burn_page"),
        "ticket" => t.get("slo.burn_ticket"),
        _ => t.get("slo.burn_none"),
    }
}

pub(super) fn burn_class(alert: &str) -> &'static str {
    match alert {
        "page" => "critical",
        "ticket" => "warning",
        _ => "healthy",
    }
}

/// No rule could be evaluated (too little data or history for every window pair).
pub(super) fn burn_unknown(e: &EntryView) -> bool {
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
    /// "Traefik" or "Linkerd", with a tooltip saying what that source measures.
    pub origin: &'static str,
    pub origin_title: &'static str,
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
    let (origin, origin_title) = match e.origin {
        Origin::Traefik => (t.get("slo.origin_traefik"), t.get("slo.origin_traefik_title")),
        Origin::Linkerd => (t.get("slo.origin_linkerd"), t.get("slo.origin_linkerd_title")),
    };
    SloRow {
        origin,
        origin_title,
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
