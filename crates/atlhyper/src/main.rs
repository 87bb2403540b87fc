//! `atlhyper`: one binary, one subcommand per process role (DESIGN.md §2). This crate only
//! parses the command line and wires the library crates together.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod agent;
mod aiops;
mod demo;
mod logging;
mod master;
mod replay;
mod sim;

#[derive(Debug, Parser)]
#[command(
    name = "atlhyper",
    version,
    about = "Kubernetes multi-cluster monitoring: SLOs from Linkerd and Traefik"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The embedded default: a master and two simulated clusters, each with a real agent, in
    /// one process on loopback; an hour of history filled in at start, a fault scenario every
    /// few minutes. Prints the URL and the login.
    Demo(demo::DemoArgs),
    /// The central server: Gateway (web UI and JSON API, MASTER_GATEWAY_PORT, 8080) and
    /// AgentSDK (agents, MASTER_AGENTSDK_PORT, 8081). Configured from the environment:
    /// MASTER_ADMIN_USERNAME, MASTER_ADMIN_PASSWORD and MASTER_JWT_SECRET are required.
    Master,
    /// The per-cluster agent: finds meshed pods, Traefik and node_exporter through the
    /// Kubernetes API (or reads Prometheus), computes SLOs every collect interval and pushes
    /// numbered snapshots to the master, spooling them on disk while it is unreachable. The
    /// token comes from ATLHYPER_AGENT_TOKEN or --token-file.
    Agent(agent::AgentArgs),
    /// One simulated cluster as a standalone server: a Kubernetes API subset (kubectl and the
    /// agent work against it) plus Linkerd, Traefik and node_exporter metrics endpoints, with
    /// fault scenarios.
    Sim(sim::SimArgs),
    /// SLO tools.
    #[command(subcommand)]
    Slo(SloCommand),
    /// AIOps tools.
    #[command(subcommand)]
    Aiops(AiopsCommand),
}

#[derive(Debug, Subcommand)]
enum AiopsCommand {
    /// Runs the simulator's fault scenarios in accelerated simulated time through a real agent
    /// and master, then fault-free hours; prints one JSON object: per scenario the injected
    /// entity, whether an incident opened, its root cause and delay, and the false positives.
    Evaluate(aiops::EvaluateArgs),
}

#[derive(Debug, Subcommand)]
enum SloCommand {
    /// Computes SLOs offline from saved scrapes: DIR holds one `<unix-seconds>.prom` file per
    /// scrape (Prometheus text or federation output); prints one JSON object on stdout.
    Replay {
        /// The agent configuration (YAML); its `slo.linkerd` settings choose what is kept.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The directory of scrape files.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Master => master::run(),
        Command::Sim(args) => sim::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Aiops(AiopsCommand::Evaluate(args)) => aiops::run(args),
        Command::Slo(SloCommand::Replay { config, dir }) => {
            let snapshot = replay::run(&config, &dir)?;
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &snapshot).context("cannot write the result")?;
            writeln!(out).context("cannot write the result")?;
            Ok(())
        }
    }
}
