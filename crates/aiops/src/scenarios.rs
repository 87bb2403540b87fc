//! Engine-level scenarios on a small simulated cluster, time as a parameter. A test module
//! (`#[cfg(test)]` in `lib.rs`): its length is the scenarios, one after the other, each read
//! on its own.

use std::collections::BTreeSet;

use crate::detect::{ContainerProblem, Signals};
use crate::engine::{Engine, EngineConfig};
use crate::entity::{EntityKind, EntityRef};
use crate::incident::{Event, Role, Severity};
use crate::input::{ClusterInput, EdgeInput, EntityInput, TickInput};
use crate::metric::Metric;
use crate::report::TickOutput;
use crate::state::State;

const T0: i64 = 1_700_000_000_000;
const TICK: i64 = 10_000;
const MINUTE: i64 = 60_000;
const CLUSTER: &str = "prod";

/// splitmix64, for noise that is the same on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// `mean` with relative noise `spread`, never negative.
    fn around(&mut self, mean: f64, spread: f64) -> f64 {
        (mean * (1.0 + spread * self.normal())).max(0.0)
    }
}

/// Pod `j` of service `s` runs on node `(pods·s + j) % nodes`; even services have an ingress;
/// every third service calls the next one.
struct World {
    nodes: usize,
    services: usize,
    pods: usize,
    /// Requests behind each service's P99, when the world reports them (the latency
    /// regression detector needs them).
    latency_observations: Option<f64>,
    /// Service `s` selects Deployment `svc-s`, which owns the pods (instead of selecting the
    /// pods directly).
    workloads: bool,
    /// Now and then (one tick in 200) a service's P99 is three times its usual value for one
    /// tick: a slow scrape, a GC pause.
    latency_blips: bool,
}

impl World {
    fn flat(nodes: usize, services: usize, pods: usize) -> Self {
        Self {
            nodes,
            services,
            pods,
            latency_observations: None,
            workloads: false,
            latency_blips: false,
        }
    }
}

#[derive(Default, Clone)]
struct Fault {
    /// Memory pressure on this node: its pods are OOM-killed, their services fail.
    node_pressure: Option<usize>,
    /// Pods (service, index) in CrashLoopBackOff on a healthy node; their services fail.
    crashing: Vec<(usize, usize)>,
    /// This service answers 8× slower; the service that calls it waits (3× slower).
    slow: Option<usize>,
    /// This service's Deployment rolled out a bad revision at this time: the service fails.
    bad_rollout: Option<(usize, i64)>,
}

fn node(i: usize) -> EntityRef {
    EntityRef::node(format!("node-{i}"))
}
fn pod(s: usize, j: usize) -> EntityRef {
    EntityRef::new(EntityKind::Pod, "shop", format!("svc-{s}-{j}"))
}
fn service(s: usize) -> EntityRef {
    EntityRef::new(EntityKind::Service, "shop", format!("svc-{s}"))
}
fn deployment(s: usize) -> EntityRef {
    EntityRef::new(EntityKind::Deployment, "shop", format!("svc-{s}"))
}
fn ingress(s: usize) -> EntityRef {
    EntityRef::new(EntityKind::Ingress, "shop", format!("ing-{s}"))
}
fn key(e: &EntityRef) -> String {
    e.key().unwrap()
}

impl World {
    fn node_of(&self, s: usize, j: usize) -> usize {
        (self.pods * s + j) % self.nodes
    }

    fn input(&self, rng: &mut Rng, fault: &Fault) -> TickInput {
        let mut entities = Vec::new();
        let mut edges = Vec::new();
        for n in 0..self.nodes {
            let pressure = fault.node_pressure == Some(n);
            let memory = if pressure { 97.0 } else { rng.around(60.0, 0.04) };
            entities.push(
                EntityInput::new(node(n))
                    .with(Metric::CpuPct, rng.around(40.0, 0.08))
                    .with(Metric::MemoryPct, memory)
                    .with(Metric::DiskPct, rng.around(50.0, 0.01))
                    .with(
                        Metric::PsiMemory,
                        if pressure { 35.0 } else { rng.around(1.0, 0.2) },
                    )
                    .with_signals(Signals {
                        memory_pressure: pressure,
                        ..Signals::default()
                    }),
            );
        }
        for s in 0..self.services {
            let mut failing = false;
            for j in 0..self.pods {
                let on = self.node_of(s, j);
                let problem = if fault.node_pressure == Some(on) {
                    Some(ContainerProblem::OomKilled)
                } else if fault.crashing.contains(&(s, j)) {
                    Some(ContainerProblem::CrashLoopBackOff)
                } else {
                    None
                };
                failing |= problem.is_some();
                entities.push(
                    EntityInput::new(pod(s, j))
                        .with(Metric::Restarts, if problem.is_some() { 1.0 } else { 0.0 })
                        .with(Metric::CpuCores, rng.around(0.2, 0.05))
                        .with(Metric::MemoryBytes, rng.around(2e8, 0.02))
                        .with_signals(Signals {
                            container: problem,
                            ..Signals::default()
                        }),
                );
                if self.workloads {
                    edges.push(EdgeInput::new(deployment(s), pod(s, j)));
                } else {
                    edges.push(EdgeInput::new(service(s), pod(s, j)));
                }
                edges.push(EdgeInput::new(pod(s, j), node(on)));
            }
            let rollout = fault.bad_rollout.filter(|&(b, _)| b == s);
            if self.workloads {
                entities.push(EntityInput::new(deployment(s)).with_signals(Signals {
                    rolled_out_ms: Some(rollout.map_or(T0 - 86_400_000, |(_, at)| at)),
                    ..Signals::default()
                }));
                edges.push(EdgeInput::new(service(s), deployment(s)));
            }
            failing |= rollout.is_some();
            let (error_rate, mut latency) = if failing {
                (0.25, 600.0)
            } else {
                ((0.002 + 0.0005 * rng.normal()).max(0.0), rng.around(120.0, 0.05))
            };
            if fault.slow == Some(s) {
                latency *= 8.0;
            } else if fault.slow == Some(s + 1) && s % 3 == 0 {
                latency *= 3.0;
            }
            let ingress_latency = latency + 5.0;
            if self.latency_blips && rng.unit() < 1.0 / 200.0 {
                latency *= 3.0;
            }
            let rps = rng.around(50.0, 0.05);
            entities.push(
                EntityInput::new(service(s))
                    .with(Metric::ErrorRate, error_rate)
                    .with(Metric::LatencyP99Ms, latency)
                    .with(Metric::Rps, rps)
                    .with_signals(Signals {
                        latency_observations: self.latency_observations,
                        ..Signals::default()
                    }),
            );
            if s % 2 == 0 {
                entities.push(
                    EntityInput::new(ingress(s))
                        .with(Metric::ErrorRate, error_rate)
                        .with(Metric::LatencyP99Ms, ingress_latency)
                        .with(Metric::Rps, rps),
                );
                edges.push(EdgeInput::new(ingress(s), service(s)));
            }
            if s % 3 == 0 && s + 1 < self.services {
                edges.push(EdgeInput::new(service(s), service(s + 1)));
            }
        }
        TickInput {
            clusters: vec![ClusterInput {
                cluster: CLUSTER.to_owned(),
                entities,
                edges,
            }],
        }
    }
}

/// An engine, a world, a clock and a log of everything the ticks returned.
struct Run {
    engine: Engine,
    world: World,
    rng: Rng,
    now: i64,
    outputs: Vec<TickOutput>,
}

impl Run {
    fn new(world: World) -> Self {
        Self {
            engine: Engine::new(EngineConfig::default()).unwrap(),
            world,
            rng: Rng(42),
            now: T0,
            outputs: Vec::new(),
        }
    }

    fn small() -> Self {
        Self::new(World::flat(4, 6, 2))
    }

    /// Ticks every 10 s for `duration` with `fault`.
    fn run(&mut self, duration: i64, fault: &Fault) {
        let end = self.now + duration;
        while self.now < end {
            let input = self.world.input(&mut self.rng, fault);
            let out = self.engine.tick(self.now, &input).unwrap();
            assert!(out.issues.is_empty(), "{:?}", out.issues);
            self.outputs.push(out);
            self.now += TICK;
        }
    }

    fn warm_up(&mut self) {
        self.run(20 * MINUTE, &Fault::default());
        assert!(self.engine.incidents().is_empty());
    }

    fn opened(&self) -> Vec<String> {
        self.outputs
            .iter()
            .flat_map(|o| o.incidents_opened.clone())
            .collect()
    }
}

fn node_fault() -> Fault {
    Fault {
        node_pressure: Some(0),
        ..Fault::default()
    }
}

#[test]
fn node_memory_pressure_is_one_incident_rooted_at_the_node() {
    let mut run = Run::small();
    run.warm_up();
    run.run(30 * MINUTE, &node_fault());

    let incidents: Vec<_> = run.engine.incidents().iter().collect();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    assert_eq!(run.opened().len(), 1);
    let incident = incidents[0];
    assert_eq!(incident.root_cause, "_cluster/node/node-0");
    assert_eq!(incident.state, State::Incident);
    let members: BTreeSet<&str> = incident.entities.iter().map(|e| e.key.as_str()).collect();
    for s in [0, 2, 4] {
        assert!(members.contains(key(&pod(s, 0)).as_str()), "{members:?}");
        assert!(members.contains(key(&service(s)).as_str()), "{members:?}");
    }
    for s in [1, 3, 5] {
        assert!(!members.contains(key(&service(s)).as_str()), "healthy {s} joined");
    }
    let role = |k: &str| incident.member(k).map(|m| m.role);
    assert_eq!(role("_cluster/node/node-0"), Some(Role::RootCause));
    assert_eq!(role("shop/pod/svc-0-0"), Some(Role::Affected));
    assert!(incident.severity >= Severity::Medium);

    // Faults clear: warning members heal after 5 min, escalated ones recover after 10 and
    // are stable 10 minutes later.
    run.run(40 * MINUTE, &Fault::default());
    let incident = run.engine.incidents().iter().next().unwrap();
    assert_eq!(incident.state, State::Stable);
    assert!(!incident.is_open());
    let severity = incident.severity;
    assert!(severity >= Severity::Medium, "severity survives resolution");
    let duration = incident.duration_ms(run.now);
    assert!((45 * MINUTE..=55 * MINUTE).contains(&duration), "{duration}");
    let stats = run.engine.statistics(T0, run.now);
    assert_eq!((stats.total, stats.resolved, stats.active), (1, 1, 0));
    assert_eq!(stats.mttr_ms, Some(duration as f64));
    assert_eq!(stats.recurrence_rate, Some(0.0));
    assert_eq!(stats.by_severity.get(&severity), Some(&1));
    assert_eq!(stats.top_root_causes[0].entity, "_cluster/node/node-0");
    let resolved: Vec<&String> = run.outputs.iter().flat_map(|o| &o.incidents_resolved).collect();
    assert_eq!(resolved, [&incident.id]);
    // Every machine is gone again.
    assert_eq!(
        run.engine.entity_state(CLUSTER, "_cluster/node/node-0"),
        State::Healthy
    );
}

#[test]
fn a_long_noisy_normal_run_opens_no_incident() {
    // The services report how many requests their P99 comes from, so the latency regression
    // detector watches them too.
    let mut run = Run::new(World {
        latency_observations: Some(3000.0),
        latency_blips: true,
        ..World::flat(10, 30, 3)
    });
    run.run(6 * 60 * MINUTE, &Fault::default());
    assert!(run.engine.incidents().is_empty());
    let warnings = run
        .outputs
        .iter()
        .flat_map(|o| &o.state_changes)
        .filter(|c| c.transition.to == State::Warning)
        .count();
    assert_eq!(warnings, 0);
    // The noise did produce some anomalies: the detector is awake, just not fooled.
    let max_risk = run
        .outputs
        .iter()
        .flat_map(|o| o.clusters[0].ranking.first())
        .map(|r| r.r_final)
        .fold(0.0, f64::max);
    assert!(max_risk > 0.0 && max_risk < 0.5, "max risk {max_risk}");
}

#[test]
fn recurrence_reopens_the_same_incident() {
    let mut run = Run::small();
    run.warm_up();
    run.run(20 * MINUTE, &node_fault());
    run.run(12 * MINUTE, &Fault::default());
    let id = {
        let incident = run.engine.incidents().iter().next().unwrap();
        assert_eq!(incident.state, State::Recovery);
        incident.id.clone()
    };
    run.run(TICK, &node_fault());
    let incident = run.engine.incident(&id).unwrap();
    assert_eq!((incident.state, incident.recurrence), (State::Warning, 1));
    assert!(
        incident
            .timeline
            .iter()
            .any(|e| e.event == Event::Recurrence { count: 1 })
    );
    assert_eq!(run.engine.incidents().len(), 1);
    let stats = run.engine.statistics(T0, run.now + 1);
    assert_eq!(stats.recurrence_rate, Some(1.0));
}

#[test]
fn separate_pod_incidents_merge_when_their_node_turns_out_to_be_the_cause() {
    let mut run = Run::small();
    run.warm_up();
    // Pods svc-0-0 and svc-2-0 both run on node-0 and crash; the node looks fine.
    let crashing = Fault {
        crashing: vec![(0, 0), (2, 0)],
        ..Fault::default()
    };
    run.run(4 * MINUTE, &crashing);
    let roots: BTreeSet<String> = run
        .engine
        .incidents()
        .iter()
        .map(|i| i.root_cause.clone())
        .collect();
    assert_eq!(roots.len(), 2, "{roots:?}");
    assert!(roots.contains("shop/pod/svc-0-0") && roots.contains("shop/pod/svc-2-0"));

    // Then the node shows memory pressure.
    let both = Fault {
        node_pressure: Some(0),
        crashing: crashing.crashing.clone(),
        ..Fault::default()
    };
    run.run(5 * MINUTE, &both);
    let incidents: Vec<_> = run.engine.incidents().iter().collect();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let incident = incidents[0];
    assert_eq!(incident.root_cause, "_cluster/node/node-0");
    let merges: Vec<_> = run.outputs.iter().flat_map(|o| &o.incidents_merged).collect();
    assert_eq!(merges.len(), 1);
    assert_eq!(merges[0].into, incident.id);
    let has = |f: fn(&Event) -> bool| incident.timeline.iter().any(|e| f(&e.event));
    assert!(has(|e| matches!(
        e,
        Event::RootCauseIdentified { previous: Some(_) }
    )));
    assert!(has(|e| matches!(e, Event::Merged { .. })));
    assert_eq!(
        incident.member("shop/pod/svc-0-0").map(|m| m.role),
        Some(Role::Affected)
    );
}

#[test]
fn explanations_show_every_term_and_the_path_to_the_root_cause() {
    let mut run = Run::small();
    run.warm_up();
    run.run(5 * MINUTE, &node_fault());
    let why = run.engine.explain(CLUSTER, "shop/service/svc-0").unwrap();
    assert_eq!(
        why.path_to_root_cause,
        ["shop/service/svc-0", "shop/pod/svc-0-0", "_cluster/node/node-0"]
    );
    assert_eq!(why.root_cause, "_cluster/node/node-0");
    let error_rate = why
        .metrics
        .iter()
        .find(|m| m.metric == Metric::ErrorRate)
        .unwrap();
    let baseline = error_rate.baseline.unwrap();
    assert!(baseline.warm && baseline.mean < 0.01 && baseline.sigma > 0.0);
    assert!(error_rate.anomalous && error_rate.deviation.unwrap() > 3.0);
    assert!((error_rate.contribution - 0.25 * error_rate.score).abs() < 1e-12);
    let fact = why
        .metrics
        .iter()
        .find(|m| m.metric == Metric::HighErrorRate)
        .unwrap();
    assert_eq!((fact.score, fact.value, fact.deviation), (0.75, None, None));
    assert!(fact.reason.as_deref().unwrap().contains("error rate"));
    assert_eq!(why.dependencies.len(), 3, "two pods and the service it calls");
    assert!((why.local.r_local * why.w_time - why.r_weighted).abs() < 1e-12);
    assert!(why.r_final >= why.r_weighted);
    assert_eq!(why.formula.len(), 6);
    assert!(why.formula[5].starts_with("R_final"), "{:?}", why.formula);

    let top = run.engine.ranking(CLUSTER, 3);
    assert_eq!(top.len(), 3);
    assert!(top.windows(2).all(|w| w[0].r_final >= w[1].r_final));
    assert!(run.engine.ranking("other", 3).is_empty());

    let node = run.engine.explain(CLUSTER, "_cluster/node/node-0").unwrap();
    assert_eq!(node.path_to_root_cause, ["_cluster/node/node-0"]);
    assert!(
        node.metrics
            .iter()
            .any(|m| m.metric == Metric::MemoryPressure && m.anomalous)
    );
    assert_eq!(node.propagated, None);
    assert!(run.engine.explain(CLUSTER, "shop/pod/nope").is_err());
    assert!(run.engine.explain("other", "shop/pod/nope").is_err());
}

#[test]
fn engine_state_round_trips_through_json_mid_incident() {
    let mut run = Run::small();
    run.warm_up();
    run.run(9 * MINUTE, &node_fault());
    let json = serde_json::to_string(&run.engine).unwrap();
    let mut restored: Engine = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&restored).unwrap().len(), json.len());
    let mut rng = Rng(7);
    for i in 0..120 {
        let fault = if i < 30 { node_fault() } else { Fault::default() };
        let input = run.world.input(&mut rng, &fault);
        let now = run.now + i * TICK;
        let a = run.engine.tick(now, &input).unwrap();
        let b = restored.tick(now, &input).unwrap();
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::to_value(&b).unwrap()
        );
    }
    let bad = json.replacen("\"alpha\":0.033", "\"alpha\":2.0", 1);
    assert!(
        serde_json::from_str::<Engine>(&bad).is_err(),
        "configuration is validated"
    );
}

#[test]
fn an_engine_split_by_cluster_continues_each_cluster_alone() {
    let mut run = Run::small();
    run.warm_up();
    run.run(9 * MINUTE, &node_fault());
    let open = run.engine.incidents().open_seqs().len();
    assert!(open > 0, "the node fault opened an incident");
    let mut parts = run.engine.clone().split_by_cluster();
    assert_eq!(parts.len(), 1);
    let (name, mut alone) = parts.remove(0);
    assert_eq!(name, CLUSTER);
    assert_eq!(alone.incidents().open_seqs().len(), open);
    let mut rng = Rng(9);
    for i in 0..60 {
        let input = run.world.input(&mut rng, &Fault::default());
        let now = run.now + i * TICK;
        let a = run.engine.tick(now, &input).unwrap();
        let b = alone.tick(now, &input).unwrap();
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::to_value(&b).unwrap()
        );
    }
}

#[test]
fn entities_that_vanish_expire_after_thirty_minutes() {
    let mut run = Run::small();
    run.warm_up();
    run.run(10 * MINUTE, &node_fault());
    assert_eq!(
        run.engine.entity_state(CLUSTER, "_cluster/node/node-0"),
        State::Incident
    );
    // The cluster stops reporting altogether.
    let last = run.now - TICK;
    let quiet = TickInput::default();
    let out = run.engine.tick(last + 30 * MINUTE, &quiet).unwrap();
    assert!(out.incidents_resolved.is_empty());
    let out = run.engine.tick(last + 31 * MINUTE, &quiet).unwrap();
    assert_eq!(out.incidents_resolved.len(), 1);
    assert!(out.state_changes.iter().all(|c| c.transition.to == State::Stable));
    let incident = run.engine.incidents().iter().next().unwrap();
    assert_eq!(incident.state, State::Stable);
    assert!(incident.severity >= Severity::Medium);
}

#[test]
fn a_clock_that_goes_back_is_refused_and_changes_nothing() {
    let mut run = Run::small();
    run.run(TICK, &Fault::default());
    let input = run.world.input(&mut run.rng, &Fault::default());
    let before = serde_json::to_string(&run.engine).unwrap();
    let err = run.engine.tick(T0 - 1, &input).unwrap_err();
    assert!(err.to_string().contains("older than the last tick"), "{err}");
    assert_eq!(serde_json::to_string(&run.engine).unwrap(), before);
}

#[test]
fn bad_input_is_skipped_and_reported() {
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    let cart = service(0);
    let input = TickInput {
        clusters: vec![ClusterInput {
            cluster: CLUSTER.to_owned(),
            entities: vec![
                EntityInput::new(cart.clone())
                    .with(Metric::ErrorRate, f64::NAN)
                    .with(Metric::SloBurn, 3.0)
                    .with(Metric::Rps, 1.0)
                    .with(Metric::Rps, 2.0),
                EntityInput::new(cart.clone()),
                EntityInput::new(EntityRef::new(EntityKind::Pod, "", "p")),
            ],
            edges: vec![EdgeInput::new(node(0), pod(0, 0))],
        }],
    };
    let out = engine.tick(T0, &input).unwrap();
    assert_eq!(out.issues.len(), 6, "{:#?}", out.issues);
    assert!(out.issues.iter().any(|m| m.contains("not finite")));
    assert!(out.issues.iter().any(|m| m.contains("derived by the engine")));
    assert!(out.issues.iter().any(|m| m.contains("sent twice")));
    assert!(out.issues.iter().any(|m| m.contains("more than once")));
    assert!(out.issues.iter().any(|m| m.contains("without namespace")));
    assert!(out.issues.iter().any(|m| m.contains("cannot depend on")));
    let rps = engine
        .baseline(CLUSTER, "shop/service/svc-0", Metric::Rps)
        .unwrap();
    assert_eq!(rps.ema, 1.0);
    let twice = TickInput {
        clusters: vec![input.clusters[0].clone(), input.clusters[0].clone()],
    };
    let out = engine.tick(T0 + TICK, &twice).unwrap();
    assert!(
        out.issues
            .iter()
            .any(|m| m.contains("cluster prod appears more than once"))
    );
}

#[test]
fn calls_edges_outlive_traffic_for_an_hour() {
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    let tick = |engine: &mut Engine, now, edges: Vec<EdgeInput>| {
        let input = TickInput {
            clusters: vec![ClusterInput {
                cluster: CLUSTER.to_owned(),
                entities: vec![EntityInput::new(service(0)), EntityInput::new(service(1))],
                edges,
            }],
        };
        engine.tick(now, &input).unwrap();
        engine.graph(CLUSTER).unwrap().edges().len()
    };
    assert_eq!(
        tick(&mut engine, T0, vec![EdgeInput::new(service(0), service(1))]),
        1
    );
    assert_eq!(tick(&mut engine, T0 + 60 * MINUTE, vec![]), 1);
    assert_eq!(tick(&mut engine, T0 + 60 * MINUTE + 1, vec![]), 0);
}

#[test]
fn slo_burn_is_weighted_in_plain_ratios() {
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    let burning = |rate| TickInput {
        clusters: vec![ClusterInput {
            cluster: CLUSTER.to_owned(),
            entities: vec![EntityInput::new(service(0)).with_signals(Signals {
                slo_burn_rate: Some(rate),
                ..Signals::default()
            })],
            edges: vec![],
        }],
    };
    let out = engine.tick(T0, &burning(1.0)).unwrap();
    assert_eq!(
        (out.clusters[0].risk.f_slo, out.clusters[0].risk.risk),
        (0.5, 15.0)
    );
    assert!(
        out.clusters[0].ranking.is_empty(),
        "1x burns exactly the budget: no finding"
    );
    let out = engine.tick(T0 + TICK, &burning(14.4)).unwrap();
    let risk = &out.clusters[0].risk;
    assert_eq!((risk.f_slo, risk.max_burn_rate), (1.0, 14.4));
    let top = &out.clusters[0].ranking[0];
    assert!((top.r_local - 0.95 * 0.70).abs() < 1e-12);
}

/// Every active entity belongs to exactly one open incident, as an active member, and every
/// open incident has its root cause among its members.
fn check_invariants(engine: &Engine) -> Result<(), String> {
    let open: Vec<_> = engine.incidents().iter().filter(|i| i.is_open()).collect();
    for incident in &open {
        let root = incident
            .member(&incident.root_cause)
            .ok_or_else(|| format!("{}: root not a member", incident.id))?;
        if root.role != Role::RootCause {
            return Err(format!("{}: root has role {:?}", incident.id, root.role));
        }
        if incident
            .entities
            .iter()
            .filter(|e| e.role == Role::RootCause)
            .count()
            != 1
        {
            return Err(format!("{}: more than one root cause", incident.id));
        }
    }
    let graph = engine.graph(CLUSTER).ok_or("no graph")?;
    for node in graph.nodes() {
        let state = engine.entity_state(CLUSTER, &node.key);
        let holders = open
            .iter()
            .filter(|i| i.member(&node.key).is_some_and(|m| m.active))
            .count();
        let active = matches!(state, State::Warning | State::Incident | State::Recovery);
        if holders != usize::from(active) {
            return Err(format!(
                "{} in {state:?} is active in {holders} incidents",
                node.key
            ));
        }
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

    #[test]
    fn random_fault_schedules_keep_incidents_consistent(
        schedule in proptest::collection::vec((0usize..4, 1i64..8), 1..25),
        seed in proptest::num::u64::ANY,
    ) {
        let mut run = Run::small();
        run.rng = Rng(seed);
        run.warm_up();
        for (kind, minutes) in schedule {
            let fault = match kind {
                0 => Fault::default(),
                1 => node_fault(),
                2 => Fault { crashing: vec![(1, 1), (3, 0)], ..Fault::default() },
                _ => Fault { node_pressure: Some(2), crashing: vec![(0, 0)], ..Fault::default() },
            };
            let end = run.now + minutes * MINUTE;
            while run.now < end {
                let input = run.world.input(&mut run.rng, &fault);
                run.engine.tick(run.now, &input).unwrap();
                run.now += TICK;
                if let Err(problem) = check_invariants(&run.engine) {
                    proptest::prop_assert!(false, "at {}: {problem}", run.now - T0);
                }
            }
        }
        // Quiet long enough, everything closes.
        run.run(60 * MINUTE, &Fault::default());
        proptest::prop_assert!(run.engine.incidents().iter().all(|i| !i.is_open()));
        let stats = run.engine.statistics(T0, run.now);
        proptest::prop_assert_eq!(stats.total, run.engine.incidents().len());
        proptest::prop_assert!(run.engine.incidents().iter().all(|i| i.resolved_at_ms.is_some()));
    }
}

#[test]
fn a_short_warning_resolves_from_warning_without_escalating() {
    let mut run = Run::small();
    run.warm_up();
    let crash = Fault {
        crashing: vec![(1, 1)],
        ..Fault::default()
    };
    run.run(3 * MINUTE, &crash);
    let id = run.opened().pop().expect("one incident opened");
    assert_eq!(run.engine.incident(&id).unwrap().state, State::Warning);
    run.run(6 * MINUTE, &Fault::default());
    let incident = run.engine.incident(&id).unwrap();
    assert_eq!(incident.state, State::Stable);
    assert_eq!(incident.root_cause, "shop/pod/svc-1-1");
    let states: Vec<(State, State)> = incident
        .timeline
        .iter()
        .filter_map(|e| match e.event {
            Event::StateChange { from, to } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(states, [(State::Warning, State::Stable)]);
    assert!(incident.timeline.iter().any(|e| matches!(
        e.event,
        Event::EntityStateChange {
            to: State::Healthy,
            ..
        }
    )));
}

#[test]
fn a_slow_service_is_the_root_cause_of_its_waiting_callers() {
    // svc-0 calls svc-1 and has an ingress; svc-1 turns 8× slower, svc-0 3× (it waits).
    let world = || World {
        latency_observations: Some(3000.0),
        ..World::flat(4, 6, 2)
    };
    let slow = Fault {
        slow: Some(1),
        ..Fault::default()
    };
    let mut run = Run::new(world());
    run.warm_up();
    let injected = run.now;
    run.run(5 * MINUTE, &slow);
    let incidents: Vec<_> = run.engine.incidents().iter().collect();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let incident = incidents[0];
    assert_eq!(incident.root_cause, "shop/service/svc-1");
    // The ingress (latency weight 0.50) warns after the usual two minutes; by then the
    // services' regressions (held for a minute) lead it to svc-1.
    let delay = incident.started_at_ms - injected;
    assert!((2 * MINUTE..=4 * MINUTE).contains(&delay), "{delay}");
    for caller in ["shop/service/svc-0", "shop/ingress/ing-0"] {
        assert!(
            incident.member(caller).is_some(),
            "{caller} joined: {incident:#?}"
        );
    }
    let why = run.engine.explain(CLUSTER, "shop/service/svc-1").unwrap();
    let fact = why
        .metrics
        .iter()
        .find(|m| m.metric == Metric::LatencyRegression)
        .expect("the regression is a finding");
    assert_eq!(fact.score, 0.90);
    assert!(
        fact.reason.as_deref().unwrap().contains("its baseline"),
        "{fact:?}"
    );
    let why = run.engine.explain(CLUSTER, "shop/service/svc-0").unwrap();
    assert_eq!(why.root_cause, "shop/service/svc-1");

    // The P99 alone, with the seed's statistical weight 0.15, never makes a service risky:
    // without request counts (so without the detector) only the ingress, whose latency weighs
    // 0.50, warns, and it is blamed itself.
    let mut blind = Run::new(World::flat(4, 6, 2));
    blind.warm_up();
    blind.run(5 * MINUTE, &slow);
    let roots: Vec<&str> = blind
        .engine
        .incidents()
        .iter()
        .map(|i| i.root_cause.as_str())
        .collect();
    assert_eq!(roots, ["shop/ingress/ing-0"]);
}

#[test]
fn workload_faults_name_the_workload() {
    let world = || World {
        workloads: true,
        ..World::flat(4, 6, 2)
    };
    // Both pods of svc-3 crash on healthy nodes.
    let mut run = Run::new(world());
    run.warm_up();
    let crash = Fault {
        crashing: vec![(3, 0), (3, 1)],
        ..Fault::default()
    };
    run.run(5 * MINUTE, &crash);
    let incidents: Vec<_> = run.engine.incidents().iter().collect();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let incident = incidents[0];
    assert_eq!(incident.root_cause, "shop/deployment/svc-3");
    for member in ["shop/pod/svc-3-0", "shop/pod/svc-3-1", "shop/service/svc-3"] {
        assert!(incident.member(member).is_some(), "{member}: {incident:#?}");
    }
    let why = run.engine.explain(CLUSTER, "shop/service/svc-3").unwrap();
    assert_eq!(why.root_cause, "shop/deployment/svc-3");
    assert_eq!(
        why.path_to_root_cause,
        ["shop/service/svc-3", "shop/deployment/svc-3"]
    );

    // svc-5's Deployment rolls out a revision whose pods answer errors: the pods look fine,
    // the service fails, and the rollout just before is blamed.
    let mut run = Run::new(world());
    run.warm_up();
    let rollout = Fault {
        bad_rollout: Some((5, run.now)),
        ..Fault::default()
    };
    run.run(5 * MINUTE, &rollout);
    let incidents: Vec<_> = run.engine.incidents().iter().collect();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    assert_eq!(incidents[0].root_cause, "shop/deployment/svc-5");
    let why = run.engine.explain(CLUSTER, "shop/deployment/svc-5").unwrap();
    assert!(
        why.metrics
            .iter()
            .any(|m| m.metric == Metric::RolloutRegression && m.anomalous)
    );

    // The same failure an hour after the last rollout is the service's own.
    let mut run = Run::new(world());
    run.warm_up();
    let late = Fault {
        bad_rollout: Some((5, run.now - 60 * MINUTE)),
        ..Fault::default()
    };
    run.run(5 * MINUTE, &late);
    let roots: Vec<&str> = run
        .engine
        .incidents()
        .iter()
        .map(|i| i.root_cause.as_str())
        .collect();
    assert_eq!(roots, ["shop/service/svc-5"]);
}
