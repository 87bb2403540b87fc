//! The dashboard's own string catalog: `locales/{en,zh,ja}.toml`, embedded at compile time.
//!
//! Each file has `[section]` tables of `key = "text"`; a string is named `section.key`.
//! Placeholders are written `{name}` and filled by [`Tr::fill`]. Tests check that the three
//! files have the same keys and the same placeholders per key, and that every key the
//! templates and the Rust code use exists.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use axum::http::HeaderMap;

/// A language of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Zh,
    Ja,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Zh, Lang::Ja];

    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh",
            Self::Ja => "ja",
        }
    }

    /// The value of `<html lang>`.
    pub fn html_lang(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh-CN",
            Self::Ja => "ja",
        }
    }

    /// The ECharts locale name.
    pub fn chart_locale(self) -> &'static str {
        match self {
            Self::En => "EN",
            Self::Zh => "ZH",
            Self::Ja => "JA",
        }
    }

    /// The language's own name, shown in the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Zh => "中文",
            Self::Ja => "日本語",
        }
    }

    /// `en`, `zh`, `ja` and their regional forms (`zh-CN`, `ja-JP`, `en-GB`), any case.
    pub fn parse(text: &str) -> Option<Self> {
        let primary = text.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Self::En),
            "zh" => Some(Self::Zh),
            "ja" => Some(Self::Ja),
            _ => None,
        }
    }

    /// The best of the three for an `Accept-Language` header (by q-value, then order).
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate() {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Lang::parse) else {
                continue;
            };
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map(|(_, _, lang)| lang)
    }

    /// `?lang=`, then the `atlhyper_lang` cookie, then `Accept-Language`, then English.
    pub fn negotiate(query_lang: Option<&str>, headers: &HeaderMap) -> Self {
        query_lang
            .and_then(Lang::parse)
            .or_else(|| super::session::cookie(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v)))
            .or_else(|| {
                headers
                    .get(axum::http::header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Lang::from_accept_language)
            })
            .unwrap_or(Self::En)
    }
}

pub const LANG_COOKIE: &str = "atlhyper_lang";

const SOURCES: [(Lang, &str); 3] = [
    (Lang::En, include_str!("../../locales/en.toml")),
    (Lang::Zh, include_str!("../../locales/zh.toml")),
    (Lang::Ja, include_str!("../../locales/ja.toml")),
];

type Catalog = HashMap<String, String>;

fn parse_catalog(text: &str) -> Result<Catalog, String> {
    let sections: BTreeMap<String, BTreeMap<String, String>> =
        basic_toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(sections
        .into_iter()
        .flat_map(|(section, keys)| {
            keys.into_iter()
                .map(move |(key, text)| (format!("{section}.{key}"), text))
        })
        .collect())
}

static CATALOGS: LazyLock<HashMap<Lang, Catalog>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(lang, text)| {
            let catalog = parse_catalog(text).unwrap_or_else(|e| {
                tracing::error!(lang = lang.code(), error = %e, "dashboard catalog does not parse");
                Catalog::new()
            });
            (*lang, catalog)
        })
        .collect()
});

/// Looks strings up in one language. Copy it into every template.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The text of `key`; English where the language lacks it, the key itself where English
    /// does too (the catalog tests keep both from happening).
    pub fn get(&self, key: &str) -> &'static str {
        let find = |lang: Lang| CATALOGS.get(&lang).and_then(|c| c.get(key)).map(String::as_str);
        match find(self.lang).or_else(|| find(Lang::En)) {
            Some(text) => text,
            None => {
                tracing::warn!(key, "dashboard string missing from the catalog");
                "?"
            }
        }
    }

    /// The text of `key` with `{name}` placeholders replaced.
    pub fn fill(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut out = self.get(key).to_owned();
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

/// The `{name}` placeholders of a text.
pub fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.insert(after[..close].to_owned());
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogs() -> Vec<(Lang, Catalog)> {
        SOURCES
            .iter()
            .map(|(lang, text)| {
                (
                    *lang,
                    parse_catalog(text).unwrap_or_else(|e| panic!("{}: {e}", lang.code())),
                )
            })
            .collect()
    }

    #[test]
    fn every_language_has_every_key_with_the_same_placeholders() {
        let all = catalogs();
        let (_, english) = &all[0];
        assert!(
            english.len() > 100,
            "the catalog is loaded: {} keys",
            english.len()
        );
        let mut problems = Vec::new();
        for (lang, catalog) in &all {
            for key in english.keys() {
                match catalog.get(key) {
                    None => problems.push(format!("{}: missing {key}", lang.code())),
                    Some(text) if placeholders(text) != placeholders(&english[key]) => {
                        problems.push(format!(
                            "{}: {key} has placeholders {:?}, English has {:?}",
                            lang.code(),
                            placeholders(text),
                            placeholders(&english[key])
                        ))
                    }
                    Some(text) if text.trim().is_empty() => {
                        problems.push(format!("{}: {key} is empty", lang.code()))
                    }
                    Some(_) => {}
                }
            }
            for key in catalog.keys() {
                if !english.contains_key(key) {
                    problems.push(format!("{}: {key} is not in en.toml", lang.code()));
                }
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }

    /// Every `t.get("…")`/`t.fill("…"` in the templates and the web module names a key.
    #[test]
    fn every_key_used_exists() {
        let english: Catalog = catalogs().remove(0).1;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut used = BTreeSet::new();
        for dir in ["templates", "templates/partials", "src/web"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for marker in ["t.get(\"", "t.fill(\"", "tr(\""] {
                        for (i, _) in text.match_indices(marker) {
                            let rest = &text[i + marker.len()..];
                            let key = &rest[..rest.find('"').unwrap()];
                            if !key.contains('{') && key.contains('.') {
                                used.insert((key.to_owned(), path.display().to_string()));
                            }
                        }
                    }
                }
            }
        }
        assert!(used.len() > 50, "templates scanned: {}", used.len());
        let missing: Vec<_> = used.iter().filter(|(k, _)| !english.contains_key(k)).collect();
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn negotiation_prefers_query_then_cookie_then_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::negotiate(None, &headers), Lang::En);
        headers.insert("accept-language", "fr-FR, ja;q=0.8, zh-CN;q=0.9".parse().unwrap());
        assert_eq!(Lang::negotiate(None, &headers), Lang::Zh);
        headers.insert("cookie", "a=b; atlhyper_lang=ja".parse().unwrap());
        assert_eq!(Lang::negotiate(None, &headers), Lang::Ja);
        assert_eq!(Lang::negotiate(Some("en"), &headers), Lang::En);
        assert_eq!(Lang::negotiate(Some("xx"), &headers), Lang::Ja);
        assert_eq!(Lang::from_accept_language("de, en-GB;q=0.5"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("ja;q=0"), None);
    }

    #[test]
    fn fill_replaces_placeholders() {
        assert_eq!(
            placeholders("{a} and {b}"),
            BTreeSet::from(["a".to_owned(), "b".to_owned()])
        );
        let t = Tr::new(Lang::En);
        assert!(t.fill("overview.clusters_count", &[("count", "2")]).contains('2'));
    }
}
