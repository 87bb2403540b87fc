//! The dashboard's static files, embedded in the binary with `include_bytes!` and served under
//! `/static/`. Vendored files carry their version in the name; the own CSS and JS are linked
//! with `?v=<hash of the content>`, so every file can be cached for a year.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

pub struct Asset {
    pub name: &'static str,
    pub mime: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $mime:expr) => {
        Asset {
            name: $name,
            mime: $mime,
            bytes: include_bytes!(concat!("../../static/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const TXT: &str = "text/plain; charset=utf-8";

pub static ASSETS: [Asset; 13] = [
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("vendor/echarts-6.1.0.common.min.js", JS),
    asset!("vendor/echarts-6.1.0-langJA.js", JS),
    asset!("vendor/cytoscape-3.34.4.min.js", JS),
    asset!("vendor/htmx-2.0.11.min.js", JS),
    asset!("vendor/echarts-LICENSE.txt", TXT),
    asset!("vendor/echarts-NOTICE.txt", TXT),
    asset!("vendor/echarts-LICENSE-d3.txt", TXT),
    asset!("vendor/cytoscape-LICENSE.txt", TXT),
    asset!("vendor/htmx-LICENSE.txt", TXT),
    asset!("vendor/VENDORED.md", "text/markdown; charset=utf-8"),
];

/// Per asset: the first 16 hex digits of its SHA-256 (the ETag and the `?v=`).
static HASHES: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            Sha256::digest(a.bytes)[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect()
});

pub fn find(name: &str) -> Option<(usize, &'static Asset)> {
    ASSETS.iter().enumerate().find(|(_, a)| a.name == name)
}

/// The URL of an asset, with a content hash for cache busting.
pub fn url(name: &str) -> String {
    match find(name) {
        Some((i, _)) => format!("/static/{name}?v={}", HASHES[i]),
        None => format!("/static/{name}"),
    }
}

pub async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some((i, asset)) = find(&path) else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, TXT)], "not found").into_response();
    };
    let etag = format!("\"{}\"", HASHES[i]);
    let cache = [
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            "public, max-age=31536000, immutable".to_owned(),
        ),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let mut response = (cache, asset.bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_present_and_typed() {
        for asset in &ASSETS {
            assert!(!asset.bytes.is_empty(), "{}", asset.name);
            if asset.name.ends_with(".js") {
                assert_eq!(asset.mime, JS);
            }
        }
        assert!(url("app.css").starts_with("/static/app.css?v="));
        assert!(find("../Cargo.toml").is_none());
    }
}
