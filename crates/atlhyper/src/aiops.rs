//! `atlhyper aiops evaluate`: the AIOps engine measured against the simulator's fault
//! scenarios, through the path the product uses.
//!
//! For every scenario: a fresh [`SimCluster`] served on loopback, a real agent (discovery
//! through the simulated Kubernetes API with a kube client built from the simulator's
//! kubeconfig, scrapes of its Linkerd, Traefik and node_exporter endpoints) and a real master
//! on loopback with a temporary data directory and a clock that follows simulated time. Every
//! simulated 30 s: `sim.advance(30 s)`, `agent.collect_once(sim_now)`, the snapshot delivered
//! through the AgentSDK (the master ticks its engine on it). The fault starts after a warm-up
//! long enough for the baselines' cold start; the run ends when an incident names the root
//! cause or the observation window passes. Then one fault-free run of `--hours` simulated hours
//! lists every incident it opened: those are false positives.
//!
//! Prints one JSON object: `{"scenarios": [{"name", "injected", "detected", "root_cause",
//! "delay_s", …}], "false_positives": [incident…], …}`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use atlhyper_agent::push::AgentToken;
use atlhyper_agent::{Agent, AgentSettings};
use atlhyper_aiops::Incident;
use atlhyper_master::MasterConfig;
use atlhyper_master::auth::agent_token_hash;
use atlhyper_master::store::{ClusterRecord, IncidentFilter};
use atlhyper_model::Timestamp;
use atlhyper_sim::{Scenario, SimCluster, SimConfig, SimServer};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// The scenarios, as `KIND:ENTITY` specs of the simulator (docs/sim.md).
pub const SCENARIOS: [&str; 6] = [
    "error_spike:shop/service/payments",
    "latency_regression:shop/service/catalog",
    "crash_loop:shop/deployment/cart",
    "oom_kill:shop/deployment/reviews",
    "node_memory_pressure:_cluster/node/node-2",
    "bad_rollout:shop/deployment/inventory",
];

/// One agent cycle of simulated time: the agent's default collect interval.
const STEP: Duration = Duration::from_secs(30);
/// Simulated time before a fault starts: the baselines' cold start (100 samples at 30 s is
/// 50 minutes) and some more.
const WARM_UP: Duration = Duration::from_secs(75 * 60);
/// How long a fault lasts.
const FAULT_DURATION: Duration = Duration::from_secs(15 * 60);
/// How long after the fault's start an incident counts as its detection.
const OBSERVE: Duration = Duration::from_secs(10 * 60);
const CLUSTER: &str = "eval";
const SEED: u64 = 1;

#[derive(clap::Args, Debug)]
pub struct EvaluateArgs {
    /// A scenario name (error_spike, latency_regression, crash_loop, oom_kill,
    /// node_memory_pressure, bad_rollout), or `all`.
    #[arg(long, default_value = "all", value_name = "NAME")]
    pub scenario: String,
    /// Simulated fault-free hours to count false positives over (0 skips the run).
    #[arg(long, default_value_t = 24.0, value_name = "H")]
    pub hours: f64,
    /// Seed of the simulated cluster's traffic and failures.
    #[arg(long, default_value_t = SEED)]
    pub seed: u64,
}

#[derive(Debug, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    /// The entity the fault was injected into, `namespace/kind/name`.
    pub injected: String,
    /// Whether an incident opened in the observation window (10 simulated minutes).
    pub detected: bool,
    /// The root cause the detecting incident names, in the engine's key format.
    pub root_cause: Option<String>,
    /// Seconds from the injection to that incident.
    pub delay_s: Option<f64>,
    /// Whether `root_cause` is the injected entity's key, exactly.
    pub root_cause_matches: bool,
    /// The detecting incident.
    pub incident: Option<String>,
    /// Incidents opened before the injection (false positives of the warm-up).
    pub incidents_before_injection: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Evaluation {
    pub scenarios: Vec<ScenarioResult>,
    /// Every incident the fault-free run opened.
    pub false_positives: Vec<Incident>,
    /// Simulated hours of the fault-free run.
    pub fault_free_hours: f64,
    /// Wall-clock seconds the evaluation took.
    pub elapsed_s: f64,
}

/// Runs the evaluation and prints its JSON.
pub fn run(args: EvaluateArgs) -> Result<()> {
    if !(args.hours.is_finite() && (0.0..=24.0 * 31.0).contains(&args.hours)) {
        bail!("--hours must be within 0 to 744, not {}", args.hours);
    }
    let specs: Vec<&str> = match args.scenario.as_str() {
        "all" => SCENARIOS.to_vec(),
        name => {
            let found: Vec<&str> = SCENARIOS
                .iter()
                .copied()
                .filter(|s| s.split(':').next() == Some(name))
                .collect();
            if found.is_empty() {
                let names: Vec<&str> = SCENARIOS.iter().filter_map(|s| s.split(':').next()).collect();
                bail!(
                    "unknown scenario {name:?}: expected all or one of {}",
                    names.join(", ")
                );
            }
            found
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let evaluation = runtime.block_on(evaluate(&specs, args.hours, args.seed))?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &evaluation).context("cannot write the result")?;
    writeln!(out).context("cannot write the result")?;
    Ok(())
}

pub async fn evaluate(specs: &[&str], hours: f64, seed: u64) -> Result<Evaluation> {
    let started = Instant::now();
    let mut scenarios = Vec::new();
    for spec in specs {
        let result = run_scenario(spec, seed)
            .await
            .with_context(|| format!("scenario {spec}"))?;
        progress(&format!(
            "{}: detected {} root cause {:?} after {:?} s",
            result.name, result.detected, result.root_cause, result.delay_s
        ));
        scenarios.push(result);
    }
    let false_positives = if hours > 0.0 {
        fault_free(hours, seed).await.context("fault-free run")?
    } else {
        Vec::new()
    };
    Ok(Evaluation {
        scenarios,
        false_positives,
        fault_free_hours: hours,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

fn progress(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "aiops evaluate: {line}");
}

async fn run_scenario(spec: &str, seed: u64) -> Result<ScenarioResult> {
    let timing = format!("{spec}@{}+{}", WARM_UP.as_secs(), FAULT_DURATION.as_secs());
    let scenario = Scenario::parse_spec(&timing)?;
    let name = scenario.fault.name().to_owned();
    let injected = scenario.fault.entity();
    let mut rig = Rig::start(seed, Some(scenario)).await?;
    let start_ms = {
        let sim = rig.sim.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        sim.scenarios()
            .first()
            .map(|s| s.start_ms)
            .context("the scenario was not scheduled")?
    };
    let end_ms = start_ms + OBSERVE.as_millis() as i64;
    let mut found: Option<Incident> = None;
    let mut first: Option<Incident> = None;
    while rig.now_ms() < end_ms {
        rig.step().await?;
        let incidents = rig.incidents().await?;
        for incident in incidents.iter().filter(|i| i.started_at_ms >= start_ms) {
            if first.is_none() {
                first = Some(incident.clone());
            }
            if incident.root_cause == injected {
                found = Some(incident.clone());
                break;
            }
        }
        // An incident that opened for another entity may still move its root to the
        // injected one: keep stepping until one matches or the window ends.
        if found.is_some() {
            break;
        }
    }
    let before: Vec<String> = rig
        .incidents()
        .await?
        .iter()
        .filter(|i| i.started_at_ms < start_ms)
        .map(|i| i.id.clone())
        .collect();
    rig.stop().await?;
    let root_cause_matches = found.is_some();
    let incident = found.or(first);
    Ok(ScenarioResult {
        name,
        injected,
        detected: incident.is_some(),
        root_cause: incident.as_ref().map(|i| i.root_cause.clone()),
        delay_s: incident
            .as_ref()
            .map(|i| (i.started_at_ms - start_ms) as f64 / 1000.0),
        root_cause_matches,
        incident: incident.map(|i| i.id),
        incidents_before_injection: before,
    })
}

async fn fault_free(hours: f64, seed: u64) -> Result<Vec<Incident>> {
    let mut rig = Rig::start(seed, None).await?;
    let end_ms = rig.now_ms() + (hours * 3_600_000.0) as i64;
    let mut reported = rig.now_ms();
    while rig.now_ms() < end_ms {
        rig.step().await?;
        if rig.now_ms() - reported >= 6 * 3_600_000 {
            reported = rig.now_ms();
            progress(&format!(
                "fault-free: {:.0} h simulated, {} incidents",
                (reported - (end_ms - (hours * 3_600_000.0) as i64)) as f64 / 3_600_000.0,
                rig.incidents().await?.len()
            ));
        }
    }
    let incidents = rig.incidents().await?;
    rig.stop().await?;
    Ok(incidents)
}

/// A simulated cluster, an agent and a master, wired as in production, stepped by hand.
struct Rig {
    sim: atlhyper_sim::SharedSim,
    server: Option<SimServer>,
    master: Option<atlhyper_master::RunningMaster>,
    agent: Arc<Agent>,
    clock: Arc<AtomicI64>,
    stop: CancellationToken,
    delivery: tokio::task::JoinHandle<()>,
    resources: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start(seed: u64, scenario: Option<Scenario>) -> Result<Rig> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let mut sim = SimCluster::new(SimConfig {
            name: CLUSTER.to_owned(),
            seed,
            ..SimConfig::default()
        })
        .context("cannot build the simulated cluster")?;
        if let Some(scenario) = scenario {
            sim.schedule(scenario).context("cannot schedule the scenario")?;
        }
        let clock = Arc::new(AtomicI64::new(sim.now_ms()));
        let sim = Arc::new(Mutex::new(sim));
        let server = SimServer::start(sim.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("cannot start the simulator's server")?;
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig)?;
        let kube = atlhyper_agent::discovery::client(Some(&kubeconfig))
            .await
            .context("cannot build the Kubernetes client")?;

        let data = dir.path().join("master");
        let config = MasterConfig::for_tests(data);
        let master_clock = Arc::clone(&clock);
        let master = atlhyper_master::start(
            config,
            Arc::new(move || Timestamp(master_clock.load(Ordering::SeqCst))),
        )
        .await
        .context("cannot start the master")?;
        let token = "aiops-evaluate-agent-token";
        master
            .store
            .create_cluster(&ClusterRecord {
                id: CLUSTER.to_owned(),
                name: CLUSTER.to_owned(),
                token_hash: agent_token_hash(token),
                created_at: Timestamp(clock.load(Ordering::SeqCst)),
            })
            .await
            .context("cannot register the cluster")?;

        let agent_config = crate::sim::agent_config(
            CLUSTER,
            &format!("http://{}", master.agentsdk_addr),
            dir.path().join("spool"),
        );
        let agent = Agent::new(AgentSettings {
            cluster_id: CLUSTER.to_owned(),
            config: agent_config,
            token: AgentToken::new(token),
            kube: Some(kube),
        })
        .context("cannot start the agent")?;
        let stop = CancellationToken::new();
        let delivery = tokio::spawn(Arc::clone(&agent).delivery_loop(stop.clone()));
        // The resource watchers (pods, nodes, workloads, events…), as `atlhyper agent` runs
        // them; the first snapshot waits until their initial lists are in.
        let resources = tokio::spawn(Arc::clone(&agent).resource_loop(stop.clone()));
        if let Some(watcher) = agent.resources() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !watcher.settled() {
                if Instant::now() > deadline {
                    bail!("the agent's resource watchers did not sync within 30 s");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(Rig {
            sim,
            server: Some(server),
            master: Some(master),
            agent,
            clock,
            stop,
            delivery,
            resources,
            _dir: dir,
        })
    }

    fn now_ms(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// 30 simulated seconds: the cluster moves on, the agent collects, the master ingests.
    async fn step(&mut self) -> Result<()> {
        let now = {
            let mut sim = self.sim.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            sim.advance(STEP);
            sim.now_ms()
        };
        self.clock.store(now, Ordering::SeqCst);
        self.agent
            .collect_once(now)
            .await
            .context("the agent cannot spool its snapshot")?;
        let metrics = self.agent.metrics();
        let deadline = Instant::now() + Duration::from_secs(30);
        while metrics.spooled() > 0 {
            if Instant::now() > deadline {
                bail!("the master did not acknowledge a snapshot within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The engine ticks on its own task: the step is done when it has seen the snapshot.
        if let Some(master) = &self.master {
            master.app.aiops.caught_up(CLUSTER).await;
        }
        Ok(())
    }

    /// Every incident, newest first.
    async fn incidents(&self) -> Result<Vec<Incident>> {
        let Some(master) = &self.master else {
            return Ok(Vec::new());
        };
        let (incidents, _) = master
            .app
            .aiops
            .incidents(&IncidentFilter::default())
            .await
            .context("cannot read the incidents")?;
        Ok(incidents)
    }

    async fn stop(mut self) -> Result<()> {
        self.stop.cancel();
        let _ = (&mut self.delivery).await;
        let _ = (&mut self.resources).await;
        if let Some(master) = self.master.take() {
            master.stop().await.context("cannot stop the master")?;
        }
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_spec_parses() {
        for spec in SCENARIOS {
            let scenario = Scenario::parse_spec(spec).unwrap();
            assert_eq!(spec.split(':').nth(1), Some(scenario.fault.entity().as_str()));
        }
    }
}
