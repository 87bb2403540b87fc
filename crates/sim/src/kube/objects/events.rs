//! Events: the simulator's event records as `v1` Events.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};

use super::{meta, micro_time, sim_uid, time};
use crate::cluster::EventRec;

pub(super) fn event(e: &EventRec) -> Event {
    Event {
        metadata: meta(
            Some(&e.namespace),
            &e.name,
            &sim_uid(&format!("ev/{}", e.name)),
            e.first_ms,
        ),
        involved_object: ObjectReference {
            api_version: Some(e.api_version.into()),
            kind: Some(e.kind.into()),
            name: Some(e.object_name.clone()),
            namespace: (e.kind != "Node").then(|| e.namespace.clone()),
            uid: Some(e.object_uid.clone()),
            field_path: (e.kind == "Pod" && e.component == "kubelet")
                .then(|| "spec.containers{app}".to_owned()),
            ..ObjectReference::default()
        },
        reason: Some(e.reason.into()),
        message: Some(e.message.clone()),
        type_: Some(e.event_type.into()),
        count: Some(e.count),
        first_timestamp: Some(time(e.first_ms)),
        last_timestamp: Some(time(e.last_ms)),
        event_time: (e.component == "default-scheduler").then(|| micro_time(e.first_ms)),
        reporting_component: Some(e.component.into()),
        reporting_instance: Some(e.host.clone().unwrap_or_default()),
        source: Some(EventSource {
            component: Some(e.component.into()),
            host: e.host.clone(),
        }),
        ..Event::default()
    }
}
