//! Managing what a lake on object storage holds: moves to and from the
//! trash (copies, then deletes), deletes, verification against a manifest,
//! and the walk over the whole lake.

use super::ObjectLake;
use crate::{LakeError, Manifest, Result, SUCCESS, TRASH};
use object_store::ObjectStoreExt;
use sha2::Digest;

impl ObjectLake {
    /// Copies every object under `from` to `to` (data first, `_SUCCESS`
    /// last), then deletes the originals (`_SUCCESS` first). Resumable.
    pub(super) async fn move_prefix(&self, from: &str, to: &str) -> Result<()> {
        let names = self.list(from).await?;
        let (seal, data): (Vec<&String>, Vec<&String>) =
            names.iter().map(|(n, _)| n).partition(|n| n.as_str() == SUCCESS);
        for n in data.iter().chain(seal.iter()) {
            self.store
                .copy(&self.key(&format!("{from}/{n}")), &self.key(&format!("{to}/{n}")))
                .await?;
        }
        for n in seal.iter().chain(data.iter()) {
            self.delete(&format!("{from}/{n}")).await?;
        }
        Ok(())
    }

    /// Deletes one object (`rel` to the lake's root); a missing one is not
    /// an error.
    pub async fn delete_object(&self, rel: &str) -> Result<()> {
        self.delete(rel).await
    }

    /// S3 deletes go out as a bulk-delete POST, which the store's client
    /// does not retry after a timeout; a delete is idempotent, so this does.
    pub(super) async fn delete(&self, rel: &str) -> Result<()> {
        let key = self.key(rel);
        let mut attempt = 0;
        loop {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => return Ok(()),
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    tracing::info!("deleting {key}: {e}; trying again");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Deletes every object under `prefix` (`_SUCCESS` first).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let names = self.list(prefix).await?;
        let (seal, data): (Vec<&String>, Vec<&String>) =
            names.iter().map(|(n, _)| n).partition(|n| n.as_str() == SUCCESS);
        for n in seal.iter().chain(data.iter()) {
            self.delete(&format!("{prefix}/{n}")).await?;
        }
        Ok(names.len())
    }

    /// Moves the instance at `prefix` to `_trash/<trash_id>/<prefix>`: a
    /// copy of each object, then deletes. Resumable; a missing instance is
    /// not an error.
    pub async fn move_to_trash(&self, prefix: &str, trash_id: &str) -> Result<()> {
        self.move_prefix(prefix, &format!("{TRASH}/{trash_id}/{prefix}")).await
    }

    /// Moves an instance back from trash `trash_id`. False when the trash
    /// no longer holds it (gc); `AlreadySealed` when a sealed instance is
    /// there now (a rebuild wins). Unsealed leftovers at `prefix` are moved
    /// aside first, never deleted.
    pub async fn untrash(&self, prefix: &str, trash_id: &str) -> Result<bool> {
        let from = format!("{TRASH}/{trash_id}/{prefix}");
        if !self.exists(&format!("{from}/{SUCCESS}")).await? {
            return Ok(false);
        }
        if self.is_sealed(prefix).await? {
            return Err(LakeError::AlreadySealed(self.instance_url(prefix)));
        }
        if !self.list(prefix).await?.is_empty() {
            self.move_to_trash(prefix, &format!("leftover-restore-{trash_id}"))
                .await?;
        }
        self.move_prefix(&from, prefix).await?;
        Ok(true)
    }

    /// The manifest of an instance in trash `trash_id`, if it is still there.
    pub async fn trashed_manifest(&self, prefix: &str, trash_id: &str) -> Result<Option<Manifest>> {
        self.manifest(&format!("{TRASH}/{trash_id}/{prefix}")).await
    }

    /// Deletes trash `trash_id` for good.
    pub async fn delete_trash(&self, trash_id: &str) -> Result<()> {
        self.delete_prefix(&format!("{TRASH}/{trash_id}")).await.map(|_| ())
    }

    /// The ids in `_trash/`.
    pub async fn trash_ids(&self) -> Result<Vec<String>> {
        let dir = self.key(TRASH);
        let listed = self.store.list_with_delimiter(Some(&dir)).await?;
        let mut ids: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        ids.sort();
        Ok(ids)
    }

    pub(super) async fn exists(&self, rel: &str) -> Result<bool> {
        match self.store.head(&self.key(rel)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// What is wrong with the sealed instance at `prefix` against its
    /// manifest: missing files, other sizes and, when `deep`, other hashes
    /// (each file is read). Empty when it is whole. One listing, plus a read
    /// per file when deep.
    pub async fn verify(&self, prefix: &str, manifest: &Manifest, deep: bool) -> Vec<String> {
        let listed: std::collections::HashMap<String, u64> = match self.list(prefix).await {
            Ok(l) => l.into_iter().collect(),
            Err(e) => return vec![format!("cannot list it: {e}")],
        };
        let mut problems = Vec::new();
        for f in &manifest.files {
            match listed.get(&f.name) {
                None => problems.push(format!("{} is missing", f.name)),
                Some(&size) if size != f.size => {
                    problems.push(format!("{} has {size} bytes, the manifest says {}", f.name, f.size))
                }
                Some(_) if deep => match self.read(prefix, &f.name).await {
                    Ok(bytes) if hex::encode(sha2::Sha256::digest(&bytes)) == f.sha256 => {}
                    Ok(_) => problems.push(format!("{}'s sha256 differs from the manifest's", f.name)),
                    Err(e) => problems.push(format!("{} cannot be read: {e}", f.name)),
                },
                Some(_) => {}
            }
        }
        problems
    }

    /// Every instance-shaped prefix (`<dataset>/v<N>/<key>`) outside `_…`
    /// with its objects and sizes: for `weir doctor` and `catalog rebuild`,
    /// which read the whole lake. One listing per 1,000 objects.
    pub async fn walk(&self) -> Result<Vec<crate::Walked>> {
        let mut by: std::collections::BTreeMap<String, Vec<(String, u64)>> = Default::default();
        for (rel, size) in self.list("").await? {
            if rel.starts_with('_') {
                continue;
            }
            let mut parts = rel.splitn(4, '/');
            let (Some(d), Some(v), Some(k), Some(name)) = (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            by.entry(format!("{d}/{v}/{k}"))
                .or_default()
                .push((name.to_string(), size));
        }
        Ok(by
            .into_iter()
            .map(|(prefix, files)| crate::Walked {
                location: self.instance_url(&prefix),
                prefix,
                files,
            })
            .collect())
    }

    /// Where an instance is, for readers.
    pub fn locate(&self, prefix: &str) -> crate::ObjectLocation {
        crate::ObjectLocation {
            url: self.instance_url(prefix),
            store_url: self.store_url.clone(),
            store: self.store.clone(),
            key: self.key(prefix),
        }
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
        Ok(self.list(prefix).await?.into_iter().map(|(n, _)| n).collect())
    }
}
