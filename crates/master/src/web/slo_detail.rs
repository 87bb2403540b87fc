//! One SLO entry over a range: trend, latency, budget and burn-rate charts, the multi-window
//! rules with their windows, and the latency distribution.

use super::i18n::Tr;
use super::overview::budget_class;
use super::pages::{Page, Scripts, bar_chart, line_chart, pie_chart, point, render, series};
use super::session::WebUser;
use super::slo::*;
use super::{WebError, fmt};
use crate::service::App;
use crate::service::ErrorKind;
use crate::service::slo::{Detail, DetailPoint, DetailQuery};
use askama::Template;
use atlhyper_model::{SloType, Timestamp};
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

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
