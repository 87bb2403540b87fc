//! The browser's session: the login token in an `HttpOnly; SameSite=Strict` cookie, a CSRF
//! token per session for every POST form, login and logout.
//!
//! The JSON API keeps bearer tokens; a cookie is never accepted there. The CSRF token is
//! derived from the session token and the master's secret (SHA-256), so it needs no storage
//! and changes with every login. The login form has its own double-submit token in a
//! short-lived cookie.

use std::net::IpAddr;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, extract::Query};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::i18n::{Lang, Tr};
use super::{WebError, pages};
use crate::auth::{Role, constant_time_eq};
use crate::gateway::account::{LoginRequest, authenticate};
use crate::gateway::{CurrentUser, audit, source_addr};
use crate::state::SharedState;

pub const SESSION_COOKIE: &str = "atlhyper_session";
const LOGIN_CSRF_COOKIE: &str = "atlhyper_login_csrf";

/// The value of cookie `name`, if the request has it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/; `Secure` behind an https proxy.
pub fn set_cookie(name: &str, value: &str, max_age_s: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

fn behind_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The CSRF token of a session.
pub fn csrf_token(state: &SharedState, session: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"atlhyper-csrf\0")
        .chain_update(state.config.jwt_secret.expose().as_bytes())
        .chain_update(b"\0")
        .chain_update(session.as_bytes())
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex() -> Result<String, WebError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| WebError::internal(format!("randomness unavailable: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A logged-in browser user.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub user: CurrentUser,
    pub csrf: String,
    pub lang: Lang,
}

impl WebUser {
    pub fn role(&self) -> Role {
        self.user.role
    }

    /// Refuses a user below `role` with a 403 page (and audits it when `action` mutates).
    pub async fn require(
        &self,
        state: &SharedState,
        role: Role,
        action: Option<(&str, &str)>,
    ) -> Result<(), WebError> {
        if self.user.role >= role {
            return Ok(());
        }
        if let Some((action, target)) = action {
            audit(
                state,
                &self.user,
                action,
                target,
                "denied",
                &format!("needs role {}", role.as_str()),
            )
            .await?;
        }
        Err(WebError::forbidden(self.lang, role))
    }

    /// Checks the CSRF token of a POST form.
    pub fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        if constant_time_eq(sent, &self.csrf) {
            Ok(())
        } else {
            Err(WebError::csrf(self.lang))
        }
    }
}

/// The language of a request, negotiated (see [`Lang::negotiate`]).
pub fn request_lang(parts: &Parts) -> Lang {
    let query = parts.uri.query().unwrap_or("");
    let lang = query
        .split('&')
        .find_map(|p| p.strip_prefix("lang="))
        .map(str::to_owned);
    Lang::negotiate(lang.as_deref(), &parts.headers)
}

impl FromRequestParts<SharedState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Response> {
        let lang = request_lang(parts);
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map_or("/".to_owned(), |p| p.as_str().to_owned());
            let location = format!("/login?next={}", super::fmt::url_encode(&next));
            if parts.headers.contains_key("hx-request") {
                let mut response = StatusCode::UNAUTHORIZED.into_response();
                if let Ok(value) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert("hx-redirect", value);
                }
                response
            } else {
                Redirect::to(&location).into_response()
            }
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let Some(claims) = state.tokens.verify(&token) else {
            return Err(to_login());
        };
        let record = match state.store.user(&claims.sub).await {
            Ok(Some(record)) => record,
            Ok(None) => return Err(to_login()),
            Err(e) => return Err(WebError::from(crate::error::ApiError::from(e)).into_response()),
        };
        let Some(role) = Role::parse(&record.role) else {
            return Err(
                WebError::internal(format!("user {:?} has an unknown role", record.username)).into_response(),
            );
        };
        Ok(Self {
            csrf: csrf_token(state, &token),
            user: CurrentUser {
                username: record.username,
                role,
                source: source_addr(parts),
            },
            lang,
        })
    }
}

/// Whether the request carries a valid session (for the login page's redirect).
async fn logged_in(state: &SharedState, headers: &HeaderMap) -> bool {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return false;
    };
    let Some(claims) = state.tokens.verify(&token) else {
        return false;
    };
    matches!(state.store.user(&claims.sub).await, Ok(Some(_)))
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only same-site paths: never `//host` or a scheme.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/login") =>
        {
            n.to_owned()
        }
        _ => "/overview".to_owned(),
    }
}

pub async fn login_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
    lang: pages::ReqLang,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    if logged_in(&state, &headers).await {
        return Ok(Redirect::to(&next).into_response());
    }
    login_form(lang.0, &headers, &next, None, StatusCode::OK)
}

fn login_form(
    lang: Lang,
    headers: &HeaderMap,
    next: &str,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let csrf = random_hex()?;
    let page = pages::LoginPage {
        t: Tr::new(lang),
        lang_code: lang.code(),
        html_lang: lang.html_lang(),
        langs: pages::lang_links(lang, &format!("/login?next={}", super::fmt::url_encode(next))),
        next: next.to_owned(),
        csrf: csrf.clone(),
        error,
        asset_css: super::assets::url("app.css"),
    };
    let mut response = (status, pages::render(&page)?).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, &csrf, 600, behind_https(headers)),
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

pub async fn login_submit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    lang: pages::ReqLang,
    parts: pages::Source,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let lang = lang.0;
    let t = Tr::new(lang);
    let next = safe_next(Some(&form.next));
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(&expected, &form.csrf) {
        return login_form(
            lang,
            &headers,
            &next,
            Some(t.get("login.expired").to_owned()),
            StatusCode::FORBIDDEN,
        );
    }
    let source: Option<IpAddr> = parts.0.parse().ok();
    let request = LoginRequest {
        username: form.username.trim().to_owned(),
        password: form.password,
    };
    match authenticate(&state, source, &request).await {
        Ok(login) => {
            let mut response = Redirect::to(&next).into_response();
            let secure = behind_https(&headers);
            let headers_out = response.headers_mut();
            headers_out.append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &login.token,
                    state.config.token_ttl.as_secs(),
                    secure,
                ),
            );
            headers_out.append(header::SET_COOKIE, set_cookie(LOGIN_CSRF_COOKIE, "", 0, secure));
            Ok(response)
        }
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => login_form(
            lang,
            &headers,
            &next,
            Some(t.get("login.rate_limited").to_owned()),
            e.status,
        ),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => login_form(
            lang,
            &headers,
            &next,
            Some(t.get("login.wrong").to_owned()),
            e.status,
        ),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

pub async fn logout(
    State(state): State<SharedState>,
    user: WebUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    audit(
        &state,
        &user.user,
        "auth.logout",
        &format!("user/{}", user.user.username),
        "ok",
        "",
    )
    .await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, behind_https(&headers)),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "x_atlhyper_session=1; atlhyper_session=abc".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
        let set = set_cookie(SESSION_COOKIE, "t", 60, false);
        let set = set.to_str().unwrap();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure"));
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/clusters/a/slo?tab=service")),
            "/clusters/a/slo?tab=service"
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/login?next=/x",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/overview", "{bad}");
        }
        assert_eq!(safe_next(None), "/overview");
    }
}
