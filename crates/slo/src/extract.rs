//! Which SLO group and which counter a sample feeds (DESIGN.md §5.3–5.4).
//!
//! | family | counts | group |
//! |---|---|---|
//! | Linkerd `request_total` | requests | ingress: inbound on the ingress namespace, by `authority`; service: outbound, by (`namespace`, workload, `dst_namespace`, `dst_service`) |
//! | Linkerd `response_total` | success / failure by `classification` | as above |
//! | Linkerd `response_latency_ms_bucket` | latency buckets, ms | as above |
//! | Linkerd ≥ 2.16 `outbound_{http,grpc}_route_request_statuses_total` | requests and success / failure (5xx, `error`, gRPC not `OK`) | service: (`namespace`, workload, `parent_namespace`, `parent_name`) |
//! | Linkerd ≥ 2.16 `outbound_{http,grpc}_route_request_duration_seconds_bucket` | latency buckets, s → ms | as above |
//! | Traefik `traefik_service_requests_total` | requests and success / failure (`code` ≥ 500; gRPC codes) | ingress: by `service` |
//! | Traefik `traefik_service_request_duration_seconds_bucket` | latency buckets, s → ms | as above |

use std::borrow::Cow;

use atlhyper_model::SloType;
use atlhyper_promtext::Sample;

use crate::rules::Rules;

/// The source families, so that one target's traffic is read from one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    LinkerdClassic,
    LinkerdRoute,
    Traefik,
}

/// Which counter of a group a sample is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Component {
    /// Requests only (Linkerd `request_total`).
    Requests,
    /// Responses only (Linkerd `response_total`).
    Responses { success: bool },
    /// A counter of responses that is also the request count (route metrics, Traefik).
    RequestsAndResponses { success: bool },
    /// A cumulative latency bucket with this bound in ms (`+Inf` for all observations).
    Bucket { le_ms: f64 },
}

/// A sample's group and counter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Extracted<'s> {
    pub kind: SloType,
    pub source: Cow<'s, str>,
    pub source_namespace: Cow<'s, str>,
    pub target: Cow<'s, str>,
    pub namespace: Cow<'s, str>,
    pub component: Component,
}

/// The family a sample name belongs to, and whether it is a latency bucket in seconds.
pub(crate) fn source_of(name: &str) -> Option<Source> {
    Some(match name {
        "request_total" | "response_total" | "response_latency_ms_bucket" => Source::LinkerdClassic,
        "outbound_http_route_request_statuses_total"
        | "outbound_grpc_route_request_statuses_total"
        | "outbound_http_route_request_duration_seconds_bucket"
        | "outbound_grpc_route_request_duration_seconds_bucket" => Source::LinkerdRoute,
        "traefik_service_requests_total" | "traefik_service_request_duration_seconds_bucket" => {
            Source::Traefik
        }
        _ => return None,
    })
}

/// Classifies one sample. `target_labels` are the labels the scraper attaches (namespace, pod,
/// workload); like Prometheus target labels, they win over labels of the same name in the body.
pub(crate) fn extract<'s>(
    sample: &Sample<'s>,
    source: Source,
    target_labels: &'s [(String, String)],
    rules: &Rules,
) -> Option<Extracted<'s>> {
    let mut picked = Picked::default();
    for label in sample.labels.iter() {
        picked.set(label.name, label.value());
    }
    for (name, value) in target_labels {
        picked.set(name, Cow::Borrowed(value.as_str()));
    }
    match source {
        Source::LinkerdClassic => linkerd_classic(sample.name, picked, rules),
        Source::LinkerdRoute => linkerd_route(sample.name, picked, rules),
        Source::Traefik => traefik(sample.name, picked),
    }
}

fn linkerd_classic<'s>(name: &str, p: Picked<'s>, rules: &Rules) -> Option<Extracted<'s>> {
    let component = match name {
        "request_total" => Component::Requests,
        "response_total" => Component::Responses {
            success: p.classification.as_deref() == Some("success"),
        },
        _ => Component::Bucket {
            le_ms: parse_le(p.le.as_deref()?)?,
        },
    };
    match p.direction.as_deref()? {
        "inbound" => {
            if p.namespace.as_deref()? != rules.traefik_namespace {
                return None;
            }
            let authority = p.authority?;
            if !rules.is_external_authority(&authority) {
                return None;
            }
            Some(Extracted {
                kind: SloType::Ingress,
                source: authority,
                source_namespace: Cow::Borrowed(""),
                target: Cow::Borrowed(""),
                namespace: Cow::Borrowed(""),
                component,
            })
        }
        "outbound" => {
            let dst_namespace = p.dst_namespace?;
            if !rules.keeps_destination(&dst_namespace) {
                return None;
            }
            let target = p.dst_service.or(p.dst_workload.map(|(_, w)| w)).or(p.authority)?;
            Some(Extracted {
                kind: SloType::Service,
                source: p.workload.map(|(_, w)| w).unwrap_or_default(),
                source_namespace: p.namespace.unwrap_or_default(),
                target,
                namespace: dst_namespace,
                component,
            })
        }
        _ => None,
    }
}

fn linkerd_route<'s>(name: &str, p: Picked<'s>, rules: &Rules) -> Option<Extracted<'s>> {
    let component = if name.ends_with("_bucket") {
        Component::Bucket {
            le_ms: seconds_to_ms(parse_le(p.le.as_deref()?)?),
        }
    } else {
        let errored = p.error.as_deref().is_some_and(|e| !e.is_empty());
        let success = if name.starts_with("outbound_grpc") {
            !errored && p.grpc_status.as_deref() == Some("OK")
        } else {
            !errored && !p.http_status.as_deref().is_some_and(|s| s.starts_with('5'))
        };
        Component::RequestsAndResponses { success }
    };
    let dst_namespace = p.parent_namespace?;
    if !rules.keeps_destination(&dst_namespace) {
        return None;
    }
    Some(Extracted {
        kind: SloType::Service,
        source: p.workload.map(|(_, w)| w).unwrap_or_default(),
        source_namespace: p.namespace.unwrap_or_default(),
        target: p.parent_name?,
        namespace: dst_namespace,
        component,
    })
}

fn traefik<'s>(name: &str, p: Picked<'s>) -> Option<Extracted<'s>> {
    let service = p.service?;
    if service.ends_with("@internal") {
        return None;
    }
    let component = if name.ends_with("_bucket") {
        Component::Bucket {
            le_ms: seconds_to_ms(parse_le(p.le.as_deref()?)?),
        }
    } else {
        let code = p.code.as_deref().unwrap_or("");
        let grpc = matches!(p.protocol.as_deref(), Some("grpc" | "grpc-web"));
        Component::RequestsAndResponses {
            success: !traefik_failure(code, grpc),
        }
    };
    Some(Extracted {
        kind: SloType::Ingress,
        source: service,
        source_namespace: Cow::Borrowed(""),
        target: Cow::Borrowed(""),
        namespace: Cow::Borrowed(""),
        component,
    })
}

/// Traefik counts a failure as an HTTP status ≥ 500. Traefik v3 writes the gRPC status code in
/// `code` for gRPC; those fail as Linkerd's default gRPC classifier says: Unknown (2),
/// DeadlineExceeded (4), PermissionDenied (7), Internal (13), Unavailable (14), DataLoss (15).
fn traefik_failure(code: &str, grpc: bool) -> bool {
    let Ok(code) = code.parse::<u16>() else {
        return false;
    };
    if grpc && code < 100 {
        return matches!(code, 2 | 4 | 7 | 13 | 14 | 15);
    }
    code >= 500
}

/// `le` as a number: `"1"`, `"1.0"` and `"1e0"` are one bound; `"+Inf"` is infinity.
pub(crate) fn parse_le(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| !v.is_nan())
}

/// Seconds to milliseconds, snapping away the float noise of the product (0.3 s → 300 ms).
fn seconds_to_ms(seconds: f64) -> f64 {
    let ms = seconds * 1000.0;
    let rounded = (ms * 1e6).round() / 1e6;
    if ms.is_finite() { rounded } else { ms }
}

/// Workload labels attached at scrape time, most specific owner first.
const WORKLOAD_LABELS: [&str; 7] = [
    "deployment",
    "statefulset",
    "daemonset",
    "cronjob",
    "k8s_job",
    "replicationcontroller",
    "replicaset",
];

/// The labels extraction reads, picked in one pass over a sample's label set.
#[derive(Default)]
struct Picked<'s> {
    direction: Option<Cow<'s, str>>,
    authority: Option<Cow<'s, str>>,
    namespace: Option<Cow<'s, str>>,
    workload: Option<(usize, Cow<'s, str>)>,
    dst_namespace: Option<Cow<'s, str>>,
    dst_service: Option<Cow<'s, str>>,
    dst_workload: Option<(usize, Cow<'s, str>)>,
    classification: Option<Cow<'s, str>>,
    le: Option<Cow<'s, str>>,
    parent_namespace: Option<Cow<'s, str>>,
    parent_name: Option<Cow<'s, str>>,
    http_status: Option<Cow<'s, str>>,
    grpc_status: Option<Cow<'s, str>>,
    error: Option<Cow<'s, str>>,
    service: Option<Cow<'s, str>>,
    code: Option<Cow<'s, str>>,
    protocol: Option<Cow<'s, str>>,
}

impl<'s> Picked<'s> {
    fn set(&mut self, name: &str, value: Cow<'s, str>) {
        let slot = match name {
            "direction" => &mut self.direction,
            "authority" => &mut self.authority,
            "namespace" => &mut self.namespace,
            "dst_namespace" => &mut self.dst_namespace,
            "dst_service" => &mut self.dst_service,
            "classification" => &mut self.classification,
            "le" => &mut self.le,
            "parent_namespace" => &mut self.parent_namespace,
            "parent_name" => &mut self.parent_name,
            "http_status" => &mut self.http_status,
            "grpc_status" => &mut self.grpc_status,
            "error" => &mut self.error,
            "service" => &mut self.service,
            "code" => &mut self.code,
            "protocol" => &mut self.protocol,
            _ => {
                if let Some(rank) = WORKLOAD_LABELS.iter().position(|w| *w == name) {
                    keep_most_specific(&mut self.workload, rank, value);
                } else if let Some(rank) = name
                    .strip_prefix("dst_")
                    .and_then(|w| WORKLOAD_LABELS.iter().position(|l| *l == w))
                {
                    keep_most_specific(&mut self.dst_workload, rank, value);
                }
                return;
            }
        };
        *slot = Some(value);
    }
}

fn keep_most_specific<'s>(slot: &mut Option<(usize, Cow<'s, str>)>, rank: usize, value: Cow<'s, str>) {
    if value.is_empty() {
        return;
    }
    if slot.as_ref().is_none_or(|(kept, _)| rank <= *kept) {
        *slot = Some((rank, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str, rules: &Rules) -> Option<Extracted<'static>> {
        let body: &'static str = Box::leak(body.to_owned().into_boxed_str());
        let scrape = atlhyper_promtext::parse(body).unwrap();
        let sample = &scrape.samples[0];
        extract(sample, source_of(sample.name)?, &[], rules)
    }

    fn rules() -> Rules {
        Rules {
            traefik_namespace: "ingress".into(),
            ..Rules::default()
        }
    }

    #[test]
    fn outbound_request_is_a_service_edge() {
        let e = one(
            r#"request_total{direction="outbound",namespace="shop",deployment="web",dst_namespace="shop",dst_service="api",authority="api.shop.svc.cluster.local:8080"} 5"#,
            &rules(),
        )
        .unwrap();
        assert_eq!(
            (e.kind, &*e.source, &*e.source_namespace),
            (SloType::Service, "web", "shop")
        );
        assert_eq!(
            (&*e.target, &*e.namespace, e.component),
            ("api", "shop", Component::Requests)
        );
    }

    #[test]
    fn inbound_on_the_ingress_namespace_is_ingress_by_authority() {
        let e = one(
            r#"response_total{direction="inbound",namespace="ingress",deployment="traefik",authority="shop.example.com",classification="failure",status_code="503"} 2"#,
            &rules(),
        )
        .unwrap();
        assert_eq!((e.kind, &*e.source), (SloType::Ingress, "shop.example.com"));
        assert_eq!(e.component, Component::Responses { success: false });
        let internal = r#"request_total{direction="inbound",namespace="ingress",authority="web.shop.svc.cluster.local:80"} 2"#;
        assert_eq!(one(internal, &rules()), None);
        let elsewhere =
            r#"request_total{direction="inbound",namespace="shop",authority="shop.example.com"} 2"#;
        assert_eq!(one(elsewhere, &rules()), None);
        let no_authority = r#"request_total{direction="inbound",namespace="ingress"} 2"#;
        assert_eq!(one(no_authority, &rules()), None);
    }

    #[test]
    fn target_namespace_filter_applies_to_destinations() {
        let rules = Rules {
            target_namespaces: vec!["payments".into()],
            ..rules()
        };
        let body = r#"request_total{direction="outbound",namespace="shop",deployment="web",dst_namespace="shop",dst_service="api"} 5"#;
        assert_eq!(one(body, &rules), None);
    }

    #[test]
    fn le_is_numeric_and_route_seconds_become_ms() {
        let e = one(
            r#"outbound_http_route_request_duration_seconds_bucket{le="0.3",parent_namespace="shop",parent_name="api",namespace="shop",deployment="web"} 5"#,
            &rules(),
        )
        .unwrap();
        assert_eq!(e.component, Component::Bucket { le_ms: 300.0 });
        let e = one(r#"response_latency_ms_bucket{direction="outbound",dst_namespace="a",dst_service="b",le="1e1"} 1"#, &rules()).unwrap();
        assert_eq!(e.component, Component::Bucket { le_ms: 10.0 });
        let e = one(r#"response_latency_ms_bucket{direction="outbound",dst_namespace="a",dst_service="b",le="+Inf"} 1"#, &rules()).unwrap();
        assert_eq!(e.component, Component::Bucket { le_ms: f64::INFINITY });
    }

    #[test]
    fn route_statuses_classify_5xx_errors_and_grpc() {
        let base = r#"parent_namespace="shop",parent_name="api",namespace="shop",deployment="web""#;
        let cases = [
            (
                format!(
                    r#"outbound_http_route_request_statuses_total{{{base},http_status="200",error=""}} 1"#
                ),
                true,
            ),
            (
                format!(
                    r#"outbound_http_route_request_statuses_total{{{base},http_status="404",error=""}} 1"#
                ),
                true,
            ),
            (
                format!(
                    r#"outbound_http_route_request_statuses_total{{{base},http_status="503",error=""}} 1"#
                ),
                false,
            ),
            (
                format!(
                    r#"outbound_http_route_request_statuses_total{{{base},http_status="",error="REQUEST_TIMEOUT"}} 1"#
                ),
                false,
            ),
            (
                format!(
                    r#"outbound_grpc_route_request_statuses_total{{{base},grpc_status="OK",error=""}} 1"#
                ),
                true,
            ),
            (
                format!(
                    r#"outbound_grpc_route_request_statuses_total{{{base},grpc_status="UNAVAILABLE",error=""}} 1"#
                ),
                false,
            ),
        ];
        for (body, success) in cases {
            let e = one(&body, &rules()).unwrap();
            assert_eq!(e.component, Component::RequestsAndResponses { success }, "{body}");
            assert_eq!((&*e.target, &*e.namespace), ("api", "shop"));
        }
    }

    #[test]
    fn traefik_codes() {
        let e = |code: &str, protocol: &str| {
            one(&format!(r#"traefik_service_requests_total{{code="{code}",method="GET",protocol="{protocol}",service="shop-web-80@kubernetes"}} 1"#), &rules())
                .unwrap()
                .component
        };
        assert_eq!(
            e("200", "http"),
            Component::RequestsAndResponses { success: true }
        );
        assert_eq!(
            e("499", "http"),
            Component::RequestsAndResponses { success: true }
        );
        assert_eq!(
            e("502", "http"),
            Component::RequestsAndResponses { success: false }
        );
        assert_eq!(
            e("14", "grpc"),
            Component::RequestsAndResponses { success: false }
        );
        assert_eq!(e("5", "grpc"), Component::RequestsAndResponses { success: true });
        let internal = r#"traefik_service_requests_total{code="200",service="api@internal"} 1"#;
        assert_eq!(one(internal, &rules()), None);
    }

    #[test]
    fn target_labels_win_and_workload_is_most_specific_owner() {
        let body: &'static str = r#"request_total{direction="outbound",namespace="spoofed",replicaset="web-5d9",deployment="web",dst_namespace="shop",dst_service="api"} 5"#;
        let scrape = atlhyper_promtext::parse(body).unwrap();
        let target: &'static [(String, String)] =
            Box::leak(Box::new([("namespace".to_owned(), "shop".to_owned())]));
        let e = extract(&scrape.samples[0], Source::LinkerdClassic, target, &rules()).unwrap();
        assert_eq!((&*e.source, &*e.source_namespace), ("web", "shop"));
    }
}
