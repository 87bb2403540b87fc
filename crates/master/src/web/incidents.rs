//! AIOps incidents: the list with filters and statistics, and one incident with its members
//! and timeline.

use super::aiops::*;
use super::i18n::Tr;
use super::pages::{Page, Scripts, render};
use super::session::WebUser;
use super::{InLang, WebError, fmt};
use crate::service::{App, ErrorKind};
use crate::store::IncidentStateFilter;
use askama::Template;
use atlhyper_aiops::Event;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct IncidentParams {
    cluster: Option<String>,
    state: Option<String>,
}

#[derive(Template)]
#[template(path = "aiops_incidents.html")]
pub struct IncidentsPage {
    pub page: Page,
    pub filter_cluster: String,
    pub filter_state: String,
    pub states: Vec<(&'static str, &'static str)>,
    pub rows: Vec<IncidentRow>,
    pub stats: Vec<StatCard>,
    pub severities: Vec<StatCard>,
}

pub async fn incidents(
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Query(q): Query<IncidentParams>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let page = Page::new(
        &app,
        &user,
        &uri,
        "incidents",
        t.get("aiops.incidents_title").to_owned(),
        None,
        Scripts::Plain,
    )
    .await?;
    let cluster = q.cluster.unwrap_or_default();
    let wanted = q.state.unwrap_or_default();
    let now = app.now().0;
    let filter = crate::store::IncidentFilter {
        cluster: Some(cluster.clone()).filter(|c| !c.is_empty()),
        state: match wanted.as_str() {
            "open" => Some(IncidentStateFilter::Open),
            "resolved" => Some(IncidentStateFilter::Resolved),
            _ => None,
        },
        limit: 200,
        ..crate::store::IncidentFilter::default()
    };
    let (found, _) = app.aiops.incidents(&filter).await.lang(user.lang)?;
    let rows = found.iter().map(|i| incident_row(t, i, now)).collect();
    let (stats, severities) = statistics_cards(t, &week_statistics(&app, user.lang).await?);
    Ok(render(&IncidentsPage {
        filter_cluster: cluster,
        filter_state: wanted,
        states: vec![
            ("", t.get("aiops.all")),
            ("open", t.get("aiops.open")),
            ("resolved", t.get("aiops.resolved")),
        ],
        rows,
        stats,
        severities,
        page,
    })?
    .into_response())
}

pub struct MemberRow {
    pub key: String,
    pub role: String,
    pub r_local: String,
    pub r_final: String,
    pub peak: String,
    pub state: String,
    pub state_class: &'static str,
    pub active: bool,
    pub href: String,
}

pub struct TimelineRow {
    pub at: String,
    pub entity: String,
    pub event: String,
    pub detail: String,
    pub class: &'static str,
}

#[derive(Template)]
#[template(path = "aiops_incident.html")]
pub struct IncidentPage {
    pub page: Page,
    pub row: IncidentRow,
    pub members: Vec<MemberRow>,
    pub timeline: Vec<TimelineRow>,
    pub root_href: String,
}

pub(crate) fn timeline_row(t: Tr, entry: &atlhyper_aiops::TimelineEntry) -> TimelineRow {
    let (event, detail, class) = match &entry.event {
        Event::AnomalyDetected { role, metrics } => (
            t.get("aiops_event.anomaly_detected"),
            format!(
                "{} · {}",
                word_t(t, "role", role),
                metrics.iter().map(word).collect::<Vec<_>>().join(", ")
            ),
            "warning",
        ),
        Event::RootCauseIdentified { previous } => (
            t.get("aiops_event.root_cause_identified"),
            previous.as_ref().map_or_else(String::new, |p| format!("← {p}")),
            "critical",
        ),
        Event::EntityStateChange { from, to, reason } => (
            t.get("aiops_event.entity_state_change"),
            format!(
                "{} → {} ({})",
                word_t(t, "state", from),
                word_t(t, "state", to),
                word(reason)
            ),
            "info",
        ),
        Event::StateChange { from, to } => (
            t.get("aiops_event.state_change"),
            format!("{} → {}", word_t(t, "state", from), word_t(t, "state", to)),
            level_class(&word(to)),
        ),
        Event::SeverityRaised { from, to } => (
            t.get("aiops_event.severity_raised"),
            format!("{} → {}", severity_t(t, &word(from)), severity_t(t, &word(to))),
            "critical",
        ),
        Event::Recurrence { count } => (t.get("aiops_event.recurrence"), format!("#{count}"), "warning"),
        Event::Merged { incident } => (t.get("aiops_event.merged"), incident.clone(), "info"),
        Event::Resolved => (t.get("aiops_event.resolved"), String::new(), "healthy"),
        Event::Relearned => (t.get("aiops_event.relearned"), String::new(), "neutral"),
    };
    TimelineRow {
        at: fmt::time(atlhyper_model::Timestamp(entry.at_ms)),
        entity: entry.entity.clone(),
        event: event.to_owned(),
        detail,
        class,
    }
}

pub async fn incident(
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let found = match app.aiops.incident(&id).await {
        Ok(found) => found,
        Err(e) if e.kind == ErrorKind::NotFound => {
            return Err(WebError::not_found(
                user.lang,
                t.fill("aiops.unknown_incident", &[("id", &id)]),
            ));
        }
        Err(e) => return Err(WebError::from(e).in_lang(user.lang)),
    };
    let mut page = Page::new(
        &app,
        &user,
        &uri,
        "incidents",
        t.fill("aiops.incident_title", &[("id", &id)]),
        None,
        Scripts::Plain,
    )
    .await?;
    page.cluster.clone_from(&found.cluster);
    let explain = |key: &str| {
        format!(
            "/aiops/explain?{}",
            fmt::query(&[("cluster", &found.cluster), ("entity", key)])
        )
    };
    Ok(render(&IncidentPage {
        members: found
            .entities
            .iter()
            .map(|m| MemberRow {
                href: explain(&m.key),
                key: m.key.clone(),
                role: word_t(t, "role", &m.role),
                r_local: format!("{:.2}", m.r_local),
                r_final: format!("{:.2}", m.r_final),
                peak: format!("{:.2}", m.peak_r_final),
                state: word_t(t, "state", &m.state),
                state_class: level_class(&word(&m.state)),
                active: m.active,
            })
            .collect(),
        timeline: found.timeline.iter().map(|e| timeline_row(t, e)).collect(),
        root_href: explain(&found.root_cause),
        row: incident_row(t, &found, app.now().0),
        page,
    })?
    .into_response())
}
