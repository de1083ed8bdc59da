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

mod counting;
mod location;
mod manifest;
pub(crate) mod object;
mod seal;
mod staging;
mod trash;

pub use counting::requests as object_requests;
pub use location::{Location, ObjectLocation, RemoteFile, Walked, list_matching};
pub use manifest::{FileEntry, Manifest, ManifestInput};
pub use object::ObjectLake;
pub use trash::{
    delete_trash_at, delete_trash_of, lake_at, trash_at, trash_location, trashed_dir, trashed_manifest_at, untrash_at,
    untrash_location,
};

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

/// One storage root: a directory on this machine, or a bucket prefix on
/// object storage (`remote`), whose runs still stage in a local directory
/// (`root`, `<project>/.weir/lakes/<name>`) before the seal uploads them.
#[derive(Clone, Debug)]
pub struct Lake {
    pub name: String,
    root: PathBuf,
    remote: Option<Arc<ObjectLake>>,
    /// Runs of this process handed `WEIR_OUTPUT_URL` (their staging prefix
    /// on the store), until sealed or discarded.
    url_runs: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
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
    /// Opens lake `name` at `root`: a path relative to `project_dir`, an
    /// absolute path, a `file://` URL, or object storage (`s3://bucket/prefix`,
    /// `gs://…`, `az://…`). A local directory is created if missing.
    ///
    /// `env:NAME` reads the root from the environment variable `NAME` (as
    /// the catalog's URL may), so a deployment can point a lake elsewhere
    /// without editing `weir.toml`.
    pub fn open(name: &str, root: &str, project_dir: &Path) -> Result<Self> {
        let from_env;
        let root = match root.strip_prefix("env:") {
            Some(var) => {
                from_env = std::env::var(var)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| LakeError::Unsupported {
                        lake: name.to_string(),
                        root: root.to_string(),
                        hint: format!("set the environment variable {var} to the lake's path or URL"),
                    })?;
                from_env.as_str()
            }
            None => root,
        };
        if ["s3://", "gs://", "az://"].iter().any(|s| root.starts_with(s)) {
            let remote = ObjectLake::open(name, root)?;
            let mut lake = Self::open_dir(name, project_dir.join(".weir/lakes").join(name))?;
            lake.remote = Some(Arc::new(remote));
            return Ok(lake);
        }
        let path = if let Some(p) = root.strip_prefix("file://") {
            PathBuf::from(p)
        } else if root.contains("://") {
            return Err(LakeError::Unsupported {
                lake: name.to_string(),
                root: root.split('@').next_back().unwrap_or(root).to_string(),
                hint: "a lake is a path, a file:// URL, or object storage: s3://bucket/prefix, gs://bucket/prefix or az://container/prefix".into(),
            });
        } else if Path::new(root).is_absolute() {
            PathBuf::from(root)
        } else {
            project_dir.join(root)
        };
        Self::open_dir(name, path)
    }

    fn open_dir(name: &str, path: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&path).map_err(io(&path))?;
        let path = path.canonicalize().map_err(io(&path))?;
        let store = LocalFileSystem::new_with_prefix(&path)?.with_automatic_cleanup(true);
        Ok(Self {
            name: name.to_string(),
            root: path,
            remote: None,
            url_runs: Arc::default(),
            store: Arc::new(store),
            durable: true,
            owner: Arc::default(),
            unsynced: Arc::default(),
        })
    }

    /// A lake on any object store (tests, and stores weir does not open by URL).
    pub fn with_object_store(name: &str, remote: ObjectLake, staging_root: &Path) -> Result<Self> {
        let mut lake = Self::open_dir(name, staging_root.to_path_buf())?;
        lake.remote = Some(Arc::new(remote));
        Ok(lake)
    }

    /// Where run `run_id` may write its output objects itself, on a lake on
    /// object storage (`WEIR_OUTPUT_URL`); what it writes there is sealed
    /// with what it writes to its local staging directory.
    pub fn output_url(&self, run_id: &str) -> Option<String> {
        let remote = self.remote.as_ref()?;
        if let Ok(mut runs) = self.url_runs.lock() {
            runs.insert(run_id.to_string());
        }
        Some(remote.staging_url(run_id))
    }

    /// Whether run `run_id` was handed an output URL (see [`Lake::output_url`]).
    pub(crate) fn handed_url(&self, run_id: &str) -> bool {
        self.url_runs.lock().is_ok_and(|r| r.contains(run_id))
    }

    /// Forgets run `run_id`'s output URL, deleting what it wrote there (a
    /// failure is left to the sweep).
    pub(crate) async fn drop_url(&self, run_id: &str) {
        let handed = self.url_runs.lock().is_ok_and(|mut r| r.remove(run_id));
        if let (true, Some(remote)) = (handed, &self.remote) {
            let _ = remote.delete_prefix(&format!("{STAGING}/{run_id}")).await;
        }
    }

    /// Deletes the staging prefixes on the store of runs that are not `live`
    /// and not this process's (a lake on object storage; 0 otherwise).
    pub async fn sweep_remote(&self, live: &std::collections::HashSet<String>) -> Result<usize> {
        let Some(remote) = &self.remote else { return Ok(0) };
        let mut keep = live.clone();
        if let Ok(runs) = self.url_runs.lock() {
            keep.extend(runs.iter().cloned());
        }
        remote.sweep_staging(&keep).await
    }

    /// The lake on object storage, if it is one.
    pub fn remote(&self) -> Option<&ObjectLake> {
        self.remote.as_deref()
    }

    /// With `false`, seals skip fsync (`durability = "fast"`: scratch
    /// projects, where a power loss may cost a committed instance's data).
    pub fn with_durability(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// The lake's local root directory: its data, or for a lake on object
    /// storage, where its runs stage.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The lake's root as people see it: a directory or a URL.
    pub fn root_display(&self) -> String {
        match &self.remote {
            Some(r) => r.url().to_string(),
            None => self.root.display().to_string(),
        }
    }

    /// Where an instance is: its path or URL (what the catalog records).
    pub fn location(&self, prefix: &str) -> String {
        match &self.remote {
            Some(r) => r.instance_url(prefix),
            None => self.root.join(prefix).display().to_string(),
        }
    }

    /// Where an instance is, for readers.
    pub fn locate(&self, prefix: &str) -> Location {
        match &self.remote {
            Some(r) => Location::Object(r.locate(prefix)),
            None => Location::Dir(self.root.join(prefix)),
        }
    }

    /// The instance prefix (`<dataset>/v<N>/<key>`) of a location this lake
    /// holds.
    pub fn prefix_of(&self, location: &str) -> Option<String> {
        let rel = match &self.remote {
            Some(r) => location.strip_prefix(r.url())?.strip_prefix('/')?.to_string(),
            None => Path::new(location)
                .strip_prefix(&self.root)
                .ok()?
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/"),
        };
        (!rel.is_empty()).then_some(rel)
    }

    /// Whether the instance at `prefix` is sealed.
    pub async fn is_sealed(&self, prefix: &str) -> Result<bool> {
        if let Some(r) = &self.remote {
            return r.is_sealed(prefix).await;
        }
        match self.store.head(&ObjPath::from(format!("{prefix}/{SUCCESS}"))).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// [`Lake::is_sealed`] of an owned prefix (for streams of checks).
    pub fn is_sealed_owned(&self, prefix: String) -> impl std::future::Future<Output = Result<bool>> + Send + 'static {
        let lake = self.clone();
        async move { lake.is_sealed(&prefix).await }
    }

    /// Reads the manifest of a sealed instance.
    pub async fn manifest(&self, prefix: &str) -> Result<Option<Manifest>> {
        if let Some(r) = &self.remote {
            return r.manifest(prefix).await;
        }
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
        let bytes = if let Some(r) = &self.remote {
            match r.read(prefix, SUCCESS).await {
                Ok(b) => b,
                Err(LakeError::Store(object_store::Error::NotFound { .. })) => return Ok(None),
                Err(e) => return Err(e),
            }
        } else {
            match self.store.get(&ObjPath::from(format!("{prefix}/{SUCCESS}"))).await {
                Ok(r) => r.bytes().await?.to_vec(),
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        };
        Ok(Some(hex::encode(Sha256::digest(&bytes))))
    }

    /// Moves an instance into the trash (`_trash/<trash_id>/<prefix>`),
    /// where `weir gc` deletes it later. A missing instance is not an error.
    pub async fn move_to_trash(&self, prefix: &str, trash_id: &str) -> Result<()> {
        if let Some(r) = &self.remote {
            return r.move_to_trash(prefix, trash_id).await;
        }
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

    /// Moves the instance at `location` (in this lake) back from trash
    /// `trash_id`; see [`untrash_location`].
    pub async fn untrash(&self, location: &str, trash_id: &str) -> Result<bool> {
        match (&self.remote, self.prefix_of(location)) {
            (Some(r), Some(prefix)) => r.untrash(&prefix, trash_id).await,
            (None, _) => untrash_location(Path::new(location), trash_id),
            (Some(_), None) => Err(location::foreign(location)),
        }
    }

    /// The manifest of the instance at `location` in trash `trash_id`.
    pub async fn trashed_manifest(&self, location: &str, trash_id: &str) -> Result<Option<Manifest>> {
        let Some(prefix) = self.prefix_of(location) else {
            return Ok(None);
        };
        self.manifest(&format!("{TRASH}/{trash_id}/{prefix}")).await
    }

    /// Deletes trash `trash_id` of this lake for good.
    pub async fn delete_trash(&self, trash_id: &str) -> Result<()> {
        if let Some(r) = &self.remote {
            return r.delete_trash(trash_id).await;
        }
        let dir = self.root.join(TRASH).join(trash_id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&dir)(e)),
            _ => Ok(()),
        }
    }

    /// The ids in this lake's `_trash/`, with their locations.
    pub async fn trash_ids(&self) -> Result<Vec<(String, String)>> {
        if let Some(r) = &self.remote {
            return Ok(r
                .trash_ids()
                .await?
                .into_iter()
                .map(|id| {
                    let at = format!("{}/{TRASH}/{id}", r.url());
                    (id, at)
                })
                .collect());
        }
        let dir = self.root.join(TRASH);
        let mut ids: Vec<(String, String)> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().to_string(),
                            e.path().display().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        Ok(ids)
    }

    /// Removes one file (`rel` to the lake's root; a stray one, for `weir
    /// doctor --repair`).
    pub async fn remove_file(&self, rel: &str) -> Result<()> {
        if let Some(r) = &self.remote {
            return r.delete_object(rel).await;
        }
        let path = self.root.join(rel);
        std::fs::remove_file(&path).map_err(io(&path))
    }

    /// Every `<dataset>/v<N>/<key>` entry of the lake, sealed or not.
    pub async fn walk(&self) -> Result<Vec<Walked>> {
        match &self.remote {
            Some(r) => r.walk().await,
            None => location::walk_dir(&self.root),
        }
    }
}
