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
mod object;
mod seal;
mod staging;

pub use manifest::{FileEntry, Manifest, ManifestInput};
pub use object::ObjectLake;

use object_store::ObjectStoreExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name of the seal file.
pub const SUCCESS: &str = "_SUCCESS";
pub(crate) const STAGING: &str = "_staging";
pub(crate) const TRASH: &str = "_trash";

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

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LakeError + '_ {
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
    /// Make sealed instances durable (see [`Lake::sync_sealed`]) before
    /// they may be committed.
    durable: bool,
    /// This process's staging owner (see `staging`), made on first use.
    owner: Arc<std::sync::Mutex<Option<staging::Owner>>>,
    /// Instances sealed (or adopted) since the last [`Lake::sync_sealed`].
    unsynced: Arc<std::sync::Mutex<Vec<PathBuf>>>,
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
            durable: true,
            owner: Arc::default(),
            unsynced: Arc::default(),
        })
    }

    /// With `false`, seals skip fsync (`durability = "fast"`: scratch
    /// projects, where a power loss may cost a committed instance's data).
    pub fn with_durability(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// The lake's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of an instance (for readers and command jobs).
    pub fn instance_dir(&self, prefix: &str) -> PathBuf {
        self.root.join(prefix)
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
        Manifest::parse(&bytes, path.as_ref()).map(Some)
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
/// Returns false if the trash no longer holds it (deleted by `weir gc`);
/// refuses (`AlreadySealed`) when a sealed instance is at `location` now.
pub fn untrash_location(location: &Path, trash_id: &str) -> Result<bool> {
    let Some(from) = trashed_dir(location, trash_id) else {
        return Ok(false);
    };
    if !from.join(SUCCESS).is_file() {
        return Ok(false);
    }
    if location.join(SUCCESS).exists() {
        // A sealed instance is there now (built since, committed or not): it wins.
        return Err(LakeError::AlreadySealed(location.display().to_string()));
    }
    if location.exists() {
        // Unsealed leftovers are never data, but are moved aside, not deleted.
        if let Some(aside) = trashed_dir(location, &format!("leftover-restore-{trash_id}")) {
            if let Some(p) = aside.parent() {
                std::fs::create_dir_all(p).map_err(io(p))?;
            }
            std::fs::rename(location, &aside).map_err(io(location))?;
        }
    }
    if let Some(parent) = location.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::rename(&from, location).map_err(io(&from))?;
    Ok(true)
}
