//! The agent's YAML configuration: the keys of seed 000 §7, completed with the settings the
//! sources, the SLO loop and delivery need. Every key has a default, so an empty file is a
//! valid configuration; an unknown key or a bad value is an error that names the key.
//! The reference with every key and its default is `docs/agent-config.md`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use atlhyper_slo::{LinkerdFamilies, Rules};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("invalid config {origin}: {key}: {message}")]
    Invalid {
        origin: String,
        key: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// The cluster's id at the master; the `--cluster-id` flag overrides it.
    pub cluster_id: String,
    /// The master's AgentSDK URL; the `--master` flag overrides it.
    pub master_url: String,
    pub slo: SloConfig,
    pub push: PushConfig,
    pub spool: SpoolConfig,
    pub heartbeat_interval: ConfigDuration,
    /// Where the agent serves its own `/healthz` and `/metrics`; empty serves nothing.
    pub listen: String,
    /// Watching the cluster's resources (docs/resources.md).
    pub resources: ResourcesConfig,
    /// Remote operations queued at the master.
    pub commands: CommandsConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            cluster_id: String::new(),
            master_url: "http://localhost:8081".to_owned(),
            slo: SloConfig::default(),
            push: PushConfig::default(),
            spool: SpoolConfig::default(),
            heartbeat_interval: ConfigDuration::secs(15),
            listen: "0.0.0.0:8082".to_owned(),
            resources: ResourcesConfig::default(),
            commands: CommandsConfig::default(),
        }
    }
}

/// The resource watchers and the anomaly rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourcesConfig {
    /// Watch the 20 kinds and put them in every snapshot (needs Kubernetes access).
    pub enabled: bool,
    /// Ask `metrics.k8s.io` for pod and node usage.
    pub metrics: bool,
    /// Events kept in a snapshot (the newest).
    pub max_events: usize,
    /// A pod Pending longer than this is an anomaly.
    pub pending_after: ConfigDuration,
    /// Removed: container problems (OOM kills among them) use one 10-minute window shared
    /// with the AIOps engine (`atlhyper_model::container`). Kept only to refuse it by name.
    pub oom_window: Option<ConfigDuration>,
    /// Warning events seen this recently are anomalies.
    pub event_window: ConfigDuration,
}

impl Default for ResourcesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            metrics: true,
            max_events: 1000,
            pending_after: ConfigDuration::secs(300),
            oom_window: None,
            event_window: ConfigDuration::secs(3600),
        }
    }
}

impl ResourcesConfig {
    pub fn watch_settings(&self) -> crate::resources::WatchSettings {
        crate::resources::WatchSettings {
            rules: crate::anomaly::AnomalyRules {
                pending_after: self.pending_after.0,
                event_window: self.event_window.0,
                ..crate::anomaly::AnomalyRules::default()
            },
            max_events: self.max_events,
            metrics: self.metrics,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandsConfig {
    /// Long-poll the master for commands and run them (needs Kubernetes access).
    pub enabled: bool,
    /// How long one poll waits at the master (at most 60s).
    pub poll_timeout: ConfigDuration,
    /// A command that names no `timeout_s` gets this long.
    pub timeout: ConfigDuration,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_timeout: ConfigDuration::secs(30),
            timeout: ConfigDuration::secs(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SloConfig {
    pub enabled: bool,
    /// How often sources are scraped and a snapshot is pushed.
    pub collect_interval: ConfigDuration,
    pub linkerd: LinkerdConfig,
    pub traefik: TraefikConfig,
    pub node_exporter: NodeExporterConfig,
}

impl Default for SloConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            collect_interval: ConfigDuration::secs(30),
            linkerd: LinkerdConfig::default(),
            traefik: TraefikConfig::default(),
            node_exporter: NodeExporterConfig::default(),
        }
    }
}

/// Where Linkerd's proxy metrics come from (DESIGN.md §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkerdMode {
    /// Scrape each meshed pod's `linkerd-admin` port, pods found through the Kubernetes API.
    Direct,
    /// Read a Prometheus `/federate` URL (`metrics_url`).
    Federate,
    /// Query the Prometheus HTTP API at `metrics_url` (Prometheus, Thanos, Mimir, VictoriaMetrics).
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FamiliesConfig {
    Auto,
    Classic,
    Route,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkerdConfig {
    pub enabled: bool,
    pub mode: LinkerdMode,
    /// Federate: the full `/federate` URL with its `match[]`. Prometheus: the API base URL.
    pub metrics_url: String,
    /// Destination namespaces of service-to-service entries; empty keeps all.
    pub target_namespaces: Vec<String>,
    /// The ingress controller's namespace: its inbound traffic is the ingress layer.
    pub traefik_namespace: String,
    pub cluster_domain: String,
    /// Which Linkerd families to read: classic, ≥ 2.16 route metrics, or auto (classic where
    /// a proxy has them).
    pub families: FamiliesConfig,
    /// Prometheus mode: the label matchers that pick the proxies' series.
    pub prometheus_selector: String,
    /// The proxy admin port scraped in direct mode.
    pub proxy_admin_port: u16,
    pub scrape_timeout: ConfigDuration,
    pub scrape_concurrency: usize,
}

impl Default for LinkerdConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            mode: LinkerdMode::Direct,
            metrics_url: String::new(),
            target_namespaces: Vec::new(),
            traefik_namespace: "kube-system".to_owned(),
            cluster_domain: "cluster.local".to_owned(),
            families: FamiliesConfig::Auto,
            prometheus_selector: "job=\"linkerd-proxy\"".to_owned(),
            proxy_admin_port: 4191,
            scrape_timeout: ConfigDuration::secs(5),
            scrape_concurrency: 32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraefikConfig {
    pub enabled: bool,
    /// A fixed metrics URL; empty finds Traefik pods by `namespace` and `label_selector`.
    pub metrics_url: String,
    pub namespace: String,
    pub label_selector: String,
    /// The Helm chart serves metrics on the `metrics` entry point, port 9100.
    pub metrics_port: u16,
}

impl Default for TraefikConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            metrics_url: String::new(),
            namespace: "kube-system".to_owned(),
            label_selector: "app.kubernetes.io/name=traefik".to_owned(),
            metrics_port: 9100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeExporterConfig {
    pub enabled: bool,
    pub namespace: String,
    pub label_selector: String,
    pub port: u16,
}

impl Default for NodeExporterConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            namespace: "monitoring".to_owned(),
            label_selector: "app.kubernetes.io/name=node-exporter".to_owned(),
            port: 9100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Timeout of one snapshot push.
    pub timeout: ConfigDuration,
    /// Largest backoff between retries while the master is unreachable.
    pub max_backoff: ConfigDuration,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            timeout: ConfigDuration::secs(30),
            max_backoff: ConfigDuration::secs(60),
        }
    }
}

/// Snapshots wait on disk while the master is unreachable, within these bounds; the oldest
/// go first, and every drop is counted and reported.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub max_bytes: ByteSize,
    pub max_age: ConfigDuration,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/atlhyper-agent/spool"),
            max_bytes: ByteSize(256 * 1024 * 1024),
            max_age: ConfigDuration::secs(24 * 3600),
        }
    }
}

impl AgentConfig {
    /// Reads and validates a YAML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates YAML; `origin` names it in errors (a path, say).
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Self = if text.trim().is_empty() {
            Self::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
                origin: origin.to_owned(),
                message: e.to_string(),
            })?
        };
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                origin: origin.to_owned(),
                key,
                message: message.to_owned(),
            })
        };
        let linkerd = &self.slo.linkerd;
        if self.slo.collect_interval.0 < Duration::from_secs(1) {
            return invalid("slo.collect_interval", "must be at least 1s");
        }
        if linkerd.scrape_timeout.0.is_zero() || linkerd.scrape_timeout.0 > self.slo.collect_interval.0 {
            return invalid(
                "slo.linkerd.scrape_timeout",
                "must be more than 0 and at most slo.collect_interval",
            );
        }
        if self.resources.oom_window.is_some() {
            return invalid(
                "resources.oom_window",
                "was removed: an OOM kill counts for 10 minutes, the window the AIOps engine uses too (docs/resources.md)",
            );
        }
        if linkerd.scrape_concurrency == 0 {
            return invalid("slo.linkerd.scrape_concurrency", "must be at least 1");
        }
        if linkerd.enabled && linkerd.mode != LinkerdMode::Direct && !is_http_url(&linkerd.metrics_url) {
            return invalid(
                "slo.linkerd.metrics_url",
                "must be an http:// or https:// URL when mode is federate or prometheus",
            );
        }
        if linkerd.enabled
            && linkerd.mode == LinkerdMode::Federate
            && !linkerd.metrics_url.contains("match[]=")
            && !linkerd.metrics_url.contains("match%5B%5D=")
        {
            return invalid(
                "slo.linkerd.metrics_url",
                "a /federate URL needs a match[] selector, e.g. ?match[]={job=\"linkerd-proxy\"}",
            );
        }
        if linkerd.traefik_namespace.is_empty() {
            return invalid("slo.linkerd.traefik_namespace", "must not be empty");
        }
        if linkerd.target_namespaces.iter().any(String::is_empty) {
            return invalid("slo.linkerd.target_namespaces", "must not contain an empty name");
        }
        if !self.master_url.is_empty() && !is_http_url(&self.master_url) {
            return invalid("master_url", "must be an http:// or https:// URL");
        }
        if !self.slo.traefik.metrics_url.is_empty() && !is_http_url(&self.slo.traefik.metrics_url) {
            return invalid("slo.traefik.metrics_url", "must be an http:// or https:// URL");
        }
        if self.spool.max_bytes.0 == 0 {
            return invalid("spool.max_bytes", "must be more than 0");
        }
        if !self.listen.is_empty() && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return invalid("listen", "must be an address with a port, e.g. 0.0.0.0:8082");
        }
        if self.heartbeat_interval.0 < Duration::from_secs(1) {
            return invalid("heartbeat_interval", "must be at least 1s");
        }
        if self.commands.poll_timeout.0 < Duration::from_secs(1)
            || self.commands.poll_timeout.0 > Duration::from_secs(60)
        {
            return invalid("commands.poll_timeout", "must be 1s to 60s");
        }
        if self.commands.timeout.0 < Duration::from_secs(1)
            || self.commands.timeout.0 > Duration::from_secs(atlhyper_model::command::MAX_TIMEOUT_S)
        {
            return invalid("commands.timeout", "must be 1s to 10m");
        }
        Ok(())
    }

    /// The extraction rules of the SLO window.
    pub fn slo_rules(&self) -> Rules {
        let linkerd = &self.slo.linkerd;
        Rules {
            traefik_namespace: linkerd.traefik_namespace.clone(),
            target_namespaces: linkerd.target_namespaces.clone(),
            cluster_domain: linkerd.cluster_domain.clone(),
            linkerd_families: match linkerd.families {
                FamiliesConfig::Auto => LinkerdFamilies::Auto,
                FamiliesConfig::Classic => LinkerdFamilies::Classic,
                FamiliesConfig::Route => LinkerdFamilies::Route,
            },
        }
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
}

/// Why a duration or a size could not be read. The deserializer reports it with the key and
/// the file in front (through [`ConfigError::Parse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("expected a duration such as 30s, 5m or 1h")]
    EmptyDuration,
    #[error("expected a duration such as 30s, 5m or 1h, found {0:?}")]
    NotADuration(String),
    #[error("unknown duration unit {unit:?} in {text:?} (use ms, s, m, h or d)")]
    DurationUnit { unit: String, text: String },
    #[error("duration {0:?} is out of range")]
    DurationOutOfRange(String),
    #[error("expected a size such as 256MiB, found {0:?}")]
    NotASize(String),
    #[error("unknown size unit {unit:?} in {text:?} (use B, KiB, MiB, GiB, KB, MB or GB)")]
    SizeUnit { unit: String, text: String },
    #[error("size {0:?} is out of range")]
    SizeOutOfRange(String),
}

/// A duration written as `500ms`, `30s`, `5m`, `1h`, `1d` or a combination (`1m30s`), or as
/// a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub const fn secs(seconds: u64) -> Self {
        Self(Duration::from_secs(seconds))
    }

    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<u64>() {
            return Ok(Self::secs(seconds));
        }
        let mut total = Duration::ZERO;
        let mut rest = text;
        if rest.is_empty() {
            return Err(ValueError::EmptyDuration);
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .unwrap_or(rest.len());
            let (number, tail) = rest.split_at(digits);
            let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
            let (unit, next) = tail.split_at(unit_len);
            let value: f64 = number
                .parse()
                .map_err(|_| ValueError::NotADuration(text.to_owned()))?;
            let unit_seconds = match unit {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                "d" => 86_400.0,
                _ => {
                    return Err(ValueError::DurationUnit {
                        unit: unit.to_owned(),
                        text: text.to_owned(),
                    });
                }
            };
            total += Duration::try_from_secs_f64(value * unit_seconds)
                .map_err(|_| ValueError::DurationOutOfRange(text.to_owned()))?;
            rest = next;
        }
        Ok(Self(total))
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(StringOrNumber("a duration such as 30s, 5m or 1h"))
            .and_then(|raw| match raw {
                Raw::Text(text) => Self::parse(&text).map_err(de::Error::custom),
                Raw::Number(n) => Ok(Self::secs(n)),
            })
    }
}

/// A size written as `512KiB`, `256MiB`, `1GiB`, `10MB` or a bare number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| ValueError::NotASize(text.to_owned()))?;
        let factor: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" => 1000,
            "MB" => 1000 * 1000,
            "GB" => 1000 * 1000 * 1000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            other => {
                return Err(ValueError::SizeUnit {
                    unit: other.to_owned(),
                    text: text.to_owned(),
                });
            }
        };
        number
            .checked_mul(factor)
            .map(Self)
            .ok_or_else(|| ValueError::SizeOutOfRange(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(StringOrNumber("a size such as 256MiB"))
            .and_then(|raw| match raw {
                Raw::Text(text) => Self::parse(&text).map_err(de::Error::custom),
                Raw::Number(n) => Ok(Self(n)),
            })
    }
}

enum Raw {
    Text(String),
    Number(u64),
}

struct StringOrNumber(&'static str);

impl de::Visitor<'_> for StringOrNumber {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Text(v.to_owned()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Number(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        u64::try_from(v)
            .map(Raw::Number)
            .map_err(|_| E::custom(format!("expected {}, found {v}", self.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_EXAMPLE: &str = r#"
cluster_id: "production"
master_url: "http://atlhyper-master:8081"

slo:
  enabled: true
  collect_interval: 30s

  linkerd:
    enabled: true
    metrics_url: "http://metrics-api.linkerd-viz:8085/metrics"
    target_namespaces:
      - atlhyper
      - atlantis
    traefik_namespace: "kube-system"
"#;

    #[test]
    fn the_seed_example_parses() {
        let config = AgentConfig::from_yaml(SEED_EXAMPLE, "agent.yaml").unwrap();
        assert_eq!(config.cluster_id, "production");
        assert_eq!(config.slo.collect_interval, ConfigDuration::secs(30));
        assert_eq!(config.slo.linkerd.target_namespaces, ["atlhyper", "atlantis"]);
        assert_eq!(config.slo.linkerd.mode, LinkerdMode::Direct);
        assert_eq!(config.slo_rules().traefik_namespace, "kube-system");
    }

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(AgentConfig::from_yaml("", "x").unwrap(), AgentConfig::default());
        assert_eq!(
            AgentConfig::from_yaml("# nothing\n", "x").unwrap(),
            AgentConfig::default()
        );
    }

    #[test]
    fn every_key_is_accepted() {
        let yaml = r#"
cluster_id: c
master_url: https://master:8081
heartbeat_interval: 10s
slo:
  enabled: true
  collect_interval: 1m
  linkerd:
    enabled: true
    mode: federate
    metrics_url: 'http://prometheus:9090/federate?match[]={job="linkerd-proxy"}'
    target_namespaces: [shop]
    traefik_namespace: ingress
    cluster_domain: cluster.local
    families: route
    proxy_admin_port: 4191
    scrape_timeout: 2s
    scrape_concurrency: 8
  traefik:
    enabled: true
    metrics_url: http://traefik:9100/metrics
    namespace: ingress
    label_selector: app=traefik
    metrics_port: 9100
  node_exporter:
    enabled: true
    namespace: monitoring
    label_selector: app=node-exporter
    port: 9100
push:
  timeout: 10s
  max_backoff: 2m
spool:
  dir: /tmp/spool
  max_bytes: 64MiB
  max_age: 12h
"#;
        let config = AgentConfig::from_yaml(yaml, "x").unwrap();
        assert_eq!(config.slo.collect_interval, ConfigDuration::secs(60));
        assert_eq!(config.spool.max_bytes, ByteSize(64 << 20));
        assert_eq!(config.slo_rules().linkerd_families, LinkerdFamilies::Route);
    }

    fn error(yaml: &str) -> String {
        AgentConfig::from_yaml(yaml, "agent.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = error("slo:\n  linkerd:\n    traefik_namespcae: x\n");
        assert!(e.contains("traefik_namespcae") && e.contains("agent.yaml"), "{e}");
        let e = error("slo:\n  collect_interval: 30 seconds\n");
        assert!(e.contains("collect_interval") || e.contains("30 seconds"), "{e}");
        let e = error("slo:\n  linkerd:\n    mode: scrape\n");
        assert!(e.contains("scrape"), "{e}");
        let e = error("slo:\n  linkerd:\n    mode: federate\n");
        assert!(e.contains("slo.linkerd.metrics_url"), "{e}");
        let e = error("slo:\n  linkerd:\n    mode: federate\n    metrics_url: http://p:9090/federate\n");
        assert!(e.contains("match[]"), "{e}");
        let e = error("slo:\n  collect_interval: 10s\n  linkerd:\n    scrape_timeout: 20s\n");
        assert!(e.contains("slo.linkerd.scrape_timeout"), "{e}");
        let e = error("master_url: master:8081\n");
        assert!(e.contains("master_url"), "{e}");
        let e = error("spool:\n  max_bytes: 12 parsecs\n");
        assert!(e.contains("parsecs"), "{e}");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(ConfigDuration::parse("1m30s"), Ok(ConfigDuration::secs(90)));
        assert_eq!(
            ConfigDuration::parse("500ms").unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(ConfigDuration::parse("45"), Ok(ConfigDuration::secs(45)));
        assert_eq!(
            ConfigDuration::parse("5 parsecs").unwrap_err().to_string(),
            r#"unknown duration unit " parsecs" in "5 parsecs" (use ms, s, m, h or d)"#
        );
        assert_eq!(ConfigDuration::parse(""), Err(ValueError::EmptyDuration));
        assert_eq!(ByteSize::parse("10MB"), Ok(ByteSize(10_000_000)));
        assert_eq!(
            ByteSize::parse("99999999999GiB").unwrap_err().to_string(),
            r#"size "99999999999GiB" is out of range"#
        );
    }
}
