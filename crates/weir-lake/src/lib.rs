//! Lakes: named storage roots behind `object_store`, the Hive-style layout of
//! instances, their `_SUCCESS` manifests, and the commit protocol's file half:
//! staging → move → seal.
//!
//! Invariants owned here:
//! - a directory without `_SUCCESS` is never data;
//! - `_SUCCESS` is written last, with create-only semantics, so a sealed
//!   instance is never overwritten;
//! - staging areas of dead runs are swept.
//!
//! This crate never decides *what* to build and never writes the catalog.

mod manifest;

pub use manifest::{FileEntry, Manifest, ManifestInput};

use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name of the seal file.
pub const SUCCESS: &str = "_SUCCESS";
const STAGING: &str = "_staging";
const TRASH: &str = "_trash";

/// Errors from a lake, by whose fault they are.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake `{lake}`: unsupported root `{root}`: {hint}")]
    Unsupported { lake: String, root: String, hint: String },
    #[error("instance {0} is already sealed; sealed instances are never overwritten")]
    AlreadySealed(String),
    #[error("lake storage error: {0}")]
    Store(#[from] object_store::Error),
    #[error("lake I/O error on {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A job left something in its output that cannot become sealed data.
    #[error("output entry `{entry}` refused: {reason}")]
    Refused { entry: String, reason: String },
    #[error("corrupt manifest {path}: {reason}")]
    BadManifest { path: String, reason: String },
}

pub type Result<T> = std::result::Result<T, LakeError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One storage root.
#[derive(Clone, Debug)]
pub struct Lake {
    pub name: String,
    root: PathBuf,
    store: Arc<LocalFileSystem>,
}

/// Where one instance lives inside a lake: `<dataset>/v<N>/<partition key>`.
pub fn instance_prefix(dataset: &str, version: u32, partition_key: &str) -> String {
    format!("{dataset}/v{version}/{partition_key}")
}

impl Lake {
    /// Opens lake `name` at `root`: a path relative to `project_dir`, an absolute
    /// path, or a `file://` URL. The directory is created if missing.
    pub fn open(name: &str, root: &str, project_dir: &Path) -> Result<Self> {
        let path = if let Some(p) = root.strip_prefix("file://") {
            PathBuf::from(p)
        } else if root.contains("://") {
            return Err(LakeError::Unsupported {
                lake: name.to_string(),
                root: root.split('@').next_back().unwrap_or(root).to_string(),
                hint: "this build stores lakes on the local filesystem; use a path or file:// URL".into(),
            });
        } else if Path::new(root).is_absolute() {
            PathBuf::from(root)
        } else {
            project_dir.join(root)
        };
        std::fs::create_dir_all(&path).map_err(io(&path))?;
        let path = path.canonicalize().map_err(io(&path))?;
        let store = LocalFileSystem::new_with_prefix(&path)?.with_automatic_cleanup(true);
        Ok(Self {
            name: name.to_string(),
            root: path,
            store: Arc::new(store),
        })
    }

    /// The lake's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of an instance (for readers and command jobs).
    pub fn instance_dir(&self, prefix: &str) -> PathBuf {
        self.root.join(prefix)
    }

    /// A fresh, empty local directory where run `run_id` writes its output.
    pub fn staging_dir(&self, run_id: &str) -> Result<PathBuf> {
        let dir = self.root.join(STAGING).join(run_id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(dir)
    }

    /// Whether the instance at `prefix` is sealed.
    pub async fn is_sealed(&self, prefix: &str) -> Result<bool> {
        match self.store.head(&ObjPath::from(format!("{prefix}/{SUCCESS}"))).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the manifest of a sealed instance.
    pub async fn manifest(&self, prefix: &str) -> Result<Option<Manifest>> {
        let path = ObjPath::from(format!("{prefix}/{SUCCESS}"));
        let bytes = match self.store.get(&path).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LakeError::BadManifest {
                path: path.to_string(),
                reason: e.to_string(),
            })
    }

    /// The sha256 of a sealed instance's `_SUCCESS` (hex): it names what
    /// the seal vouches for, so a rebuilt instance has another digest.
    pub async fn manifest_sha256(&self, prefix: &str) -> Result<Option<String>> {
        let path = ObjPath::from(format!("{prefix}/{SUCCESS}"));
        match self.store.get(&path).await {
            Ok(r) => Ok(Some(hex::encode(Sha256::digest(&r.bytes().await?)))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves everything in run `run_id`'s staging directory to `prefix` and seals
    /// it with `manifest` (whose `files` are filled in here). Refuses to touch a
    /// sealed instance; removes unsealed leftovers of crashed attempts first.
    ///
    /// A job is untrusted: only regular files inside the staging directory
    /// move, under exactly the names the job gave them. A symlink, a file
    /// hard-linked from elsewhere, a socket, a FIFO or a device, a name
    /// starting with `_` (those are weir's, like `_SUCCESS`) or a name that is
    /// not UTF-8 is refused before anything moves, and nothing outside the
    /// staging directory is read or touched.
    pub async fn seal(&self, run_id: &str, prefix: &str, mut manifest: Manifest) -> Result<Manifest> {
        if self.is_sealed(prefix).await? {
            return Err(LakeError::AlreadySealed(prefix.to_string()));
        }
        let staging_dir = self.root.join(STAGING).join(run_id);
        if !staging_dir.is_dir() {
            return Err(LakeError::Io {
                path: staging_dir.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "the run's staging directory is gone"),
            });
        }
        let target = self.root.join(prefix);
        let files = {
            let (staging_dir, target) = (staging_dir.clone(), target.clone());
            tokio::task::spawn_blocking(move || -> Result<Vec<FileEntry>> {
                let files = staged_files(&staging_dir)?;
                // Leftovers of a crashed attempt: the directory is not sealed, so it is not data.
                if target.exists() {
                    std::fs::remove_dir_all(&target).map_err(io(&target))?;
                }
                std::fs::create_dir_all(&target).map_err(io(&target))?;
                let mut entries = Vec::with_capacity(files.len());
                for rel in files {
                    let from = staging_dir.join(&rel);
                    let (size, sha256) = hash_file(&from)?;
                    let to = target.join(&rel);
                    if let Some(parent) = to.parent() {
                        std::fs::create_dir_all(parent).map_err(io(parent))?;
                    }
                    std::fs::rename(&from, &to).map_err(io(&from))?;
                    entries.push(FileEntry {
                        name: rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"),
                        size,
                        sha256,
                    });
                }
                Ok(entries)
            })
            .await
            .map_err(|e| LakeError::Io {
                path: prefix.to_string(),
                source: std::io::Error::other(e),
            })??
        };
        manifest.files = files;
        let body = serde_json::to_vec_pretty(&manifest).map_err(|e| LakeError::BadManifest {
            path: prefix.to_string(),
            reason: e.to_string(),
        })?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(
                &ObjPath::from(format!("{prefix}/{SUCCESS}")),
                PutPayload::from(body),
                opts,
            )
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                return Err(LakeError::AlreadySealed(prefix.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
        let _ = std::fs::remove_dir_all(&staging_dir);
        Ok(manifest)
    }

    /// Moves an instance's directory into the trash (`_trash/<trash_id>/<prefix>`),
    /// where `weir gc` deletes it later. A missing directory is not an error.
    pub fn move_to_trash(&self, prefix: &str, trash_id: &str) -> Result<()> {
        let from = self.root.join(prefix);
        if !from.exists() {
            return Ok(());
        }
        let to = self.root.join(TRASH).join(trash_id).join(prefix);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::rename(&from, &to).map_err(io(&from))
    }

    /// Discards run `run_id`'s staging area (after a failure or cancellation).
    pub fn discard(&self, run_id: &str) {
        let _ = std::fs::remove_dir_all(self.root.join(STAGING).join(run_id));
    }

    /// Removes staging entries (`<run_id>` directories and `<run_id>.*` files)
    /// of runs not in `live` that are at least `min_age` old; returns how many.
    /// The age guard protects a run that claimed after `live` was read.
    pub fn sweep(&self, live: &HashSet<String>, min_age: std::time::Duration) -> Result<usize> {
        let dir = self.root.join(STAGING);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let mut n = 0;
        for e in entries {
            let e = e.map_err(io(&dir))?;
            let name = e.file_name().to_string_lossy().to_string();
            let run = name.split('.').next().unwrap_or(&name);
            let age = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .unwrap_or_default();
            if live.contains(run) || age < min_age {
                continue;
            }
            let p = e.path();
            if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            }
            .map_err(io(&p))?;
            n += 1;
        }
        Ok(n)
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

#[cfg(unix)]
fn hard_linked(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.nlink() > 1
}

#[cfg(not(unix))]
fn hard_linked(_meta: &std::fs::Metadata) -> bool {
    false
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
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

/// The lake root of an instance directory `<root>/<dataset>/v<N>/<key>`.
fn root_of(location: &Path) -> Option<&Path> {
    location.parent()?.parent()?.parent()
}

/// Moves the instance directory at `location` to `<root>/_trash/<trash_id>/…`.
/// A missing directory is not an error (it may have been moved already).
pub fn trash_location(location: &Path, trash_id: &str) -> Result<()> {
    if !location.exists() {
        return Ok(());
    }
    let Some(root) = root_of(location) else { return Ok(()) };
    let Ok(rel) = location.strip_prefix(root) else {
        return Ok(());
    };
    let to = root.join(TRASH).join(trash_id).join(rel);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::rename(location, &to).map_err(io(location))
}

/// Deletes `<root>/_trash/<trash_id>` for the lake holding `location`.
pub fn delete_trash_of(location: &Path, trash_id: &str) -> Result<()> {
    let Some(root) = root_of(location) else { return Ok(()) };
    let dir = root.join(TRASH).join(trash_id);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&dir)(e)),
        _ => Ok(()),
    }
}

/// Where the instance directory at `location` lies in trash `trash_id`.
pub fn trashed_dir(location: &Path, trash_id: &str) -> Option<PathBuf> {
    let root = root_of(location)?;
    let rel = location.strip_prefix(root).ok()?;
    Some(root.join(TRASH).join(trash_id).join(rel))
}

/// Moves an instance back from `<root>/_trash/<trash_id>/…` to `location`.
/// Returns false if the trash no longer holds it (deleted by `weir gc`).
pub fn untrash_location(location: &Path, trash_id: &str) -> Result<bool> {
    let Some(from) = trashed_dir(location, trash_id) else {
        return Ok(false);
    };
    if !from.join(SUCCESS).is_file() {
        return Ok(false);
    }
    if location.exists() {
        std::fs::remove_dir_all(location).map_err(io(location))?;
    }
    if let Some(parent) = location.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::rename(&from, location).map_err(io(&from))?;
    Ok(true)
}
