//! The write-ahead log: events are appended to segment files and fsynced
//! before anyone is told they are stored.
//!
//! - **Group commit.** Appends go to one writer thread. It takes every
//!   append waiting, writes them in one `write`, syncs once, then answers
//!   them all: many requests share one fsync, and none is answered before
//!   its records are on disk.
//! - **Records.** `len: u32 LE | crc32: u32 LE | payload`. Recovery reads
//!   each segment in order and stops at the first record that is short or
//!   fails its checksum: in the newest segment that is a torn write, cut off;
//!   in an older one it is corruption, and opening fails.
//! - **Segments** are `NNNNNNNNNNNNNNNNNNNN.wal` (a sequence number), rolled
//!   at `segment_bytes`. Each new file is made durable with its directory.
//!   [`Wal::release`] deletes the segments wholly before a position, once
//!   what they hold is sealed.
//! - **A failed write** (a full disk, say) answers its group with the error
//!   and cuts the segment back to where the group began, so nothing half
//!   written stays. If even that fails, the log refuses every append until
//!   it is opened again.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

mod read;
use read::{Segment, read_segment, segment_path, segments};
pub use read::{read_dir, read_dir_where, sidecar_path};

const HEADER: usize = 8;
/// A record larger than this is refused (and, on recovery, taken for garbage).
pub const MAX_RECORD: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("the write-ahead log at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the write-ahead log segment {path} is corrupt at byte {offset}: {why}; it is not the newest segment, so this is not a torn write. Move the file aside to start, losing what it holds"
    )]
    Corrupt { path: PathBuf, offset: u64, why: String },
    #[error("a record of {0} bytes is over the limit of {MAX_RECORD}")]
    TooLarge(usize),
    #[error("the write-ahead log stopped after a write it could not undo; restart to recover it")]
    Broken,
    #[error("the write-ahead log's writer is gone")]
    Closed,
    #[error("the write-ahead log at {0} is open in another process; only one may write it")]
    Locked(PathBuf),
    #[error("the write-ahead log has {0} appends waiting; try again shortly")]
    Full(usize),
    #[error("an earlier write to the write-ahead log failed; appends wait for the log to be reset")]
    Poisoned,
}

/// How long opening waits for another writer of the log to let go.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How many appends may wait for the writer before [`Wal::submit`] refuses
/// more (the collector answers 503): memory stays bounded under overload.
pub const QUEUE: usize = 8192;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where a record ends: its segment and the byte offset after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

#[derive(Clone, Debug)]
pub struct WalOptions {
    /// A segment rolls over once it is this large.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: 64 << 20,
        }
    }
}

struct Append {
    records: Vec<Vec<u8>>,
    /// Clears the poison a failed write left (no records).
    reset: bool,
    done: tokio::sync::oneshot::Sender<Result<Position, WalError>>,
}

/// An append handed to the writer: awaiting it answers once its records are
/// on disk. Appends are written in the order they were submitted.
#[derive(Debug)]
pub struct Pending(tokio::sync::oneshot::Receiver<Result<Position, WalError>>);

impl Pending {
    pub async fn durable(self) -> Result<Position, WalError> {
        self.0.await.map_err(|_| WalError::Closed)?
    }
}

/// Counts of the writer's work (for tests and `/metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    pub appends: u64,
    pub records: u64,
    pub syncs: u64,
}

/// A write-ahead log in a directory of its own.
#[derive(Clone)]
pub struct Wal {
    dir: PathBuf,
    tx: mpsc::SyncSender<Append>,
    stats: Arc<Mutex<WalStats>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.dir).finish()
    }
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

impl Wal {
    /// Opens (or creates) the log in `dir`, cutting a torn write off the
    /// newest segment, and starts its writer.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal, WalError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        // One writer per log, across processes: held by the writer thread.
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        // A writer that is letting go (its last handle just dropped, or its
        // process is exiting) gets a moment to.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(WalError::Locked(dir.to_path_buf())),
                Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
            }
        }
        let seqs = segments(dir)?;
        let last = seqs.last().copied();
        for &seq in &seqs {
            let path = segment_path(dir, seq);
            let Segment { end, stop, .. } = read_segment(&path)?;
            if let Some(why) = stop {
                if Some(seq) != last {
                    return Err(WalError::Corrupt { path, offset: end, why });
                }
                tracing::warn!(path = %path.display(), offset = end, "cutting a torn write off the write-ahead log: {why}");
                let f = OpenOptions::new().write(true).open(&path).map_err(io(&path))?;
                f.set_len(end).map_err(io(&path))?;
                f.sync_all().map_err(io(&path))?;
            }
        }
        let seq = last.unwrap_or(1);
        let path = segment_path(dir, seq);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let len = file.seek(SeekFrom::End(0)).map_err(io(&path))?;
        if last.is_none() {
            sync_dir(dir)?;
        }
        let (tx, rx) = mpsc::sync_channel::<Append>(QUEUE);
        let stats = Arc::new(Mutex::new(WalStats::default()));
        let writer = Writer {
            dir: dir.to_path_buf(),
            opts,
            seq,
            file,
            len,
            broken: false,
            poisoned: false,
            _lock: lock,
            stats: stats.clone(),
        };
        std::thread::Builder::new()
            .name("weir-wal".into())
            .spawn(move || writer.run(rx))
            .map_err(io(dir))?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            tx,
            stats,
        })
    }

    /// Appends `records` in order; answers once they are on disk, with the
    /// position after the last.
    pub async fn append(&self, records: Vec<Vec<u8>>) -> Result<Position, WalError> {
        self.submit(records)?.durable().await
    }

    /// Hands `records` to the writer now (so appends are written in the
    /// order of these calls); the answer comes when they are on disk. Refuses
    /// when [`QUEUE`] appends are already waiting.
    pub fn submit(&self, records: Vec<Vec<u8>>) -> Result<Pending, WalError> {
        if let Some(r) = records.iter().find(|r| r.len() > MAX_RECORD) {
            return Err(WalError::TooLarge(r.len()));
        }
        self.send(records, false)
    }

    fn send(&self, records: Vec<Vec<u8>>, reset: bool) -> Result<Pending, WalError> {
        let (done, rx) = tokio::sync::oneshot::channel();
        let append = Append { records, reset, done };
        self.tx.try_send(append).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => WalError::Full(QUEUE),
            mpsc::TrySendError::Disconnected(_) => WalError::Closed,
        })?;
        Ok(Pending(rx))
    }

    /// After a failed write every later append is refused (it may have been
    /// decided on what the failed one held) until this reset is written. The
    /// caller rebuilds what it decides from ([`Wal::read_from`]) first.
    pub async fn reset(&self) -> Result<(), WalError> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Append {
                records: Vec::new(),
                reset: true,
                done,
            })
            .map_err(|_| WalError::Closed)?;
        rx.await.map_err(|_| WalError::Closed)?.map(|_| ())
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every record from `from` on (`None`: from the start), oldest first,
    /// each with the position after it.
    pub fn read_from(&self, from: Option<Position>) -> Result<Vec<(Position, Vec<u8>)>, WalError> {
        Ok(read_dir(&self.dir)?
            .into_iter()
            .filter(|(pos, _)| from.is_none_or(|f| *pos > f))
            .collect())
    }

    /// Deletes the segments that end at or before `upto`'s segment begins:
    /// what they hold is sealed. The segment being written is kept.
    pub fn release(&self, upto: Position) -> Result<usize, WalError> {
        let seqs = segments(&self.dir)?;
        let newest = seqs.last().copied();
        let mut n = 0;
        for seq in seqs {
            if seq < upto.segment && Some(seq) != newest {
                let path = segment_path(&self.dir, seq);
                std::fs::remove_file(&path).map_err(io(&path))?;
                // Its sidecar (a reader's summary of it), if any.
                let _ = std::fs::remove_file(sidecar_path(&self.dir, seq));
                n += 1;
            }
        }
        if n > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(n)
    }

    pub fn stats(&self) -> WalStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }
}

struct Writer {
    dir: PathBuf,
    opts: WalOptions,
    seq: u64,
    file: File,
    len: u64,
    broken: bool,
    /// A write failed: every append is refused until a reset.
    poisoned: bool,
    /// The log's lock, held while the writer lives.
    _lock: File,
    stats: Arc<Mutex<WalStats>>,
}

impl Writer {
    fn here(&self) -> Position {
        Position {
            segment: self.seq,
            offset: self.len,
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Append>) {
        while let Ok(first) = rx.recv() {
            if first.reset {
                self.poisoned = self.broken;
                let answer = if self.broken {
                    Err(WalError::Broken)
                } else {
                    Ok(self.here())
                };
                let _ = first.done.send(answer);
                continue;
            }
            if self.poisoned {
                let _ = first.done.send(Err(WalError::Poisoned));
                continue;
            }
            let mut group = vec![first];
            while let Ok(more) = rx.try_recv() {
                group.push(more);
            }
            let result = self.write(&group);
            if let Ok(mut s) = self.stats.lock() {
                s.appends += group.len() as u64;
                s.records += group.iter().map(|a| a.records.len() as u64).sum::<u64>();
                s.syncs += u64::from(result.is_ok());
            }
            let mut ends = match result {
                Ok(ends) => ends.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => {
                    self.poisoned = true;
                    let msg = e.to_string();
                    group
                        .iter()
                        .map(|_| {
                            Err(WalError::Io {
                                path: self.dir.clone(),
                                source: std::io::Error::other(msg.clone()),
                            })
                        })
                        .collect()
                }
            };
            for (a, end) in group.into_iter().zip(ends.drain(..)) {
                let _ = a.done.send(end);
            }
        }
    }

    /// Writes a group and syncs it: the position after each append's last
    /// record.
    fn write(&mut self, group: &[Append]) -> Result<Vec<Position>, WalError> {
        if self.broken {
            return Err(WalError::Broken);
        }
        if self.len >= self.opts.segment_bytes {
            self.roll()?;
        }
        let mut buf = Vec::new();
        let mut ends = Vec::with_capacity(group.len());
        for a in group {
            // A reset among appends clears nothing (nothing failed since).
            for r in &a.records {
                buf.extend_from_slice(&(r.len() as u32).to_le_bytes());
                buf.extend_from_slice(&crc32fast::hash(r).to_le_bytes());
                buf.extend_from_slice(r);
            }
            ends.push(Position {
                segment: self.seq,
                offset: self.len + buf.len() as u64,
            });
        }
        let path = segment_path(&self.dir, self.seq);
        let written = self.file.write_all(&buf).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Nothing of this group may stay: cut back to where it began.
            let undo = self.file.set_len(self.len).and_then(|()| self.file.sync_data());
            if undo.is_err() {
                self.broken = true;
            }
            return Err(io(&path)(e));
        }
        self.len += buf.len() as u64;
        Ok(ends)
    }

    fn roll(&mut self) -> Result<(), WalError> {
        let seq = self.seq + 1;
        let path = segment_path(&self.dir, seq);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        sync_dir(&self.dir)?;
        self.seq = seq;
        self.file = file;
        self.len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
