//! What every page shares: the layout's data ([`Page`]), the language links, a few
//! extractors, chart descriptions for `app.js`, and rendering.

use askama::Template;
use atlhyper_model::resources::ResourceKind;
use axum::extract::FromRequestParts;
use axum::http::Uri;
use axum::http::request::Parts;
use axum::response::Html;
use serde_json::{Value, json};

use super::i18n::{Lang, Tr};
use super::session::{WebUser, request_lang};
use super::{WebError, assets, role_key};
use crate::auth::Role;
use crate::service::App;

pub fn render<T: Template>(template: &T) -> Result<Html<String>, WebError> {
    template
        .render()
        .map(Html)
        .map_err(|e| WebError::internal(format!("template failed: {e}")))
}

/// The negotiated language of a request that needs no session.
pub struct ReqLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for ReqLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_lang(parts)))
    }
}

/// The caller's address, as the audit log records it.
pub struct Source(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(crate::http::source_addr(parts)))
    }
}

pub struct LangLink {
    pub code: &'static str,
    pub name: &'static str,
    pub href: String,
    pub active: bool,
}

/// Links to the same page in each language (`?lang=` replaced).
pub fn lang_links(current: Lang, path_and_query: &str) -> Vec<LangLink> {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("lang="))
        .collect();
    Lang::ALL
        .iter()
        .map(|lang| {
            let mut params = kept.clone();
            let chosen = format!("lang={}", lang.code());
            params.push(&chosen);
            LangLink {
                code: lang.code(),
                name: lang.native_name(),
                href: format!("{path}?{}", params.join("&")),
                active: *lang == current,
            }
        })
        .collect()
}

pub struct NavCluster {
    pub id: String,
    pub name: String,
    pub online: bool,
}

/// Scripts a page needs besides htmx and app.js.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    Plain,
    Charts,
    Graph,
}

/// The layout's data: navigation, user, language, scripts.
pub struct Page {
    pub t: Tr,
    pub html_lang: &'static str,
    pub lang_code: &'static str,
    pub chart_locale: &'static str,
    pub title: String,
    pub user: String,
    pub role_name: &'static str,
    pub is_operator: bool,
    pub is_admin: bool,
    pub csrf: String,
    /// The active navigation item.
    pub nav: &'static str,
    pub clusters: Vec<NavCluster>,
    /// The cluster the page is about, or empty.
    pub cluster: String,
    pub langs: Vec<LangLink>,
    pub css: String,
    pub scripts: Vec<String>,
    pub favicon: String,
}

impl Page {
    pub async fn new(
        app: &App,
        user: &WebUser,
        uri: &Uri,
        nav: &'static str,
        title: String,
        cluster: Option<&str>,
        scripts: Scripts,
    ) -> Result<Self, WebError> {
        let lang = user.lang;
        let clusters = app
            .clusters
            .records()
            .await
            .map_err(|e| WebError::from(e).in_lang(lang))?
            .into_iter()
            .map(|c| NavCluster {
                online: app.clusters.online(&c.id),
                id: c.id,
                name: c.name,
            })
            .collect();
        let mut js = vec![assets::url("vendor/htmx-2.0.11.min.js")];
        if scripts == Scripts::Charts {
            js.push(assets::url("vendor/echarts-6.1.0.common.min.js"));
            if lang == Lang::Ja {
                js.push(assets::url("vendor/echarts-6.1.0-langJA.js"));
            }
        }
        if scripts == Scripts::Graph {
            js.push(assets::url("vendor/cytoscape-3.34.4.min.js"));
        }
        js.push(assets::url("app.js"));
        let t = Tr::new(lang);
        Ok(Self {
            t,
            html_lang: lang.html_lang(),
            lang_code: lang.code(),
            chart_locale: lang.chart_locale(),
            title,
            user: user.caller.username.clone(),
            role_name: t.get(role_key(user.role())),
            is_operator: user.role() >= Role::Operator,
            is_admin: user.role() >= Role::Admin,
            csrf: user.csrf.clone(),
            nav,
            clusters,
            cluster: cluster.unwrap_or_default().to_owned(),
            langs: lang_links(lang, uri.path_and_query().map_or("/", |p| p.as_str())),
            css: assets::url("app.css"),
            scripts: js,
            favicon: assets::url("favicon.svg"),
        })
    }

    /// A page about one cluster, titled by the catalog's `title_key` with the cluster's name
    /// filled in (the name is known only once `new` has loaded the navigation's clusters).
    pub async fn of_cluster(
        app: &App,
        user: &WebUser,
        uri: &Uri,
        nav: &'static str,
        cluster_id: &str,
        scripts: Scripts,
        title_key: &str,
    ) -> Result<Self, WebError> {
        let mut page = Self::new(app, user, uri, nav, String::new(), Some(cluster_id), scripts).await?;
        page.title = page.t.fill(title_key, &[("cluster", page.cluster_name())]);
        Ok(page)
    }

    /// The name of the page's cluster.
    pub fn cluster_name(&self) -> &str {
        self.clusters
            .iter()
            .find(|c| c.id == self.cluster)
            .map_or(self.cluster.as_str(), |c| c.name.as_str())
    }
}

/// Links to objects, shared by the resource, event, anomaly and operation pages.
/// The detail page of an object.
pub fn resource_href(cluster: &str, kind: &str, namespace: &str, name: &str) -> String {
    let ns = if namespace.is_empty() { "_" } else { namespace };
    format!(
        "/clusters/{cluster}/resources/{kind}/{}/{}",
        super::fmt::url_encode(ns),
        super::fmt::url_encode(name)
    )
}

/// An AIOps/anomaly entity key (`namespace/kind/name`, `_cluster/node/NAME`) → detail page.
pub fn entity_href(cluster: &str, kind: ResourceKind, entity: &str) -> String {
    let mut parts = entity.splitn(3, '/');
    let ns = parts.next().unwrap_or_default();
    let name = parts.nth(1).unwrap_or_default();
    let ns = if kind.namespaced() { ns } else { "" };
    resource_href(cluster, kind.as_str(), ns, name)
}

/// One series of a chart: `[unix ms, value]` points, or plain values for a category chart.
pub fn series(name: &str, points: Vec<Value>) -> Value {
    json!({ "name": name, "data": points })
}

/// A time-axis line chart for `app.js`.
pub fn line_chart(el: &str, title: &str, unit: &str, series: Vec<Value>) -> Value {
    json!({ "el": el, "type": "line", "title": title, "unit": unit, "series": series })
}

/// A bar chart over categories.
pub fn bar_chart(el: &str, title: &str, unit: &str, categories: Vec<String>, values: Vec<f64>) -> Value {
    json!({ "el": el, "type": "bar", "title": title, "unit": unit, "categories": categories,
            "series": [{ "name": title, "data": values }] })
}

/// A pie (donut) chart of named parts.
pub fn pie_chart(el: &str, title: &str, parts: Vec<(String, f64, &str)>) -> Value {
    let data: Vec<Value> = parts
        .into_iter()
        .map(|(name, value, color)| json!({ "name": name, "value": value, "itemStyle": { "color": color } }))
        .collect();
    json!({ "el": el, "type": "pie", "title": title, "series": [{ "name": title, "data": data }] })
}

/// A point of a time series, `null` where the value is missing.
pub fn point(ms: i64, value: Option<f64>) -> Value {
    json!([ms, value.filter(|v| v.is_finite())])
}

// ---- templates without the layout ----

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub t: Tr,
    pub lang_code: &'static str,
    pub html_lang: &'static str,
    pub langs: Vec<LangLink>,
    pub next: String,
    pub csrf: String,
    pub error: Option<String>,
    pub asset_css: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub t: Tr,
    pub html_lang: &'static str,
    pub title: &'static str,
    pub message: String,
    pub asset_css: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_links_replace_the_lang_parameter() {
        let links = lang_links(Lang::Zh, "/clusters/a/slo?tab=service&lang=en");
        let hrefs: Vec<&str> = links.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(
            hrefs,
            [
                "/clusters/a/slo?tab=service&lang=en",
                "/clusters/a/slo?tab=service&lang=zh",
                "/clusters/a/slo?tab=service&lang=ja"
            ]
        );
        assert!(links[1].active && !links[0].active);
    }
}
