//! What the extraction keeps and how it groups (DESIGN.md §5.4), as plain values.

/// Extraction settings, built by the agent from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Namespace of the ingress controller whose Linkerd inbound traffic is the ingress layer.
    pub traefik_namespace: String,
    /// Destination namespaces kept for service-to-service entries; empty keeps all.
    pub target_namespaces: Vec<String>,
    /// The cluster DNS domain; authorities under `.svc.<domain>` are cluster-internal.
    pub cluster_domain: String,
    /// Which Linkerd families to read.
    pub linkerd_families: LinkerdFamilies,
}

/// Linkerd exposes the classic families (`request_total`, `response_total`,
/// `response_latency_ms`) and, from 2.16, outbound route families
/// (`outbound_{http,grpc}_route_request_*`). Both count the same requests, so one target's
/// traffic is read from one of them, never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkerdFamilies {
    /// Classic where a target has them, route families otherwise.
    #[default]
    Auto,
    Classic,
    Route,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            traefik_namespace: "kube-system".to_owned(),
            target_namespaces: Vec::new(),
            cluster_domain: "cluster.local".to_owned(),
            linkerd_families: LinkerdFamilies::Auto,
        }
    }
}

impl Rules {
    /// Whether service-to-service traffic into `namespace` is kept.
    pub fn keeps_destination(&self, namespace: &str) -> bool {
        self.target_namespaces.is_empty() || self.target_namespaces.iter().any(|n| n == namespace)
    }

    /// Whether an inbound authority names a public domain: not empty, not a cluster-internal
    /// `*.svc.<domain>` name and not an IP literal (kubelet probes and calls straight to a pod
    /// IP), with or without `:port`.
    pub fn is_external_authority(&self, authority: &str) -> bool {
        if authority.is_empty() {
            return false;
        }
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
        if unbracketed.parse::<std::net::IpAddr>().is_ok() || authority.parse::<std::net::IpAddr>().is_ok() {
            return false;
        }
        let internal = host
            .strip_suffix(self.cluster_domain.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .is_some_and(|rest| rest.ends_with(".svc") || rest == "svc");
        !internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_authorities_are_not_ingress_domains() {
        let rules = Rules::default();
        for internal in [
            "",
            "web.shop.svc.cluster.local",
            "web.shop.svc.cluster.local:8080",
            "web.shop.svc.cluster.local.:80",
            "10.0.0.7:8080",
            "[fd00::7]:8080",
            "fd00::7",
        ] {
            assert!(!rules.is_external_authority(internal), "{internal:?}");
        }
        for external in [
            "shop.example.com",
            "shop.example.com:443",
            "svc.cluster.local.example.com",
        ] {
            assert!(rules.is_external_authority(external), "{external:?}");
        }
    }

    #[test]
    fn empty_target_namespaces_keep_all() {
        let mut rules = Rules::default();
        assert!(rules.keeps_destination("anything"));
        rules.target_namespaces = vec!["shop".into()];
        assert!(rules.keeps_destination("shop"));
        assert!(!rules.keeps_destination("other"));
    }
}
