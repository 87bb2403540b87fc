//! Starting and stopping the master: the store, the services, the bootstrap admin, the AIOps
//! engines restored, the retention job and the two listeners with their adapters (the JSON
//! API and the dashboard on the Gateway, the agent channel on the AgentSDK), with graceful
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{Role, hash_password, verify_password};
use crate::config::MasterConfig;
use crate::http::{AGENTSDK_TIMEOUT, GATEWAY_TIMEOUT, with_middleware};
use crate::service::{App, Clock, Services};
use crate::store::{SqliteStore, Store, StoreError, UserRecord};
use crate::{agentsdk, gateway, web};

/// How often old SLO minutes are rolled up and expired.
const RETENTION_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot open the store at {path}: {source}")]
    Store { path: String, source: StoreError },
    #[error("cannot prepare the bootstrap admin {username:?}: {message}")]
    Admin { username: String, message: String },
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        addr: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{what} server failed: {source}")]
    Serve {
        what: &'static str,
        source: std::io::Error,
    },
}

/// A running master.
pub struct RunningMaster {
    pub gateway_addr: SocketAddr,
    pub agentsdk_addr: SocketAddr,
    /// The services, as the adapters hold them.
    pub app: App,
    /// The store, for wiring code (the demo registers its clusters with it); adapters never
    /// see it.
    pub store: Arc<dyn Store>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<Result<(), MasterError>>>,
}

impl RunningMaster {
    /// Asks both listeners to stop accepting and waits until in-flight requests finish.
    pub async fn stop(self) -> Result<(), MasterError> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the master stops (after `shutdown` is cancelled) or a listener fails.
    pub async fn wait(self) -> Result<(), MasterError> {
        let mut outcome = Ok(());
        for task in self.tasks {
            match task.await {
                Ok(Err(e)) if outcome.is_ok() => outcome = Err(e),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "master task panicked"),
            }
        }
        // The engines drain their queues and save their state.
        self.app.aiops.stop().await;
        outcome
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Opens the store under `config.data_dir` and starts the master.
pub async fn start(config: MasterConfig, clock: Clock) -> Result<RunningMaster, MasterError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| MasterError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let path = config.data_dir.join("atlhyper.db");
    let store = SqliteStore::open(&path)
        .await
        .map_err(|source| MasterError::Store {
            path: path.display().to_string(),
            source,
        })?;
    start_with_store(config, Arc::new(store), clock).await
}

/// Starts the master on a given store.
pub async fn start_with_store(
    config: MasterConfig,
    store: Arc<dyn Store>,
    clock: Clock,
) -> Result<RunningMaster, MasterError> {
    ensure_admin(&config, store.as_ref(), &clock).await?;
    let app: App = Arc::new(Services::new(config.clone(), Arc::clone(&store), clock));
    match app.aiops.restore().await {
        Ok(restored) => tracing::info!(?restored, "aiops engines restored"),
        // A store that cannot be read must not keep the master down: the engines start afresh.
        Err(e) => tracing::error!(error = %e, "the aiops engines start afresh"),
    }
    let shutdown = CancellationToken::new();

    let gateway_addr = SocketAddr::new(config.bind, config.gateway_port);
    let agentsdk_addr = SocketAddr::new(config.bind, config.agentsdk_port);
    let gateway_listener = bind(gateway_addr, "gateway").await?;
    let agentsdk_listener = bind(agentsdk_addr, "agentsdk").await?;
    let gateway_addr = gateway_listener
        .local_addr()
        .map_err(|source| MasterError::Bind {
            addr: gateway_addr,
            what: "gateway",
            source,
        })?;
    let agentsdk_addr = agentsdk_listener
        .local_addr()
        .map_err(|source| MasterError::Bind {
            addr: agentsdk_addr,
            what: "agentsdk",
            source,
        })?;

    let tasks = vec![
        serve(
            gateway_listener,
            with_middleware(gateway::routes().merge(web::routes()), GATEWAY_TIMEOUT).with_state(app.clone()),
            "gateway",
            shutdown.clone(),
        ),
        serve(
            agentsdk_listener,
            with_middleware(agentsdk::routes(config.snapshot_max_bytes), AGENTSDK_TIMEOUT)
                .with_state(app.clone()),
            "agentsdk",
            shutdown.clone(),
        ),
        tokio::spawn(retention(
            app.clone(),
            Arc::clone(&store),
            config.clone(),
            shutdown.clone(),
        )),
    ];
    tracing::info!(%gateway_addr, %agentsdk_addr, "master listening");
    Ok(RunningMaster {
        gateway_addr,
        agentsdk_addr,
        app,
        store,
        shutdown,
        tasks,
    })
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, MasterError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| MasterError::Bind { addr, what, source })
}

fn serve(
    listener: TcpListener,
    router: axum::Router,
    what: &'static str,
    shutdown: CancellationToken,
) -> JoinHandle<Result<(), MasterError>> {
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(|source| MasterError::Serve { what, source })
    })
}

/// The environment's admin exists, is an admin, and has the environment's password.
async fn ensure_admin(config: &MasterConfig, store: &dyn Store, clock: &Clock) -> Result<(), MasterError> {
    let fail = |message: String| MasterError::Admin {
        username: config.admin_username.clone(),
        message,
    };
    let password = config.admin_password.expose().to_owned();
    let existing = store
        .user(&config.admin_username)
        .await
        .map_err(|e| fail(e.to_string()))?;
    if let Some(user) = &existing {
        let stored = user.password_hash.clone();
        let check = password.clone();
        let same = tokio::task::spawn_blocking(move || verify_password(&check, &stored))
            .await
            .unwrap_or(false);
        if same && user.role == Role::Admin.as_str() {
            return Ok(());
        }
    }
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(e.to_string()))?;
    match existing {
        Some(_) => {
            store
                .set_user_password(&config.admin_username, &hash)
                .await
                .map_err(|e| fail(e.to_string()))?;
            store
                .set_user_role(&config.admin_username, Role::Admin.as_str())
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        None => {
            let user = UserRecord {
                username: config.admin_username.clone(),
                password_hash: hash,
                role: Role::Admin.as_str().to_owned(),
                created_at: clock(),
            };
            store.create_user(&user).await.map_err(|e| fail(e.to_string()))?;
        }
    }
    Ok(())
}

/// Rolls up and expires SLO counters, and deletes incidents resolved longer ago than the
/// hourly retention, every ten minutes until shutdown.
async fn retention(
    app: App,
    store: Arc<dyn Store>,
    config: MasterConfig,
    shutdown: CancellationToken,
) -> Result<(), MasterError> {
    let raw_ms = i64::try_from(config.raw_retention.as_millis()).unwrap_or(i64::MAX);
    let hourly_ms = i64::try_from(config.hourly_retention.as_millis()).unwrap_or(i64::MAX);
    loop {
        let cutoff = atlhyper_model::Timestamp(app.now().0.saturating_sub(hourly_ms));
        if let Err(e) = app.aiops.prune(cutoff).await {
            tracing::warn!(error = %e, "pruning old incidents failed");
        }
        match store.apply_retention(app.now(), raw_ms, hourly_ms).await {
            Ok(stats) => tracing::debug!(?stats, "retention pass"),
            Err(e) => tracing::warn!(error = %e, "retention pass failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(RETENTION_EVERY) => {}
        }
    }
}
