//! Staging areas: where a run's job writes, under `<lake>/_staging/<run_id>/`.
//!
//! A live run holds an exclusive lock on `_staging/<run_id>.lock` for as long
//! as its process lives (a stopped process still holds it). The sweep never
//! removes the staging area of a run whose lock is held, whatever its claim's
//! lease says: a builder that stalled past its lease loses its claim (and its
//! seal is refused), never the files its job is still writing.

use crate::{Lake, LakeError, Result, STAGING, io};
use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::path::PathBuf;

impl Lake {
    /// A fresh, empty local directory where run `run_id` writes its output,
    /// locked for this process until [`Lake::discard`] or a seal.
    pub fn staging_dir(&self, run_id: &str) -> Result<PathBuf> {
        let base = self.root.join(STAGING);
        std::fs::create_dir_all(&base).map_err(io(&base))?;
        let lock_path = base.join(format!("{run_id}.lock"));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LakeError::Io {
                    path: lock_path.display().to_string(),
                    source: std::io::Error::other("another live process stages this run"),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let dir = base.join(run_id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        if let Ok(mut locks) = self.locks.lock() {
            locks.insert(run_id.to_string(), lock);
        }
        Ok(dir)
    }

    /// Releases run `run_id`'s lock and removes its lock file.
    pub(crate) fn unlock(&self, run_id: &str) {
        let held = self.locks.lock().ok().and_then(|mut l| l.remove(run_id));
        if held.is_some() {
            let _ = std::fs::remove_file(self.root.join(STAGING).join(format!("{run_id}.lock")));
        }
    }

    /// Discards run `run_id`'s staging area (after a failure or cancellation).
    pub fn discard(&self, run_id: &str) {
        let _ = std::fs::remove_dir_all(self.root.join(STAGING).join(run_id));
        self.unlock(run_id);
    }

    /// Removes staging entries (`<run_id>` directories and `<run_id>.*` files)
    /// of runs that are dead: no live process holds their lock, no live claim
    /// names them, and they are at least `min_age` old (which protects a run
    /// that claimed after `live` was read). Returns how many were removed.
    pub fn sweep(&self, live: &HashSet<String>, min_age: std::time::Duration) -> Result<usize> {
        let dir = self.root.join(STAGING);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let mut held: HashSet<String> = HashSet::new();
        let mut n = 0;
        let mut entries: Vec<_> = entries.collect::<std::result::Result<_, _>>().map_err(io(&dir))?;
        // Lock files first, so a run's directory is judged by its lock.
        entries.sort_by_key(|e| !e.file_name().to_string_lossy().ends_with(".lock"));
        for e in entries {
            let name = e.file_name().to_string_lossy().to_string();
            let run = name.split('.').next().unwrap_or(&name).to_string();
            if held.contains(&run) || live.contains(&run) {
                continue;
            }
            let p = e.path();
            let age = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .unwrap_or_default();
            // Young entries first: testing a new run's lock could make its
            // own `staging_dir` see it held by another process.
            if age < min_age {
                if name.ends_with(".lock") {
                    held.insert(run);
                }
                continue;
            }
            if name.ends_with(".lock") && lock_is_held(&p) {
                held.insert(run);
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
fn lock_is_held(path: &std::path::Path) -> bool {
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
