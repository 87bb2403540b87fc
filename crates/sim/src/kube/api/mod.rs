//! The HTTP side of the Kubernetes API subset: routing, discovery, get, list and pod logs
//! here; watches in `watch`; PATCH/PUT of nodes and deployments, the `scale` subresource and
//! DELETE of pods in `writes`. Every error is a Kubernetes `Status` object.

mod watch;
mod writes;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use self::watch::watch;
use self::writes::{delete, scale_json, write};
use super::kinds::{Kind, Writes, resource_list};
use super::select::{FieldSelector, LabelSelector, parse_query};
use super::table;
use crate::cluster::{SharedSim, SimCluster};
use crate::error::SimError;

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub sim: SharedSim,
    pub cancel: CancellationToken,
    pub server_address: String,
}

/// A Kubernetes `Status` failure response.
pub fn status(
    code: StatusCode,
    reason: &str,
    message: impl Into<String>,
    details: Option<Value>,
) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message.into(),
        "reason": reason,
        "code": code.as_u16(),
    });
    if let Some(d) = details {
        body["details"] = d;
    }
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn not_found_path() -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

fn not_found(kind: Kind, name: &str) -> Response {
    let plural = kind.info().plural;
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{plural} \"{name}\" not found"),
        Some(json!({"name": name, "kind": plural})),
    )
}

fn sim_error(kind: Kind, name: &str, e: SimError) -> Response {
    match e {
        SimError::NotFound { .. } => not_found(kind, name),
        SimError::Invalid(m) => invalid(kind, name, &m),
        other => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            other.to_string(),
            None,
        ),
    }
}

fn invalid(kind: Kind, name: &str, message: &str) -> Response {
    let i = kind.info();
    status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!("{} \"{name}\" is invalid: {message}", i.kind),
        Some(json!({"name": name, "group": i.group, "kind": i.kind})),
    )
}

fn bad_request(message: impl Into<String>) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", message, None)
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn lock(sim: &SharedSim) -> std::sync::MutexGuard<'_, SimCluster> {
    // A panic while holding the lock cannot leave the model half-changed in a way that
    // matters more than stopping the whole simulator would.
    sim.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A rejected request: the `Status` response, boxed (it is large).
type Reject = Box<Response>;

/// A resource path, parsed.
#[derive(Debug)]
struct Target {
    kind: Kind,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

/// The fallback handler: everything under `/api`, `/apis` and the server's plain endpoints.
pub async fn handle(
    State(st): State<ApiState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let query = parse_query(uri.query());
    match segs.as_slice() {
        ["version"] => json_response(StatusCode::OK, &version()),
        ["healthz" | "livez" | "readyz"] => (StatusCode::OK, "ok").into_response(),
        ["api"] => json_response(
            StatusCode::OK,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": st.server_address}]}),
        ),
        ["apis"] => json_response(StatusCode::OK, &group_list()),
        ["apis", group] => match group_json(group) {
            Some(g) => json_response(StatusCode::OK, &g),
            None => not_found_path(),
        },
        ["api", "v1"] => discovery("", "v1"),
        ["apis", group, version] => discovery(group, version),
        ["api", "v1", rest @ ..] => resource(&st, "", "v1", rest, method, &query, &headers, body).await,
        ["apis", group, version, rest @ ..] => {
            resource(&st, group, version, rest, method, &query, &headers, body).await
        }
        _ => not_found_path(),
    }
}

fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.4+atlhyper-sim",
        "gitCommit": "74cdb426ff3ee8c0fe3e81d7e0c2ed2ef4a3f7c3", "gitTreeState": "clean",
        "buildDate": "2025-08-12T00:00:00Z", "goVersion": "go1.24.5", "compiler": "gc", "platform": "linux/amd64"
    })
}

fn group_json(group: &str) -> Option<Value> {
    Kind::groups().contains(&group).then(|| {
        let gv = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv.clone()], "preferredVersion": gv})
    })
}

fn group_list() -> Value {
    let groups: Vec<Value> = Kind::groups()
        .into_iter()
        .filter_map(|g| {
            let mut v = group_json(g)?;
            v.as_object_mut()?.remove("kind");
            v.as_object_mut()?.remove("apiVersion");
            Some(v)
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn discovery(group: &str, version: &str) -> Response {
    match resource_list(group, version) {
        Some(list) => {
            let mut v = serde_json::to_value(&list).unwrap_or_default();
            if let Some(m) = v.as_object_mut() {
                m.insert("kind".into(), json!("APIResourceList"));
                m.insert("apiVersion".into(), json!("v1"));
            }
            json_response(StatusCode::OK, &v)
        }
        None => not_found_path(),
    }
}

fn parse_target(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] => (Some((*ns).to_owned()), [&[*plural][..], tail].concat()),
        ["namespaces", name, tail @ ..] if group.is_empty() => {
            let mut v = vec!["namespaces", *name];
            v.extend_from_slice(tail);
            (None, v)
        }
        other => (None, other.to_vec()),
    };
    let kind = Kind::from_path(group, version, rest.first()?)?;
    if !kind.info().namespaced && namespace.is_some() {
        return None;
    }
    let name = rest.get(1).map(|s| (*s).to_owned());
    let sub = rest.get(2).map(|s| (*s).to_owned());
    if rest.len() > 3 || (kind.info().namespaced && namespace.is_none() && name.is_some()) {
        return None;
    }
    Some(Target {
        kind,
        namespace,
        name,
        sub,
    })
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    st: &ApiState,
    group: &str,
    version: &str,
    rest: &[&str],
    method: Method,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let Some(t) = parse_target(group, version, rest) else {
        return not_found_path();
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = t.name.clone().unwrap_or_default();
    match (&method, t.name.is_some(), t.sub.as_deref()) {
        (&Method::GET, false, None) if is_true(query.get("watch")) => watch(st, &t, query),
        (&Method::GET, false, None) => list(st, &t, query, accept),
        (&Method::GET, true, None | Some("status")) => get(st, &t, accept),
        (&Method::GET, true, Some("log")) if t.kind == Kind::Pods => logs(st, &t, query),
        (&Method::GET, true, Some("scale")) if t.kind == Kind::Deployments => {
            let sim = lock(&st.sim);
            scale_json(&sim, &t).unwrap_or_else(|| not_found(t.kind, &name))
        }
        (&Method::PATCH | &Method::PUT, true, sub) => write(st, &t, &method, content_type, &body, sub),
        (&Method::DELETE, true, None) if t.kind.info().writable == Writes::Delete => delete(st, &t),
        (&Method::POST, false, None) => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("the simulator does not create {}", t.kind.info().plural),
            None,
        ),
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!(
                "the server does not allow this method on the requested resource ({method} {})",
                t.kind.info().plural
            ),
            None,
        ),
    }
}

fn is_true(v: Option<&String>) -> bool {
    matches!(v.map(String::as_str), Some("1" | "true" | "True"))
}

struct Selectors {
    labels: LabelSelector,
    fields: FieldSelector,
}

fn selectors(query: &HashMap<String, String>) -> Result<Selectors, Reject> {
    let labels =
        LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str)).map_err(bad_request)?;
    let fields =
        FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str)).map_err(bad_request)?;
    Ok(Selectors { labels, fields })
}

impl Selectors {
    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    fn matches(&self, v: &Value) -> bool {
        self.labels.matches(v) && self.fields.matches(v)
    }
}

fn list(st: &ApiState, t: &Target, query: &HashMap<String, String>, accept: &str) -> Response {
    let sel = match selectors(query) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let sim = lock(&st.sim);
    let store = sim.store();
    let items: Vec<Value> = store
        .list(t.kind, t.namespace.as_deref())
        .into_iter()
        .filter(|o| sel.matches(o))
        .collect();
    let rv = store.rv();
    if table::wants_table(accept) {
        return json_response(StatusCode::OK, &table::table(t.kind, &items, rv, sim.now_ms()));
    }
    let i = t.kind.info();
    let body = json!({
        "kind": format!("{}List", i.kind),
        "apiVersion": t.kind.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    });
    json_response(StatusCode::OK, &body)
}

fn get(st: &ApiState, t: &Target, accept: &str) -> Response {
    let name = t.name.as_deref().unwrap_or("");
    let sim = lock(&st.sim);
    let ns = t.namespace.as_deref().unwrap_or("");
    match sim.store().get(t.kind, ns, name) {
        Some(o) if table::wants_table(accept) => json_response(
            StatusCode::OK,
            &table::table(t.kind, &[o], sim.store().rv(), sim.now_ms()),
        ),
        Some(o) => json_response(StatusCode::OK, &o),
        None => not_found(t.kind, name),
    }
}

// ---------------------------------------------------------------------------------------------
// Logs

fn logs(st: &ApiState, t: &Target, query: &HashMap<String, String>) -> Response {
    let (ns, name) = (
        t.namespace.as_deref().unwrap_or(""),
        t.name.as_deref().unwrap_or(""),
    );
    let tail = match query.get("tailLines").map(|s| s.parse::<usize>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return bad_request("tailLines must be a non-negative integer"),
    };
    let previous = is_true(query.get("previous"));
    let container = query.get("container").map(String::as_str);
    let sim = lock(&st.sim);
    match crate::logs::pod_log(&sim, ns, name, container, previous, tail) {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response(),
        Err(crate::logs::LogError::NotFound) => not_found(Kind::Pods, name),
        Err(crate::logs::LogError::Bad(m)) => bad_request(m),
    }
}
