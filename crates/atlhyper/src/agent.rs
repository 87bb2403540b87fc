//! `atlhyper agent`: flags and environment over the YAML file, the token, the Kubernetes
//! client, and a clean stop on Ctrl-C or SIGTERM.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use atlhyper_agent::push::AgentToken;
use atlhyper_agent::{Agent, AgentConfig, AgentSettings};
use tokio_util::sync::CancellationToken;

/// Settings win in this order: flag, then environment, then the file, then the default.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The cluster's id at the master (overrides `cluster_id` in the file).
    #[arg(long, env = "ATLHYPER_CLUSTER_ID", value_name = "ID")]
    cluster_id: Option<String>,
    /// The master's AgentSDK URL, e.g. http://master:8081 (overrides `master_url`).
    #[arg(long, env = "ATLHYPER_MASTER_URL", value_name = "URL")]
    master: Option<String>,
    /// The agent configuration (YAML, see docs/agent-config.md); without it every key has its
    /// default.
    #[arg(long, env = "ATLHYPER_AGENT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// A file holding the cluster's agent token (else ATLHYPER_AGENT_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// A kubeconfig file (else in-cluster configuration, KUBECONFIG or ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Where to serve /healthz and /metrics (overrides `listen`).
    #[arg(long, env = "ATLHYPER_AGENT_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// The spool directory (overrides `spool.dir`).
    #[arg(long, env = "ATLHYPER_AGENT_SPOOL_DIR", value_name = "DIR")]
    spool_dir: Option<PathBuf>,
    /// Log level or filter (`RUST_LOG` wins when set).
    #[arg(long, env = "ATLHYPER_LOG_LEVEL", default_value = "info")]
    log_level: String,
}

pub fn run(args: AgentArgs) -> Result<()> {
    crate::logging::init(&args.log_level);
    let config = resolve_config(&args)?;
    let token = read_token(
        args.token_file.as_deref(),
        std::env::var("ATLHYPER_AGENT_TOKEN").ok(),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let kube = if atlhyper_agent::collect::Collector::needs_kubernetes(&config) {
            Some(
                atlhyper_agent::discovery::client(args.kubeconfig.as_deref())
                    .await
                    .context("cannot reach the Kubernetes API")?,
            )
        } else {
            None
        };
        let agent = Agent::new(AgentSettings {
            cluster_id: config.cluster_id.clone(),
            config: config.clone(),
            token,
            kube,
        })
        .context("cannot start the agent")?;
        tracing::info!(cluster = %config.cluster_id, master = %config.master_url, "atlhyper agent started");
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            crate::logging::stop_signal().await;
            tracing::info!("stopping; spooled snapshots stay on disk for the next start");
            stop.cancel();
        });
        agent.run(shutdown).await.context("agent failed")?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn resolve_config(args: &AgentArgs) -> Result<AgentConfig> {
    let mut config = match &args.config {
        Some(path) => AgentConfig::from_file(path)?,
        None => AgentConfig::default(),
    };
    if let Some(id) = &args.cluster_id {
        config.cluster_id.clone_from(id);
    }
    if let Some(master) = &args.master {
        config.master_url.clone_from(master);
    }
    if let Some(listen) = &args.listen {
        config.listen.clone_from(listen);
    }
    if let Some(dir) = &args.spool_dir {
        config.spool.dir.clone_from(dir);
    }
    if config.cluster_id.is_empty() {
        bail!("no cluster id: pass --cluster-id, set ATLHYPER_CLUSTER_ID, or set cluster_id in the config");
    }
    if !(config.master_url.starts_with("http://") || config.master_url.starts_with("https://")) {
        bail!(
            "--master {:?}: must be an http:// or https:// URL",
            config.master_url
        );
    }
    Ok(config)
}

fn read_token(file: Option<&std::path::Path>, from_env: Option<String>) -> Result<AgentToken> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?,
        None => from_env.unwrap_or_default(),
    };
    let token = token.trim();
    if token.is_empty() {
        bail!(
            "no agent token: set ATLHYPER_AGENT_TOKEN or pass --token-file (the token comes from POST /api/v2/clusters)"
        );
    }
    Ok(AgentToken::new(token))
}
