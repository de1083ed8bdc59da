//! The assignment log: every selection the server answers becomes an event
//! in the selector's stream (`<selector>_assignments` unless declared
//! otherwise), so that analysis is a pipeline like any other.
//!
//! Logging never holds a selection up: the handler puts the event in a
//! bounded queue without waiting, and one writer task takes everything
//! queued and appends it to the stream's log in one group commit. When the
//! queue is full (the log cannot keep up), the event is not queued and is
//! counted as dropped (`weir_assignments_dropped_total{reason="overload"}`),
//! as are events the stream refuses. Nothing is lost silently.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use weir_ops::selectors::Selection;

/// How many assignments may wait for the writer.
pub const QUEUE: usize = 65_536;

/// One assignment waiting to be logged.
#[derive(Debug)]
pub struct Assignment {
    pub stream: String,
    pub selector: String,
    /// The event, as JSON.
    pub event: String,
}

/// What the log did, per selector (for `/metrics`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Selections answered, per variant.
    pub selected: BTreeMap<String, u64>,
    /// Events durable in the stream's log.
    pub logged: u64,
    /// Events dropped, per reason: `overload` (the queue was full),
    /// `not_leader` (only the leader runs streams), `no_stream`, `refused`
    /// (the log failed).
    pub dropped: BTreeMap<&'static str, u64>,
}

/// The queue, the writer's side and the counts.
pub struct AssignLog {
    tx: mpsc::Sender<Assignment>,
    rx: Mutex<Option<mpsc::Receiver<Assignment>>>,
    counts: Mutex<HashMap<String, Counts>>,
    /// Makes event ids unique across restarts: `<boot>-<n>`.
    boot: String,
    next: AtomicU64,
}

impl AssignLog {
    pub fn new(capacity: usize) -> AssignLog {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        AssignLog {
            tx,
            rx: Mutex::new(Some(rx)),
            counts: Mutex::new(HashMap::new()),
            boot: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            next: AtomicU64::new(0),
        }
    }

    fn count(&self, selector: &str, f: impl FnOnce(&mut Counts)) {
        if let Ok(mut c) = self.counts.lock() {
            match c.get_mut(selector) {
                Some(x) => f(x),
                None => f(c.entry(selector.to_string()).or_default()),
            }
        }
    }

    /// Counts a selection and queues its event for `stream` (if the
    /// selector logs), without waiting.
    pub fn record(&self, sel: &Selection, stream: Option<&str>, at: chrono::DateTime<chrono::Utc>) {
        self.count(&sel.selector, |c| match c.selected.get_mut(&sel.variant) {
            Some(n) => *n += 1,
            None => {
                c.selected.insert(sel.variant.clone(), 1);
            }
        });
        let Some(stream) = stream else { return };
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let event = serde_json::json!({
            "id": format!("{}-{n}", self.boot),
            "time": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "selector": sel.selector,
            "unit": sel.unit,
            "variant": sel.variant,
            "dataset": sel.dataset,
            "version": sel.version,
            "partition": sel.partition,
        })
        .to_string();
        let a = Assignment {
            stream: stream.to_string(),
            selector: sel.selector.clone(),
            event,
        };
        if let Err(e) = self.tx.try_send(a) {
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "overload",
                mpsc::error::TrySendError::Closed(_) => "refused",
            };
            self.count(&sel.selector, |c| *c.dropped.entry(reason).or_default() += 1);
        }
    }

    /// The counts so far, per selector.
    pub fn counts(&self) -> BTreeMap<String, Counts> {
        self.counts
            .lock()
            .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// The writer: takes what is queued, appends each stream's events in
    /// one go, counts what became durable and what was refused. Runs until
    /// the server stops.
    pub async fn write(shared: std::sync::Arc<crate::Shared>) {
        let Some(mut rx) = shared.assignments.rx.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let log = &shared.assignments;
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 8192).await > 0 {
            let mut by_stream: BTreeMap<String, Vec<Assignment>> = BTreeMap::new();
            for a in batch.drain(..) {
                by_stream.entry(a.stream.clone()).or_default().push(a);
            }
            for (stream, events) in by_stream {
                let outcome = match shared.streams.get(&stream).await {
                    Ok(s) => {
                        let lines: Vec<String> = events.iter().map(|a| a.event.clone()).collect();
                        match s.ingest(&lines, shared.streams.now_ms()).await {
                            Ok(report) => {
                                shared.metrics.ingested(&stream, &report);
                                Ok(())
                            }
                            Err(e) => {
                                tracing::warn!(stream = %stream, "assignments refused by the stream's log: {e}");
                                Err("refused")
                            }
                        }
                    }
                    Err(crate::streams::IntakeError::NotLeader) => Err("not_leader"),
                    Err(crate::streams::IntakeError::Unknown(_)) => Err("no_stream"),
                    Err(e) => {
                        tracing::warn!(stream = %stream, "cannot open the assignments' stream: {e}");
                        Err("refused")
                    }
                };
                for a in &events {
                    match outcome {
                        Ok(()) => log.count(&a.selector, |c| c.logged += 1),
                        Err(reason) => log.count(&a.selector, |c| *c.dropped.entry(reason).or_default() += 1),
                    }
                }
            }
        }
    }
}
