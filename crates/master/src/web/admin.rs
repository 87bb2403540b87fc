//! Settings (SLO objectives, operator and admin), users and roles (admin), the audit log
//! (admin). Forms POST with the session's CSRF token and call the JSON API's own functions,
//! so they are validated and audited the same way.

use askama::Template;
use atlhyper_model::Timestamp;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::i18n::Tr;
use super::pages::{Page, Scripts, render};
use super::session::WebUser;
use super::{InLang, WebError, fmt, role_key};
use crate::auth::Role;
use crate::gateway::account::{CreateUser, UpdateUser, create_user_as, delete_user_as, update_user_as};
use crate::gateway::clusters::find;
use crate::gateway::slo::{DEFAULT_AVAILABILITY, DEFAULT_PERIOD_DAYS, PutTarget, put_target_as};
use crate::state::SharedState;
use crate::store::AuditFilter;

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

fn after_form(path: &str, outcome: Result<(), crate::error::ApiError>) -> Response {
    match outcome {
        Ok(()) => Redirect::to(&format!("{path}?ok=1")).into_response(),
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

pub async fn settings(
    State(state): State<SharedState>,
    user: WebUser,
    uri: Uri,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    user.require(&state, Role::Operator, None).await?;
    let t = Tr::new(user.lang);
    find(&state, &id).await.lang(user.lang)?;
    let page = Page::of_cluster(
        &state,
        &user,
        &uri,
        "settings",
        &id,
        Scripts::Plain,
        "settings.title",
    )
    .await?;
    let any = t.get("settings.any");
    let targets = state
        .store
        .slo_targets(&id)
        .await
        .map_err(crate::error::ApiError::from)
        .lang(user.lang)?
        .iter()
        .map(|r| TargetRow {
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
        })
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
    csrf: String,
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

fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<Option<T>, crate::error::ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| crate::error::ApiError::bad_request(format!("{name} must be a number, got {text:?}")))
}

pub async fn settings_submit(
    State(state): State<SharedState>,
    user: WebUser,
    Path(id): Path<String>,
    Form(form): Form<TargetForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    user.require(
        &state,
        Role::Operator,
        Some(("slo.target.update", &format!("cluster/{id}/slo"))),
    )
    .await?;
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
        put_target_as(&state, &user.user, &id, request).await.map(|_| ())
    }
    .await;
    Ok(after_form(&format!("/clusters/{id}/settings"), outcome))
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
    State(state): State<SharedState>,
    user: WebUser,
    uri: Uri,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    user.require(&state, Role::Admin, None).await?;
    let t = Tr::new(user.lang);
    let page = Page::new(
        &state,
        &user,
        &uri,
        "users",
        t.get("users.title").to_owned(),
        None,
        Scripts::Plain,
    )
    .await?;
    let users = state
        .store
        .users()
        .await
        .map_err(crate::error::ApiError::from)
        .lang(user.lang)?
        .into_iter()
        .map(|u| {
            let role = Role::parse(&u.role).unwrap_or(Role::Viewer);
            let path = fmt::url_encode(&u.username);
            UserRow {
                is_self: u.username == user.user.username,
                is_bootstrap: u.username == state.config.admin_username,
                role: role.as_str(),
                role_name: t.get(role_key(role)),
                created: fmt::time(u.created_at),
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
    csrf: String,
    username: String,
    password: String,
    role: String,
}

pub async fn user_create(
    State(state): State<SharedState>,
    user: WebUser,
    Form(form): Form<NewUserForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let outcome = async {
        let role = Role::parse(&form.role)
            .ok_or_else(|| crate::error::ApiError::bad_request(format!("unknown role {:?}", form.role)))?;
        let request = CreateUser {
            username: form.username.trim().to_owned(),
            password: form.password.clone(),
            role,
        };
        create_user_as(&state, &user.user, request).await.map(|_| ())
    }
    .await;
    if let Err(e) = &outcome
        && e.status == axum::http::StatusCode::FORBIDDEN
    {
        return Err(WebError::forbidden(user.lang, Role::Admin));
    }
    Ok(after_form("/admin/users", outcome))
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    csrf: String,
    role: String,
}

pub async fn user_role(
    State(state): State<SharedState>,
    user: WebUser,
    Path(name): Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let outcome = async {
        let role = Role::parse(&form.role)
            .ok_or_else(|| crate::error::ApiError::bad_request(format!("unknown role {:?}", form.role)))?;
        update_user_as(
            &state,
            &user.user,
            &name,
            UpdateUser {
                role: Some(role),
                password: None,
            },
        )
        .await
        .map(|_| ())
    }
    .await;
    if let Err(e) = &outcome
        && e.status == axum::http::StatusCode::FORBIDDEN
    {
        return Err(WebError::forbidden(user.lang, Role::Admin));
    }
    Ok(after_form("/admin/users", outcome))
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
}

pub async fn user_delete(
    State(state): State<SharedState>,
    user: WebUser,
    Path(name): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    user.require(
        &state,
        Role::Admin,
        Some(("user.delete", &format!("user/{name}"))),
    )
    .await?;
    if form.confirm != name {
        let t = Tr::new(user.lang);
        return Ok(after_form(
            "/admin/users",
            Err(crate::error::ApiError::bad_request(
                t.fill("users.confirm_mismatch", &[("name", &name)]),
            )),
        ));
    }
    let outcome = delete_user_as(&state, &user.user, &name).await;
    Ok(after_form("/admin/users", outcome))
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

pub async fn audit_page(
    State(state): State<SharedState>,
    user: WebUser,
    uri: Uri,
    Query(q): Query<AuditParams>,
) -> Result<Response, WebError> {
    user.require(&state, Role::Admin, None).await?;
    let t = Tr::new(user.lang);
    let page = Page::new(
        &state,
        &user,
        &uri,
        "audit",
        t.get("audit.title").to_owned(),
        None,
        Scripts::Plain,
    )
    .await?;
    let clean = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let filter = AuditFilter {
        actor: clean(&q.actor),
        action: clean(&q.action),
        target: clean(&q.target),
        since: None,
        until: None::<Timestamp>,
        limit: 200,
    };
    let rows = state
        .store
        .audit(&filter)
        .await
        .map_err(crate::error::ApiError::from)
        .lang(user.lang)?
        .into_iter()
        .map(|r| AuditRow {
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
        })
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
