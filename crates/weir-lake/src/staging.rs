//! Staging areas: where a run's job writes, under
//! `<lake>/_staging/<owner>/<run_id>/`.
//!
//! An *owner* is one open [`Lake`] in one live process. It holds an
//! exclusive lock on `_staging/<owner>.lock` for as long as it lives (a
//! stopped process still holds it), so a run costs the file system one
//! directory and no lock file of its own. The sweep never removes the
//! staging area of an owner whose lock is held, whatever its claims' leases
//! say: a builder that stalled past its lease loses its claim (and its seal
//! is refused), never the files its job is still writing.
//!
//! Entries left by older weir versions (`_staging/<run_id>/` with
//! `<run_id>.lock`) are judged the same way, by their own lock.

use crate::{Lake, LakeError, Result, STAGING, io};
use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

/// One lake's staging owner in this process: its lock and its directory.
/// Dropped with the last clone of the lake, it removes both.
#[derive(Debug)]
pub(crate) struct Owner {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Only when empty: a run still staged there is swept later, as any dead run's.
        if std::fs::remove_dir(&self.dir).is_ok() {
            let _ = std::fs::remove_file(&self.lock_path);
        }
    }
}

/// Marks `dir` as the top of a directory hierarchy (ext4's `chattr +T`), so
/// the inode allocator puts each owner's directory, and so the runs it
/// stages, in a block group of its own choosing instead of beside `_staging`.
/// ext4 scans recently deleted inodes one by one when it allocates, and the
/// group beside `_staging` fills with them (gc, an earlier run's cleanup).
/// Spread, the overhead per task in an aged file system halved
/// (docs/benchmarks.md). Other file systems refuse the flag, and nothing
/// changes.
fn spread(dir: &Path) {
    #[cfg(target_os = "linux")]
    if let Ok(f) = File::open(dir)
        && let Ok(flags) = rustix::fs::ioctl_getflags(&f)
        && !flags.contains(rustix::fs::IFlags::TOPDIR)
    {
        let _ = rustix::fs::ioctl_setflags(&f, flags | rustix::fs::IFlags::TOPDIR);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = dir;
}

/// A name no other owner, in this process or another, has.
fn owner_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "o{}-{nanos:x}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

impl Lake {
    /// This lake's owner directory, created and locked on first use.
    fn owner_dir(&self) -> Result<PathBuf> {
        let mut owner = self.owner.lock().map_err(|_| LakeError::Io {
            path: self.root.join(STAGING).display().to_string(),
            source: std::io::Error::other("the staging owner's lock was poisoned"),
        })?;
        if let Some(o) = owner.as_ref() {
            return Ok(o.dir.clone());
        }
        let base = self.root.join(STAGING);
        std::fs::create_dir_all(&base).map_err(io(&base))?;
        spread(&base);
        let name = owner_name();
        let lock_path = base.join(format!("{name}.lock"));
        let lock = File::options()
            .create_new(true)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LakeError::Io {
                    path: lock_path.display().to_string(),
                    source: std::io::Error::other("another live process holds this staging owner"),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        // The lock is held before the directory exists, so a sweep never
        // sees the directory unowned.
        let dir = base.join(&name);
        std::fs::create_dir(&dir).map_err(io(&dir))?;
        *owner = Some(Owner {
            dir: dir.clone(),
            lock_path,
            _lock: lock,
        });
        Ok(dir)
    }

    /// Where run `run_id` stages, if this lake staged it.
    pub(crate) fn staged(&self, run_id: &str) -> Option<PathBuf> {
        let owner = self.owner.lock().ok()?;
        Some(owner.as_ref()?.dir.join(run_id))
    }

    /// A fresh, empty local directory where run `run_id` writes its output,
    /// held for this process until [`Lake::discard`] or a seal.
    pub fn staging_dir(&self, run_id: &str) -> Result<PathBuf> {
        let dir = self.owner_dir()?.join(run_id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // A retry of the same run in this process: start empty.
                std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
                std::fs::create_dir(&dir).map_err(io(&dir))?;
            }
            Err(e) => return Err(io(&dir)(e)),
        }
        Ok(dir)
    }

    /// Discards run `run_id`'s staging area (after a failure or
    /// cancellation), and what it wrote to its staging prefix on the store.
    pub async fn discard(&self, run_id: &str) {
        self.drop_url(run_id).await;
        if let Some(dir) = self.staged(run_id) {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(dir.with_extension("counters.json"));
            // Inputs fetched from object storage for a command job.
            let _ = std::fs::remove_dir_all(dir.with_extension("in"));
        }
    }

    /// The staging entries (top-level paths under `_staging`) of owners and
    /// runs that are dead: no live process holds their lock, no live claim
    /// names them, and they are at least `min_age` old (which protects an
    /// owner that is being set up). Directories and their side files come
    /// before lock files, since an entry is judged by its lock.
    pub fn dead_staging(&self, live: &HashSet<String>, min_age: std::time::Duration) -> Result<Vec<PathBuf>> {
        let dir = self.root.join(STAGING);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let entries: Vec<_> = entries.collect::<std::result::Result<_, _>>().map_err(io(&dir))?;
        let (locks, others): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .partition(|e| e.file_name().to_string_lossy().ends_with(".lock"));
        let mut dead = Vec::new();
        for e in others.into_iter().chain(locks) {
            let name = e.file_name().to_string_lossy().to_string();
            let stem = name.split('.').next().unwrap_or(&name).to_string();
            if live.contains(&stem) {
                continue;
            }
            let age = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .unwrap_or_default();
            if age < min_age || lock_is_held(&dir.join(format!("{stem}.lock"))) {
                continue;
            }
            dead.push(e.path());
        }
        Ok(dead)
    }

    /// Removes the [dead staging entries](Lake::dead_staging); an owner's
    /// directory goes whole, with its lock file. Returns how many top-level
    /// entries were removed.
    pub fn sweep(&self, live: &HashSet<String>, min_age: std::time::Duration) -> Result<usize> {
        let mut n = 0;
        for p in self.dead_staging(live, min_age)? {
            // A lock file is tested again: its owner may have been judged dead
            // before it finished setting up.
            if p.extension().is_some_and(|x| x == "lock") && lock_is_held(&p) {
                continue;
            }
            let removed = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            match removed {
                Ok(()) => n += 1,
                // Gone meanwhile (its run finished): nothing to sweep.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&p)(e)),
            }
        }
        Ok(n)
    }
}

/// Whether a live process (this one included) holds the lock at `path`.
fn lock_is_held(path: &Path) -> bool {
    let Ok(f) = File::options().write(true).open(path) else {
        return false;
    };
    match f.try_lock() {
        Ok(()) => {
            let _ = f.unlock();
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => false,
    }
}
