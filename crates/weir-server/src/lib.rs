//! `weir serve`: the always-on platform. One scheduler loop per served
//! environment (`daemon`), woken by due timers, landing-file events
//! (`watch`) and the catalog's change feed (`feed`); the REST API (`api`)
//! with tokens and roles; `/metrics`.
//!
//! The server is a face like the CLI: every rule it applies lives in
//! weir-ops, weir-sched or below. It holds no state the catalog does not.

pub mod api;
pub mod clock;
pub mod daemon;
pub mod dash;
mod feed;
pub mod lead;
pub mod metrics;
mod nats;
pub mod select;
pub mod streams;
pub mod tls;
pub mod watch;

pub use clock::Clock;
use daemon::{EnvHandle, Stop};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use weir_catalog::Catalog;

/// What `weir serve` was asked for.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub dir: PathBuf,
    pub envs: Vec<String>,
    pub bind: SocketAddr,
    pub parallel: usize,
    /// How long running jobs may finish after SIGTERM before they are killed.
    pub grace: Duration,
    pub public_read: bool,
    pub clock: Clock,
    pub lease: Duration,
    /// The safety-net rescan for missed landing-file events.
    pub rescan: Duration,
    /// HTTPS (`--tls-cert/--tls-key`), see [`tls::config`].
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How long a run alert may stay owed before the leader sends it in its
    /// sender's place (`WEIR_ALERT_GRACE_SECS`, 60 s by default).
    pub alert_grace: Duration,
    /// The URL other servers on the catalog reach this one at (`--advertise`;
    /// default: the bound address, or the host name for 0.0.0.0).
    pub advertise: Option<String>,
    /// Events per second (and per burst) each token may post to streams.
    pub ingest_rate: u32,
    /// Where streams' log segments roll (`WEIR_STREAM_SEGMENT_BYTES`; 64 MiB).
    pub segment_bytes: u64,
}

/// What every part of the server shares.
pub struct Shared {
    pub dir: PathBuf,
    pub catalog: Arc<dyn Catalog>,
    pub clock: Clock,
    pub parallel: usize,
    pub lease: Duration,
    pub rescan: Duration,
    pub alert_grace: Duration,
    pub public_read: bool,
    /// Served over HTTPS: session cookies are `Secure`.
    pub https: bool,
    /// The environments this server schedules.
    pub envs: BTreeMap<String, Arc<EnvHandle>>,
    pub tokens: weir_ops::tokens::TokenCache,
    /// Runs asked to be cancelled (through the change feed).
    pub cancels: tokio::sync::watch::Sender<HashSet<String>>,
    /// The newest change seen in the feed.
    pub events: tokio::sync::watch::Sender<i64>,
    pub metrics: metrics::Metrics,
    /// The output of the runs in progress here, for followers.
    pub logs: weir_sched::livelog::LiveLogs,
    /// This server's name in the catalog's leases.
    pub holder: String,
    /// Where other servers reach this one (in its claims' owners).
    pub address: String,
    /// For talking to the other servers on the catalog.
    pub http: reqwest::Client,
    /// Whether this server holds the leader lease (SLA checks and alerts).
    pub leader: std::sync::atomic::AtomicBool,
    /// `[pools]` slots, counted across the environments' loops.
    pub pools: weir_sched::pools::PoolSlots,
    /// The streams of the first served environment (run by the leader).
    pub streams: Arc<streams::Streams>,
    /// Selectors resolved for selections, until something changes them.
    pub selectors: weir_ops::selectors::SelectorCache,
    /// The queue of assignments into the selectors' streams, and its counts.
    pub assignments: select::AssignLog,
    /// Opened environments by name (definitions parsed, lakes opened), until
    /// the change feed or a deploy through the API says they changed.
    workspaces:
        tokio::sync::Mutex<std::collections::HashMap<String, (Arc<weir_sched::Workspace>, weir_catalog::Deployment)>>,
}

impl Shared {
    /// Environment `env`'s workspace and latest deployment, opened once per deployment.
    pub async fn env(
        &self,
        env: &str,
    ) -> Result<(Arc<weir_sched::Workspace>, weir_catalog::Deployment), weir_ops::OpsError> {
        let mut cache = self.workspaces.lock().await;
        if let Some((ws, d)) = cache.get(env) {
            return Ok((ws.clone(), d.clone()));
        }
        let (ws, d) = weir_ops::open_env(&self.dir, self.catalog.clone(), env).await?;
        cache.insert(env.to_string(), (ws.clone(), d.clone()));
        Ok((ws, d))
    }

    /// Forgets opened environments (a deployment changed), and the
    /// selectors resolved from them.
    pub async fn forget_envs(&self) {
        self.workspaces.lock().await.clear();
        self.selectors.invalidate();
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Ops(#[from] weir_ops::OpsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
}

/// How the process is told to stop or reload (signals, in the binary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: drain, then exit.
    Stop,
    /// SIGHUP: reload the deployments.
    Reload,
}

/// Checks that every environment has a deployment; the first error names it.
pub async fn check_envs(catalog: &dyn Catalog, envs: &[String]) -> Result<(), weir_ops::OpsError> {
    for env in envs {
        if catalog.deployments(Some(env)).await?.is_empty() {
            return Err(weir_ops::UserError::new(
                format!("environment `{env}` has no deployment"),
                format!("`weir deploy --env {env}` first; serve runs what an environment deployed"),
            )
            .into());
        }
    }
    Ok(())
}

/// A bound, not yet running server (so callers can learn the address).
pub struct Server {
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    grace: Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Server {
    /// Checks the environments and binds the address.
    pub async fn bind(catalog: Arc<dyn Catalog>, opts: ServeOptions) -> Result<Server, ServeError> {
        check_envs(catalog.as_ref(), &opts.envs).await?;
        let listener = tokio::net::TcpListener::bind(opts.bind)
            .await
            .map_err(|source| ServeError::Bind {
                addr: opts.bind,
                source,
            })?;
        let envs: BTreeMap<String, Arc<EnvHandle>> = opts.envs.iter().map(|e| (e.clone(), EnvHandle::new(e))).collect();
        let stream_env = opts.envs.first().and_then(|e| envs.get(e)).cloned();
        let address = match &opts.advertise {
            Some(a) => a.trim_end_matches('/').to_string(),
            None => {
                let scheme = if opts.tls.is_some() { "https" } else { "http" };
                let bound = listener.local_addr().map_err(|source| ServeError::Bind {
                    addr: opts.bind,
                    source,
                })?;
                if bound.ip().is_unspecified() {
                    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .map(|h| h.trim().to_string())
                        .unwrap_or_else(|_| "localhost".into());
                    format!("{scheme}://{host}:{}", bound.port())
                } else {
                    format!("{scheme}://{bound}")
                }
            }
        };
        let streams = Arc::new(streams::Streams::new(
            opts.dir.clone(),
            opts.clock,
            stream_env,
            opts.ingest_rate,
            opts.segment_bytes,
        ));
        let shared = Arc::new(Shared {
            dir: opts.dir,
            catalog,
            clock: opts.clock,
            parallel: opts.parallel.max(1),
            lease: opts.lease,
            rescan: opts.rescan,
            alert_grace: opts.alert_grace,
            public_read: opts.public_read,
            https: opts.tls.is_some(),
            envs,
            tokens: Default::default(),
            cancels: tokio::sync::watch::channel(HashSet::new()).0,
            events: tokio::sync::watch::channel(0).0,
            metrics: Default::default(),
            logs: Default::default(),
            pools: Default::default(),
            // Followers tell stream producers where the leader is.
            holder: format!("{}@{address}", lead::holder_id()),
            address,
            streams,
            selectors: Default::default(),
            assignments: select::AssignLog::new(select::QUEUE),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| ServeError::Http(std::io::Error::other(e.to_string())))?,
            leader: Default::default(),
            workspaces: Default::default(),
        });
        Ok(Server {
            listener,
            shared,
            grace: opts.grace,
            tls: opts.tls,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Serves until a [`Signal::Stop`] arrives: then no new tasks start,
    /// running ones get the grace period, what still runs is killed (and
    /// recorded as cancelled, nothing half-made committed), and it returns.
    pub async fn run(self, mut signals: tokio::sync::mpsc::Receiver<Signal>) -> Result<(), ServeError> {
        let shared = self.shared;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(Stop::Running);
        let feed = tokio::spawn(feed::watch_changes(shared.clone()));
        let pruner = tokio::spawn(prune_history(shared.clone()));
        let leading = tokio::spawn(lead::keep(shared.clone()));
        let closing = tokio::spawn(streams::keep(shared.clone()));
        let assigning = tokio::spawn(select::AssignLog::write(shared.clone()));
        let mut loops = tokio::task::JoinSet::new();
        for h in shared.envs.values() {
            loops.spawn(daemon::run_env(shared.clone(), h.clone(), stop_rx.clone()));
        }
        let (http_stop_tx, http_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app = api::router(shared.clone()).merge(dash::router());
        let stopped = async {
            let _ = http_stop_rx.await;
        };
        let http = match self.tls {
            Some(config) => {
                let listener = tls::TlsListener::new(self.listener, config).map_err(ServeError::Http)?;
                tokio::spawn(axum::serve(listener, app).with_graceful_shutdown(stopped).into_future())
            }
            None => tokio::spawn(
                axum::serve(self.listener, app)
                    .with_graceful_shutdown(stopped)
                    .into_future(),
            ),
        };
        while let Some(Signal::Reload) = signals.recv().await {
            tracing::info!("reloading the deployments");
            for h in shared.envs.values() {
                h.reload();
            }
        }
        tracing::info!(grace_s = self.grace.as_secs_f64(), "draining: no new tasks");
        let _ = stop_tx.send(Stop::Drain);
        let drained = tokio::time::timeout(self.grace, async { while loops.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!("the grace period is over: killing running jobs");
            let _ = stop_tx.send(Stop::Kill);
            while loops.join_next().await.is_some() {}
        }
        feed.abort();
        pruner.abort();
        leading.abort();
        closing.abort();
        assigning.abort();
        lead::resign(&shared).await;
        let _ = http_stop_tx.send(());
        match http.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServeError::Http(e)),
            Err(e) => Err(ServeError::Http(std::io::Error::other(e.to_string()))),
        }
    }
}

/// Once at start and then daily: prunes runs past `[retention] runs` (the
/// latest run of every instance stays) and the change feed past its week.
/// The setting is read from the first served environment's deployment.
/// Versions are `weir gc`'s job.
async fn prune_history(shared: Arc<Shared>) {
    let Some(env) = shared.envs.keys().next().cloned() else {
        return;
    };
    loop {
        match weir_ops::open_env(&shared.dir, shared.catalog.clone(), &env).await {
            Ok((ws, _)) => match weir_ops::retention::prune_history(&ws, chrono::Utc::now()).await {
                Ok((runs, changes)) if runs + changes > 0 => {
                    tracing::info!(runs, changes, "pruned runs past [retention] runs and the change feed")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot prune history: {e}"),
            },
            Err(e) => tracing::warn!("cannot prune history: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    }
}
