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

use crate::{FileEntry, LakeError, Manifest, Result, STAGING, SUCCESS};
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use sha2::Digest;
use std::path::Path;
use std::sync::Arc;

mod manage;

/// A lake on object storage.
#[derive(Clone, Debug)]
pub struct ObjectLake {
    pub name: String,
    /// The lake's URL, as declared (`s3://bucket/prefix`); never holds a secret.
    url: String,
    store: Arc<dyn ObjectStore>,
    /// `scheme://bucket`: where readers register the store.
    store_url: String,
    /// The key prefix inside the bucket.
    base: ObjPath,
}

/// Retries for every request: transient errors (5xx, timeouts, resets) are
/// retried with backoff, and a request that stalls is cut off and retried.
fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: std::time::Duration::from_millis(50),
            max_backoff: std::time::Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 10,
        retry_timeout: std::time::Duration::from_secs(120),
    }
}

/// Each request's deadline: `WEIR_OBJECT_TIMEOUT_MS` (default 30 s), so a
/// stalled request is abandoned and retried instead of hanging a run.
fn client() -> object_store::ClientOptions {
    let ms = std::env::var("WEIR_OBJECT_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(30_000);
    object_store::ClientOptions::new()
        .with_timeout(std::time::Duration::from_millis(ms))
        .with_connect_timeout(std::time::Duration::from_millis(ms.min(5_000)))
}

/// Where the S3 endpoint is, for S3-compatible servers: `WEIR_S3_ENDPOINT`,
/// or the standard `AWS_ENDPOINT_URL`.
fn endpoint() -> Option<String> {
    ["WEIR_S3_ENDPOINT", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
}

/// The store a URL (`s3://bucket/prefix`, `gs://…`, `az://…`) names, the
/// URL of its bucket, and the prefix; `what` names it in errors. Stores
/// are opened once per bucket and process, and shared.
pub fn open_store(what: &str, url: &str) -> Result<(Arc<dyn ObjectStore>, String, String)> {
    // Whatever precedes an `@` may be a secret: never echoed.
    let shown = match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.rsplit('@').next().unwrap_or(rest)),
        None => url.to_string(),
    };
    let unsupported = |hint: &str| LakeError::Unsupported {
        lake: what.to_string(),
        root: shown.clone(),
        hint: hint.to_string(),
    };
    if url.contains('@') {
        return Err(unsupported(
            "credentials never go in a lake URL: set them in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY) or the cloud's config files",
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(unsupported("object storage lakes are s3://, gs:// or az:// URLs"));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(unsupported(&format!("name the bucket: {scheme}://bucket/prefix")));
    }
    let store_url = format!("{scheme}://{bucket}");
    static STORES: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, Arc<dyn ObjectStore>>>> =
        std::sync::OnceLock::new();
    let cache = STORES.get_or_init(Default::default);
    if let Some(store) = cache.lock().ok().and_then(|c| c.get(&store_url).cloned()) {
        return Ok((store, store_url, prefix.to_string()));
    }
    let built: std::result::Result<Arc<dyn ObjectStore>, object_store::Error> = match scheme {
        "s3" => {
            // Client options first: they replace `allow_http`.
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_client_options(client())
                .with_retry(retry())
                .with_bucket_name(bucket);
            if let Some(e) = endpoint() {
                b = b.with_allow_http(e.starts_with("http://")).with_endpoint(e);
            }
            b.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        "gs" => object_store::gcp::GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry())
            .with_client_options(client())
            .build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        "az" => object_store::azure::MicrosoftAzureBuilder::from_env()
            .with_container_name(bucket)
            .with_retry(retry())
            .with_client_options(client())
            .build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        _ => return Err(unsupported("object storage lakes are s3://, gs:// or az:// URLs")),
    };
    let store: Arc<dyn ObjectStore> = Arc::new(crate::counting::Counting(
        built.map_err(|e| unsupported(&format!("cannot open it: {e}")))?,
    ));
    if let Ok(mut c) = cache.lock() {
        c.insert(store_url.clone(), store.clone());
    }
    Ok((store, store_url, prefix.to_string()))
}

impl ObjectLake {
    /// Opens lake `name` at `url`: `s3://bucket[/prefix]`, `gs://bucket[/prefix]`
    /// or `az://container[/prefix]`. Credentials come from each cloud's
    /// standard environment (`AWS_ACCESS_KEY_ID`, `GOOGLE_APPLICATION_CREDENTIALS`,
    /// `AZURE_STORAGE_ACCOUNT_NAME`, …) and are never printed.
    pub fn open(name: &str, url: &str) -> Result<ObjectLake> {
        let (store, store_url, prefix) = open_store(name, url)?;
        Ok(ObjectLake {
            name: name.to_string(),
            url: url.trim_end_matches('/').to_string(),
            store,
            store_url,
            base: ObjPath::from(prefix.trim_matches('/')),
        })
    }

    /// A lake over any store (tests; other clouds).
    pub fn with_store(name: &str, url: &str, store: Arc<dyn ObjectStore>, prefix: &str) -> ObjectLake {
        let store_url = match url.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
            None => url.to_string(),
        };
        ObjectLake {
            name: name.to_string(),
            url: url.trim_end_matches('/').to_string(),
            store,
            store_url,
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

    /// Where run `run_id` may write objects itself (`WEIR_OUTPUT_URL`):
    /// `<lake>/_staging/<run_id>`. Never read as data.
    pub fn staging_url(&self, run_id: &str) -> String {
        format!("{}/{STAGING}/{run_id}", self.url)
    }

    /// Seals the local `staging` directory, and with `remote_run` what that
    /// run wrote under its staging prefix on the store, as the instance at
    /// `prefix`: uploads (or, for the objects, a read to hash them and a
    /// copy), then `_SUCCESS` by conditional put. Refuses a sealed instance
    /// (`AlreadySealed`), before or at the conditional put.
    pub async fn seal(
        &self,
        staging: &Path,
        prefix: &str,
        mut manifest: Manifest,
        remote_run: Option<&str>,
    ) -> Result<Manifest> {
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
        // What the run wrote to the store itself is checked before anything
        // is uploaded, so a refused seal leaves nothing under the instance.
        let mut objects = Vec::new();
        if let Some(run) = remote_run {
            for (name, size) in self.list(&format!("{STAGING}/{run}")).await? {
                let refuse = |reason: &str| LakeError::Refused {
                    entry: format!("{}/{name}", self.staging_url(run)),
                    reason: reason.to_string(),
                };
                if name.split('/').any(|p| p.is_empty() || p.starts_with(['_', '.'])) {
                    return Err(refuse(
                        "names starting with `_` or `.` are weir's or hidden; rename the output",
                    ));
                }
                if files.iter().any(|(n, _, _)| *n == name) {
                    return Err(refuse("it was written both to $WEIR_OUTPUT and to $WEIR_OUTPUT_URL"));
                }
                objects.push((name, size));
            }
        }
        let mut entries = Vec::with_capacity(files.len() + objects.len());
        for (name, size, sha256) in files {
            let path = staging.join(&name);
            let bytes = tokio::fs::read(&path).await.map_err(crate::io(&path))?;
            self.store
                .put(&self.key(&format!("{prefix}/{name}")), PutPayload::from(bytes))
                .await?;
            entries.push(FileEntry { name, size, sha256 });
        }
        if let Some(run) = remote_run {
            let from = format!("{STAGING}/{run}");
            for (name, size) in objects {
                let sha256 = self.sha256(&format!("{from}/{name}")).await?;
                self.store
                    .copy(
                        &self.key(&format!("{from}/{name}")),
                        &self.key(&format!("{prefix}/{name}")),
                    )
                    .await?;
                entries.push(FileEntry { name, size, sha256 });
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
        }
        manifest.files = entries;
        let body = serde_json::to_vec_pretty(&manifest).map_err(|e| LakeError::BadManifest {
            path: prefix.to_string(),
            reason: e.to_string(),
        })?;
        self.put_seal(prefix, body).await?;
        if let Some(run) = remote_run {
            // Garbage now; a failure here leaves it to the sweep.
            let _ = self.delete_prefix(&format!("{STAGING}/{run}")).await;
        }
        Ok(manifest)
    }

    /// The sha256 (hex) of one object, read as a stream.
    async fn sha256(&self, rel: &str) -> Result<String> {
        let mut stream = self.store.get(&self.key(rel)).await?.into_stream();
        let mut h = sha2::Sha256::new();
        while let Some(chunk) = stream.try_next().await? {
            h.update(&chunk);
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Deletes the staging prefixes of runs not in `keep` (dead runs' objects
    /// written to `WEIR_OUTPUT_URL`). Returns how many it deleted.
    pub async fn sweep_staging(&self, keep: &std::collections::HashSet<String>) -> Result<usize> {
        let dir = self.key(STAGING);
        let listed = self.store.list_with_delimiter(Some(&dir)).await?;
        let mut n = 0;
        for p in listed.common_prefixes {
            let Some(run) = p.filename() else { continue };
            if keep.contains(run) {
                continue;
            }
            self.delete_prefix(&format!("{STAGING}/{run}")).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Writes `_SUCCESS` with a conditional put. A conditional put is not
    /// idempotent, so the store's client does not retry it after a timeout;
    /// this does, after reading what is there: its own bytes (the first try
    /// landed, its answer was lost) are success, a seal of other bytes is
    /// another writer's, and nothing there is tried again.
    async fn put_seal(&self, prefix: &str, body: Vec<u8>) -> Result<()> {
        let key = self.key(&format!("{prefix}/{SUCCESS}"));
        let mut attempt = 0u32;
        loop {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            let put = self.store.put_opts(&key, PutPayload::from(body.clone()), opts).await;
            let err = match put {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let there = match self.read(prefix, SUCCESS).await {
                Ok(bytes) => Some(bytes),
                Err(LakeError::Store(object_store::Error::NotFound { .. })) => None,
                Err(_) if attempt < 5 => {
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match there {
                Some(bytes) if bytes == body => return Ok(()),
                Some(_) => return Err(LakeError::AlreadySealed(prefix.to_string())),
                None if attempt < 5
                    && !matches!(
                        err,
                        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }
                    ) =>
                {
                    attempt += 1;
                    tracing::info!("sealing {prefix}: the conditional put failed ({err}); trying again");
                }
                None => return Err(err.into()),
            }
        }
    }

    /// The keys under `prefix` (relative to it) with their sizes, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let dir = self.key(prefix);
        let mut names: Vec<(String, u64)> = self
            .store
            .list(Some(&dir))
            .map_ok(|m| {
                let rel = m
                    .location
                    .as_ref()
                    .strip_prefix(dir.as_ref())
                    .unwrap_or("")
                    .trim_start_matches('/')
                    .to_string();
                (rel, m.size)
            })
            .try_collect()
            .await?;
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_s3_urls_with_a_bucket_open() {
        for url in ["ftp://b/p", "s3://", "s3:///p", "file:///tmp", "gs://", "az:///x"] {
            assert!(
                matches!(ObjectLake::open("x", url), Err(LakeError::Unsupported { .. })),
                "{url}"
            );
        }
    }
}
