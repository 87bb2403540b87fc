//! `atlhyper sim`: one simulated cluster as a standalone server — a Kubernetes API subset on
//! 127.0.0.1 plus Linkerd, Traefik and node_exporter metrics listeners, with fault scenarios.
//! A real agent (or kubectl) can be pointed at it through the kubeconfig it writes.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use atlhyper_sim::{Scenario, SimCluster, SimConfig, SimServer};

#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// Port of the Kubernetes API (and the simulator's /sim routes) on 127.0.0.1; 0 picks a
    /// free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seed of everything random: names, traffic, failures.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The cluster's name (kubeconfig cluster and context).
    #[arg(long, default_value = "sim")]
    pub name: String,
    /// Number of nodes (1 to 9).
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Write a kubeconfig for the simulated API server to this file.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Time acceleration: simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Hours of traffic history to simulate before serving; the clock then reaches now.
    #[arg(long, default_value_t = 0.0, value_name = "HOURS")]
    pub history_hours: f64,
    /// A fault to schedule, `KIND:ENTITY[@START+DURATION]` in seconds from the start, e.g.
    /// `error_spike:shop/service/payments@60+300` (or the scenario's JSON). Repeatable.
    #[arg(long = "scenario", value_name = "SPEC")]
    pub scenarios: Vec<String>,
}

/// Runs the simulator until Ctrl-C.
pub fn run(args: SimArgs) -> Result<()> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!("--speed must be a positive number, not {}", args.speed);
    }
    if !(0.0..=24.0 * 31.0).contains(&args.history_hours) {
        bail!(
            "--history-hours must be within 0 to 744, not {}",
            args.history_hours
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: SimArgs) -> Result<()> {
    let history = Duration::from_secs_f64(args.history_hours * 3600.0);
    let cfg = SimConfig {
        name: args.name.clone(),
        seed: args.seed,
        nodes: args.nodes,
        ..SimConfig::default()
    }
    .ending_now(history);
    let mut sim = SimCluster::new(cfg).context("cannot build the simulated cluster")?;
    for spec in &args.scenarios {
        let scenario = Scenario::parse_spec(spec)?;
        sim.schedule(scenario)
            .with_context(|| format!("cannot schedule scenario {spec:?}"))?;
    }
    sim.fill_history(history);
    let sim = Arc::new(Mutex::new(sim));
    let bind = SocketAddr::from(([127, 0, 0, 1], args.port));
    let mut server = SimServer::start(sim, bind)
        .await
        .context("cannot start the simulator's server")?;
    server.drive(args.speed);
    if let Some(path) = &args.kubeconfig_out {
        server.write_kubeconfig(path)?;
    }
    print_urls(&server, &args)?;
    tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
    server.shutdown().await;
    Ok(())
}

fn print_urls(server: &SimServer, args: &SimArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let url = server.kube_url();
    writeln!(
        out,
        "simulated cluster {:?} (seed {}, speed {}x)",
        args.name, args.seed, args.speed
    )?;
    writeln!(out, "  kubernetes api  {url}")?;
    if let Some(path) = &args.kubeconfig_out {
        writeln!(
            out,
            "  kubeconfig      {}   (kubectl --kubeconfig {} get pods -A)",
            path.display(),
            path.display()
        )?;
    }
    writeln!(out, "  ground truth    {url}/sim/truth")?;
    writeln!(
        out,
        "  scenarios       {url}/sim/scenarios   (POST a scenario to schedule one)"
    )?;
    writeln!(out, "  metrics endpoints:")?;
    for (ns, pod, kind, metrics) in server.metrics_urls() {
        writeln!(out, "    {:<13} {ns}/{pod}  {metrics}", format!("{kind:?}"))?;
    }
    writeln!(out, "press Ctrl-C to stop")?;
    out.flush()?;
    Ok(())
}

/// An agent configuration for a simulated cluster: its Traefik in `ingress` (also the Linkerd
/// ingress layer) and node_exporter in `monitoring`, ports from the pods' named ports; nothing
/// served on the agent's own port. `demo` and `aiops evaluate` start from it.
pub fn agent_config(
    cluster_id: &str,
    master_url: &str,
    spool_dir: std::path::PathBuf,
) -> atlhyper_agent::AgentConfig {
    let mut config = atlhyper_agent::AgentConfig {
        cluster_id: cluster_id.to_owned(),
        master_url: master_url.to_owned(),
        listen: String::new(),
        ..atlhyper_agent::AgentConfig::default()
    };
    config.slo.linkerd.traefik_namespace = atlhyper_sim::INGRESS_NAMESPACE.to_owned();
    config.slo.traefik.enabled = true;
    config.slo.traefik.namespace = atlhyper_sim::INGRESS_NAMESPACE.to_owned();
    config.slo.node_exporter.enabled = true;
    config.slo.node_exporter.namespace = atlhyper_sim::MONITORING_NAMESPACE.to_owned();
    config.spool.dir = spool_dir;
    config
}
