//! The browser's session: the login token in an `HttpOnly; SameSite=Strict` cookie, a CSRF
//! token per session for every POST form, login and logout.
//!
//! Checks are extractor types: a page takes [`WebUser`] (any logged-in user) or
//! [`WebRole<R>`] (a role's proof; below it, a 403 page), and a form that changes something
//! takes [`CsrfForm<T>`], which refuses a missing or wrong CSRF token before the handler runs.
//!
//! The JSON API keeps bearer tokens; a cookie is never accepted there. The CSRF token is
//! derived from the session token and the master's secret (SHA-256), so it needs no storage
//! and changes with every login. The login form has its own double-submit token in a
//! short-lived cookie.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, extract::Query};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::i18n::{Lang, Tr};
use super::{WebError, pages};
use crate::auth::{Role, constant_time_eq};
use crate::http::source_addr;
use crate::service::accounts::LoginRequest;
use crate::service::{App, Caller, ErrorKind, RoleProof};

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
pub fn csrf_token(app: &App, session: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"atlhyper-csrf\0")
        .chain_update(app.config().jwt_secret.expose().as_bytes())
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
    pub caller: Caller,
    pub csrf: String,
    pub lang: Lang,
}

impl WebUser {
    pub fn role(&self) -> Role {
        self.caller.role
    }

    /// Checks the CSRF token of a POST form.
    fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        if constant_time_eq(sent, &self.csrf) {
            Ok(())
        } else {
            Err(WebError::csrf(self.lang))
        }
    }
}

/// A logged-in user with at least role `R`; below it, a 403 page in the user's language.
pub struct WebRole<R> {
    pub user: WebUser,
    pub proof: R,
}

impl<R: RoleProof> FromRequestParts<App> for WebRole<R> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let user = WebUser::from_request_parts(parts, app).await?;
        match R::check(user.caller.clone()) {
            Ok(proof) => Ok(Self { user, proof }),
            Err(_) => Err(WebError::forbidden(user.lang, R::ROLE).into_response()),
        }
    }
}

/// A POST form whose `csrf` field matched the session's token, from a logged-in user. The
/// form's own type need not name `csrf`.
pub struct CsrfForm<T> {
    pub user: WebUser,
    pub form: T,
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<App> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, app: &App) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let user = WebUser::from_request_parts(&mut parts, app).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), app)
            .await
            .map_err(IntoResponse::into_response)?;
        // Checked before the form is even read: without the token nothing of it counts.
        let sent: CsrfField =
            serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField { csrf: String::new() });
        user.check_csrf(&sent.csrf).map_err(IntoResponse::into_response)?;
        let form: T = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| WebError::bad_request(user.lang, format!("invalid form: {e}")).into_response())?;
        Ok(Self { user, form })
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

impl FromRequestParts<App> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
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
        let caller = match app.access.caller(&token, source_addr(parts)).await {
            Ok(caller) => caller,
            Err(e) if e.kind == ErrorKind::Unauthorized => return Err(to_login()),
            Err(e) => return Err(WebError::from(e).in_lang(lang).into_response()),
        };
        Ok(Self {
            csrf: csrf_token(app, &token),
            caller,
            lang,
        })
    }
}

/// Whether the request carries a valid session (for the login page's redirect).
async fn logged_in(app: &App, headers: &HeaderMap) -> bool {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return false;
    };
    app.access.caller(&token, String::new()).await.is_ok()
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
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
    lang: pages::ReqLang,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    if logged_in(&app, &headers).await {
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
    State(app): State<App>,
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
    match app.accounts.login(source, &request).await {
        Ok(login) => {
            let mut response = Redirect::to(&next).into_response();
            let secure = behind_https(&headers);
            let headers_out = response.headers_mut();
            headers_out.append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &login.token,
                    app.config().token_ttl.as_secs(),
                    secure,
                ),
            );
            headers_out.append(header::SET_COOKIE, set_cookie(LOGIN_CSRF_COOKIE, "", 0, secure));
            Ok(response)
        }
        Err(e) if e.kind == ErrorKind::TooManyRequests => login_form(
            lang,
            &headers,
            &next,
            Some(t.get("login.rate_limited").to_owned()),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(e) if e.kind == ErrorKind::Unauthorized => login_form(
            lang,
            &headers,
            &next,
            Some(t.get("login.wrong").to_owned()),
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => Err(e.into()),
    }
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// Logs out: the cookie goes, the logout is audited.
pub async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    app.accounts
        .logout(&user.caller)
        .await
        .map_err(|e| WebError::from(e).in_lang(user.lang))?;
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
