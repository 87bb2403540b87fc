//! The `prometheus` source mode: the raw proxy counters read through the Prometheus HTTP API
//! (`GET /api/v1/query`), which Thanos, Mimir and VictoriaMetrics serve unchanged.
//!
//! The query asks for the counters themselves, not for `rate()` or `increase()` (those
//! extrapolate and would not add up across intervals): one instant vector of every SLO family
//! of the proxies, `{__name__=~"<families>", <selector>}`. The answer is written back as
//! federation text and fed to the same [`Window`](atlhyper_slo::Window) as a `/federate`
//! body, so resets, new pods and vanished series are counted exactly as in the other modes.

use std::fmt::Write as _;

use serde::Deserialize;

use crate::scrape::{ScrapeError, Scraper};

/// The families the SLO window reads, plus what tells a proxy restart.
pub const FAMILIES: [&str; 8] = [
    "request_total",
    "response_total",
    "response_latency_ms_bucket",
    "outbound_http_route_request_statuses_total",
    "outbound_grpc_route_request_statuses_total",
    "outbound_http_route_request_duration_seconds_bucket",
    "outbound_grpc_route_request_duration_seconds_bucket",
    "process_start_time_seconds",
];

/// The PromQL the agent sends, for a label `selector` such as `job="linkerd-proxy"`.
pub fn query(selector: &str) -> String {
    let names = FAMILIES.join("|");
    if selector.trim().is_empty() {
        format!("{{__name__=~\"{names}\"}}")
    } else {
        format!("{{__name__=~\"{names}\",{selector}}}")
    }
}

/// The query URL for the API at `base` (e.g. `http://prometheus:9090`, or a Thanos or Mimir
/// prefix such as `http://mimir/prometheus`).
pub fn query_url(base: &str, selector: &str) -> String {
    format!(
        "{}/api/v1/query?query={}",
        base.trim_end_matches('/'),
        percent_encode(&query(selector))
    )
}

/// Why an answer of the HTTP API could not be turned into federation text; reported as a
/// [`ScrapeError::Answer`] of the query URL.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("invalid Prometheus API answer: {0}")]
    Json(#[from] serde_json::Error),
    /// The API answered `"status": "error"`: its `error` text (or the status).
    #[error("Prometheus API error: {0}")]
    Api(String),
    #[error("Prometheus API answer without data")]
    NoData,
    #[error("expected a vector result, got {0:?}")]
    NotAVector(String),
}

#[derive(Debug, Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<VectorSample>,
}

#[derive(Debug, Deserialize)]
struct VectorSample {
    metric: std::collections::BTreeMap<String, String>,
    value: (f64, String),
}

/// Runs the query and returns the answer as federation text (`name{labels} value ts_ms`).
pub async fn fetch(scraper: &Scraper, base: &str, selector: &str) -> Result<String, ScrapeError> {
    let url = query_url(base, selector);
    let fetched = scraper.fetch(&url).await?;
    to_federation_text(&fetched.body).map_err(|source| ScrapeError::Answer { url, source })
}

/// Writes an instant-vector answer of the HTTP API as Prometheus text.
pub fn to_federation_text(json: &str) -> Result<String, AnswerError> {
    let response: Response = serde_json::from_str(json)?;
    if response.status != "success" {
        return Err(AnswerError::Api(
            response.error.unwrap_or_else(|| response.status.clone()),
        ));
    }
    let data = response.data.ok_or(AnswerError::NoData)?;
    if data.result_type != "vector" {
        return Err(AnswerError::NotAVector(data.result_type));
    }
    let mut out = String::with_capacity(data.result.len() * 160);
    for sample in &data.result {
        let Some(name) = sample.metric.get("__name__") else {
            continue;
        };
        out.push_str(name);
        out.push('{');
        let mut first = true;
        for (label, value) in sample.metric.iter().filter(|(l, _)| *l != "__name__") {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(label);
            out.push_str("=\"");
            atlhyper_promtext::escape_label_value(value, &mut out);
            out.push('"');
        }
        let timestamp_ms = (sample.value.0 * 1000.0).round() as i64;
        let _ = writeln!(out, "}} {} {timestamp_ms}", sample.value.1);
    }
    Ok(out)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_names_every_family_and_the_selector() {
        let q = query(r#"job="linkerd-proxy""#);
        assert!(
            q.starts_with(r#"{__name__=~"request_total|response_total|"#),
            "{q}"
        );
        assert!(q.ends_with(r#",job="linkerd-proxy"}"#), "{q}");
        let url = query_url("http://mimir/prometheus/", r#"job="linkerd-proxy""#);
        assert!(
            url.starts_with("http://mimir/prometheus/api/v1/query?query=%7B__name__%3D~%22request_total%7C"),
            "{url}"
        );
    }

    #[test]
    fn a_vector_becomes_parseable_federation_text() {
        let json = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"request_total","direction":"outbound","dst_service":"api","instance":"10.0.0.1:4191","pod":"web-1","note":"a \"q\""},"value":[1764000030.5,"42"]},
            {"metric":{"__name__":"response_latency_ms_bucket","le":"+Inf","instance":"10.0.0.1:4191"},"value":[1764000030.5,"7"]}]}}"#;
        let text = to_federation_text(json).unwrap();
        let scrape = atlhyper_promtext::parse(&text).unwrap();
        assert_eq!(scrape.samples.len(), 2);
        assert_eq!(scrape.samples[0].value, 42.0);
        assert_eq!(scrape.samples[0].timestamp_ms, Some(1_764_000_030_500));
        assert_eq!(scrape.samples[0].label("note").as_deref(), Some("a \"q\""));
    }

    #[test]
    fn api_errors_say_what_went_wrong() {
        let e = to_federation_text(
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "Prometheus API error: parse error at char 3");
        let e = to_federation_text(r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(e, r#"expected a vector result, got "matrix""#);
        assert!(
            to_federation_text("<html>")
                .unwrap_err()
                .to_string()
                .starts_with("invalid Prometheus API answer: ")
        );
        assert!(matches!(
            to_federation_text(r#"{"status":"success"}"#),
            Err(AnswerError::NoData)
        ));
    }
}
