//! Lakes on object storage (`s3://bucket/prefix`; issue 19, in progress):
//! the seal without renames.
//!
//! The protocol (the local lake's invariants, by other means):
//! 1. a job writes into a *local* staging directory, checked exactly as for
//!    a local lake (only regular files, names the job chose, none of
//!    weir's);
//! 2. each file is hashed, then uploaded under the instance's prefix. An
//!    upload is not data: a prefix without `_SUCCESS` is never read;
//! 3. `_SUCCESS` is written with a conditional put (`If-None-Match: *`): of
//!    two writers only one can seal, and a sealed instance is never
//!    overwritten. The loser's uploads carry the same content under the
//!    same names only when its build was the same; they are never served
//!    (its manifest was refused), and the winner's manifest names the
//!    sizes and hashes readers and `weir doctor` check against;
//! 4. the catalog commits after the seal, as for a local lake. S3's puts
//!    are durable when they answer, so there is nothing to sync.
//!
//! Moving an instance to the trash is a copy of each object, then a delete:
//! resumable (a second call finishes what a crash left), `_SUCCESS` copied
//! last and deleted first, so the instance stops being data before any of
//! its files go.

use crate::{FileEntry, LakeError, Manifest, Result, SUCCESS, TRASH};
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::path::Path;
use std::sync::Arc;

/// A lake on object storage.
#[derive(Clone, Debug)]
pub struct ObjectLake {
    pub name: String,
    /// The lake's URL, as declared (`s3://bucket/prefix`); never holds a secret.
    url: String,
    store: Arc<dyn ObjectStore>,
    /// The key prefix inside the bucket.
    base: ObjPath,
}

/// Where the S3 endpoint is, for S3-compatible servers: `WEIR_S3_ENDPOINT`,
/// or the standard `AWS_ENDPOINT_URL`.
fn endpoint() -> Option<String> {
    ["WEIR_S3_ENDPOINT", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
}

impl ObjectLake {
    /// Opens lake `name` at `url` (`s3://bucket[/prefix]`). Credentials come
    /// from the standard environment (`AWS_ACCESS_KEY_ID`, …) and are never
    /// printed.
    pub fn open(name: &str, url: &str) -> Result<ObjectLake> {
        let unsupported = |hint: &str| LakeError::Unsupported {
            lake: name.to_string(),
            root: url.to_string(),
            hint: hint.to_string(),
        };
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(unsupported("object storage lakes are s3://bucket/prefix"));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(unsupported("name the bucket: s3://bucket/prefix"));
        }
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(e) = endpoint() {
            b = b.with_allow_http(e.starts_with("http://")).with_endpoint(e);
        }
        let store = b.build().map_err(|e| unsupported(&format!("cannot open it: {e}")))?;
        Ok(ObjectLake {
            name: name.to_string(),
            url: url.trim_end_matches('/').to_string(),
            store: Arc::new(store),
            base: ObjPath::from(prefix.trim_matches('/')),
        })
    }

    /// A lake over any store (tests; other clouds).
    pub fn with_store(name: &str, url: &str, store: Arc<dyn ObjectStore>, prefix: &str) -> ObjectLake {
        ObjectLake {
            name: name.to_string(),
            url: url.to_string(),
            store,
            base: ObjPath::from(prefix.trim_matches('/')),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key of `rel` (`<dataset>/v<N>/<key>/<file>`) in the store.
    fn key(&self, rel: &str) -> ObjPath {
        let base = self.base.as_ref();
        if base.is_empty() {
            ObjPath::from(rel)
        } else {
            ObjPath::from(format!("{base}/{rel}"))
        }
    }

    /// The URL of an instance (for readers).
    pub fn instance_url(&self, prefix: &str) -> String {
        format!("{}/{prefix}", self.url)
    }

    pub async fn is_sealed(&self, prefix: &str) -> Result<bool> {
        match self.store.head(&self.key(&format!("{prefix}/{SUCCESS}"))).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The manifest of a sealed instance.
    pub async fn manifest(&self, prefix: &str) -> Result<Option<Manifest>> {
        let key = self.key(&format!("{prefix}/{SUCCESS}"));
        let bytes = match self.store.get(&key).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Manifest::parse(&bytes, key.as_ref()).map(Some)
    }

    /// Seals the local `staging` directory as the instance at `prefix`:
    /// uploads, then `_SUCCESS` by conditional put. Refuses a sealed
    /// instance (`AlreadySealed`), before or at the conditional put.
    pub async fn seal(&self, staging: &Path, prefix: &str, mut manifest: Manifest) -> Result<Manifest> {
        if self.is_sealed(prefix).await? {
            return Err(LakeError::AlreadySealed(prefix.to_string()));
        }
        let dir = staging.to_path_buf();
        let files = tokio::task::spawn_blocking(move || -> Result<Vec<(String, u64, String)>> {
            let mut out = Vec::new();
            for rel in crate::seal::staged_files(&dir)? {
                let (size, sha256) = crate::seal::hash_file(&dir.join(&rel))?;
                out.push((
                    rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"),
                    size,
                    sha256,
                ));
            }
            Ok(out)
        })
        .await
        .map_err(|e| LakeError::Io {
            path: staging.display().to_string(),
            source: std::io::Error::other(e),
        })??;
        let mut entries = Vec::with_capacity(files.len());
        for (name, size, sha256) in files {
            let path = staging.join(&name);
            let bytes = tokio::fs::read(&path).await.map_err(crate::io(&path))?;
            self.store
                .put(&self.key(&format!("{prefix}/{name}")), PutPayload::from(bytes))
                .await?;
            entries.push(FileEntry { name, size, sha256 });
        }
        manifest.files = entries;
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
            .put_opts(&self.key(&format!("{prefix}/{SUCCESS}")), PutPayload::from(body), opts)
            .await
        {
            Ok(_) => Ok(manifest),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Err(LakeError::AlreadySealed(prefix.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The keys under an instance, relative to it (sorted).
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let dir = self.key(prefix);
        let mut names: Vec<String> = self
            .store
            .list(Some(&dir))
            .map_ok(|m| {
                m.location
                    .as_ref()
                    .strip_prefix(dir.as_ref())
                    .unwrap_or("")
                    .trim_start_matches('/')
                    .to_string()
            })
            .try_collect()
            .await?;
        names.sort();
        Ok(names)
    }

    /// Moves the instance at `prefix` to `_trash/<trash_id>/<prefix>`: a
    /// copy of each object, then deletes. Resumable; a missing instance is
    /// not an error.
    pub async fn move_to_trash(&self, prefix: &str, trash_id: &str) -> Result<()> {
        let to = format!("{TRASH}/{trash_id}/{prefix}");
        let names = self.list(prefix).await?;
        // Copies: the data first, `_SUCCESS` last.
        let (seal, data): (Vec<&String>, Vec<&String>) = names.iter().partition(|n| n.as_str() == SUCCESS);
        for n in data.iter().chain(seal.iter()) {
            self.store
                .copy(&self.key(&format!("{prefix}/{n}")), &self.key(&format!("{to}/{n}")))
                .await?;
        }
        // Deletes: `_SUCCESS` first, so the instance stops being data at once.
        for n in seal.iter().chain(data.iter()) {
            match self.store.delete(&self.key(&format!("{prefix}/{n}"))).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads one file of an instance (tests and `weir doctor`).
    pub async fn read(&self, prefix: &str, name: &str) -> Result<Vec<u8>> {
        Ok(self
            .store
            .get(&self.key(&format!("{prefix}/{name}")))
            .await?
            .bytes()
            .await?
            .to_vec())
    }

    /// Every key under an instance (tests and `weir doctor`).
    pub async fn files(&self, prefix: &str) -> Result<Vec<String>> {
        self.list(prefix).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_s3_urls_with_a_bucket_open() {
        for url in ["gs://b/p", "s3://", "s3:///p", "file:///tmp"] {
            assert!(
                matches!(ObjectLake::open("x", url), Err(LakeError::Unsupported { .. })),
                "{url}"
            );
        }
    }
}
