//! Sealing: a run's staging directory becomes an instance in one rename.
//!
//! The protocol, for a local lake:
//! 1. the staged entries are checked: only regular files, under names the
//!    job chose that are not weir's (see [`staged_files`]);
//! 2. each file is hashed;
//! 3. `_SUCCESS` is written create-only *inside the staging directory*;
//! 4. the staging directory is renamed to `<dataset>/v<N>/<key>`: the
//!    instance appears whole, with its seal, or not at all. The rename fails
//!    on an existing non-empty directory, so a sealed instance is never
//!    overwritten, and two builders can never mix their files;
//! 5. before the catalog commits a batch of sealed instances,
//!    [`Lake::sync_sealed`] makes them durable together (one `syncfs` on
//!    Linux): data, seals and directory entries are on disk first.
//!
//! A crash between 4 and 5 can leave a sealed directory whose data never
//! reached the disk and that the catalog does not know. It is never served
//! (only committed instances are), and the next build of that instance
//! adopts it only if every file matches the manifest's size and sha256;
//! otherwise it is moved aside and rebuilt.

use crate::{FileEntry, Lake, LakeError, Manifest, Result, SUCCESS, TRASH, io};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

impl Lake {
    /// Seals run `run_id`'s staging directory as the instance at `prefix`,
    /// with `manifest` (whose `files` are filled in here). Refuses to touch a
    /// sealed instance. An unsealed directory left at `prefix` by an older
    /// weir is moved to `_trash/leftover-<run_id>/`, never deleted.
    ///
    /// A job is untrusted: only regular files inside the staging directory
    /// become the instance, under exactly the names the job gave them. A
    /// symlink, a file hard-linked from elsewhere, a socket, a FIFO or a
    /// device, a name starting with `_` (those are weir's, like `_SUCCESS`)
    /// or a name that is not UTF-8 is refused before anything moves, and
    /// nothing outside the staging directory is read or touched.
    ///
    /// When the lake is durable, the instance is not yet on disk when this
    /// returns: call [`Lake::sync_sealed`] before committing it.
    pub async fn seal(&self, run_id: &str, prefix: &str, mut manifest: Manifest) -> Result<Manifest> {
        if self.is_sealed(prefix).await? {
            return Err(LakeError::AlreadySealed(prefix.to_string()));
        }
        let Some(staging) = self.staged(run_id).filter(|d| d.is_dir()) else {
            return Err(LakeError::Io {
                path: format!("{}/_staging/…/{run_id}", self.root.display()),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "the run's staging directory is gone"),
            });
        };
        if let Some(remote) = &self.remote {
            // Uploads, then the conditional put of `_SUCCESS` (object.rs).
            let remote_run = self.handed_url(run_id).then_some(run_id);
            let sealed = remote.seal(&staging, prefix, manifest, remote_run).await;
            if sealed.is_ok() {
                // The seal removed the run's objects in staging itself.
                if let Ok(mut r) = self.url_runs.lock() {
                    r.remove(run_id);
                }
                self.discard(run_id).await;
            }
            return sealed;
        }
        let (root, prefix_owned, run) = (self.root.clone(), prefix.to_string(), run_id.to_string());
        let stage = staging.clone();
        let sealed = tokio::task::spawn_blocking(move || -> Result<Manifest> {
            let staging = stage;
            let files = staged_files(&staging)?;
            let mut entries = Vec::with_capacity(files.len());
            for rel in &files {
                let (size, sha256) = hash_file(&staging.join(rel))?;
                entries.push(FileEntry {
                    name: rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"),
                    size,
                    sha256,
                });
            }
            manifest.files = entries;
            let body = serde_json::to_vec_pretty(&manifest).map_err(|e| LakeError::BadManifest {
                path: prefix_owned.clone(),
                reason: e.to_string(),
            })?;
            let seal = staging.join(SUCCESS);
            let mut f = std::fs::File::options()
                .write(true)
                .create_new(true)
                .open(&seal)
                .map_err(io(&seal))?;
            f.write_all(&body).map_err(io(&seal))?;
            drop(f);
            let target = root.join(&prefix_owned);
            let parent = target.parent().unwrap_or(&root).to_path_buf();
            std::fs::create_dir_all(&parent).map_err(io(&parent))?;
            if target.join(SUCCESS).exists() {
                return Err(LakeError::AlreadySealed(prefix_owned));
            }
            if target.exists() {
                let aside = root.join(TRASH).join(format!("leftover-{run}")).join(&prefix_owned);
                if let Some(p) = aside.parent() {
                    std::fs::create_dir_all(p).map_err(io(p))?;
                }
                std::fs::rename(&target, &aside).map_err(io(&target))?;
                // Another builder's seal may have landed between the check and
                // the move: put it back and give way.
                if aside.join(SUCCESS).exists() {
                    let _ = std::fs::rename(&aside, &target);
                    return Err(LakeError::AlreadySealed(prefix_owned));
                }
            }
            match std::fs::rename(&staging, &target) {
                Ok(()) => {}
                // Another builder's instance appeared in between: never mixed, never overwritten.
                Err(_) if target.exists() => return Err(LakeError::AlreadySealed(prefix_owned)),
                Err(e) => return Err(io(&staging)(e)),
            }
            Ok(manifest)
        })
        .await
        .map_err(|e| LakeError::Io {
            path: prefix.to_string(),
            source: std::io::Error::other(e),
        })?;
        match &sealed {
            Ok(_) => self.unsynced(prefix),
            // The staging directory (with its seal, if written) is the run's garbage.
            Err(_) => {
                let _ = std::fs::remove_file(staging.join(SUCCESS));
            }
        }
        sealed
    }

    /// Records the sealed instance at `prefix` as not yet synced (a seal, or
    /// an instance a crashed run left that is being adopted).
    pub fn unsynced(&self, prefix: &str) {
        // Object stores' puts are durable when they answer.
        if self.durable
            && self.remote.is_none()
            && let Ok(mut u) = self.unsynced.lock()
        {
            u.push(self.root.join(prefix));
        }
    }

    /// Makes every instance sealed or adopted since the last call durable:
    /// its files, its seal and the directory entries up to the lake root are
    /// on disk when this returns. The run loop calls it right before the
    /// catalog commits a batch, so one sync serves the whole batch: on Linux
    /// one `syncfs(2)` of the lake's file system (which also flushes other
    /// writers' data on it); elsewhere an fsync of each file and directory.
    /// Returns how many instances it synced.
    pub fn sync_sealed(&self) -> Result<usize> {
        let dirs = match self.unsynced.lock() {
            Ok(mut u) => std::mem::take(&mut *u),
            Err(_) => {
                return Err(LakeError::Io {
                    path: self.root.display().to_string(),
                    source: std::io::Error::other("the list of unsynced instances was poisoned"),
                });
            }
        };
        if dirs.is_empty() {
            return Ok(0);
        }
        #[cfg(target_os = "linux")]
        {
            let root = std::fs::File::open(&self.root).map_err(io(&self.root))?;
            match rustix::fs::syncfs(&root) {
                Ok(()) => return Ok(dirs.len()),
                Err(rustix::io::Errno::NOSYS) => {}
                Err(e) => return Err(io(&self.root)(std::io::Error::from(e))),
            }
        }
        let mut parents: Vec<PathBuf> = Vec::new();
        for dir in &dirs {
            fsync_tree(dir)?;
            parents.extend(
                dir.ancestors()
                    .skip(1)
                    .take_while(|a| a.starts_with(&self.root))
                    .map(Path::to_path_buf),
            );
        }
        parents.sort();
        parents.dedup();
        for p in parents {
            sync_dir(&p)?;
        }
        Ok(dirs.len())
    }

    /// What is wrong with the sealed instance at `prefix` against its
    /// manifest: missing files, other sizes and, when `deep`, other hashes.
    /// Empty when it is whole.
    pub async fn verify(&self, prefix: &str, manifest: &Manifest, deep: bool) -> Vec<String> {
        if let Some(r) = &self.remote {
            return r.verify(prefix, manifest, deep).await;
        }
        let dir = self.root.join(prefix);
        let mut problems = Vec::new();
        for f in &manifest.files {
            let path = dir.join(&f.name);
            match std::fs::symlink_metadata(&path) {
                Err(_) => problems.push(format!("{} is missing", f.name)),
                Ok(m) if !m.is_file() => problems.push(format!("{} is not a regular file", f.name)),
                Ok(m) if m.len() != f.size => problems.push(format!(
                    "{} has {} bytes, the manifest says {}",
                    f.name,
                    m.len(),
                    f.size
                )),
                Ok(_) if deep => match hash_file(&path) {
                    Ok((_, sha)) if sha == f.sha256 => {}
                    Ok(_) => problems.push(format!("{}'s sha256 differs from the manifest's", f.name)),
                    Err(e) => problems.push(format!("{} cannot be read: {e}", f.name)),
                },
                Ok(_) => {}
            }
        }
        problems
    }
}

/// The regular files under `dir` (relative paths, sorted), or the first
/// entry that may not become part of an instance.
pub(crate) fn staged_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        for e in std::fs::read_dir(&here).map_err(io(&here))? {
            let e = e.map_err(io(&here))?;
            let name = e.file_name();
            let path = rel.join(&name);
            let refuse = |reason: &str| LakeError::Refused {
                entry: path.to_string_lossy().into_owned(),
                reason: reason.to_string(),
            };
            let Some(text) = name.to_str() else {
                return Err(refuse("its name is not UTF-8; name outputs in UTF-8"));
            };
            if text.starts_with('_') {
                return Err(refuse(
                    "names starting with `_` are weir's (`_SUCCESS` seals an instance); rename the output",
                ));
            }
            // Not followed: the entry itself, never what a link points at.
            let meta = std::fs::symlink_metadata(e.path()).map_err(io(&e.path()))?;
            let kind = meta.file_type();
            if kind.is_symlink() {
                return Err(refuse("it is a symbolic link; write a regular file (copy the data)"));
            } else if kind.is_dir() {
                stack.push(path);
            } else if !kind.is_file() {
                return Err(refuse("it is not a regular file (a socket, FIFO or device)"));
            } else if hard_linked(&meta) {
                return Err(refuse(
                    "it is hard-linked to a file elsewhere; write a regular file of its own (copy the data)",
                ));
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// fsyncs every file under `dir`, then `dir` and its subdirectories.
fn fsync_tree(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let p = e.path();
        let kind = e.file_type().map_err(io(&p))?;
        if kind.is_dir() {
            fsync_tree(&p)?;
        } else if kind.is_file() {
            std::fs::File::open(&p).and_then(|f| f.sync_all()).map_err(io(&p))?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(unix)]
fn hard_linked(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.nlink() > 1
}

#[cfg(not(unix))]
fn hard_linked(_meta: &std::fs::Metadata) -> bool {
    false
}

/// Size and sha256 of a file.
pub(crate) fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((size, hex::encode(h.finalize())))
}
