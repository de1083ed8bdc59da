//! Sealing: a run's staging directory becomes an instance in one rename.
//!
//! The protocol, for a local lake:
//! 1. the staged entries are checked: only regular files, under names the
//!    job chose that are not weir's (see [`staged_files`]);
//! 2. each file is hashed and (when durable) fsynced;
//! 3. `_SUCCESS` is written create-only *inside the staging directory*, and
//!    fsynced with the directories;
//! 4. the staging directory is renamed to `<dataset>/v<N>/<key>`: the
//!    instance appears whole, with its seal, or not at all. The rename fails
//!    on an existing non-empty directory, so a sealed instance is never
//!    overwritten, and two builders can never mix their files;
//! 5. the parent directory is fsynced, so the rename survives a power loss.
//!
//! Only then may the catalog commit.

use crate::{FileEntry, Lake, LakeError, Manifest, Result, STAGING, SUCCESS, TRASH, io};
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
    pub async fn seal(&self, run_id: &str, prefix: &str, mut manifest: Manifest) -> Result<Manifest> {
        if self.is_sealed(prefix).await? {
            return Err(LakeError::AlreadySealed(prefix.to_string()));
        }
        let staging = self.root.join(STAGING).join(run_id);
        if !staging.is_dir() {
            return Err(LakeError::Io {
                path: staging.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "the run's staging directory is gone"),
            });
        }
        let (root, prefix_owned, durable, run) =
            (self.root.clone(), prefix.to_string(), self.durable, run_id.to_string());
        let sealed = tokio::task::spawn_blocking(move || -> Result<Manifest> {
            let files = staged_files(&staging)?;
            let mut entries = Vec::with_capacity(files.len());
            for rel in &files {
                let (size, sha256) = hash_file(&staging.join(rel), durable)?;
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
            if durable {
                f.sync_all().map_err(io(&seal))?;
                for dir in directories(&staging, &files) {
                    sync_dir(&dir)?;
                }
            }
            let target = root.join(&prefix_owned);
            let parent = target.parent().unwrap_or(&root).to_path_buf();
            let created = missing_ancestors(&parent, &root);
            std::fs::create_dir_all(&parent).map_err(io(&parent))?;
            if durable {
                // New `<dataset>/` and `v<N>/` directories are entries of their parents.
                for dir in created.iter().filter_map(|d| d.parent()) {
                    sync_dir(dir)?;
                }
            }
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
            if durable {
                sync_dir(&parent)?;
            }
            Ok(manifest)
        })
        .await
        .map_err(|e| LakeError::Io {
            path: prefix.to_string(),
            source: std::io::Error::other(e),
        })?;
        if sealed.is_err() {
            // The staging directory (with its seal, if written) is the run's garbage.
            let _ = std::fs::remove_file(self.root.join(STAGING).join(run_id).join(SUCCESS));
        }
        self.unlock(run_id);
        sealed
    }

    /// What is wrong with the sealed instance at `prefix` against its
    /// manifest: missing files, other sizes and, when `deep`, other hashes.
    /// Empty when it is whole.
    pub fn verify(&self, prefix: &str, manifest: &Manifest, deep: bool) -> Vec<String> {
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
                Ok(_) if deep => match hash_file(&path, false) {
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
fn staged_files(dir: &Path) -> Result<Vec<PathBuf>> {
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

/// The directories from `dir` up to (not including) `root` that do not exist yet.
fn missing_ancestors(dir: &Path, root: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .take_while(|a| *a != root && a.starts_with(root))
        .filter(|a| !a.exists())
        .map(Path::to_path_buf)
        .collect()
}

/// `dir` and every directory holding one of `files`, deepest first.
fn directories(dir: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .flat_map(|f| f.ancestors().skip(1).map(|a| dir.join(a)).collect::<Vec<_>>())
        .collect();
    dirs.push(dir.to_path_buf());
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    dirs
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

/// Size and sha256 of a file; with `durable`, its data is on disk after.
pub(crate) fn hash_file(path: &Path, durable: bool) -> Result<(u64, String)> {
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
    if durable {
        f.sync_all().map_err(io(path))?;
    }
    Ok((size, hex::encode(h.finalize())))
}
