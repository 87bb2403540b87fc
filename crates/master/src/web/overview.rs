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
use atlhyper_aiops::ClusterRisk;

use crate::datahub::ClusterLive;
use crate::service::App;
use crate::service::slo::{Overview, OverviewQuery};
use crate::store::{ClusterRecord, IncidentFilter, IncidentStateFilter};

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
    pub anomalies: Vec<super::events::AnomalyRow>,
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

/// What one cluster's card shows, from what the services said of it.
pub struct CardInput<'a> {
    pub cluster: &'a ClusterRecord,
    pub online: bool,
    pub live: &'a ClusterLive,
    pub overview: &'a Overview,
    pub risk: Option<&'a ClusterRisk>,
    pub open_incidents: usize,
}

/// A cluster's card: online state, SLO health counts, availability and lowest budget over the
/// hour, ingress request rate, AIOps risk and open incidents.
pub fn cluster_card(t: Tr, input: &CardInput<'_>) -> ClusterCard {
    let overview = input.overview;
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
    let risk = input.risk;
    ClusterCard {
        online: input.online,
        last_seen: input
            .live
            .last_seen
            .map_or_else(|| t.get("common.never").to_owned(), fmt::time),
        nodes: input.live.latest.as_ref().map_or(0, |s| s.nodes.len()),
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
        risk: risk.map_or_else(|| fmt::NONE.to_owned(), |r| format!("{:.0}", r.risk)),
        risk_level: risk.map_or_else(
            || t.get("common.unknown").to_owned(),
            |r| aiops::word_t(t, "level", &r.level),
        ),
        risk_class: risk.map_or("neutral", |r| aiops::level_class(&aiops::word(&r.level))),
        open_incidents: input.open_incidents,
        id: input.cluster.id.clone(),
        name: input.cluster.name.clone(),
    }
}

async fn build_live(app: &App, user: &WebUser) -> Result<OverviewLive, WebError> {
    let lang = user.lang;
    let t = Tr::new(lang);
    let now = app.now();
    let clusters = app.clusters.records().await.lang(lang)?;
    let open_counts = app.aiops.open_counts().await.lang(lang)?;
    let mut cards = Vec::new();
    for c in &clusters {
        let overview = app
            .slo
            .overview(
                c.id.clone(),
                OverviewQuery {
                    range: Some("1h".into()),
                },
            )
            .await
            .lang(lang)?;
        let risk = app.aiops.cluster_risk(&c.id);
        cards.push(cluster_card(
            t,
            &CardInput {
                cluster: c,
                online: app.clusters.online(&c.id),
                live: &app.clusters.live(&c.id),
                overview: &overview,
                risk: risk.as_ref(),
                open_incidents: open_counts.get(&c.id).copied().unwrap_or(0),
            },
        ));
    }
    let (open, _) = app
        .aiops
        .incidents(&IncidentFilter {
            state: Some(IncidentStateFilter::Open),
            limit: 8,
            ..IncidentFilter::default()
        })
        .await
        .lang(lang)?;
    let mut anomalies = Vec::new();
    for c in &clusters {
        anomalies.extend(super::events::anomaly_rows(app, t, &c.id, 8).await.lang(lang)?);
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
        risky.extend(aiops::risk_rows(app, t, &c.id, 5));
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
        incidents: open.iter().map(|i| aiops::incident_row(t, i, now.0)).collect(),
        risky,
        anomalies,
        updated: fmt::time(now),
    })
}

pub async fn page(State(app): State<App>, user: WebUser, uri: Uri) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let page = Page::new(
        &app,
        &user,
        &uri,
        "overview",
        t.get("overview.title").to_owned(),
        None,
        Scripts::Plain,
    )
    .await?;
    let live = build_live(&app, &user).await?;
    Ok(render(&OverviewPage { page, live })?.into_response())
}

/// The live part alone, for htmx.
pub async fn live(State(app): State<App>, user: WebUser) -> Result<Response, WebError> {
    Ok(render(&OverviewFragment {
        live: build_live(&app, &user).await?,
    })?
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::slo::{EntryView, Objective};
    use crate::web::i18n::Lang;
    use atlhyper_model::ServiceSlo;

    fn entry(status: &str, total: u64, success: u64, budget: Option<f64>, rps: f64) -> EntryView {
        let slo: ServiceSlo = serde_json::from_value(serde_json::json!({
            "type": "ingress", "source": "shop.example.com", "source_namespace": "", "target": "",
            "namespace": "", "success_rate": null, "latency_p50": null, "latency_p95": null,
            "latency_p99": null, "request_rate": rps, "total_requests": total,
            "success_requests": success, "timestamp": "2026-12-04T00:00:00Z"
        }))
        .unwrap();
        EntryView {
            entry: slo,
            origin: crate::service::slo::Origin::Linkerd,
            objective: Objective {
                availability: 99.9,
                latency_p95_ms: None,
                period_days: 30,
            },
            error_budget_remaining: budget,
            burn_rates: Default::default(),
            burn_alert: "none".into(),
            burn_rules: Vec::new(),
            status: status.into(),
        }
    }

    #[test]
    fn a_card_counts_entries_and_keeps_the_lowest_budget() {
        let t = Tr::new(Lang::En);
        let cluster = ClusterRecord {
            id: "prod".into(),
            name: "Production".into(),
            token_hash: String::new(),
            created_at: atlhyper_model::Timestamp(0),
        };
        let overview = Overview {
            cluster_id: "prod".into(),
            range: "1h".into(),
            from: String::new(),
            to: String::new(),
            ingress: vec![entry("healthy", 1000, 999, Some(80.0), 2.5)],
            services: vec![
                entry("critical", 100, 90, Some(-40.0), 9.0),
                entry("unknown", 0, 0, None, 0.0),
            ],
        };
        let card = cluster_card(
            t,
            &CardInput {
                cluster: &cluster,
                online: true,
                live: &ClusterLive::default(),
                overview: &overview,
                risk: None,
                open_incidents: 2,
            },
        );
        assert_eq!((card.id.as_str(), card.name.as_str()), ("prod", "Production"));
        assert_eq!((card.entries, card.healthy, card.critical), (3, 1, 1));
        assert_eq!(card.open_incidents, 2);
        assert_eq!(card.availability, fmt::pct(Some(1089.0 / 1100.0 * 100.0)));
        assert_eq!(card.lowest_budget, fmt::pct(Some(-40.0)));
        assert_eq!(card.lowest_budget_class, "critical");
        assert_eq!(card.rps, fmt::rps(2.5), "the request rate is the ingress's");
        assert_eq!(card.last_seen, t.get("common.never"));
        assert_eq!(card.risk, fmt::NONE);
    }
}
