//! The object store behind the Kubernetes API: every object as the JSON a real API server
//! returns, one global resourceVersion counter, and a bounded log of watch events.
//!
//! The cluster model renders its objects after every structural change and hands them to
//! [`Store::sync_kind`]; only objects whose JSON changed get a new resourceVersion and a watch
//! event, exactly like a real server, which never bumps an unchanged object.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;

use super::kinds::Kind;

/// The key of an object: its kind, namespace (empty when cluster-scoped) and name.
pub type ObjectKey = (Kind, String, String);

#[derive(Debug, Clone)]
struct Stored {
    rv: u64,
    /// The object without `metadata.resourceVersion`, for change detection.
    base: Value,
}

/// One watch event with its resourceVersion; the object is kept as JSON text, which is what
/// goes on the wire and is far smaller than a parsed value for a log of thousands.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub rv: u64,
    pub kind: Kind,
    pub namespace: String,
    pub event_type: &'static str,
    pub object: Arc<str>,
}

#[derive(Debug)]
pub struct Store {
    rv: u64,
    objects: BTreeMap<ObjectKey, Stored>,
    log: VecDeque<LogEntry>,
    log_limit: usize,
    /// The highest resourceVersion dropped from the log: a watch from before it is 410 Gone.
    compacted: u64,
    notify: watch::Sender<u64>,
    /// Objects put from outside the model ([`Store::pin`]): kept across syncs.
    pinned: BTreeSet<ObjectKey>,
}

impl Store {
    pub fn new(log_limit: usize) -> Self {
        let (notify, _) = watch::channel(0);
        Store {
            rv: 0,
            objects: BTreeMap::new(),
            log: VecDeque::new(),
            log_limit: log_limit.max(1),
            compacted: 0,
            notify,
            pinned: BTreeSet::new(),
        }
    }

    /// The current (latest) resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Resource versions at or below this one can no longer be watched from.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Wakes up when the resourceVersion moves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Inserts or replaces an object; returns whether it changed.
    pub fn put(&mut self, kind: Kind, namespace: &str, name: &str, base: Value) -> bool {
        let key = (kind, namespace.to_owned(), name.to_owned());
        let event_type = match self.objects.get(&key) {
            Some(old) if old.base == base => return false,
            Some(_) => "MODIFIED",
            None => "ADDED",
        };
        self.rv += 1;
        let object: Arc<str> = with_rv(&base, self.rv).to_string().into();
        self.objects.insert(key, Stored { rv: self.rv, base });
        self.record(kind, namespace, event_type, object);
        true
    }

    /// Inserts or replaces an object that the model does not render (a Secret with data, a
    /// Job, 5,000 extra pods for a measurement); [`Store::sync_kind`] keeps it. Returns
    /// whether it changed.
    pub fn pin(&mut self, kind: Kind, namespace: &str, name: &str, base: Value) -> bool {
        self.pinned.insert((kind, namespace.to_owned(), name.to_owned()));
        self.put(kind, namespace, name, base)
    }

    /// Removes an object; returns whether it existed.
    pub fn remove(&mut self, kind: Kind, namespace: &str, name: &str) -> bool {
        let key = (kind, namespace.to_owned(), name.to_owned());
        let Some(old) = self.objects.remove(&key) else {
            return false;
        };
        self.rv += 1;
        let object: Arc<str> = with_rv(&old.base, self.rv).to_string().into();
        self.record(kind, namespace, "DELETED", object);
        true
    }

    /// Makes the objects of `kind` exactly `objects` (namespace, name, JSON): changed ones are
    /// modified, new ones added, missing ones deleted.
    pub fn sync_kind(&mut self, kind: Kind, objects: Vec<(String, String, Value)>) {
        let mut seen = BTreeSet::new();
        for (ns, name, value) in objects {
            self.put(kind, &ns, &name, value);
            seen.insert((ns, name));
        }
        let gone: Vec<_> = self
            .objects
            .keys()
            .filter(|key| !self.pinned.contains(*key))
            .filter(|(k, ns, name)| *k == kind && !seen.contains(&(ns.clone(), name.clone())))
            .cloned()
            .collect();
        for (k, ns, name) in gone {
            self.remove(k, &ns, &name);
        }
    }

    fn record(&mut self, kind: Kind, namespace: &str, event_type: &'static str, object: Arc<str>) {
        self.log.push_back(LogEntry {
            rv: self.rv,
            kind,
            namespace: namespace.to_owned(),
            event_type,
            object,
        });
        while self.log.len() > self.log_limit {
            if let Some(dropped) = self.log.pop_front() {
                self.compacted = dropped.rv;
            }
        }
        self.notify.send_replace(self.rv);
    }

    /// One object, with its resourceVersion.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.objects
            .get(&(kind, namespace.to_owned(), name.to_owned()))
            .map(|s| with_rv(&s.base, s.rv))
    }

    /// Every object of a kind (in one namespace, or all when `namespace` is `None`).
    pub fn list(&self, kind: Kind, namespace: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((k, ns, _), _)| *k == kind && namespace.is_none_or(|want| want == ns))
            .map(|(_, s)| with_rv(&s.base, s.rv))
            .collect()
    }

    /// Watch events after `rv`, or `None` when some of them were compacted away.
    pub fn events_after(&self, rv: u64) -> Option<Vec<LogEntry>> {
        if rv < self.compacted {
            return None;
        }
        let start = self.log.partition_point(|e| e.rv <= rv);
        Some(self.log.range(start..).cloned().collect())
    }
}

fn with_rv(base: &Value, rv: u64) -> Value {
    let mut v = base.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pinned_objects_survive_syncs() {
        let mut store = Store::new(100);
        assert!(store.pin(Kind::Secrets, "a", "s", json!({"metadata": {"name": "s"}})));
        store.sync_kind(Kind::Secrets, Vec::new());
        assert_eq!(store.list(Kind::Secrets, None).len(), 1);
        store.sync_kind(Kind::Pods, Vec::new());
        assert!(store.get(Kind::Secrets, "a", "s").is_some());
    }

    #[test]
    fn unchanged_objects_keep_their_version_and_compaction_is_tracked() {
        let mut store = Store::new(2);
        assert!(store.put(Kind::Pods, "a", "p", json!({"metadata": {"name": "p"}})));
        assert!(!store.put(Kind::Pods, "a", "p", json!({"metadata": {"name": "p"}})));
        assert_eq!(store.rv(), 1);
        store.put(Kind::Pods, "a", "q", json!({"metadata": {"name": "q"}}));
        store.sync_kind(
            Kind::Pods,
            vec![("a".into(), "q".into(), json!({"metadata": {"name": "q"}}))],
        );
        assert_eq!(store.rv(), 3);
        assert_eq!(store.compacted(), 1);
        assert!(store.events_after(0).is_none());
        let events = store.events_after(2).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, "DELETED");
        assert_eq!(
            store.get(Kind::Pods, "a", "q").unwrap()["metadata"]["resourceVersion"],
            "2"
        );
    }
}
