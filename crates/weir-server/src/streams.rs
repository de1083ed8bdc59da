//! The streams this server runs: the collector behind `POST /ingest/<stream>`
//! and the run loop's [`StreamHook`] (which partitions are closed, which are
//! sealed). Only the leader runs streams: a follower's intake answers 503
//! with the leader's address, and its run loop never seals one.
//!
//! Streams follow the deployment of the first environment the server
//! serves. A stream's log is opened the first time the leader needs it, and
//! stays open (with the definition it was opened with) until the server
//! stops.

use crate::clock::Clock;
use crate::daemon::EnvHandle;
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_core::model::{Job, Project};
use weir_core::partset::PartSet;
use weir_sched::streams::StreamHook;
use weir_stream::{Rules, Stream, StreamError, WalOptions};

/// Events a token may post per second (and in one burst), unless the
/// server was told otherwise (`--ingest-rate`).
pub const DEFAULT_RATE: u32 = 500_000;

/// What a stream's intake needs from its definition.
#[derive(Clone, Debug)]
struct Definition {
    rules: Rules,
    max_body: u64,
    /// NATS: the broker's address and subject.
    nats: Option<(String, String)>,
}

/// Why the collector refused a request.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("`{0}` is not a stream of the served deployment")]
    Unknown(String),
    #[error("this server is not the leader; only the leader takes events")]
    NotLeader,
    #[error(transparent)]
    Stream(#[from] StreamError),
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The streams of the served deployment, opened on the leader.
pub struct Streams {
    dir: PathBuf,
    clock: Clock,
    /// The first served environment: its loop seals the streams.
    env: Option<Arc<EnvHandle>>,
    defs: Mutex<HashMap<String, Definition>>,
    /// Opened logs. An async lock: opening one replays its log (on a
    /// blocking thread), and nobody else may open it meanwhile.
    open: tokio::sync::Mutex<HashMap<String, Arc<Stream>>>,
    /// Whether this server leads (set by the leader lease's keeper).
    active: AtomicBool,
    rate: u32,
    segment_bytes: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Partitions closed at the last look, per stream: the loop is woken
    /// when a stream closes more.
    closed: Mutex<HashMap<String, i64>>,
}

impl Streams {
    pub fn new(dir: PathBuf, clock: Clock, env: Option<Arc<EnvHandle>>, rate: u32, segment_bytes: u64) -> Streams {
        Streams {
            dir,
            clock,
            env,
            defs: Default::default(),
            open: Default::default(),
            active: AtomicBool::new(false),
            rate: rate.max(1),
            segment_bytes: segment_bytes.max(1),
            buckets: Default::default(),
            closed: Default::default(),
        }
    }

    /// The environment whose deployment defines the streams.
    pub fn env(&self) -> Option<&str> {
        self.env.as_ref().map(|h| h.env.as_str())
    }

    /// Takes the streams of a freshly loaded deployment of [`Self::env`].
    pub fn define(&self, project: &Project) {
        let defs: HashMap<String, Definition> = project
            .datasets
            .values()
            .filter_map(|d| match &d.job {
                Job::Stream(s) if s.quarantine_of.is_none() => Some((
                    d.name.clone(),
                    Definition {
                        rules: Rules::of(s, d.granularity),
                        max_body: s.max_body,
                        nats: match &s.source {
                            weir_core::model::StreamSource::Nats { url, subject } => {
                                Some((url.clone(), subject.clone()))
                            }
                            weir_core::model::StreamSource::Http => None,
                        },
                    },
                )),
                _ => None,
            })
            .collect();
        if let Ok(open) = self.open.try_lock() {
            for (name, s) in open.iter() {
                if defs.get(name).is_some_and(|d| d.rules != *s.rules()) {
                    tracing::warn!(stream = %name, "the stream's definition changed; its log keeps the one it was opened with until the server restarts");
                }
            }
        }
        if let Ok(mut d) = self.defs.lock() {
            *d = defs;
        }
    }

    /// Leadership changed.
    pub fn set_active(&self, leads: bool) {
        self.active.store(leads, Ordering::SeqCst);
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// The largest body stream `name` takes; refuses a stream fed by a
    /// broker (it takes no posts).
    pub fn max_body(&self, name: &str) -> Result<u64, IntakeError> {
        self.defs
            .lock()
            .ok()
            .and_then(|d| d.get(name).filter(|d| d.nats.is_none()).map(|d| d.max_body))
            .ok_or_else(|| IntakeError::Unknown(name.to_string()))
    }

    /// The NATS streams: name, broker address and subject.
    fn nats_sources(&self) -> Vec<(String, String, String)> {
        self.defs
            .lock()
            .map(|d| {
                d.iter()
                    .filter_map(|(n, d)| d.nats.clone().map(|(u, s)| (n.clone(), u, s)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stream `name`, opened if this server leads.
    pub async fn get(&self, name: &str) -> Result<Arc<Stream>, IntakeError> {
        let def = self
            .defs
            .lock()
            .ok()
            .and_then(|d| d.get(name).cloned())
            .ok_or_else(|| IntakeError::Unknown(name.to_string()))?;
        if !self.is_active() {
            return Err(IntakeError::NotLeader);
        }
        let mut open = self.open.lock().await;
        if let Some(s) = open.get(name) {
            return Ok(s.clone());
        }
        let dir = weir_stream::log_dir(&self.dir, name);
        let opts = WalOptions {
            segment_bytes: self.segment_bytes,
        };
        let (n, d) = (name.to_string(), dir.clone());
        let s = tokio::task::spawn_blocking(move || Stream::open(&n, &d, def.rules, opts))
            .await
            .map_err(|e| {
                IntakeError::Stream(StreamError::Wal(weir_stream::WalError::Io {
                    path: dir.clone(),
                    source: std::io::Error::other(e.to_string()),
                }))
            })??;
        let s = Arc::new(s);
        tracing::info!(stream = %name, dir = %dir.display(), closed_before = s.closed_before(), "opened the stream's log");
        open.insert(name.to_string(), s.clone());
        Ok(s)
    }

    /// Takes `n` events from the token's allowance; the wait until they
    /// would fit when it has not enough.
    pub fn admit(&self, token: &str, n: usize) -> Result<(), Duration> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let rate = f64::from(self.rate);
        let now = Instant::now();
        let b = buckets
            .entry(token.to_string())
            .or_insert(Bucket { tokens: rate, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        let n = n as f64;
        if n <= b.tokens {
            b.tokens -= n;
            return Ok(());
        }
        Err(Duration::from_secs_f64(((n - b.tokens) / rate).clamp(0.001, 60.0)))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Closes what each open stream's watermark has passed; wakes the
    /// sealing loop when that is more than before. Run every second.
    pub async fn tick(&self) {
        if !self.is_active() {
            return;
        }
        let names: Vec<String> = self
            .defs
            .lock()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        let mut more = false;
        for name in names {
            let Some(before) = self.closed_before(&name).await else {
                continue;
            };
            if let Ok(mut c) = self.closed.lock() {
                let last = c.insert(name, before);
                more |= last.is_none_or(|l| l < before);
            }
        }
        if more && let Some(h) = &self.env {
            h.refresh();
        }
    }

    /// Each open stream's figures, for `/metrics`.
    pub async fn stats(&self) -> Vec<(String, weir_stream::StreamStats)> {
        let open: Vec<(String, Arc<Stream>)> = self
            .open
            .lock()
            .await
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = Vec::new();
        for (name, s) in open {
            out.push((name, s.stats().await));
        }
        out
    }
}

#[async_trait]
impl StreamHook for Streams {
    async fn closed_before(&self, stream: &str) -> Option<i64> {
        let s = match self.get(stream).await {
            Ok(s) => s,
            Err(IntakeError::NotLeader | IntakeError::Unknown(_)) => return None,
            Err(e) => {
                tracing::error!(stream, "cannot open the stream's log: {e}");
                return None;
            }
        };
        match s.close(self.now_ms()).await {
            Ok(before) => Some(before),
            Err(e) => {
                tracing::warn!(stream, "cannot close the stream's partitions: {e}");
                Some(s.closed_before())
            }
        }
    }

    async fn sealed(&self, stream: &str, sealed: &PartSet) {
        let s = self.open.lock().await.get(stream).cloned();
        let Some(s) = s else { return };
        match s.committed(|p| sealed.contains(p), self.now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(stream, segments = n, "released sealed log segments"),
            Err(e) => tracing::warn!(stream, "cannot release the stream's sealed log segments: {e}"),
        }
    }
}

/// Every second: close what the streams' watermarks have passed, and keep
/// a consumer running for each NATS stream while this server leads.
pub async fn keep(shared: Arc<crate::Shared>) {
    let mut consumers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        shared.streams.tick().await;
        if shared.streams.is_active() {
            for (name, url, subject) in shared.streams.nats_sources() {
                if consumers.get(&name).is_some_and(|h| !h.is_finished()) {
                    continue;
                }
                let shared = shared.clone();
                let stream = name.clone();
                consumers.insert(
                    name,
                    tokio::spawn(async move {
                        if let Err(e) = crate::nats::consume(shared, stream.clone(), url, subject).await {
                            tracing::warn!(stream = %stream, "the NATS consumer stopped: {e}; starting it again");
                        }
                    }),
                );
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
