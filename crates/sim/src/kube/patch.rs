//! Applying PATCH bodies to an object's JSON: JSON merge patch (RFC 7386), strategic merge
//! patch (merge patch whose object lists merge by `name`, with `$patch`/`$setElementOrder`
//! directives understood or dropped) and JSON patch (RFC 6902).

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Strategic,
    Json,
    Apply,
}

impl PatchType {
    /// From the request's `Content-Type`.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let ct = ct.split(';').next().unwrap_or("").trim();
        match ct {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Applies `patch` to `target`, returning the patched object.
pub fn apply(kind: PatchType, target: &Value, patch: &Value) -> Result<Value, String> {
    match kind {
        PatchType::Merge => Ok(merge(target.clone(), patch, false)),
        // Server-side apply of a JSON body behaves like a strategic merge for our fields.
        PatchType::Strategic | PatchType::Apply => {
            if !patch.is_object() {
                return Err("strategic merge patch must be a JSON object".into());
            }
            Ok(merge(target.clone(), patch, true))
        }
        PatchType::Json => json_patch(target.clone(), patch),
    }
}

fn merge(target: Value, patch: &Value, strategic: bool) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut target = match target {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for (key, value) in patch {
        if strategic && key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target.remove(key);
            continue;
        }
        let old = target.remove(key).unwrap_or(Value::Null);
        let merged = match (old, value) {
            (Value::Array(old), Value::Array(new)) if strategic && is_named_list(new) => {
                Value::Array(merge_named(old, new))
            }
            (old, value) => merge(old, value, strategic),
        };
        target.insert(key.clone(), merged);
    }
    Value::Object(target)
}

/// Lists of objects with a `name` (containers, ports, env) merge by name in strategic patches.
fn is_named_list(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|i| i.get("name").is_some_and(Value::is_string))
}

fn merge_named(mut old: Vec<Value>, new: &[Value]) -> Vec<Value> {
    for item in new {
        let name = item.get("name").cloned();
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match old.iter().position(|o| o.get("name") == name.as_ref()) {
            Some(i) if delete => {
                old.remove(i);
            }
            Some(i) => {
                let merged = merge(old[i].clone(), item, true);
                old[i] = merged;
            }
            None if !delete => old.push(merge(Value::Null, item, true)),
            None => {}
        }
    }
    old
}

fn json_patch(mut target: Value, ops: &Value) -> Result<Value, String> {
    let ops = ops
        .as_array()
        .ok_or("json patch must be an array of operations")?;
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("json patch operation without \"op\"")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("json patch operation without \"path\"")?;
        match name {
            "add" | "replace" => {
                let value = op
                    .get("value")
                    .cloned()
                    .ok_or_else(|| format!("{name} operation without \"value\""))?;
                set(&mut target, path, value, name == "add")?;
            }
            "remove" => remove(&mut target, path)?,
            "test" => {
                let want = op.get("value").ok_or("test operation without \"value\"")?;
                if target.pointer(path) != Some(want) {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("unsupported json patch operation {other:?}")),
        }
    }
    Ok(target)
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid json pointer {path:?}"))?;
    Ok((parent.to_owned(), last.replace("~1", "/").replace("~0", "~")))
}

fn set(target: &mut Value, path: &str, value: Value, add: bool) -> Result<(), String> {
    let (parent, last) = split_pointer(path)?;
    let container = target
        .pointer_mut(&parent)
        .ok_or_else(|| format!("path {parent:?} does not exist"))?;
    match container {
        Value::Object(m) => {
            if !add && !m.contains_key(&last) {
                return Err(format!("replace of missing path {path:?}"));
            }
            m.insert(last, value);
        }
        Value::Array(a) => {
            if last == "-" && add {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| format!("invalid array index {last:?}"))?;
                match (add, i.cmp(&a.len())) {
                    (true, std::cmp::Ordering::Greater)
                    | (false, std::cmp::Ordering::Equal | std::cmp::Ordering::Greater) => {
                        return Err(format!("array index {i} out of range at {path:?}"));
                    }
                    (true, _) => a.insert(i, value),
                    (false, _) => a[i] = value,
                }
            }
        }
        _ => return Err(format!("path {parent:?} is not an object or array")),
    }
    Ok(())
}

fn remove(target: &mut Value, path: &str) -> Result<(), String> {
    let (parent, last) = split_pointer(path)?;
    let container = target
        .pointer_mut(&parent)
        .ok_or_else(|| format!("path {parent:?} does not exist"))?;
    let removed = match container {
        Value::Object(m) => m.remove(&last).is_some(),
        Value::Array(a) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    };
    if removed {
        Ok(())
    } else {
        Err(format!("remove of missing path {path:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_and_strategic_patches() {
        let dep = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}]}}}});
        let p = json!({"spec": {"replicas": 5}});
        assert_eq!(apply(PatchType::Merge, &dep, &p).unwrap()["spec"]["replicas"], 5);
        let p = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "app"}],
            "containers": [{"name": "app", "image": "a:2"}]}}}});
        let out = apply(PatchType::Strategic, &dep, &p).unwrap();
        assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["image"], "a:2");
        assert_eq!(out["spec"]["template"]["spec"]["containers"][1]["image"], "s:1");
        // A plain merge patch replaces the list.
        let out = apply(PatchType::Merge, &dep, &p).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(apply(PatchType::Strategic, &dep, &json!([1])).is_err());
    }

    #[test]
    fn json_patches() {
        let node = json!({"spec": {}, "metadata": {"labels": {"a": "b"}}});
        let ops = json!([{"op": "add", "path": "/spec/unschedulable", "value": true},
            {"op": "remove", "path": "/metadata/labels/a"}]);
        let out = apply(PatchType::Json, &node, &ops).unwrap();
        assert_eq!(out["spec"]["unschedulable"], true);
        assert!(out["metadata"]["labels"].get("a").is_none());
        assert!(
            apply(
                PatchType::Json,
                &node,
                &json!([{"op": "replace", "path": "/nope/x", "value": 1}])
            )
            .is_err()
        );
        assert!(apply(PatchType::Json, &node, &json!({"op": "add"})).is_err());
    }
}
