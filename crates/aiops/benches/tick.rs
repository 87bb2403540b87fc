//! One engine tick over a 10,000-entity cluster after warm-up:
//! 250 nodes, 1,500 services with 5 pods each (7,500 pods), 750 ingresses, a `calls` edge from
//! every other service; about 17,500 edges. `quiet` is a fault-free tick; `node_faults` has
//! three nodes under memory pressure, their pods OOM-killed and their services failing, with
//! the incidents already open.

use atlhyper_aiops::{
    ClusterInput, ContainerProblem, EdgeInput, Engine, EngineConfig, EntityInput, EntityKind, EntityRef,
    Metric, Signals, TickInput,
};
use divan::Bencher;

fn main() {
    divan::main();
}

const T0: i64 = 1_700_000_000_000;
const TICK: i64 = 10_000;
const NODES: usize = 250;
const SERVICES: usize = 1_500;
const PODS: usize = 5;

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn around(&mut self, mean: f64, spread: f64) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        (mean * (1.0 + spread * normal)).max(0.0)
    }
}

fn input(rng: &mut Rng, faulty_nodes: &[usize]) -> TickInput {
    let ns = |s: usize| format!("team-{}", s % 20);
    let node = |n: usize| EntityRef::node(format!("node-{n}"));
    let service = |s: usize| EntityRef::new(EntityKind::Service, ns(s), format!("svc-{s}"));
    let mut entities = Vec::with_capacity(10_000);
    let mut edges = Vec::with_capacity(18_000);
    for n in 0..NODES {
        let pressure = faulty_nodes.contains(&n);
        entities.push(
            EntityInput::new(node(n))
                .with(Metric::CpuPct, rng.around(40.0, 0.08))
                .with(
                    Metric::MemoryPct,
                    if pressure { 97.0 } else { rng.around(60.0, 0.04) },
                )
                .with(Metric::DiskPct, rng.around(50.0, 0.01))
                .with(Metric::PsiCpu, rng.around(2.0, 0.2))
                .with(Metric::PsiMemory, rng.around(1.0, 0.2))
                .with(Metric::PsiIo, rng.around(1.0, 0.2))
                .with_signals(Signals {
                    memory_pressure: pressure,
                    ..Signals::default()
                }),
        );
    }
    for s in 0..SERVICES {
        let mut failing = false;
        for j in 0..PODS {
            let on = (s * PODS + j) % NODES;
            let oom = faulty_nodes.contains(&on);
            failing |= oom;
            let pod = EntityRef::new(EntityKind::Pod, ns(s), format!("svc-{s}-{j}"));
            entities.push(
                EntityInput::new(pod.clone())
                    .with(Metric::Restarts, if oom { 1.0 } else { 0.0 })
                    .with(Metric::CpuCores, rng.around(0.2, 0.05))
                    .with(Metric::MemoryBytes, rng.around(2e8, 0.02))
                    .with_signals(Signals {
                        container: oom.then_some(ContainerProblem::OomKilled),
                        ..Signals::default()
                    }),
            );
            edges.push(EdgeInput::new(service(s), pod.clone()));
            edges.push(EdgeInput::new(pod, node(on)));
        }
        let error_rate = if failing { 0.25 } else { rng.around(0.002, 0.25) };
        let latency = if failing { 600.0 } else { rng.around(120.0, 0.05) };
        let rps = rng.around(50.0, 0.05);
        entities.push(
            EntityInput::new(service(s))
                .with(Metric::ErrorRate, error_rate)
                .with(Metric::LatencyP99Ms, latency)
                .with(Metric::Rps, rps)
                .with_signals(Signals {
                    slo_burn_rate: Some(error_rate / 0.001),
                    ..Signals::default()
                }),
        );
        if s % 2 == 0 {
            let ingress = EntityRef::new(EntityKind::Ingress, ns(s), format!("ing-{s}"));
            entities.push(
                EntityInput::new(ingress.clone())
                    .with(Metric::ErrorRate, error_rate)
                    .with(Metric::LatencyP99Ms, latency + 5.0)
                    .with(Metric::Rps, rps),
            );
            edges.push(EdgeInput::new(ingress, service(s)));
            edges.push(EdgeInput::new(service(s), service((s * 7 + 1) % SERVICES)));
        }
    }
    TickInput {
        clusters: vec![ClusterInput {
            cluster: "bench".to_owned(),
            entities,
            edges,
        }],
    }
}

/// Warms an engine up past the cold start (110 ticks), then with `faulty_nodes` for 5 minutes,
/// and benchmarks further ticks with fresh noisy inputs.
fn bench_tick(bencher: Bencher<'_, '_>, faulty_nodes: &[usize]) {
    let mut rng = Rng(1);
    let mut engine = Engine::new(EngineConfig::default()).expect("default config is valid");
    let mut now = T0;
    for i in 0..140 {
        let faults = if i < 110 { &[][..] } else { faulty_nodes };
        let out = engine
            .tick(now, &input(&mut rng, faults))
            .expect("clock moves forward");
        assert!(out.issues.is_empty());
        now += TICK;
    }
    // One incident per faulty node, each rooted at its node.
    let open: Vec<_> = engine.incidents().iter().filter(|i| i.is_open()).collect();
    assert_eq!(open.len(), faulty_nodes.len());
    assert!(open.iter().all(|i| i.root_cause.starts_with("_cluster/node/")));
    let inputs: Vec<TickInput> = (0..8).map(|_| input(&mut rng, faulty_nodes)).collect();
    let entities = inputs[0].clusters[0].entities.len();
    assert_eq!(entities, 10_000);
    let mut i = 0;
    bencher.bench_local(|| {
        let out = engine
            .tick(now, &inputs[i % inputs.len()])
            .expect("clock moves forward");
        now += TICK;
        i += 1;
        divan::black_box(out)
    });
}

#[divan::bench(sample_count = 40, sample_size = 1)]
fn quiet(bencher: Bencher<'_, '_>) {
    bench_tick(bencher, &[]);
}

#[divan::bench(sample_count = 40, sample_size = 1)]
fn node_faults(bencher: Bencher<'_, '_>) {
    bench_tick(bencher, &[3, 77, 150]);
}
