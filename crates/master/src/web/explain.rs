//! Why an entity has its risk: every metric with its baseline, deviation and score, the
//! formula terms, dependencies and the path to the root cause.

use super::aiops::*;
use super::i18n::Tr;
use super::pages::{Page, Scripts, render};
use super::session::WebUser;
use super::{WebError, fmt};
use crate::service::App;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ExplainParams {
    cluster: String,
    entity: String,
}

pub struct MetricRow {
    pub metric: String,
    pub channel: String,
    pub value: String,
    pub baseline: String,
    pub deviation: String,
    pub score: String,
    pub contribution: String,
    pub anomalous: bool,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "aiops_explain.html")]
pub struct ExplainPage {
    pub page: Page,
    pub key: String,
    pub kind: String,
    pub state: String,
    pub state_class: &'static str,
    pub level: String,
    pub level_class: &'static str,
    pub r_final: String,
    pub r_weighted: String,
    pub w_time: String,
    pub propagated: String,
    pub metrics: Vec<MetricRow>,
    pub formula: Vec<String>,
    pub dependencies: Vec<(String, String, String, String, String)>,
    pub path: Vec<(String, String)>,
    pub root_cause: String,
}

pub async fn explain(
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Query(q): Query<ExplainParams>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let why = app.aiops.explain(&q.cluster, &q.entity).map_err(|_| {
        WebError::not_found(
            user.lang,
            t.fill(
                "aiops.unknown_entity",
                &[("entity", &q.entity), ("cluster", &q.cluster)],
            ),
        )
    })?;
    let mut page = Page::new(
        &app,
        &user,
        &uri,
        "risk",
        t.get("aiops.explain_title").to_owned(),
        None,
        Scripts::Plain,
    )
    .await?;
    page.cluster.clone_from(&q.cluster);
    let link = |key: &str| {
        format!(
            "/aiops/explain?{}",
            fmt::query(&[("cluster", &q.cluster), ("entity", key)])
        )
    };
    Ok(render(&ExplainPage {
        kind: word(&why.kind),
        state: word_t(t, "state", &why.state),
        state_class: level_class(&word(&why.state)),
        level: word_t(t, "level", &why.level),
        level_class: level_class(&word(&why.level)),
        r_final: format!("{:.3}", why.r_final),
        r_weighted: format!("{:.3}", why.r_weighted),
        w_time: format!("{:.3}", why.w_time),
        propagated: fmt::num(why.propagated, 3),
        metrics: why
            .metrics
            .iter()
            .map(|m| MetricRow {
                metric: word(&m.metric),
                channel: word(&m.channel),
                value: fmt::num(m.value, 4),
                baseline: m.baseline.map_or_else(
                    || fmt::NONE.to_owned(),
                    |b| {
                        let warm = if b.warm { "" } else { " *" };
                        format!("{:.4} ± {:.4} (n={}){warm}", b.mean, b.sigma, b.samples)
                    },
                ),
                deviation: fmt::num(m.deviation, 2),
                score: format!("{:.3}", m.score),
                contribution: format!("{:.3}", m.contribution),
                anomalous: m.anomalous,
                reason: m.reason.clone().unwrap_or_default(),
            })
            .collect(),
        formula: why.formula.clone(),
        dependencies: why
            .dependencies
            .iter()
            .map(|d| {
                (
                    link(&d.key),
                    d.key.clone(),
                    word(&d.edge),
                    format!("{:.3}", d.r_final),
                    format!("{:.3}", d.contribution),
                )
            })
            .collect(),
        path: why
            .path_to_root_cause
            .iter()
            .map(|k| (link(k), k.clone()))
            .collect(),
        root_cause: why.root_cause.clone(),
        key: why.key.clone(),
        page,
    })?
    .into_response())
}
