//! Watches: `?watch=1` streams of newline-delimited `WatchEvent`s from the store's log, with
//! bookmarks, resuming from a resourceVersion and 410 Gone past the kept history.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::{ApiState, Selectors, Target, bad_request, is_true, lock, selectors};
use crate::cluster::SharedSim;
use crate::kube::kinds::Kind;
use crate::kube::store::Store;

/// `?watch=1`: newline-delimited `WatchEvent`s. Without a resourceVersion (or with 0) every
/// current object comes first as ADDED; a resourceVersion older than the kept history gets an
/// ERROR event with a 410 Gone `Status`, as from a real API server. With
/// `allowWatchBookmarks=true` a BOOKMARK follows the initial events and every batch of changes
/// that had nothing for this watch.
pub(super) fn watch(st: &ApiState, t: &Target, query: &HashMap<String, String>) -> Response {
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
