//! One collect cycle: find the targets, scrape them, feed the SLO window and the node
//! figures, and hand back what the next snapshot carries.
//!
//! Bodies are parsed and dropped as each fetch finishes, so a cycle over a thousand proxies
//! holds at most `scrape_concurrency` bodies at once, not all of them. A target that failed
//! keeps its baseline (DESIGN.md §5.2); a discovery that failed keeps the last target list.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use atlhyper_model::{
    GroupCounters, NodeMetrics, NodeSeries, ServiceSlo, SloCounters, SloGroupKey, SloType, TargetHealth,
    Timestamp,
};
use atlhyper_slo::{Target, Window, entry_from_counters};

use crate::config::{AgentConfig, LinkerdMode};
use crate::discovery::{self, KubeDiscovery, TraefikRoute};
use crate::node::{Concentrator, NodeRates};
use crate::prometheus_api;
use crate::scrape::{ScrapeError, ScrapeTarget, Scraper, TargetKind, next_outcome};

/// Largest metrics body accepted from one target (a proxy's is about 700 KB; a federation of
/// a large mesh can be hundreds of MB).
const MAX_BODY_BYTES: usize = 1 << 30;
/// The id under which a `/federate` or Prometheus API source reports its health.
const PROMETHEUS_SOURCE_ID: &str = "prometheus";

/// Why a target (or the Prometheus source) gave nothing this cycle; its text becomes the
/// target's `last_error` in the snapshot.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Scrape(#[from] ScrapeError),
    #[error("parse {url}: {source}")]
    Parse {
        url: String,
        source: atlhyper_promtext::ParseError,
    },
}

/// What a cycle produced, for the snapshot and the agent's own metrics.
#[derive(Debug, Clone, Default)]
pub struct Cycle {
    /// Entries over the interval since the previous cycle.
    pub slo: Vec<ServiceSlo>,
    pub counters: Vec<GroupCounters>,
    pub interval_start_ms: i64,
    pub interval_end_ms: i64,
    pub targets: Vec<TargetHealth>,
    pub nodes: Vec<NodeMetrics>,
    pub node_series: Vec<NodeSeries>,
    pub stats: CycleStats,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CycleStats {
    pub targets: usize,
    pub failed_targets: usize,
    pub samples: usize,
    pub relevant_samples: usize,
    /// Targets and series with a baseline in the window.
    pub tracked_targets: usize,
    pub tracked_series: usize,
    pub discovery_errors: usize,
    pub duration: Duration,
}

/// The agent's collection state across cycles.
pub struct Collector {
    config: AgentConfig,
    scraper: Scraper,
    kube: Option<KubeDiscovery>,
    window: Window,
    node_rates: NodeRates,
    concentrator: Concentrator,
    health: BTreeMap<String, TargetHealth>,
    routes: HashMap<String, TraefikRoute>,
    /// The last target list per kind, kept when a discovery fails.
    known: BTreeMap<TargetKind, Vec<ScrapeTarget>>,
}

impl Collector {
    /// `kube` is needed for every source found through the Kubernetes API (direct Linkerd
    /// mode, Traefik without a fixed URL, node_exporter).
    pub fn new(config: AgentConfig, kube: Option<KubeDiscovery>) -> Result<Self, ScrapeError> {
        let scraper = Scraper::new(config.slo.linkerd.scrape_timeout.0, MAX_BODY_BYTES)?;
        Ok(Self {
            window: Window::new(config.slo_rules()),
            config,
            scraper,
            kube,
            node_rates: NodeRates::default(),
            concentrator: Concentrator::default(),
            health: BTreeMap::new(),
            routes: HashMap::new(),
            known: BTreeMap::new(),
        })
    }

    /// Whether the sources in the configuration need a Kubernetes client.
    pub fn needs_kubernetes(config: &AgentConfig) -> bool {
        let slo = &config.slo;
        (slo.linkerd.enabled && slo.linkerd.mode == LinkerdMode::Direct)
            || (slo.traefik.enabled && slo.traefik.metrics_url.is_empty())
            || slo.node_exporter.enabled
    }

    /// Runs one cycle taken at `now_ms` (the scrapes' time stamp).
    pub async fn cycle(&mut self, now_ms: i64) -> Cycle {
        let started = Instant::now();
        let mut stats = CycleStats::default();
        let targets = self.discover(&mut stats).await;
        self.forget_gone(&targets);
        let (scraper, linkerd) = (&self.scraper, &self.config.slo.linkerd);
        let node_rates = &mut self.node_rates;
        let mut round = self.window.begin_round();
        let mut nodes = Vec::new();

        let federation = async {
            match linkerd.mode {
                _ if !linkerd.enabled => None,
                LinkerdMode::Direct => None,
                LinkerdMode::Federate => Some(
                    scraper
                        .fetch(&linkerd.metrics_url)
                        .await
                        .map(|f| (f.body, f.duration)),
                ),
                LinkerdMode::Prometheus => {
                    let began = Instant::now();
                    Some(
                        prometheus_api::fetch(scraper, &linkerd.metrics_url, &linkerd.prometheus_selector)
                            .await
                            .map(|body| (body, began.elapsed())),
                    )
                }
            }
        };
        let urls: Vec<String> = targets.iter().map(|t| t.url.clone()).collect();
        let mut fetches = scraper.fetch_each(urls, linkerd.scrape_concurrency);
        let mut health_updates = Vec::with_capacity(targets.len() + 1);
        let direct = async {
            while let Some(outcome) = next_outcome(&mut fetches).await {
                let target = &targets[outcome.index];
                let result = outcome.result.map_err(TargetError::from).and_then(|fetched| {
                    let scrape =
                        atlhyper_promtext::parse(&fetched.body).map_err(|source| TargetError::Parse {
                            url: target.url.clone(),
                            source,
                        })?;
                    let series = scrape.samples.len();
                    match target.kind {
                        TargetKind::NodeExporter => {
                            let node = target.node.clone().unwrap_or_else(|| target.id.clone());
                            nodes.push(node_rates.observe(&node, now_ms, &scrape));
                        }
                        TargetKind::LinkerdProxy | TargetKind::Traefik => {
                            let slo_target = Target {
                                id: target.id.clone(),
                                labels: target.labels.clone(),
                            };
                            round.target(&slo_target, &scrape);
                        }
                    }
                    Ok(series)
                });
                health_updates.push((target.id.clone(), result, outcome.duration));
            }
        };
        let (federation, ()) = tokio::join!(federation, direct);
        if let Some(result) = federation {
            let result = result.map_err(TargetError::from).and_then(|(body, duration)| {
                let scrape = atlhyper_promtext::parse(&body).map_err(|source| TargetError::Parse {
                    url: linkerd.metrics_url.clone(),
                    source,
                })?;
                round.federation(&scrape);
                Ok((scrape.samples.len(), duration))
            });
            let duration = result.as_ref().map(|(_, d)| *d).unwrap_or_default();
            health_updates.push((PROMETHEUS_SOURCE_ID.to_owned(), result.map(|(n, _)| n), duration));
        }
        let round_stats = round.finish(now_ms);
        stats.samples = round_stats.samples;
        stats.relevant_samples = round_stats.relevant;
        for (id, result, duration) in health_updates {
            stats.targets += 1;
            stats.failed_targets += usize::from(result.is_err());
            self.record_health(id, result, duration, now_ms);
        }
        for node in &nodes {
            self.concentrator.record(node);
        }
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        (stats.tracked_targets, stats.tracked_series) = self.window.tracked();
        let cycle = self.take_interval(nodes, stats, started);
        tracing::debug!(
            targets = cycle.stats.targets,
            failed = cycle.stats.failed_targets,
            samples = cycle.stats.samples,
            groups = cycle.counters.len(),
            "collect cycle done"
        );
        cycle
    }

    fn take_interval(&mut self, nodes: Vec<NodeMetrics>, mut stats: CycleStats, started: Instant) -> Cycle {
        let seconds = self.window.seconds();
        let end_ms = self.window.last_scrape_ms().unwrap_or_default();
        let start_ms = end_ms - (seconds * 1000.0).round() as i64;
        let counters = map_traefik_routes(self.window.take(), &self.routes);
        let timestamp = Timestamp(end_ms);
        let slo = counters
            .iter()
            .map(|(key, c)| entry_from_counters(key, c, seconds, timestamp))
            .collect();
        stats.duration = started.elapsed();
        Cycle {
            slo,
            counters: counters
                .into_iter()
                .map(|(key, counters)| GroupCounters { key, counters })
                .collect(),
            interval_start_ms: start_ms,
            interval_end_ms: end_ms,
            targets: self.health.values().cloned().collect(),
            nodes,
            node_series: self.concentrator.series(),
            stats,
        }
    }

    fn record_health(
        &mut self,
        id: String,
        result: Result<usize, TargetError>,
        duration: Duration,
        now_ms: i64,
    ) {
        let entry = self.health.entry(id.clone()).or_insert_with(|| TargetHealth {
            target: id,
            last_success: None,
            last_error: None,
            duration_ms: 0.0,
            series: 0,
        });
        entry.duration_ms = duration.as_secs_f64() * 1000.0;
        match result {
            Ok(series) => {
                entry.last_success = Some(Timestamp(now_ms));
                entry.last_error = None;
                entry.series = series as u64;
            }
            Err(error) => entry.last_error = Some(error.to_string()),
        }
    }

    /// Forgets the health, node history and rates of targets no longer discovered.
    fn forget_gone(&mut self, targets: &[ScrapeTarget]) {
        let ids: std::collections::HashSet<&str> = targets.iter().map(|t| t.id.as_str()).collect();
        self.health
            .retain(|id, _| id == PROMETHEUS_SOURCE_ID || ids.contains(id.as_str()));
        if !self.known.contains_key(&TargetKind::NodeExporter) {
            return;
        }
        let nodes: std::collections::HashSet<String> = targets
            .iter()
            .filter(|t| t.kind == TargetKind::NodeExporter)
            .map(|t| t.node.clone().unwrap_or_else(|| t.id.clone()))
            .collect();
        self.node_rates.retain(&|n| nodes.contains(n));
        self.concentrator.retain(&|n| nodes.contains(n));
    }

    /// Every target of this cycle; a kind whose discovery failed keeps its last list.
    async fn discover(&mut self, stats: &mut CycleStats) -> Vec<ScrapeTarget> {
        let slo = self.config.slo.clone();
        if slo.linkerd.enabled && slo.linkerd.mode == LinkerdMode::Direct {
            let found = match &self.kube {
                Some(kube) => kube
                    .pods(None, discovery::meshed_selector())
                    .await
                    .map(|pods| discovery::linkerd_targets(&pods, slo.linkerd.proxy_admin_port)),
                None => Err(discovery::DiscoveryError::NoClient("slo.linkerd.mode: direct")),
            };
            self.keep_or_reuse(TargetKind::LinkerdProxy, found, stats);
        }
        if slo.traefik.enabled {
            let found = if slo.traefik.metrics_url.is_empty() {
                match &self.kube {
                    Some(kube) => kube
                        .pods(Some(&slo.traefik.namespace), &slo.traefik.label_selector)
                        .await
                        .map(|pods| {
                            discovery::metrics_targets(&pods, TargetKind::Traefik, slo.traefik.metrics_port)
                        }),
                    None => Err(discovery::DiscoveryError::NoClient("slo.traefik")),
                }
            } else {
                Ok(vec![ScrapeTarget {
                    kind: TargetKind::Traefik,
                    id: "traefik".into(),
                    url: slo.traefik.metrics_url.clone(),
                    labels: Vec::new(),
                    node: None,
                }])
            };
            self.keep_or_reuse(TargetKind::Traefik, found, stats);
            self.refresh_routes(stats).await;
        }
        if slo.node_exporter.enabled {
            let found = match &self.kube {
                Some(kube) => kube
                    .pods(
                        Some(&slo.node_exporter.namespace),
                        &slo.node_exporter.label_selector,
                    )
                    .await
                    .map(|pods| {
                        discovery::metrics_targets(&pods, TargetKind::NodeExporter, slo.node_exporter.port)
                    }),
                None => Err(discovery::DiscoveryError::NoClient("slo.node_exporter")),
            };
            self.keep_or_reuse(TargetKind::NodeExporter, found, stats);
        }
        self.known.values().flatten().cloned().collect()
    }

    fn keep_or_reuse(
        &mut self,
        kind: TargetKind,
        found: Result<Vec<ScrapeTarget>, discovery::DiscoveryError>,
        stats: &mut CycleStats,
    ) {
        match found {
            Ok(targets) => {
                self.known.insert(kind, targets);
            }
            Err(e) => {
                stats.discovery_errors += 1;
                tracing::warn!(kind = kind.as_str(), error = %e, "discovery failed; scraping the last known targets");
            }
        }
    }

    async fn refresh_routes(&mut self, stats: &mut CycleStats) {
        let Some(kube) = &self.kube else { return };
        match kube.ingresses().await {
            Ok(ingresses) => self.routes = discovery::traefik_routes(&ingresses),
            Err(e) => {
                stats.discovery_errors += 1;
                tracing::warn!(error = %e, "listing ingresses failed; keeping the last Traefik routes");
            }
        }
    }
}

/// Traefik groups are keyed by Traefik's service name; where an Ingress says which host and
/// backend that service serves, the group becomes that ingress domain (merging groups that map
/// to the same one).
fn map_traefik_routes(
    counters: Vec<(SloGroupKey, SloCounters)>,
    routes: &HashMap<String, TraefikRoute>,
) -> Vec<(SloGroupKey, SloCounters)> {
    if routes.is_empty() {
        return counters;
    }
    let mut merged: BTreeMap<SloGroupKey, SloCounters> = BTreeMap::new();
    for (mut key, c) in counters {
        if key.kind == SloType::Ingress
            && let Some(route) = routes.get(&key.source)
        {
            key.source = route.host.clone();
            key.target = route.backend.clone();
            key.namespace = route.namespace.clone();
        }
        merged.entry(key).or_default().merge(&c);
    }
    merged.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traefik_services_become_their_ingress_domains() {
        let key = |source: &str| SloGroupKey {
            kind: SloType::Ingress,
            source: source.into(),
            source_namespace: String::new(),
            target: String::new(),
            namespace: String::new(),
        };
        let c = |n: f64| SloCounters {
            total: n,
            success: n,
            ..SloCounters::default()
        };
        let routes = HashMap::from([(
            "shop-web-80@kubernetes".to_owned(),
            TraefikRoute {
                host: "shop.example.com".into(),
                backend: "web".into(),
                namespace: "shop".into(),
            },
        )]);
        let out = map_traefik_routes(
            vec![
                (key("shop-web-80@kubernetes"), c(3.0)),
                (key("other@file"), c(1.0)),
            ],
            &routes,
        );
        assert_eq!(out.len(), 2);
        let mapped = out.iter().find(|(k, _)| k.source == "shop.example.com").unwrap();
        assert_eq!(
            (mapped.0.target.as_str(), mapped.0.namespace.as_str()),
            ("web", "shop")
        );
        assert_eq!(mapped.1.total, 3.0);
        assert!(
            out.iter().any(|(k, _)| k.source == "other@file"),
            "unmapped services stay"
        );
    }
}
