//! Services, Ingresses, ConfigMaps and Secrets. ConfigMaps and Secrets keep their keys only:
//! no value ever leaves the cluster.

use atlhyper_model::resources::{
    ConfigMapSummary, IngressRuleSummary, IngressSummary, SecretSummary, ServicePortSummary, ServiceSummary,
};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;

use super::{int_or_string, meta};

pub fn summarize_service(s: &Service) -> ServiceSummary {
    let spec = s.spec.as_ref();
    let mut external: Vec<String> = spec.and_then(|s| s.external_ips.clone()).unwrap_or_default();
    for lb in s
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(a) = lb.ip.clone().or_else(|| lb.hostname.clone()) {
            external.push(a);
        }
    }
    ServiceSummary {
        meta: meta(&s.metadata),
        service_type: spec
            .and_then(|s| s.type_.clone())
            .unwrap_or_else(|| "ClusterIP".into()),
        cluster_ip: spec.and_then(|s| s.cluster_ip.clone()).unwrap_or_default(),
        external_ips: external,
        ports: spec
            .and_then(|s| s.ports.as_ref())
            .iter()
            .flat_map(|p| p.iter())
            .map(|p| ServicePortSummary {
                name: p.name.clone().unwrap_or_default(),
                port: p.port,
                target_port: p.target_port.as_ref().map(int_or_string).unwrap_or_default(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                node_port: p.node_port,
            })
            .collect(),
        selector: spec
            .and_then(|s| s.selector.as_ref())
            .iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
    }
}

pub fn summarize_ingress(i: &Ingress) -> IngressSummary {
    let spec = i.spec.as_ref();
    let backend = |b: &k8s_openapi::api::networking::v1::IngressBackend| {
        let svc = b.service.as_ref();
        (
            svc.map(|s| s.name.clone()).unwrap_or_default(),
            svc.and_then(|s| s.port.as_ref())
                .map(|p| {
                    p.name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .or_else(|| p.number.map(|n| n.to_string()))
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
        )
    };
    let mut rules = Vec::new();
    for rule in spec.and_then(|s| s.rules.as_ref()).into_iter().flatten() {
        let host = rule.host.clone().unwrap_or_default();
        for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
            let (service, port) = backend(&path.backend);
            rules.push(IngressRuleSummary {
                host: host.clone(),
                path: path.path.clone().unwrap_or_else(|| "/".into()),
                service,
                port,
            });
        }
    }
    if let Some(b) = spec.and_then(|s| s.default_backend.as_ref()) {
        let (service, port) = backend(b);
        rules.push(IngressRuleSummary {
            host: String::new(),
            path: "*".into(),
            service,
            port,
        });
    }
    IngressSummary {
        meta: meta(&i.metadata),
        class: spec
            .and_then(|s| s.ingress_class_name.clone())
            .unwrap_or_default(),
        rules,
        tls: spec.and_then(|s| s.tls.as_ref()).is_some_and(|t| !t.is_empty()),
        addresses: i
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .iter()
            .flat_map(|l| l.iter())
            .filter_map(|l| l.ip.clone().or_else(|| l.hostname.clone()))
            .collect(),
    }
}

/// Keys only: the values never leave this function.
pub fn summarize_config_map(c: &ConfigMap) -> ConfigMapSummary {
    let mut keys: Vec<String> = c.data.iter().flat_map(|d| d.keys().cloned()).collect();
    keys.extend(c.binary_data.iter().flat_map(|d| d.keys().cloned()));
    keys.sort();
    keys.dedup();
    ConfigMapSummary {
        meta: meta(&c.metadata),
        keys,
    }
}

/// Type and keys only: the values never leave this function.
pub fn summarize_secret(s: &Secret) -> SecretSummary {
    let mut keys: Vec<String> = s.data.iter().flat_map(|d| d.keys().cloned()).collect();
    keys.extend(s.string_data.iter().flat_map(|d| d.keys().cloned()));
    keys.sort();
    keys.dedup();
    SecretSummary {
        meta: meta(&s.metadata),
        secret_type: s.type_.clone().unwrap_or_else(|| "Opaque".into()),
        keys,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::summarize::from_json as from;
    use serde_json::json;

    #[test]
    fn secrets_and_config_maps_keep_keys_only() {
        let secret: Secret = from(json!({
            "metadata": {"name": "db", "namespace": "shop"},
            "type": "kubernetes.io/basic-auth",
            "data": {"password": "aHVudGVyMg==", "username": "YWRtaW4="}
        }));
        let s = summarize_secret(&secret);
        assert_eq!(s.keys, ["password", "username"]);
        assert_eq!(s.secret_type, "kubernetes.io/basic-auth");
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("aHVudGVyMg"), "{json}");
        let cm: ConfigMap =
            from(json!({"metadata": {"name": "cfg", "namespace": "shop"}, "data": {"a.yaml": "token: xyz"}}));
        let c = summarize_config_map(&cm);
        assert_eq!(c.keys, ["a.yaml"]);
        assert!(!serde_json::to_string(&c).unwrap().contains("xyz"));
    }

    #[test]
    fn an_ingress_summarizes_with_its_rules() {
        let ing: Ingress = from(json!({
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"tls": [{"hosts": ["shop.example.com"]}], "rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
        }));
        let i = summarize_ingress(&ing);
        assert!(i.tls);
        assert_eq!(
            (
                i.rules[0].host.as_str(),
                i.rules[0].service.as_str(),
                i.rules[0].port.as_str()
            ),
            ("shop.example.com", "web", "80")
        );
    }
}
