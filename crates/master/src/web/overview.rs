//! The overview across clusters: agent online/offline, nodes, SLO summary, AIOps risk, active
//! incidents and the riskiest entities. The live part refreshes every 15 s.

use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};

use super::i18n::Tr;
use super::pages::{Page, Scripts, render};
use super::session::WebUser;
use super::{InLang, WebError, aiops, fmt};
use crate::gateway::slo::{OverviewQuery, overview_of};
use crate::state::SharedState;

pub struct ClusterCard {
    pub id: String,
    pub name: String,
    pub online: bool,
    pub last_seen: String,
    pub nodes: usize,
    pub entries: usize,
    pub healthy: usize,
    pub warning: usize,
    pub critical: usize,
    pub availability: String,
    pub lowest_budget: String,
    pub lowest_budget_class: &'static str,
    pub rps: String,
    pub risk: String,
    pub risk_level: String,
    pub risk_class: &'static str,
    pub open_incidents: usize,
}

pub struct OverviewLive {
    pub t: Tr,
    pub clusters: Vec<ClusterCard>,
    /// "2 clusters, 2 online".
    pub summary: String,
    pub incidents: Vec<aiops::IncidentRow>,
    pub anomalies: Vec<super::resources::AnomalyRow>,
    pub risky: Vec<aiops::RiskRow>,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub page: Page,
    pub live: OverviewLive,
}

#[derive(Template)]
#[template(source = r#"{% include "partials/overview_live.html" %}"#, ext = "html")]
pub struct OverviewFragment {
    pub live: OverviewLive,
}

/// Budget remaining → badge class.
pub fn budget_class(value: Option<f64>) -> &'static str {
    match value {
        None => "neutral",
        Some(v) if v < 0.0 => "critical",
        Some(v) if v < 25.0 => "warning",
        Some(_) => "healthy",
    }
}

async fn build_live(state: &SharedState, user: &WebUser) -> Result<OverviewLive, WebError> {
    let lang = user.lang;
    let t = Tr::new(lang);
    let now = state.now();
    let offline_ms = i64::try_from(state.config.offline_after.as_millis()).unwrap_or(i64::MAX);
    let clusters = state
        .store
        .clusters()
        .await
        .map_err(crate::error::ApiError::from)
        .lang(lang)?;
    let incidents = state.aiops.incidents();
    let mut cards = Vec::new();
    for c in &clusters {
        let hub = state.hub.get(&c.id);
        let overview = overview_of(
            state,
            c.id.clone(),
            OverviewQuery {
                range: Some("1h".into()),
            },
        )
        .await
        .lang(lang)?;
        let entries: Vec<_> = overview.ingress.iter().chain(&overview.services).collect();
        let count = |status: &str| entries.iter().filter(|e| e.status == status).count();
        let (ok, total) = entries.iter().fold((0u64, 0u64), |(ok, total), e| {
            (ok + e.entry.success_requests, total + e.entry.total_requests)
        });
        let lowest = entries
            .iter()
            .filter_map(|e| e.error_budget_remaining)
            .min_by(f64::total_cmp);
        let rps: f64 = overview.ingress.iter().map(|e| e.entry.request_rate).sum();
        let risk = state.aiops.cluster_risk(&c.id);
        cards.push(ClusterCard {
            online: state.hub.online(&c.id, now, offline_ms),
            last_seen: hub
                .last_seen
                .map_or_else(|| t.get("common.never").to_owned(), fmt::time),
            nodes: hub.latest.as_ref().map_or(0, |s| s.nodes.len()),
            entries: entries.len(),
            healthy: count("healthy"),
            warning: count("warning"),
            critical: count("critical"),
            availability: if total > 0 {
                fmt::pct(Some(ok as f64 / total as f64 * 100.0))
            } else {
                fmt::NONE.to_owned()
            },
            lowest_budget: fmt::pct(lowest),
            lowest_budget_class: budget_class(lowest),
            rps: fmt::rps(rps),
            risk: risk
                .as_ref()
                .map_or_else(|| fmt::NONE.to_owned(), |r| format!("{:.0}", r.risk)),
            risk_level: risk.as_ref().map_or_else(
                || t.get("common.unknown").to_owned(),
                |r| aiops::word_t(t, "level", &r.level),
            ),
            risk_class: risk
                .as_ref()
                .map_or("neutral", |r| aiops::level_class(&aiops::word(&r.level))),
            open_incidents: incidents
                .iter()
                .filter(|i| i.cluster == c.id && i.is_open())
                .count(),
            id: c.id.clone(),
            name: c.name.clone(),
        });
    }
    let open: Vec<_> = incidents.iter().filter(|i| i.is_open()).take(8).collect();
    let mut anomalies = Vec::new();
    for c in &clusters {
        anomalies.extend(
            super::resources::anomaly_rows(state, t, &c.id, 8)
                .await
                .lang(lang)?,
        );
    }
    let rank = |class: &str| match class {
        "critical" => 0,
        "warning" => 1,
        _ => 2,
    };
    anomalies.sort_by_key(|a| rank(a.severity_class));
    anomalies.truncate(8);
    let mut risky = Vec::new();
    for c in &clusters {
        risky.extend(aiops::risk_rows(state, t, &c.id, 5));
    }
    risky.retain(|r| r.level_class != "healthy");
    risky.sort_by(|a, b| b.r_final_value.total_cmp(&a.r_final_value));
    risky.truncate(8);
    let online = cards.iter().filter(|c| c.online).count();
    Ok(OverviewLive {
        t,
        summary: t.fill(
            "overview.clusters_count",
            &[
                ("count", &cards.len().to_string()),
                ("online", &online.to_string()),
            ],
        ),
        clusters: cards,
        incidents: open
            .into_iter()
            .map(|i| aiops::incident_row(t, i, now.0))
            .collect(),
        risky,
        anomalies,
        updated: fmt::time(now),
    })
}

pub async fn page(State(state): State<SharedState>, user: WebUser, uri: Uri) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let page = Page::new(
        &state,
        &user,
        &uri,
        "overview",
        t.get("overview.title").to_owned(),
        None,
        Scripts::Plain,
    )
    .await?;
    let live = build_live(&state, &user).await?;
    Ok(render(&OverviewPage { page, live })?.into_response())
}

/// The live part alone, for htmx.
pub async fn live(State(state): State<SharedState>, user: WebUser) -> Result<Response, WebError> {
    Ok(render(&OverviewFragment {
        live: build_live(&state, &user).await?,
    })?
    .into_response())
}
