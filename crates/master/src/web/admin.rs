//! Settings (SLO objectives, operator and admin), users and roles (admin), the audit log
//! (admin). Forms POST with the session's CSRF token ([`CsrfForm`]) and call the same services
//! as the JSON API, so they are validated, authorized and audited the same way.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::i18n::Tr;
use super::pages::{Page, Scripts, render};
use super::session::{CsrfForm, WebRole};
use super::{InLang, WebError, fmt, role_key};
use crate::auth::Role;
use crate::service::accounts::{CreateUser, UpdateUser};
use crate::service::audit::AuditQuery;
use crate::service::slo::{DEFAULT_AVAILABILITY, DEFAULT_PERIOD_DAYS, PutTarget};
use crate::service::{Admin, App, ErrorKind, Operator, ServiceError, ServiceResult};
use crate::store::{AuditRecord, SloTargetRecord};

/// `?ok=1` or `?error=…` after a form, shown above the page.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    ok: Option<String>,
    error: Option<String>,
}

pub struct FlashView {
    pub ok: bool,
    pub error: String,
}

impl Flash {
    fn view(&self) -> FlashView {
        FlashView {
            ok: self.ok.is_some(),
            error: self.error.clone().unwrap_or_default(),
        }
    }
}

/// Where a form goes next: back to `path` with `?ok=1` or `?error=…`; a refusal for want of a
/// role is the 403 page instead (the service has audited it).
fn after_form(path: &str, lang: super::i18n::Lang, needed: Role, outcome: ServiceResult<()>) -> Response {
    match outcome {
        Ok(()) => Redirect::to(&format!("{path}?ok=1")).into_response(),
        Err(e) if e.kind == ErrorKind::Forbidden => WebError::forbidden(lang, needed).into_response(),
        Err(e) => Redirect::to(&format!("{path}?{}", fmt::query(&[("error", &e.message)]))).into_response(),
    }
}

pub struct TargetRow {
    pub kind: &'static str,
    pub source: String,
    pub target: String,
    pub availability: String,
    pub p95: String,
    pub period: String,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub page: Page,
    pub flash: FlashView,
    pub targets: Vec<TargetRow>,
    pub default_availability: f64,
    pub default_period: u32,
    pub default_note: String,
}

/// A stored objective as a row of the settings page (`any` for a type's default).
pub fn target_row(t: Tr, r: &SloTargetRecord) -> TargetRow {
    let any = t.get("settings.any");
    TargetRow {
        kind: if r.kind == atlhyper_model::SloType::Ingress {
            t.get("slo.tab_ingress")
        } else {
            t.get("slo.tab_service")
        },
        source: r.source.clone().unwrap_or_else(|| any.to_owned()),
        target: r.target.clone().unwrap_or_else(|| any.to_owned()),
        availability: format!("{}%", r.availability),
        p95: fmt::ms(r.latency_p95_ms),
        period: t.fill("settings.days", &[("days", &r.period_days.to_string())]),
        updated: format!("{} · {}", r.updated_by, fmt::time(r.updated_at)),
    }
}

pub async fn settings(
    State(app): State<App>,
    WebRole { user, .. }: WebRole<Operator>,
    uri: Uri,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    app.clusters.find(&id).await.lang(user.lang)?;
    let page = Page::of_cluster(
        &app,
        &user,
        &uri,
        "settings",
        &id,
        Scripts::Plain,
        "settings.title",
    )
    .await?;
    let targets = app
        .slo
        .target_records(&id)
        .await
        .lang(user.lang)?
        .iter()
        .map(|r| target_row(t, r))
        .collect();
    Ok(render(&SettingsPage {
        flash: flash.view(),
        targets,
        default_availability: DEFAULT_AVAILABILITY,
        default_period: DEFAULT_PERIOD_DAYS,
        default_note: t.fill(
            "settings.default_note",
            &[
                ("availability", &DEFAULT_AVAILABILITY.to_string()),
                ("days", &DEFAULT_PERIOD_DAYS.to_string()),
            ],
        ),
        page,
    })?
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct TargetForm {
    kind: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    target: String,
    availability: String,
    #[serde(default)]
    latency_p95_ms: String,
    #[serde(default)]
    period_days: String,
}

fn number<T: std::str::FromStr>(name: &str, text: &str) -> ServiceResult<Option<T>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ServiceError::bad_request(format!("{name} must be a number, got {text:?}")))
}

pub async fn settings_submit(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<TargetForm>,
) -> Result<Response, WebError> {
    let outcome = async {
        let none_if_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let request = PutTarget {
            kind: form.kind.clone(),
            source: none_if_empty(&form.source),
            target: none_if_empty(&form.target),
            availability: number("availability", &form.availability)?.unwrap_or(f64::NAN),
            latency_p95_ms: number("latency_p95_ms", &form.latency_p95_ms)?,
            period_days: number("period_days", &form.period_days)?,
        };
        app.slo.put_target(&user.caller, &id, request).await.map(|_| ())
    }
    .await;
    Ok(after_form(
        &format!("/clusters/{id}/settings"),
        user.lang,
        Role::Operator,
        outcome,
    ))
}

pub struct UserRow {
    pub username: String,
    pub role: &'static str,
    pub role_name: &'static str,
    pub created: String,
    pub is_self: bool,
    pub is_bootstrap: bool,
    pub delete_href: String,
    pub role_href: String,
}

#[derive(Template)]
#[template(path = "users.html")]
pub struct UsersPage {
    pub page: Page,
    pub flash: FlashView,
    pub users: Vec<UserRow>,
    pub roles: Vec<(&'static str, &'static str)>,
}

pub async fn users(
    State(app): State<App>,
    WebRole { user, proof }: WebRole<Admin>,
    uri: Uri,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let page = Page::new(
        &app,
        &user,
        &uri,
        "users",
        t.get("users.title").to_owned(),
        None,
        Scripts::Plain,
    )
    .await?;
    let users = app
        .accounts
        .list(&proof)
        .await
        .lang(user.lang)?
        .into_iter()
        .map(|u| {
            let path = fmt::url_encode(&u.username);
            UserRow {
                is_self: u.username == user.caller.username,
                is_bootstrap: app.accounts.is_bootstrap_admin(&u.username),
                role: u.role.as_str(),
                role_name: t.get(role_key(u.role)),
                created: u.created_at,
                delete_href: format!("/admin/users/{path}/delete"),
                role_href: format!("/admin/users/{path}/role"),
                username: u.username,
            }
        })
        .collect();
    Ok(render(&UsersPage {
        flash: flash.view(),
        users,
        roles: [Role::Viewer, Role::Operator, Role::Admin]
            .iter()
            .map(|r| (r.as_str(), t.get(role_key(*r))))
            .collect(),
        page,
    })?
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    username: String,
    password: String,
    role: String,
}

fn parse_role(text: &str) -> ServiceResult<Role> {
    Role::parse(text).ok_or_else(|| ServiceError::bad_request(format!("unknown role {text:?}")))
}

pub async fn user_create(
    State(app): State<App>,
    CsrfForm { user, form }: CsrfForm<NewUserForm>,
) -> Result<Response, WebError> {
    let outcome = async {
        let request = CreateUser {
            username: form.username.trim().to_owned(),
            password: form.password.clone(),
            role: parse_role(&form.role)?,
        };
        app.accounts.create(&user.caller, request).await.map(|_| ())
    }
    .await;
    Ok(after_form("/admin/users", user.lang, Role::Admin, outcome))
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    role: String,
}

pub async fn user_role(
    State(app): State<App>,
    Path(name): Path<String>,
    CsrfForm { user, form }: CsrfForm<RoleForm>,
) -> Result<Response, WebError> {
    let outcome = async {
        let update = UpdateUser {
            role: Some(parse_role(&form.role)?),
            password: None,
        };
        app.accounts.update(&user.caller, &name, update).await.map(|_| ())
    }
    .await;
    Ok(after_form("/admin/users", user.lang, Role::Admin, outcome))
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn user_delete(
    State(app): State<App>,
    Path(name): Path<String>,
    CsrfForm { user, form }: CsrfForm<DeleteForm>,
) -> Result<Response, WebError> {
    let outcome = if form.confirm == name {
        app.accounts.delete(&user.caller, &name).await
    } else {
        // Only an admin learns that the confirmation was wrong; others are refused (audited).
        let admin = app
            .audit
            .authorize::<Admin>(&user.caller, "user.delete", &format!("user/{name}"))
            .await;
        admin.and_then(|_| {
            let t = Tr::new(user.lang);
            Err(ServiceError::bad_request(
                t.fill("users.confirm_mismatch", &[("name", &name)]),
            ))
        })
    };
    Ok(after_form("/admin/users", user.lang, Role::Admin, outcome))
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
}

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source: String,
    pub result: String,
    pub result_class: &'static str,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub page: Page,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub rows: Vec<AuditRow>,
}

/// One audit row: refusals warn, errors are critical.
pub fn audit_row(r: AuditRecord) -> AuditRow {
    AuditRow {
        at: fmt::time(r.at),
        result_class: if r.result == "ok" {
            "healthy"
        } else if r.result == "denied" {
            "warning"
        } else {
            "critical"
        },
        actor: r.actor,
        action: r.action,
        target: r.target,
        source: r.source_addr,
        result: r.result,
        detail: r.detail,
    }
}

pub async fn audit_page(
    State(app): State<App>,
    WebRole { user, proof }: WebRole<Admin>,
    uri: Uri,
    Query(q): Query<AuditParams>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let page = Page::new(
        &app,
        &user,
        &uri,
        "audit",
        t.get("audit.title").to_owned(),
        None,
        Scripts::Plain,
    )
    .await?;
    let clean = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let query = AuditQuery {
        actor: clean(&q.actor),
        action: clean(&q.action),
        target: clean(&q.target),
        limit: Some(200),
        ..AuditQuery::default()
    };
    let reader = Operator::from(proof);
    let rows = app
        .audit
        .query(&reader, query)
        .await
        .lang(user.lang)?
        .into_iter()
        .map(audit_row)
        .collect();
    Ok(render(&AuditPage {
        actor: q.actor.unwrap_or_default(),
        action: q.action.unwrap_or_default(),
        target: q.target.unwrap_or_default(),
        rows,
        page,
    })?
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;
    use atlhyper_model::{SloType, Timestamp};

    #[test]
    fn an_objective_row_shows_any_for_a_types_default() {
        let t = Tr::new(Lang::En);
        let record = SloTargetRecord {
            cluster_id: "prod".into(),
            kind: SloType::Ingress,
            source: None,
            target: None,
            availability: 99.5,
            latency_p95_ms: Some(250.0),
            period_days: 7,
            updated_by: "otto".into(),
            updated_at: Timestamp(0),
        };
        let row = target_row(t, &record);
        assert_eq!(
            (row.source.as_str(), row.target.as_str()),
            (t.get("settings.any"), t.get("settings.any"))
        );
        assert_eq!(row.kind, t.get("slo.tab_ingress"));
        assert_eq!(row.availability, "99.5%");
        assert!(row.updated.starts_with("otto · "), "{}", row.updated);
    }

    #[test]
    fn audit_rows_warn_on_refusals_and_alarm_on_errors() {
        let record = |result: &str| AuditRecord {
            id: 1,
            at: Timestamp(0),
            actor: "vera".into(),
            action: "cluster.register".into(),
            target: "cluster/x".into(),
            source_addr: "127.0.0.1".into(),
            result: result.into(),
            detail: String::new(),
        };
        assert_eq!(audit_row(record("ok")).result_class, "healthy");
        assert_eq!(audit_row(record("denied")).result_class, "warning");
        assert_eq!(
            audit_row(record("error: unknown cluster")).result_class,
            "critical"
        );
    }
}
