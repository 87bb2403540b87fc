//! AIOps pages: the risk ranking of a cluster with incident statistics, incidents with their
//! timeline, and the score explanation of one entity. They read the AIOps service
//! (`service::aiops`), as the `/api/v2/aiops/*` handlers do.

use super::i18n::Tr;
use super::pages::{Page, Scripts, render};
use super::session::WebUser;
use super::{InLang, WebError, fmt};
use crate::service::App;
use askama::Template;
use atlhyper_aiops::{Incident, Statistics};
use atlhyper_model::Timestamp;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// A serde enum's word (`root_cause`, `critical`).
pub fn word<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A serde enum's word, translated from section `aiops_<section>`.
pub fn word_t<T: Serialize>(t: Tr, section: &str, value: &T) -> String {
    let w = word(value);
    match (section, w.as_str()) {
        ("level", "healthy") => t.get("aiops_level.healthy"),
        ("level", "low") => t.get("aiops_level.low"),
        ("level", "medium") => t.get("aiops_level.medium"),
        ("level", "high") => t.get("aiops_level.high"),
        ("level", "warning") => t.get("aiops_level.warning"),
        ("level", "critical") => t.get("aiops_level.critical"),
        ("state", "healthy") => t.get("aiops_state.healthy"),
        ("state", "warning") => t.get("aiops_state.warning"),
        ("state", "incident") => t.get("aiops_state.incident"),
        ("state", "recovery") => t.get("aiops_state.recovery"),
        ("state", "stable") => t.get("aiops_state.stable"),
        ("role", "root_cause") => t.get("aiops_role.root_cause"),
        ("role", "affected") => t.get("aiops_role.affected"),
        ("role", "symptom") => t.get("aiops_role.symptom"),
        _ => return w,
    }
    .to_owned()
}

/// Badge class of a level, severity or state word.
pub fn level_class(word: &str) -> &'static str {
    match word {
        "critical" | "incident" => "critical",
        "high" | "warning" => "warning",
        "medium" | "low" | "recovery" => "info",
        "healthy" | "stable" => "healthy",
        _ => "neutral",
    }
}

pub struct RiskRow {
    pub cluster: String,
    pub key: String,
    pub kind: String,
    pub r_local: String,
    pub r_final: String,
    pub r_final_value: f64,
    pub level: String,
    pub level_class: &'static str,
    pub since: String,
    pub href: String,
}

pub fn risk_rows(app: &App, t: Tr, cluster: &str, limit: usize) -> Vec<RiskRow> {
    app.aiops
        .ranking(cluster, limit)
        .into_iter()
        .map(|r| RiskRow {
            cluster: cluster.to_owned(),
            href: format!(
                "/aiops/explain?{}",
                fmt::query(&[("cluster", cluster), ("entity", &r.key)])
            ),
            kind: word(&r.kind),
            r_local: format!("{:.2}", r.r_local),
            r_final: format!("{:.2}", r.r_final),
            r_final_value: r.r_final,
            level: word_t(t, "level", &r.level),
            level_class: level_class(&word(&r.level)),
            since: r.first_anomaly_ms.map_or_else(
                || fmt::NONE.to_owned(),
                |ms| fmt::time(atlhyper_model::Timestamp(ms)),
            ),
            key: r.key,
        })
        .collect()
}

pub struct IncidentRow {
    pub id: String,
    pub cluster: String,
    pub state: String,
    pub state_class: &'static str,
    pub severity: String,
    pub severity_class: &'static str,
    pub root_cause: String,
    pub peak_risk: String,
    pub started: String,
    pub duration: String,
    pub recurrence: u32,
    pub entities: usize,
}

pub(super) fn severity_t(t: Tr, word: &str) -> String {
    match word {
        "low" => t.get("aiops_severity.low"),
        "medium" => t.get("aiops_severity.medium"),
        "high" => t.get("aiops_severity.high"),
        "critical" => t.get("aiops_severity.critical"),
        other => return other.to_owned(),
    }
    .to_owned()
}

pub fn incident_row(t: Tr, i: &Incident, now_ms: i64) -> IncidentRow {
    let severity = word(&i.severity);
    IncidentRow {
        id: i.id.clone(),
        cluster: i.cluster.clone(),
        state: word_t(t, "state", &i.state),
        state_class: level_class(&word(&i.state)),
        severity_class: level_class(&severity),
        severity: severity_t(t, &severity),
        root_cause: i.root_cause.clone(),
        peak_risk: format!("{:.2}", i.peak_risk),
        started: fmt::time(atlhyper_model::Timestamp(i.started_at_ms)),
        duration: fmt::duration_s(i.duration_ms(now_ms) as f64 / 1000.0),
        recurrence: i.recurrence,
        entities: i.entities.len(),
    }
}

pub struct StatCard {
    pub label: &'static str,
    pub value: String,
}

/// The incident statistics of the last 7 days.
pub(super) async fn week_statistics(app: &App, lang: super::i18n::Lang) -> Result<Statistics, WebError> {
    let now = app.now();
    app.aiops
        .statistics(Timestamp(now.0 - 7 * 86_400_000), now)
        .await
        .lang(lang)
}

/// The statistics cards (totals, MTTR, recurrence) and the incidents per severity.
pub fn statistics_cards(t: Tr, stats: &Statistics) -> (Vec<StatCard>, Vec<StatCard>) {
    let cards = vec![
        StatCard {
            label: t.get("aiops.total"),
            value: stats.total.to_string(),
        },
        StatCard {
            label: t.get("aiops.active"),
            value: stats.active.to_string(),
        },
        StatCard {
            label: t.get("aiops.resolved"),
            value: stats.resolved.to_string(),
        },
        StatCard {
            label: t.get("aiops.mttr"),
            value: stats
                .mttr_ms
                .map_or_else(|| fmt::NONE.to_owned(), |ms| fmt::duration_s(ms / 1000.0)),
        },
        StatCard {
            label: t.get("aiops.recurrence_rate"),
            value: fmt::pct(stats.recurrence_rate.map(|r| r * 100.0)),
        },
    ];
    let severities = stats
        .by_severity
        .iter()
        .map(|(s, n)| StatCard {
            label: match word(s).as_str() {
                "low" => t.get("aiops_severity.low"),
                "medium" => t.get("aiops_severity.medium"),
                "high" => t.get("aiops_severity.high"),
                _ => t.get("aiops_severity.critical"),
            },
            value: n.to_string(),
        })
        .collect();
    (cards, severities)
}

#[derive(Debug, Deserialize)]
pub struct ClusterParam {
    cluster: Option<String>,
}

#[derive(Template)]
#[template(path = "aiops_risk.html")]
pub struct RiskPage {
    pub page: Page,
    pub clusters: Vec<(String, String, bool)>,
    pub risk: String,
    pub level: String,
    pub level_class: &'static str,
    pub terms: Vec<StatCard>,
    pub rows: Vec<RiskRow>,
    pub stats: Vec<StatCard>,
    pub severities: Vec<StatCard>,
    pub roots: Vec<(String, String, usize)>,
}

pub async fn risk(
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Query(q): Query<ClusterParam>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let mut page = Page::new(
        &app,
        &user,
        &uri,
        "risk",
        t.get("aiops.risk_title").to_owned(),
        None,
        Scripts::Plain,
    )
    .await?;
    let cluster = match q.cluster.filter(|c| !c.is_empty()) {
        Some(c) if page.clusters.iter().any(|n| n.id == c) => c,
        Some(c) => {
            return Err(WebError::not_found(
                user.lang,
                t.fill("error.unknown_cluster", &[("cluster", &c)]),
            ));
        }
        None => page.clusters.first().map(|c| c.id.clone()).unwrap_or_default(),
    };
    page.cluster.clone_from(&cluster);
    let risk = app.aiops.cluster_risk(&cluster);
    let terms = risk.as_ref().map_or_else(Vec::new, |r| {
        vec![
            StatCard {
                label: t.get("aiops.max_r_final"),
                value: format!("{:.2}", r.max_r_final),
            },
            StatCard {
                label: t.get("aiops.max_burn"),
                value: format!("{:.2}", r.max_burn_rate),
            },
            StatCard {
                label: t.get("aiops.f_slo"),
                value: format!("{:.2}", r.f_slo),
            },
            StatCard {
                label: t.get("aiops.growth"),
                value: format!("{:.2} (×{:.2})", r.growth, r.f_growth),
            },
            StatCard {
                label: t.get("aiops.anomalous"),
                value: format!("{} / {}", r.anomalous_entities, r.total_entities),
            },
        ]
    });
    let week = week_statistics(&app, user.lang).await?;
    let (stats, severities) = statistics_cards(t, &week);
    let roots = week
        .top_root_causes
        .into_iter()
        .map(|r| (r.cluster, r.entity, r.count))
        .collect();
    Ok(render(&RiskPage {
        clusters: page
            .clusters
            .iter()
            .map(|c| (c.id.clone(), c.name.clone(), c.id == cluster))
            .collect(),
        risk: risk
            .as_ref()
            .map_or_else(|| fmt::NONE.to_owned(), |r| format!("{:.0}", r.risk)),
        level: risk.as_ref().map_or_else(
            || t.get("common.unknown").to_owned(),
            |r| word_t(t, "level", &r.level),
        ),
        level_class: risk.as_ref().map_or("neutral", |r| level_class(&word(&r.level))),
        terms,
        rows: risk_rows(&app, t, &cluster, 50),
        stats,
        severities,
        roots,
        page,
    })?
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;
    use crate::web::incidents::timeline_row;
    use atlhyper_aiops::Event;
    use atlhyper_aiops::{Severity, State, TimelineEntry};

    fn incident(resolved: Option<i64>) -> Incident {
        Incident {
            id: "inc-prod-1000-0000".into(),
            cluster: "prod".into(),
            state: if resolved.is_some() {
                State::Stable
            } else {
                State::Incident
            },
            severity: Severity::High,
            root_cause: "shop/service/payments".into(),
            peak_risk: 0.756,
            started_at_ms: 1_000,
            resolved_at_ms: resolved,
            recurrence: 1,
            entities: Vec::new(),
            timeline: Vec::new(),
        }
    }

    #[test]
    fn an_incident_row_lasts_until_now_or_its_resolution() {
        let t = Tr::new(Lang::En);
        let open = incident_row(t, &incident(None), 61_000);
        assert_eq!(open.duration, fmt::duration_s(60.0));
        assert_eq!((open.state_class, open.severity_class), ("critical", "warning"));
        assert_eq!(open.peak_risk, "0.76");
        let closed = incident_row(t, &incident(Some(31_000)), 1_000_000);
        assert_eq!(closed.duration, fmt::duration_s(30.0));
        assert_eq!(closed.state_class, "healthy");
    }

    #[test]
    fn every_timeline_event_has_a_label_in_every_language() {
        let events = [
            Event::Resolved,
            Event::Relearned,
            Event::Recurrence { count: 2 },
            Event::Merged {
                incident: "inc-x".into(),
            },
        ];
        for lang in [Lang::En, Lang::Zh, Lang::Ja] {
            for event in &events {
                let row = timeline_row(
                    Tr::new(lang),
                    &TimelineEntry {
                        at_ms: 0,
                        entity: "shop/service/payments".into(),
                        event: event.clone(),
                    },
                );
                assert!(
                    !row.event.is_empty() && !row.event.starts_with("aiops_event."),
                    "{lang:?} {event:?}"
                );
            }
        }
    }

    #[test]
    fn statistics_cards_show_mttr_and_recurrence() {
        let t = Tr::new(Lang::En);
        let stats = atlhyper_aiops::statistics(&[incident(Some(31_000)), incident(None)], 0, 2_000);
        let (cards, severities) = statistics_cards(t, &stats);
        let value = |label: &str| {
            cards
                .iter()
                .find(|c| c.label == t.get(label))
                .unwrap()
                .value
                .clone()
        };
        assert_eq!(value("aiops.total"), "2");
        assert_eq!(value("aiops.mttr"), fmt::duration_s(30.0));
        assert_eq!(value("aiops.recurrence_rate"), fmt::pct(Some(100.0)));
        assert_eq!(severities.len(), 1);
    }
}
