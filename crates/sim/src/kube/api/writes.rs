//! The write verbs: PATCH and PUT of nodes (cordon) and deployments (scale, image, restart),
//! the `scale` subresource, and DELETE of pods, each applied through [`SimCluster`]'s commands.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

use super::{
    ApiState, Reject, Target, bad_request, invalid, json_response, lock, not_found, sim_error, status,
};
use crate::cluster::SimCluster;
use crate::kube::kinds::{Kind, Writes};
use crate::kube::patch::{self, PatchType};

pub(super) fn write(
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

pub(super) fn scale_json(sim: &SimCluster, t: &Target) -> Option<Response> {
    scale_value(sim, t).map(|v| json_response(StatusCode::OK, &v))
}

pub(super) fn delete(st: &ApiState, t: &Target) -> Response {
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
