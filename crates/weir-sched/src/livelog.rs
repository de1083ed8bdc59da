//! Live logs: what a running job has printed so far, for followers (`GET
//! /api/v1/runs/{id}/log?follow=true`, `weir logs --follow`).
//!
//! The run loop opens one [`LiveLog`] per task in a [`LiveLogs`] registry and
//! hands it to the executor in the task's context; the executor writes each
//! chunk of the job's output to it as it arrives. When the last handle of a
//! log is dropped (the task is built) the log closes, leaves the registry, and
//! its followers reach their end; the complete log is then the run's record
//! in the catalog. A log keeps a bounded tail in memory: a follower that
//! falls behind is told how much it missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::watch;

/// The most of a running job's output kept in memory for followers.
pub const LIVE_TAIL: usize = 1 << 20;

#[derive(Default)]
struct Buffer {
    /// The kept tail of the output.
    data: Vec<u8>,
    /// The offset of `data[0]` in the whole output.
    start: u64,
    closed: bool,
}

struct Shared {
    buf: Mutex<Buffer>,
    /// Bumped on every write and at close, to wake followers.
    tick: watch::Sender<u64>,
}

impl Shared {
    fn new() -> Self {
        Self {
            buf: Mutex::new(Buffer::default()),
            tick: watch::channel(0).0,
        }
    }

    fn bump(&self) {
        self.tick.send_modify(|t| *t = t.wrapping_add(1));
    }
}

/// The writing end: dropped with its last clone, it closes the log.
struct Writer {
    shared: Arc<Shared>,
    run_id: String,
    registry: Weak<Mutex<HashMap<String, Arc<Shared>>>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(reg) = self.registry.upgrade()
            && let Ok(mut map) = reg.lock()
        {
            map.remove(&self.run_id);
        }
        if let Ok(mut b) = self.shared.buf.lock() {
            b.closed = true;
        }
        self.shared.bump();
    }
}

/// A running job's output, as it is written. The default writes nowhere (a
/// run nobody can follow: `weir run` in a terminal).
#[derive(Clone, Default)]
pub struct LiveLog(Option<Arc<Writer>>);

impl std::fmt::Debug for LiveLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "LiveLog(open)"
        } else {
            "LiveLog(none)"
        })
    }
}

impl LiveLog {
    /// Appends a chunk of output.
    pub fn write(&self, chunk: &[u8]) {
        let Some(w) = &self.0 else { return };
        if chunk.is_empty() {
            return;
        }
        if let Ok(mut b) = w.shared.buf.lock() {
            b.data.extend_from_slice(chunk);
            if b.data.len() > 2 * LIVE_TAIL {
                let cut = b.data.len() - LIVE_TAIL;
                b.data.drain(..cut);
                b.start += cut as u64;
            }
        }
        w.shared.bump();
    }
}

/// The live logs of the runs in progress, by run id.
#[derive(Clone, Default)]
pub struct LiveLogs(Arc<Mutex<HashMap<String, Arc<Shared>>>>);

impl std::fmt::Debug for LiveLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "LiveLogs({n} open)")
    }
}

impl LiveLogs {
    /// Opens the log of a run that is about to start.
    pub fn open(&self, run_id: &str) -> LiveLog {
        let shared = Arc::new(Shared::new());
        if let Ok(mut map) = self.0.lock() {
            map.insert(run_id.to_string(), shared.clone());
        }
        LiveLog(Some(Arc::new(Writer {
            shared,
            run_id: run_id.to_string(),
            registry: Arc::downgrade(&self.0),
        })))
    }

    /// Follows a run's log from its first kept byte, if the run is live here.
    pub fn follow(&self, run_id: &str) -> Option<LogFollower> {
        let shared = self.0.lock().ok()?.get(run_id)?.clone();
        let tick = shared.tick.subscribe();
        Some(LogFollower {
            shared,
            tick,
            offset: 0,
        })
    }
}

/// A reader of one live log.
pub struct LogFollower {
    shared: Arc<Shared>,
    tick: watch::Receiver<u64>,
    offset: u64,
}

impl LogFollower {
    /// The output written since the last call (waiting for some), or `None`
    /// once the job has finished and everything was read.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            self.tick.borrow_and_update();
            {
                let b = self.shared.buf.lock().ok()?;
                if self.offset < b.start {
                    let missed = b.start - self.offset;
                    self.offset = b.start;
                    return Some(format!("[… {missed} bytes not kept …]\n").into_bytes());
                }
                let end = b.start + b.data.len() as u64;
                if self.offset < end {
                    let from = usize::try_from(self.offset - b.start).unwrap_or(0);
                    self.offset = end;
                    return Some(b.data[from..].to_vec());
                }
                if b.closed {
                    return None;
                }
            }
            // A write between the check above and here bumped the tick after
            // `borrow_and_update`, so `changed` returns at once.
            if self.tick.changed().await.is_err() {
                return None;
            }
        }
    }

    /// Everything written so far (without waiting).
    pub fn so_far(&self) -> Vec<u8> {
        self.shared.buf.lock().map(|b| b.data.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_follower_reads_what_was_written_then_reaches_the_end_when_the_log_closes() {
        let logs = LiveLogs::default();
        let log = logs.open("r1");
        log.write(b"one\n");
        let mut f = logs.follow("r1").expect("live");
        assert_eq!(f.next().await.as_deref(), Some(&b"one\n"[..]));
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            while let Some(c) = f.next().await {
                all.extend(c);
            }
            all
        });
        log.write(b"two\n");
        let clone = log.clone();
        drop(log);
        clone.write(b"three\n");
        drop(clone);
        assert_eq!(reader.await.expect("join"), b"two\nthree\n");
        assert!(logs.follow("r1").is_none(), "a closed log leaves the registry");
    }

    #[tokio::test]
    async fn a_follower_that_fell_behind_is_told_what_it_missed() {
        let logs = LiveLogs::default();
        let log = logs.open("r2");
        let mut f = logs.follow("r2").expect("live");
        let chunk = vec![b'x'; LIVE_TAIL];
        for _ in 0..3 {
            log.write(&chunk);
        }
        drop(log);
        let first = f.next().await.expect("a marker");
        assert!(String::from_utf8_lossy(&first).contains("bytes not kept"));
        let mut rest = 0;
        while let Some(c) = f.next().await {
            rest += c.len();
        }
        assert!((LIVE_TAIL..=2 * LIVE_TAIL).contains(&rest), "{rest}");
    }
}
