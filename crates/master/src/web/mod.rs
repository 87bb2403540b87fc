//! The web dashboard, one of the master's three adapters (docs/web.md).
//!
//! Server-rendered askama pages in English, Chinese and Japanese, readable without JavaScript;
//! htmx refreshes live fragments, ECharts draws charts and cytoscape the mesh topology from
//! JSON embedded in the page. Every asset is embedded in the binary. The pages call the
//! master's services (`crate::service`), as the JSON API does; each page's view model is built
//! by a plain function, unit-tested beside it.
//!
//! | module | role |
//! |---|---|
//! | [`session`] | cookie session, CSRF tokens, login and logout |
//! | [`i18n`] | the string catalogs and language negotiation |
//! | [`assets`] | embedded CSS, JS, vendored libraries |
//! | [`pages`] | the template structs and the layout shared by every page |
//! | `overview`, `cluster`, `resources`, `events`, `operations`, `slo`, `slo_detail`, `topology`, `admin`, `aiops`, `incidents`, `explain` | the pages |

pub mod assets;
pub mod fmt;
pub mod i18n;
pub mod pages;
pub mod session;

mod admin;
mod aiops;
mod cluster;
mod events;
mod explain;
mod incidents;
mod operations;
mod overview;
mod resources;
mod slo;
mod slo_detail;
mod topology;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::auth::Role;
use crate::http::status_of;
use crate::service::{App, ErrorKind, ServiceError};
use i18n::{Lang, Tr};

/// The dashboard's routes; the server serves them on the Gateway listener beside `/api/v2`.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/overview") }))
        .route("/login", get(session::login_page).post(session::login_submit))
        .route("/logout", post(session::logout))
        .route("/overview", get(overview::page))
        .route("/overview/live", get(overview::live))
        .route("/clusters/{id}", get(cluster::page))
        .route("/clusters/{id}/live", get(cluster::live))
        .route("/clusters/{id}/slo", get(slo::dashboard))
        .route("/clusters/{id}/slo/table", get(slo::table))
        .route("/clusters/{id}/slo/detail", get(slo_detail::detail))
        .route("/clusters/{id}/topology", get(topology::topology))
        .route(
            "/clusters/{id}/settings",
            get(admin::settings).post(admin::settings_submit),
        )
        .route("/clusters/{id}/resources", get(resources::list))
        .route(
            "/clusters/{id}/resources/{kind}/{namespace}/{name}",
            get(resources::detail),
        )
        .route("/clusters/{id}/events", get(events::events))
        .route("/clusters/{id}/anomalies", get(events::anomalies))
        .route("/clusters/{id}/operate", post(operations::operate))
        .route("/clusters/{id}/commands", get(operations::commands))
        .route("/clusters/{id}/commands/live", get(operations::commands_live))
        .route("/admin/users", get(admin::users).post(admin::user_create))
        .route("/admin/users/{name}/role", post(admin::user_role))
        .route("/admin/users/{name}/delete", post(admin::user_delete))
        .route("/admin/audit", get(admin::audit_page))
        .route("/aiops", get(aiops::risk))
        .route("/aiops/incidents", get(incidents::incidents))
        .route("/aiops/incidents/{id}", get(incidents::incident))
        .route("/aiops/explain", get(explain::explain))
        .layer(middleware::from_fn(page_headers))
        .route("/static/{*path}", get(assets::serve))
}

/// Strict CSP (no inline script, no CDN), no caching of per-user pages, and the language
/// cookie when `?lang=` chose one.
async fn page_headers(request: Request, next: Next) -> Response {
    let chosen = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("lang=")))
        .and_then(Lang::parse);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if let Some(lang) = chosen {
        headers.append(
            header::SET_COOKIE,
            session::set_cookie(i18n::LANG_COOKIE, lang.code(), 365 * 86_400, false),
        );
    }
    response
}

/// A page that cannot be shown: rendered as a small error page in the user's language.
#[derive(Debug)]
pub struct WebError {
    pub status: StatusCode,
    pub lang: Lang,
    pub title_key: &'static str,
    pub message: String,
}

impl WebError {
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            lang: Lang::En,
            title_key: "error.internal",
            message: message.into(),
        }
    }

    pub fn forbidden(lang: Lang, role: Role) -> Self {
        let t = Tr::new(lang);
        Self {
            status: StatusCode::FORBIDDEN,
            lang,
            title_key: "error.forbidden",
            message: t.fill("error.needs_role", &[("role", t.get(role_key(role)))]),
        }
    }

    pub fn csrf(lang: Lang) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            lang,
            title_key: "error.forbidden",
            message: Tr::new(lang).get("error.csrf").to_owned(),
        }
    }

    pub fn bad_request(lang: Lang, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            lang,
            title_key: "error.bad_request",
            message: message.into(),
        }
    }

    pub fn not_found(lang: Lang, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            lang,
            title_key: "error.not_found",
            message: message.into(),
        }
    }

    pub fn in_lang(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }
}

impl From<ServiceError> for WebError {
    fn from(e: ServiceError) -> Self {
        let title_key = match e.kind {
            ErrorKind::NotFound => "error.not_found",
            ErrorKind::Forbidden => "error.forbidden",
            ErrorKind::BadRequest => "error.bad_request",
            _ => "error.internal",
        };
        Self {
            status: status_of(e.kind),
            lang: Lang::En,
            title_key,
            message: e.message,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let t = Tr::new(self.lang);
        let page = pages::ErrorPage {
            t,
            html_lang: self.lang.html_lang(),
            title: t.get(self.title_key),
            message: self.message,
            asset_css: assets::url("app.css"),
        };
        match pages::render(&page) {
            Ok(html) => (self.status, html).into_response(),
            Err(_) => (self.status, "error").into_response(),
        }
    }
}

/// The catalog key of a role's name.
pub fn role_key(role: Role) -> &'static str {
    match role {
        Role::Viewer => "role.viewer",
        Role::Operator => "role.operator",
        Role::Admin => "role.admin",
    }
}

/// Results of page handlers: errors carry the request's language.
pub trait InLang<T> {
    fn lang(self, lang: Lang) -> Result<T, WebError>;
}

impl<T, E: Into<WebError>> InLang<T> for Result<T, E> {
    fn lang(self, lang: Lang) -> Result<T, WebError> {
        self.map_err(|e| e.into().in_lang(lang))
    }
}
