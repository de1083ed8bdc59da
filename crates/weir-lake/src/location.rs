//! Where an instance's files are, for readers: a directory on this machine,
//! or a prefix on object storage (with the store that reads it); and the
//! walk over a whole lake that `weir doctor` and `catalog rebuild` make.

use crate::{LakeError, Result, SUCCESS, io};
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where one instance's files are.
#[derive(Clone, Debug)]
pub enum Location {
    /// A directory on this machine.
    Dir(PathBuf),
    /// A prefix on object storage.
    Object(ObjectLocation),
}

/// An instance on object storage.
#[derive(Clone, Debug)]
pub struct ObjectLocation {
    /// `s3://bucket/prefix/<dataset>/v<N>/<key>`.
    pub url: String,
    /// `s3://bucket`: the URL a reader (DataFusion) registers `store` under.
    pub store_url: String,
    pub store: Arc<dyn ObjectStore>,
    /// The instance's key prefix in `store`.
    pub key: ObjPath,
}

impl Location {
    /// The path or URL, for people and for `WEIR_INPUT_*_URL`.
    pub fn display(&self) -> String {
        match self {
            Location::Dir(d) => d.display().to_string(),
            Location::Object(o) => o.url.clone(),
        }
    }

    /// Where one of the instance's files is (a path or a URL).
    pub fn file_display(&self, name: &str) -> String {
        match self {
            Location::Dir(d) => d.join(name).display().to_string(),
            Location::Object(o) => format!("{}/{name}", o.url.trim_end_matches('/')),
        }
    }

    /// One of the instance's files, whole. `name` is relative to the
    /// instance and may not leave it (`..`, absolute paths and empty parts
    /// are refused).
    pub async fn read(&self, name: &str) -> Result<bytes::Bytes> {
        if name.is_empty() || name.starts_with('/') || name.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
            return Err(LakeError::Refused {
                entry: name.to_string(),
                reason: "not a file name inside the instance".into(),
            });
        }
        match self {
            Location::Dir(d) => {
                let path = d.join(name);
                Ok(bytes::Bytes::from(tokio::fs::read(&path).await.map_err(io(&path))?))
            }
            Location::Object(o) => {
                let key = ObjPath::from(format!("{}/{name}", o.key.as_ref()));
                Ok(o.store.get(&key).await?.bytes().await?)
            }
        }
    }

    /// The instance's files in a local directory: its own, or a copy of
    /// its data files (never `_SUCCESS`) fetched into `into`, which is
    /// created. One listing and one read per file.
    pub async fn local_dir(&self, into: &Path) -> Result<PathBuf> {
        let o = match self {
            Location::Dir(d) => return Ok(d.clone()),
            Location::Object(o) => o,
        };
        tokio::fs::create_dir_all(into).await.map_err(io(into))?;
        let listed: Vec<_> = o.store.list(Some(&o.key)).try_collect().await?;
        for meta in listed {
            let rel = meta
                .location
                .as_ref()
                .strip_prefix(o.key.as_ref())
                .unwrap_or("")
                .trim_start_matches('/')
                .to_string();
            if rel.is_empty() || rel == SUCCESS || rel.split('/').any(|p| p == ".." || p.is_empty()) {
                continue;
            }
            let bytes = o.store.get(&meta.location).await?.bytes().await?;
            let path = into.join(&rel);
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(io(parent))?;
            }
            tokio::fs::write(&path, &bytes).await.map_err(io(&path))?;
        }
        Ok(into.to_path_buf())
    }
}

/// One instance-shaped entry of a lake (`<dataset>/v<N>/<key>`), sealed or
/// not, as a walk over the whole lake finds it.
#[derive(Clone, Debug)]
pub struct Walked {
    /// `<dataset>/v<N>/<key>`.
    pub prefix: String,
    /// Its path or URL.
    pub location: String,
    /// Its files (relative, `/`-separated) with their sizes, `_SUCCESS`
    /// included when sealed.
    pub files: Vec<(String, u64)>,
}

impl Walked {
    pub fn dataset(&self) -> &str {
        self.prefix.split('/').next().unwrap_or("")
    }

    /// `v<N>` parsed; `None` for a directory that is not a version's.
    pub fn version(&self) -> Option<u32> {
        self.prefix.split('/').nth(1)?.strip_prefix('v')?.parse().ok()
    }

    pub fn sealed(&self) -> bool {
        self.files.iter().any(|(n, _)| n == SUCCESS)
    }
}

/// Every `<dataset>/v<N>/<key>` directory under a local root, outside `_…`.
pub(crate) fn walk_dir(root: &Path) -> Result<Vec<Walked>> {
    let mut out = Vec::new();
    for d in subdirs(root)? {
        if name_of(&d).starts_with('_') {
            continue;
        }
        for v in subdirs(&d)? {
            for k in subdirs(&v)? {
                let prefix = format!("{}/{}/{}", name_of(&d), name_of(&v), name_of(&k));
                let mut files = Vec::new();
                let mut stack = vec![k.clone()];
                while let Some(dir) = stack.pop() {
                    for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
                        let e = e.map_err(io(&dir))?;
                        let meta = std::fs::symlink_metadata(e.path()).map_err(io(&e.path()))?;
                        if meta.is_dir() {
                            stack.push(e.path());
                        } else if let Ok(rel) = e.path().strip_prefix(&k) {
                            files.push((
                                rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"),
                                meta.len(),
                            ));
                        }
                    }
                }
                files.sort();
                out.push(Walked {
                    location: k.display().to_string(),
                    prefix,
                    files,
                });
            }
        }
    }
    Ok(out)
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

fn subdirs(p: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(p) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(p)(e)),
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .collect();
    v.sort();
    Ok(v)
}

/// The error for a location no lake of the project holds.
pub(crate) fn foreign(location: &str) -> LakeError {
    LakeError::Unsupported {
        lake: "?".into(),
        root: location.to_string(),
        hint: "no lake in weir.toml holds this location; add the lake back to reach it".into(),
    }
}

/// One file on object storage outside any lake (a landed file).
#[derive(Clone, Debug)]
pub struct RemoteFile {
    pub url: String,
    pub size: u64,
    store: Arc<dyn ObjectStore>,
    key: ObjPath,
}

impl RemoteFile {
    /// The last part of its key.
    pub fn name(&self) -> &str {
        self.key.filename().unwrap_or("file")
    }

    /// Copies it into the local file `dest`; returns its size.
    pub async fn copy_to(&self, dest: &Path) -> Result<u64> {
        let bytes = self.store.get(&self.key).await?.bytes().await?;
        tokio::fs::write(dest, &bytes).await.map_err(io(dest))?;
        Ok(bytes.len() as u64)
    }
}

/// The files on object storage matching `pattern` (`s3://bucket/landing/2026-01-02/*.jsonl`;
/// `*`, `?` and `[…]` never cross a `/`), sorted. One listing of the
/// pattern's fixed directory: only the prefix of one partition is read.
pub async fn list_matching(pattern: &str) -> Result<Vec<RemoteFile>> {
    let (store, store_url, key_pattern) = crate::object::open_store("landing", pattern)?;
    let fixed = match key_pattern.find(['*', '?', '[']) {
        Some(i) => key_pattern[..i].rsplit_once('/').map_or("", |(d, _)| d),
        None => key_pattern.rsplit_once('/').map_or("", |(d, _)| d),
    };
    let glob = glob::Pattern::new(&key_pattern).map_err(|e| LakeError::Unsupported {
        lake: "landing".into(),
        root: pattern.to_string(),
        hint: format!("not a valid pattern: {e}"),
    })?;
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let listed: Vec<_> = store.list(Some(&ObjPath::from(fixed))).try_collect().await?;
    let mut out: Vec<RemoteFile> = listed
        .into_iter()
        .filter(|m| glob.matches_with(m.location.as_ref(), opts))
        .map(|m| RemoteFile {
            url: format!("{store_url}/{}", m.location),
            size: m.size,
            store: store.clone(),
            key: m.location,
        })
        .collect();
    out.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(out)
}
