//! The HTTP side of the Kubernetes API subset: discovery, get/list/watch, PATCH/PUT for
//! nodes and deployments, the `scale` subresource, DELETE of pods and pod logs. Every error is
//! a Kubernetes `Status` object.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::kinds::{Kind, Writes, resource_list};
use super::patch::{self, PatchType};
use super::select::{FieldSelector, LabelSelector, parse_query};
use super::store::Store;
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
// Watch

/// `?watch=1`: newline-delimited `WatchEvent`s. Without a resourceVersion (or with 0) every
/// current object comes first as ADDED; a resourceVersion older than the kept history gets an
/// ERROR event with a 410 Gone `Status`, as from a real API server. With
/// `allowWatchBookmarks=true` a BOOKMARK follows the initial events and every batch of changes
/// that had nothing for this watch.
fn watch(st: &ApiState, t: &Target, query: &HashMap<String, String>) -> Response {
    let sel = match selectors(query) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let from = match query.get("resourceVersion").map(String::as_str) {
        None | Some("" | "0") => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return bad_request(format!("invalid resource version {v:?}")),
        },
    };
    // A day at most: longer is a client bug, and tokio timers want a bound anyway.
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), |s| Duration::from_secs(s.min(86_400)));
    let watch = Watch {
        kind: t.kind,
        namespace: t.namespace.clone(),
        selectors: sel,
        bookmarks: is_true(query.get("allowWatchBookmarks")),
        initial_end: is_true(query.get("sendInitialEvents")),
    };
    let (writer, reader) = tokio::io::duplex(64 * 1024);
    tokio::spawn(watch.run(st.sim.clone(), st.cancel.clone(), from, timeout, writer));
    let stream = tokio_util::io::ReaderStream::new(reader);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// One open watch: what it selects and how it reports.
struct Watch {
    kind: Kind,
    namespace: Option<String>,
    selectors: Selectors,
    bookmarks: bool,
    initial_end: bool,
}

/// Lines to send and the resourceVersion they bring the watch to, or the 410 line that ends it.
type Batch = Result<(u64, String), String>;

impl Watch {
    /// Streams events into `out` until the client goes, the timeout passes, the server stops
    /// or the history no longer reaches back far enough (410).
    async fn run(
        self,
        sim: SharedSim,
        cancel: CancellationToken,
        from: Option<u64>,
        timeout: Duration,
        mut out: tokio::io::DuplexStream,
    ) {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let (mut rx, first) = {
            let guard = lock(&sim);
            (guard.store().subscribe(), self.first_batch(guard.store(), from))
        };
        let mut batch = first;
        loop {
            let (last, lines) = match batch {
                Ok(ok) => ok,
                Err(gone) => {
                    let _ = out.write_all(gone.as_bytes()).await;
                    return;
                }
            };
            if !lines.is_empty() && out.write_all(lines.as_bytes()).await.is_err() {
                return;
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                () = &mut deadline => return,
                () = cancel.cancelled() => return,
            }
            batch = self.next_batch(lock(&sim).store(), last);
        }
    }

    /// Without a resourceVersion: every current object as ADDED (then a bookmark); with one:
    /// the events since, or 410 when they are gone.
    fn first_batch(&self, store: &Store, from: Option<u64>) -> Batch {
        let Some(rv) = from else {
            let mut lines = String::new();
            for o in store
                .list(self.kind, self.namespace.as_deref())
                .iter()
                .filter(|o| self.selectors.matches(o))
            {
                push_event(&mut lines, "ADDED", o);
            }
            if self.bookmarks {
                push_bookmark(&mut lines, self.kind, store.rv(), self.initial_end);
            }
            return Ok((store.rv(), lines));
        };
        self.next_batch(store, rv)
    }

    /// The matching events after `last`; a bookmark when there were changes but none for us.
    fn next_batch(&self, store: &Store, last: u64) -> Batch {
        let Some(events) = store.events_after(last) else {
            let mut lines = String::new();
            push_event(&mut lines, "ERROR", &gone(last, store.compacted()));
            return Err(lines);
        };
        let mut lines = String::new();
        let ns = self.namespace.as_ref();
        let mine = events
            .iter()
            .filter(|e| e.kind == self.kind && ns.is_none_or(|n| *n == e.namespace));
        for e in mine {
            // Only a watch with selectors pays for parsing the object again.
            let selected = self.selectors.is_empty()
                || serde_json::from_str::<Value>(&e.object).is_ok_and(|o| self.selectors.matches(&o));
            if selected {
                push_raw_event(&mut lines, e.event_type, &e.object);
            }
        }
        if lines.is_empty() && store.rv() > last && self.bookmarks {
            push_bookmark(&mut lines, self.kind, store.rv(), false);
        }
        Ok((store.rv(), lines))
    }
}

fn push_raw_event(out: &mut String, event_type: &str, object: &str) {
    out.push_str("{\"type\":\"");
    out.push_str(event_type);
    out.push_str("\",\"object\":");
    out.push_str(object);
    out.push_str("}\n");
}

fn push_event(out: &mut String, event_type: &str, object: &Value) {
    out.push_str(&json!({"type": event_type, "object": object}).to_string());
    out.push('\n');
}

fn push_bookmark(out: &mut String, kind: Kind, rv: u64, initial_end: bool) {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let object = json!({"kind": kind.info().kind, "apiVersion": kind.api_version(), "metadata": metadata});
    push_event(out, "BOOKMARK", &object);
}

fn gone(asked: u64, compacted: u64) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("too old resource version: {asked} ({})", compacted + 1),
        "reason": "Expired", "code": 410,
    })
}

// ---------------------------------------------------------------------------------------------
// Writes

fn write(
    st: &ApiState,
    t: &Target,
    method: &Method,
    content_type: &str,
    body: &[u8],
    sub: Option<&str>,
) -> Response {
    let name = t.name.clone().unwrap_or_default();
    let allowed = matches!(
        (t.kind.info().writable, sub),
        (Writes::Patch, None) | (Writes::PatchScale, None | Some("scale"))
    );
    if !allowed {
        return status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!(
                "the simulator does not support {method} on {}{}",
                t.kind.info().plural,
                sub.map(|s| format!("/{s}")).unwrap_or_default()
            ),
            None,
        );
    }
    let patch_body: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("error decoding patch: {e}")),
    };
    let mut sim = lock(&st.sim);
    let current = if sub == Some("scale") {
        match scale_value(&sim, t) {
            Some(v) => v,
            None => return not_found(t.kind, &name),
        }
    } else {
        match sim
            .store()
            .get(t.kind, t.namespace.as_deref().unwrap_or(""), &name)
        {
            Some(v) => v,
            None => return not_found(t.kind, &name),
        }
    };
    let patched = if *method == Method::PUT {
        patch_body
    } else {
        let Some(kind) = PatchType::from_content_type(content_type) else {
            return status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type:?})"
                ),
                None,
            );
        };
        match patch::apply(kind, &current, &patch_body) {
            Ok(v) => v,
            Err(e) => return invalid(t.kind, &name, &e),
        }
    };
    let result = match (t.kind, sub) {
        (Kind::Deployments, Some("scale")) => apply_scale(&mut sim, t, &patched),
        (Kind::Deployments, _) => apply_deployment(&mut sim, t, &current, &patched),
        (Kind::Nodes, _) => apply_node(&mut sim, &name, &patched),
        _ => Err(Box::new(invalid(t.kind, &name, "not writable"))),
    };
    if let Err(r) = result {
        return *r;
    }
    let out = if sub == Some("scale") {
        scale_json(&sim, t)
    } else {
        sim.store()
            .get(t.kind, t.namespace.as_deref().unwrap_or(""), &name)
            .map(|v| json_response(StatusCode::OK, &v))
    };
    out.unwrap_or_else(|| not_found(t.kind, &name))
}

fn apply_node(sim: &mut SimCluster, name: &str, patched: &Value) -> Result<(), Reject> {
    let node: Node =
        serde_json::from_value(patched.clone()).map_err(|e| invalid(Kind::Nodes, name, &e.to_string()))?;
    if node.metadata.name.as_deref().is_some_and(|n| n != name) {
        return Err(Box::new(invalid(
            Kind::Nodes,
            name,
            "metadata.name: Invalid value: the name of the object does not match the name on the URL",
        )));
    }
    let unschedulable = node.spec.and_then(|s| s.unschedulable).unwrap_or(false);
    sim.cordon(name, unschedulable)
        .map_err(|e| sim_error(Kind::Nodes, name, e))?;
    Ok(())
}

fn apply_deployment(
    sim: &mut SimCluster,
    t: &Target,
    current: &Value,
    patched: &Value,
) -> Result<(), Reject> {
    let (ns, name) = (
        t.namespace.as_deref().unwrap_or(""),
        t.name.as_deref().unwrap_or(""),
    );
    let bad = |e: String| invalid(Kind::Deployments, name, &e);
    let new: Deployment = serde_json::from_value(patched.clone()).map_err(|e| bad(e.to_string()))?;
    let old: Deployment = serde_json::from_value(current.clone()).map_err(|e| bad(e.to_string()))?;
    let (Some(new_spec), Some(old_spec)) = (new.spec, old.spec) else {
        return Err(Box::new(bad("spec: Required value".into())));
    };
    let replicas = new_spec.replicas.unwrap_or(1);
    if replicas < 0 {
        return Err(Box::new(bad(format!(
            "spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
        ))));
    }
    let restarted = |d: &k8s_openapi::api::core::v1::PodTemplateSpec| {
        d.metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get("kubectl.kubernetes.io/restartedAt"))
            .cloned()
    };
    let image = |d: &k8s_openapi::api::core::v1::PodTemplateSpec| {
        d.spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone())
    };
    let err = |e| sim_error(Kind::Deployments, name, e);
    if let Some(img) = image(&new_spec.template).filter(|i| Some(i) != image(&old_spec.template).as_ref()) {
        sim.set_image(ns, name, &img).map_err(err)?;
    }
    if let Some(at) =
        restarted(&new_spec.template).filter(|a| Some(a) != restarted(&old_spec.template).as_ref())
    {
        sim.restart(ns, name, &at).map_err(err)?;
    }
    if Some(replicas) != old_spec.replicas {
        sim.scale(ns, name, replicas as u32).map_err(err)?;
    }
    Ok(())
}

fn apply_scale(sim: &mut SimCluster, t: &Target, patched: &Value) -> Result<(), Reject> {
    let (ns, name) = (
        t.namespace.as_deref().unwrap_or(""),
        t.name.as_deref().unwrap_or(""),
    );
    let scale: k8s_openapi::api::autoscaling::v1::Scale = serde_json::from_value(patched.clone())
        .map_err(|e| invalid(Kind::Deployments, name, &e.to_string()))?;
    let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
    if replicas < 0 {
        return Err(Box::new(invalid(
            Kind::Deployments,
            name,
            &format!("spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"),
        )));
    }
    sim.scale(ns, name, replicas as u32)
        .map_err(|e| sim_error(Kind::Deployments, name, e))?;
    Ok(())
}

fn scale_value(sim: &SimCluster, t: &Target) -> Option<Value> {
    let d = sim
        .store()
        .get(Kind::Deployments, t.namespace.as_deref()?, t.name.as_deref()?)?;
    let selector: Vec<String> = d
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let meta = &d["metadata"];
    Some(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": d.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {"replicas": d.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector.join(",")},
    }))
}

fn scale_json(sim: &SimCluster, t: &Target) -> Option<Response> {
    scale_value(sim, t).map(|v| json_response(StatusCode::OK, &v))
}

fn delete(st: &ApiState, t: &Target) -> Response {
    let (ns, name) = (
        t.namespace.as_deref().unwrap_or(""),
        t.name.as_deref().unwrap_or(""),
    );
    let mut sim = lock(&st.sim);
    let Some(before) = sim.store().get(t.kind, ns, name) else {
        return not_found(t.kind, name);
    };
    match sim.delete_pod(ns, name) {
        Ok(()) => json_response(StatusCode::OK, &before),
        Err(e) => sim_error(t.kind, name, e),
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
