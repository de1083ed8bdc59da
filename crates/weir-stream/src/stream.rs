//! One live stream: its write-ahead log and the classifier that decides each
//! event's fate, kept in step.
//!
//! - **Order.** Events are classified and handed to the log under one lock,
//!   so the log holds records in the order they were decided; a request is
//!   answered once its records are durable.
//! - **Closing.** [`Stream::close`] writes a mark when the watermark passes
//!   partition ends, under the same lock. Once the mark is durable, every
//!   record of the partitions before it is in the log before it, and nothing
//!   after it goes into them: those partitions can be sealed from the log
//!   ([`read_partition`]), by anyone, any number of times, with the same
//!   result.
//! - **A failed write** (a full disk) refuses every later append until the
//!   stream has rebuilt its classifier from what the log really holds, so no
//!   event is taken for a copy of one that was never stored.
//! - **Release.** A segment is deleted once every partition it holds is
//!   sealed (the stream and its quarantine committed) and its newest arrival
//!   is past the `dedup` horizon: on a restart, the sealed-id filter is
//!   rebuilt from the segments.

use crate::events::{Classifier, Rules, Verdict};
use crate::record::Record;
use crate::wal::{Position, Wal, WalError, WalOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tokio::sync::{Mutex, Semaphore};

/// How many requests may wait for the log at once; more get 503.
pub const IN_FLIGHT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("the stream's log is busy: {0} requests wait for it; try again shortly")]
    Busy(usize),
    #[error("partition {partition} of {dir} is not closed yet: its log has no mark past it")]
    NotClosed { dir: PathBuf, partition: i64 },
    #[error("the stream's log {dir} holds a record that is not one: {why}")]
    BadRecord { dir: PathBuf, why: String },
}

impl StreamError {
    /// Whether the caller should try again later (503), rather than report
    /// a fault.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StreamError::Busy(_) | StreamError::Wal(WalError::Full(_) | WalError::Poisoned | WalError::Io { .. })
        )
    }
}

/// What became of one request's events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ingested {
    pub accepted: usize,
    pub late: usize,
    pub duplicate: usize,
    pub quarantined: usize,
}

struct State {
    classifier: Classifier,
    /// Per segment: the partitions it holds and its newest arrival.
    segments: BTreeMap<u64, (BTreeSet<i64>, i64)>,
    /// Whole segments up to this one have their index written.
    indexed: u64,
    /// Bumped by each rebuild; a failure rebuilds only once.
    generation: u64,
}

/// A stream's log and classifier.
pub struct Stream {
    name: String,
    rules: Rules,
    wal: Wal,
    state: Mutex<State>,
    slots: Arc<Semaphore>,
    /// Partitions before this are closed by a durable mark.
    closed_before: AtomicI64,
    released: AtomicU64,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("name", &self.name).finish()
    }
}

fn decode(dir: &Path, bytes: &[u8]) -> Result<Record, StreamError> {
    Record::decode(bytes).ok_or_else(|| StreamError::BadRecord {
        dir: dir.to_path_buf(),
        why: String::from_utf8_lossy(bytes.get(..80).unwrap_or(bytes)).into_owned(),
    })
}

/// What the log in `dir` holds, replayed into a fresh classifier.
fn rebuild(rules: &Rules, wal: &Wal) -> Result<State, StreamError> {
    let mut classifier = Classifier::new(rules.clone());
    let mut segments: BTreeMap<u64, (BTreeSet<i64>, i64)> = BTreeMap::new();
    for (pos, bytes) in wal.read_from(None)? {
        let record = decode(wal.dir(), &bytes)?;
        classifier.replay(&record);
        let seg = segments.entry(pos.segment).or_default();
        if let Some(p) = record.partition() {
            seg.0.insert(p);
        }
        if let Record::Accepted { at, .. } | Record::Quarantined { at, .. } | Record::Duplicate { at, .. } = record {
            seg.1 = seg.1.max(at);
        }
    }
    Ok(State {
        classifier,
        segments,
        indexed: 0,
        generation: 0,
    })
}

/// A whole segment's index, beside it: the partitions it holds, and a
/// partition bound its log had closed by then (so sealing reads only the
/// segments that hold the partition).
#[derive(serde::Serialize, serde::Deserialize)]
struct SegmentIndex {
    parts: BTreeSet<i64>,
    closed_before: i64,
}

/// Writes the index of every whole segment (all but the newest) not yet
/// indexed. An index is a hint: written whole (a temporary file renamed),
/// and a missing one only means the segment is read.
fn write_indexes(dir: &Path, st: &mut State, closed_before: i64) {
    let newest = st.segments.keys().next_back().copied().unwrap_or(0);
    for (seq, (parts, _)) in st.segments.range(st.indexed + 1..newest) {
        let path = crate::wal::sidecar_path(dir, *seq);
        let index = SegmentIndex {
            parts: parts.clone(),
            closed_before,
        };
        let tmp = path.with_extension("idx.tmp");
        let written = serde_json::to_vec(&index)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), "cannot write a log segment's index: {e}");
        }
    }
    if newest > 0 {
        st.indexed = st.indexed.max(newest - 1);
    }
}

impl Stream {
    /// Opens the stream whose log is in `dir`, replaying it: open ids,
    /// the watermark and the closed partitions come back as they were.
    pub fn open(name: &str, dir: &Path, rules: Rules, opts: WalOptions) -> Result<Stream, StreamError> {
        let wal = Wal::open(dir, opts)?;
        let mut state = rebuild(&rules, &wal)?;
        let closed = state.classifier.closed_before();
        write_indexes(dir, &mut state, closed);
        Ok(Stream {
            name: name.to_string(),
            rules,
            wal,
            state: Mutex::new(state),
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
            closed_before: AtomicI64::new(closed),
            released: AtomicU64::new(0),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn dir(&self) -> &Path {
        self.wal.dir()
    }

    /// Decides each event's fate and makes the records durable; answers
    /// once they are on disk. On an error nothing of the request counts as
    /// stored.
    pub async fn ingest(&self, events: &[String], now_ms: i64) -> Result<Ingested, StreamError> {
        let _slot = self.slots.try_acquire().map_err(|_| StreamError::Busy(IN_FLIGHT))?;
        let mut report = Ingested::default();
        let mut parts = BTreeSet::new();
        let (pending, generation) = {
            let mut st = self.state.lock().await;
            let mut records = Vec::with_capacity(events.len());
            for e in events {
                let verdict = st.classifier.classify(e, now_ms);
                match &verdict {
                    Verdict::Accepted { late, .. } => {
                        report.accepted += 1;
                        report.late += usize::from(*late);
                    }
                    Verdict::Duplicate { .. } => report.duplicate += 1,
                    Verdict::Quarantined { .. } => report.quarantined += 1,
                }
                let record = Record::of(verdict, e, now_ms);
                if let Some(p) = record.partition() {
                    parts.insert(p);
                }
                records.push(record.encode());
            }
            let generation = st.generation;
            match self.wal.submit(records) {
                Ok(p) => (p, generation),
                Err(e) => {
                    // Decided but never handed to the log: undo by rebuilding.
                    drop(st);
                    self.recover(generation).await?;
                    return Err(e.into());
                }
            }
        };
        match pending.durable().await {
            Ok(pos) => {
                self.note(pos, parts, now_ms).await;
                Ok(report)
            }
            Err(e) => {
                self.recover(generation).await?;
                Err(e.into())
            }
        }
    }

    async fn note(&self, pos: Position, parts: BTreeSet<i64>, at: i64) {
        let mut st = self.state.lock().await;
        let seg = st.segments.entry(pos.segment).or_default();
        seg.0.extend(parts);
        seg.1 = seg.1.max(at);
        if pos.segment > st.indexed + 1 {
            // The segments before this one are whole.
            write_indexes(self.wal.dir(), &mut st, self.closed_before());
        }
    }

    /// After a failed write: once every append before now is answered, the
    /// classifier is rebuilt from what the log holds, and appends resume.
    async fn recover(&self, generation: u64) -> Result<(), StreamError> {
        let mut st = self.state.lock().await;
        if st.generation != generation {
            return Ok(());
        }
        self.wal.reset().await?;
        let mut fresh = rebuild(&self.rules, &self.wal)?;
        fresh.generation = generation + 1;
        *st = fresh;
        tracing::warn!(stream = %self.name, "a write to the stream's log failed; rebuilt what it decides from the log");
        Ok(())
    }

    /// Closes the partitions the watermark has passed at `now_ms`, with a
    /// durable mark: partitions before the answer may be sealed.
    pub async fn close(&self, now_ms: i64) -> Result<i64, StreamError> {
        let (pending, before, generation) = {
            let mut st = self.state.lock().await;
            let Some(mark) = st.classifier.close(now_ms) else {
                return Ok(self.closed_before.load(Ordering::SeqCst));
            };
            let Record::Mark { before, .. } = mark else {
                return Ok(self.closed_before.load(Ordering::SeqCst));
            };
            let generation = st.generation;
            match self.wal.submit(vec![mark.encode()]) {
                Ok(p) => (p, before, generation),
                Err(e) => {
                    drop(st);
                    self.recover(generation).await?;
                    return Err(e.into());
                }
            }
        };
        match pending.durable().await {
            Ok(_) => {
                self.closed_before.fetch_max(before, Ordering::SeqCst);
                Ok(self.closed_before.load(Ordering::SeqCst))
            }
            Err(e) => {
                self.recover(generation).await?;
                Err(e.into())
            }
        }
    }

    /// Partitions before this are closed by a durable mark.
    pub fn closed_before(&self) -> i64 {
        self.closed_before.load(Ordering::SeqCst)
    }

    /// Told which partitions are sealed (committed, for the stream and its
    /// quarantine): their ids move into the sealed-id filter, and segments
    /// that hold nothing else and are past the dedup horizon are released.
    /// Answers how many segments were released.
    pub async fn committed(&self, sealed: impl Fn(i64) -> bool, now_ms: i64) -> Result<usize, StreamError> {
        let upto = {
            let mut st = self.state.lock().await;
            st.classifier.committed(&sealed, now_ms);
            let horizon = now_ms.saturating_sub(self.rules.dedup_ms);
            let newest = st.segments.keys().next_back().copied();
            // The first segment that must stay.
            let keep = st
                .segments
                .iter()
                .find(|(seq, (parts, at))| Some(**seq) == newest || *at >= horizon || parts.iter().any(|p| !sealed(*p)))
                .map(|(seq, _)| *seq);
            match keep {
                Some(keep) if st.segments.keys().next().is_some_and(|first| *first < keep) => {
                    // The marks in what goes must outlive it: write the last
                    // one again first.
                    let mark = st.classifier.mark();
                    let pending = self.wal.submit(vec![mark.encode()])?;
                    st.segments.retain(|seq, _| *seq >= keep);
                    Some((keep, pending))
                }
                _ => None,
            }
        };
        let Some((keep, pending)) = upto else {
            return Ok(0);
        };
        pending.durable().await?;
        let n = self.wal.release(Position {
            segment: keep,
            offset: 0,
        })?;
        self.released.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    /// Figures for `/metrics`.
    pub async fn stats(&self) -> StreamStats {
        let st = self.state.lock().await;
        let wal = self.wal.stats();
        StreamStats {
            appends: wal.appends,
            records: wal.records,
            syncs: wal.syncs,
            segments: st.segments.len(),
            released: self.released.load(Ordering::Relaxed),
            sealed_ids: st.classifier.sealed_ids().held(),
            sealed_dropped_early: st.classifier.sealed_ids().dropped_early(),
            closed_before: self.closed_before(),
        }
    }
}

/// A stream's figures.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct StreamStats {
    pub appends: u64,
    pub records: u64,
    pub syncs: u64,
    pub segments: usize,
    pub released: u64,
    pub sealed_ids: usize,
    pub sealed_dropped_early: u64,
    pub closed_before: i64,
}

/// The records of partition `p` in the log at `dir`, in the order they
/// arrived, for sealing. Refuses unless a durable mark has closed `p`:
/// before that, more records may still come.
pub fn read_partition(dir: &Path, p: i64) -> Result<Vec<Record>, StreamError> {
    let mut out = Vec::new();
    let mut closed = false;
    // Whole segments with an index that does not name `p` are skipped.
    let wanted = |seq: u64| {
        let Ok(bytes) = std::fs::read(crate::wal::sidecar_path(dir, seq)) else {
            return true;
        };
        match serde_json::from_slice::<SegmentIndex>(&bytes) {
            Ok(ix) => {
                closed |= ix.closed_before > p;
                ix.parts.contains(&p)
            }
            Err(_) => true,
        }
    };
    for (_, bytes) in crate::wal::read_dir_where(dir, wanted)? {
        let record = decode(dir, &bytes)?;
        match &record {
            Record::Mark { before, .. } => closed |= *before > p,
            r if r.partition() == Some(p) => out.push(record),
            _ => {}
        }
    }
    if !closed {
        return Err(StreamError::NotClosed {
            dir: dir.to_path_buf(),
            partition: p,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
