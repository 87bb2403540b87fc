//! `atlhyper master`: the environment's configuration, logging, and a clean stop on Ctrl-C or
//! SIGTERM.

use anyhow::{Context, Result};
use atlhyper_master::MasterConfig;
use atlhyper_master::system_clock;

pub fn run() -> Result<()> {
    let config =
        MasterConfig::from_lookup(|name| std::env::var(name).ok()).context("cannot start the master")?;
    crate::logging::init(&config.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let master = atlhyper_master::start(config, system_clock()).await?;
        tracing::info!(gateway = %master.gateway_addr, agentsdk = %master.agentsdk_addr, "atlhyper master started");
        let shutdown = master.shutdown_token();
        tokio::spawn(async move {
            crate::logging::stop_signal().await;
            tracing::info!("stopping: finishing in-flight requests");
            shutdown.cancel();
        });
        master.wait().await?;
        tracing::info!("stopped");
        Ok(())
    })
}
