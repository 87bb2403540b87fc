//! `atlhyper demo`: the whole product in one process on loopback — a master and two simulated
//! clusters, each watched by a real agent through the simulator's Kubernetes API and metrics
//! endpoints, exactly as `atlhyper agent` runs against a real cluster.
//!
//! At start the last hour is filled in through the same path in accelerated time (the
//! simulator steps 30 s, the agent runs a cycle stamped at that simulated time, the snapshot
//! goes to the master), so the charts have data at once. Then time runs at wall-clock speed,
//! with a fault scenario every few minutes.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use atlhyper_agent::config::ConfigDuration;
use atlhyper_agent::push::AgentToken;
use atlhyper_agent::runtime::now_ms;
use atlhyper_agent::{Agent, AgentConfig, AgentSettings};
use atlhyper_master::auth::{agent_token_hash, new_agent_token};
use atlhyper_master::config::Secret;
use atlhyper_master::store::ClusterRecord;
use atlhyper_master::system_clock;
use atlhyper_master::{MasterConfig, RunningMaster};
use atlhyper_model::Timestamp;
use atlhyper_sim::{Fault, Scenario, SimCluster, SimConfig, SimServer};
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the master's SQLite and the agents' spools live; default: a new temporary folder,
    /// removed at exit. A folder given here is kept and reused by the next run.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The web UI and JSON API port (0 picks a free one).
    #[arg(long, env = "MASTER_GATEWAY_PORT", default_value_t = 8080)]
    gateway_port: u16,
    /// The agents' port (0 picks a free one).
    #[arg(long, env = "MASTER_AGENTSDK_PORT", default_value_t = 8081)]
    agentsdk_port: u16,
    /// The address the master listens on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Seed of the simulated clusters (names, traffic, failures).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Minutes of history filled in at start.
    #[arg(long, default_value_t = 60)]
    history_minutes: u64,
    /// Minutes between two fault scenarios (each lasts half of that).
    #[arg(long, default_value_t = 6)]
    fault_every_minutes: u64,
    /// Seconds between two agent cycles.
    #[arg(long, default_value_t = 15)]
    collect_seconds: u64,
    /// Log level or filter (`RUST_LOG` wins when set).
    #[arg(long, env = "MASTER_LOG_LEVEL", default_value = "warn")]
    log_level: String,
}

/// The two clusters: name, node count.
const CLUSTERS: [(&str, usize); 2] = [("prod-eu", 4), ("staging-us", 3)];
/// Steps of the history fill, as the agent's cycle would be.
const HISTORY_STEP: Duration = Duration::from_secs(30);

pub fn run(args: DemoArgs) -> Result<()> {
    crate::logging::init(&args.log_level);
    if args.fault_every_minutes == 0 || args.collect_seconds == 0 {
        bail!("--fault-every-minutes and --collect-seconds must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let (data_dir, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("atlhyper-demo-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
    let outcome = runtime.block_on(demo(&args, &data_dir));
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    outcome
}

async fn demo(args: &DemoArgs, data_dir: &Path) -> Result<()> {
    let started = Instant::now();
    let login = Login::from_env()?;
    let master = start_master(args, data_dir, &login).await?;
    let agentsdk = format!("http://{}", master.agentsdk_addr);
    let shutdown = CancellationToken::new();
    let mut clusters = Vec::new();
    for (index, (name, nodes)) in CLUSTERS.into_iter().enumerate() {
        let cluster = DemoCluster::start(args, data_dir, &master, &agentsdk, name, nodes, index).await?;
        clusters.push(cluster);
    }
    let mut agents = Vec::new();
    for cluster in &mut clusters {
        cluster.server.drive(1.0);
        agents.push(tokio::spawn(Arc::clone(&cluster.agent).run(shutdown.clone())));
    }
    print_ready(&master, &login, &clusters, data_dir, started.elapsed())?;

    crate::logging::stop_signal().await;
    tracing::info!("stopping the demo");
    shutdown.cancel();
    for agent in agents {
        if let Ok(Err(e)) = agent.await {
            tracing::warn!(error = %e, "agent stopped with an error");
        }
    }
    for cluster in clusters {
        cluster.server.shutdown().await;
    }
    master.stop().await.context("the master did not stop cleanly")?;
    Ok(())
}

/// The admin login: `MASTER_ADMIN_USERNAME` / `MASTER_ADMIN_PASSWORD` when set, else `admin`
/// with a generated password.
struct Login {
    username: String,
    password: String,
    generated: bool,
}

impl Login {
    fn from_env() -> Result<Self> {
        let username = std::env::var("MASTER_ADMIN_USERNAME")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "admin".into());
        Ok(
            match std::env::var("MASTER_ADMIN_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
            {
                Some(password) => Self {
                    username,
                    password,
                    generated: false,
                },
                None => Self {
                    username,
                    password: random_text(16)?,
                    generated: true,
                },
            },
        )
    }
}

fn random_text(chars: usize) -> Result<String> {
    let mut text = new_agent_token().context("cannot generate a secret")?;
    text.truncate(chars);
    Ok(text)
}

async fn start_master(args: &DemoArgs, data_dir: &Path, login: &Login) -> Result<RunningMaster> {
    let mut config = MasterConfig::for_tests(data_dir.join("master"));
    config.admin_username.clone_from(&login.username);
    config.admin_password = Secret::new(login.password.clone());
    config.jwt_secret = Secret::new(new_agent_token().context("cannot generate the JWT secret")?);
    config.bind = args.bind;
    config.gateway_port = args.gateway_port;
    config.agentsdk_port = args.agentsdk_port;
    config.log_level.clone_from(&args.log_level);
    config.token_ttl = Duration::from_secs(12 * 3600);
    atlhyper_master::start(config, system_clock()).await.context(
        "cannot start the master (is port 8080 or 8081 taken? try --gateway-port 0 --agentsdk-port 0)",
    )
}

/// One simulated cluster, its simulator server and its agent.
struct DemoCluster {
    name: String,
    server: SimServer,
    agent: Arc<Agent>,
    kubeconfig: PathBuf,
}

impl DemoCluster {
    async fn start(
        args: &DemoArgs,
        data_dir: &Path,
        master: &RunningMaster,
        agentsdk: &str,
        name: &str,
        nodes: usize,
        index: usize,
    ) -> Result<Self> {
        let dir = data_dir.join("clusters").join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let (token, is_new) = agent_token(master, &dir, name).await?;
        let history = if is_new {
            Duration::from_secs(args.history_minutes * 60)
        } else {
            // Its history is stored already: filling it again would count it twice.
            Duration::ZERO
        };
        let now = now_ms();
        let start_ms = now - i64::try_from(history.as_millis()).unwrap_or(0);
        let mut sim = SimCluster::new(SimConfig {
            name: name.to_owned(),
            seed: args.seed + index as u64,
            nodes,
            start_unix_ms: start_ms,
            ..SimConfig::default()
        })
        .with_context(|| format!("cannot build the simulated cluster {name}"))?;
        schedule_faults(&mut sim, args, index, history)?;
        let sim = Arc::new(Mutex::new(sim));
        let server = SimServer::start(Arc::clone(&sim), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .with_context(|| format!("cannot start the simulator of {name}"))?;
        let kubeconfig = dir.join("kubeconfig");
        server
            .write_kubeconfig(&kubeconfig)
            .with_context(|| format!("cannot write {}", kubeconfig.display()))?;
        let kube = atlhyper_agent::discovery::client(Some(&kubeconfig))
            .await
            .with_context(|| format!("cannot reach the simulated Kubernetes API of {name}"))?;
        let agent = Agent::new(AgentSettings {
            cluster_id: name.to_owned(),
            config: agent_config(name, agentsdk, &dir, args.collect_seconds),
            token: AgentToken::new(token),
            kube: Some(kube),
        })
        .with_context(|| format!("cannot start the agent of {name}"))?;
        fill_history(&agent, &sim, history).await?;
        Ok(Self {
            name: name.to_owned(),
            server,
            agent,
            kubeconfig,
        })
    }
}

/// The cluster's agent token: registered at the master on the first run and kept beside the
/// agent's spool, so a demo restarted on the same `--data-dir` reconnects. Returns whether the
/// cluster is new.
async fn agent_token(master: &RunningMaster, dir: &Path, name: &str) -> Result<(String, bool)> {
    let path = dir.join("agent-token");
    let store = &master.store;
    let existing = store.cluster(name).await.context("cannot read the clusters")?;
    if let (Some(_), Ok(token)) = (&existing, std::fs::read_to_string(&path)) {
        return Ok((token.trim().to_owned(), false));
    }
    if existing.is_some() {
        bail!(
            "cluster {name} is registered in {} but its agent token file {} is missing; use a new --data-dir",
            dir.display(),
            path.display()
        );
    }
    let token = new_agent_token().context("cannot generate an agent token")?;
    store
        .create_cluster(&ClusterRecord {
            id: name.to_owned(),
            name: name.to_owned(),
            token_hash: agent_token_hash(&token),
            created_at: Timestamp(now_ms()),
        })
        .await
        .with_context(|| format!("cannot register cluster {name}"))?;
    std::fs::write(&path, &token).with_context(|| format!("cannot write {}", path.display()))?;
    Ok((token, true))
}

fn agent_config(name: &str, agentsdk: &str, dir: &Path, collect_seconds: u64) -> AgentConfig {
    let mut config = crate::sim::agent_config(name, agentsdk, dir.join("spool"));
    config.slo.collect_interval = ConfigDuration::secs(collect_seconds);
    config.slo.linkerd.scrape_timeout = ConfigDuration::secs(collect_seconds.min(5));
    config.push.max_backoff = ConfigDuration::secs(5);
    config
}

/// A fault every `fault_every_minutes`, each lasting half of that, rotating through the
/// simulator's scenarios (the second cluster starts later in the rotation), from the start of
/// the history for the next day.
fn schedule_faults(sim: &mut SimCluster, args: &DemoArgs, index: usize, history: Duration) -> Result<()> {
    let every = args.fault_every_minutes * 60;
    let faults = rotation();
    let horizon = history.as_secs() + 24 * 3600;
    let mut start = every / 2 + index as u64 * every / 3;
    let mut n = index * 2;
    while start < horizon {
        let fault = faults[n % faults.len()].clone();
        sim.schedule(Scenario {
            fault,
            start_in_secs: start,
            duration_secs: every / 2,
        })
        .context("cannot schedule a demo fault")?;
        start += every;
        n += 1;
    }
    Ok(())
}

fn rotation() -> Vec<Fault> {
    let shop = || "shop".to_owned();
    vec![
        Fault::ErrorSpike {
            namespace: shop(),
            service: "payments".into(),
            error_ratio: 0.3,
        },
        Fault::LatencyRegression {
            namespace: shop(),
            service: "catalog".into(),
            factor: 8.0,
        },
        Fault::CrashLoop {
            namespace: shop(),
            deployment: "cart".into(),
        },
        Fault::NodeMemoryPressure {
            node: "node-2".into(),
        },
        Fault::OomKill {
            namespace: shop(),
            deployment: "reviews".into(),
        },
        Fault::BadRollout {
            namespace: shop(),
            deployment: "inventory".into(),
            error_ratio: 0.35,
        },
    ]
}

/// Runs the agent over the last `history` in accelerated time: the simulator advances one
/// step, the agent runs one cycle stamped at that simulated time, and the delivery loop sends
/// the snapshots to the master as they are spooled.
async fn fill_history(agent: &Arc<Agent>, sim: &Arc<Mutex<SimCluster>>, history: Duration) -> Result<()> {
    if history.is_zero() {
        return Ok(());
    }
    let delivering = CancellationToken::new();
    let delivery = tokio::spawn(Arc::clone(agent).delivery_loop(delivering.clone()));
    let steps = history.as_secs() / HISTORY_STEP.as_secs();
    for _ in 0..=steps {
        let at = {
            let mut sim = sim.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            sim.advance(HISTORY_STEP);
            sim.now_ms()
        };
        agent
            .collect_once(at)
            .await
            .context("cannot spool a history snapshot")?;
    }
    let metrics = agent.metrics();
    let deadline = Instant::now() + Duration::from_secs(120);
    while metrics.spooled() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    delivering.cancel();
    let _ = delivery.await;
    Ok(())
}

fn print_ready(
    master: &RunningMaster,
    login: &Login,
    clusters: &[DemoCluster],
    data_dir: &Path,
    took: Duration,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let gateway = format!("http://{}", master.gateway_addr);
    writeln!(out, "AtlHyper demo ready in {:.1} s", took.as_secs_f64())?;
    writeln!(out, "  dashboard and API  {gateway}")?;
    writeln!(out, "  agent channel      http://{}", master.agentsdk_addr)?;
    let shown = if login.generated {
        login.password.as_str()
    } else {
        "(MASTER_ADMIN_PASSWORD)"
    };
    writeln!(out, "  login              {} / {shown}", login.username)?;
    for cluster in clusters {
        writeln!(
            out,
            "  cluster {:<11} kubectl --kubeconfig {} get pods -A",
            cluster.name,
            cluster.kubeconfig.display()
        )?;
    }
    writeln!(out, "  data               {}", data_dir.display())?;
    writeln!(
        out,
        "  try                curl -s -X POST {gateway}/api/v2/auth/login -d '{{\"username\":\"{}\",\"password\":\"…\"}}' -H 'content-type: application/json'",
        login.username
    )?;
    writeln!(out, "press Ctrl-C to stop")?;
    out.flush()?;
    Ok(())
}
