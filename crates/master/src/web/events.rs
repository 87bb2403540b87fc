//! A cluster's events and anomalies, with filters.

use askama::Template;
use atlhyper_model::resources::ResourceKind;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::i18n::Tr;
use super::pages::{Page, Scripts, render};
use super::session::WebUser;
use super::{InLang, WebError, fmt};
use crate::service::resources::{AnomalyQuery, EventQuery};
use crate::service::{App, ServiceError};

use super::fmt::{clean, some};
use super::pages::{entity_href, resource_href};

pub struct EventRow {
    pub kind_class: &'static str,
    pub event_type: String,
    pub reason: String,
    pub object: String,
    pub href: String,
    pub message: String,
    pub count: u32,
    pub last_seen: String,
}

pub fn event_row(cluster: &str, e: &atlhyper_model::resources::EventSummary) -> EventRow {
    let kind = ResourceKind::parse(&e.involved.kind);
    let ns = if e.involved.namespace.is_empty() {
        &e.meta.namespace
    } else {
        &e.involved.namespace
    };
    EventRow {
        kind_class: if e.event_type == "Warning" {
            "warning"
        } else {
            "neutral"
        },
        event_type: e.event_type.clone(),
        reason: e.reason.clone(),
        object: format!("{}/{}", e.involved.kind, e.involved.name),
        href: kind.map_or_else(String::new, |k| {
            resource_href(
                cluster,
                k.as_str(),
                if k.namespaced() { ns } else { "" },
                &e.involved.name,
            )
        }),
        message: e.message.clone(),
        count: e.count,
        last_seen: e.last_seen.map_or_else(|| fmt::NONE.to_owned(), fmt::time),
    }
}

pub struct AnomalyRow {
    pub severity: String,
    pub severity_class: &'static str,
    pub entity: String,
    pub href: String,
    pub reason: String,
    pub evidence: String,
    pub since: String,
    pub cluster: String,
}

pub fn anomaly_row(t: Tr, cluster: &str, a: &atlhyper_model::resources::Anomaly) -> AnomalyRow {
    let (severity, class) = match a.severity {
        atlhyper_model::Severity::Critical => (t.get("status.critical"), "critical"),
        atlhyper_model::Severity::Warning => (t.get("status.warning"), "warning"),
        atlhyper_model::Severity::Info => (t.get("resources.info_severity"), "info"),
    };
    AnomalyRow {
        severity: severity.to_owned(),
        severity_class: class,
        href: entity_href(cluster, a.kind, &a.entity),
        entity: a.entity.clone(),
        reason: a.reason.clone(),
        evidence: a.evidence.clone(),
        since: a.since.map_or_else(|| fmt::NONE.to_owned(), fmt::time),
        cluster: cluster.to_owned(),
    }
}

#[derive(Template)]
#[template(path = "events.html")]
pub struct EventsPage {
    pub page: Page,
    pub event_type: String,
    pub namespace: String,
    pub q: String,
    pub rows: Vec<EventRow>,
    pub total: usize,
}

#[derive(Debug, Default, Deserialize)]
pub struct EventParams {
    #[serde(rename = "type")]
    event_type: Option<String>,
    namespace: Option<String>,
    q: Option<String>,
}

pub async fn events(
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
    Query(p): Query<EventParams>,
) -> Result<Response, WebError> {
    let (event_type, namespace, q) = (clean(&p.event_type), clean(&p.namespace), clean(&p.q));
    let found = app
        .resources
        .events(
            id.clone(),
            EventQuery {
                namespace: some(&namespace),
                event_type: some(&event_type),
                reason: None,
                kind: None,
                name: None,
                q: some(&q),
                limit: Some(500),
                offset: None,
            },
        )
        .await
        .lang(user.lang)?;
    let page = Page::of_cluster(&app, &user, &uri, "events", &id, Scripts::Plain, "events.title").await?;
    Ok(render(&EventsPage {
        rows: found.items.iter().map(|e| event_row(&id, e)).collect(),
        total: found.total,
        event_type,
        namespace,
        q,
        page,
    })?
    .into_response())
}

#[derive(Template)]
#[template(path = "anomalies.html")]
pub struct AnomaliesPage {
    pub page: Page,
    pub severity: String,
    pub namespace: String,
    pub q: String,
    pub rows: Vec<AnomalyRow>,
    pub total: usize,
}

#[derive(Debug, Default, Deserialize)]
pub struct AnomalyParams {
    severity: Option<String>,
    namespace: Option<String>,
    q: Option<String>,
}

/// A cluster's anomalies, critical first (also used by the overview).
pub async fn anomaly_rows(
    app: &App,
    t: Tr,
    cluster: &str,
    limit: usize,
) -> Result<Vec<AnomalyRow>, ServiceError> {
    let q = AnomalyQuery {
        namespace: None,
        kind: None,
        severity: None,
        reason: None,
        q: None,
        limit: Some(limit),
        offset: None,
    };
    Ok(app
        .resources
        .anomalies(cluster.to_owned(), q)
        .await?
        .items
        .iter()
        .map(|a| anomaly_row(t, cluster, a))
        .collect())
}

pub async fn anomalies(
    State(app): State<App>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
    Query(p): Query<AnomalyParams>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let (severity, namespace, q) = (clean(&p.severity), clean(&p.namespace), clean(&p.q));
    let found = app
        .resources
        .anomalies(
            id.clone(),
            AnomalyQuery {
                namespace: some(&namespace),
                kind: None,
                severity: some(&severity),
                reason: None,
                q: some(&q),
                limit: Some(500),
                offset: None,
            },
        )
        .await
        .lang(user.lang)?;
    let page = Page::of_cluster(
        &app,
        &user,
        &uri,
        "anomalies",
        &id,
        Scripts::Plain,
        "anomalies.title",
    )
    .await?;
    Ok(render(&AnomaliesPage {
        rows: found.items.iter().map(|a| anomaly_row(t, &id, a)).collect(),
        total: found.total,
        severity,
        namespace,
        q,
        page,
    })?
    .into_response())
}
