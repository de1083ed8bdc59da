//! The trash by location: an instance's files moved to `_trash/<id>/`
//! (invalidate), back (restore) or deleted (gc), in whichever lake holds the
//! location the catalog recorded; a local directory no lake names any more
//! is handled within its own root.

use crate::{Lake, LakeError, Manifest, Result, SUCCESS, TRASH, io, location};
use std::path::{Path, PathBuf};

/// The lake of `lakes` that holds `location`.
pub fn lake_at<'a>(lakes: impl IntoIterator<Item = &'a Lake>, location: &str) -> Option<&'a Lake> {
    lakes.into_iter().find(|l| l.prefix_of(location).is_some())
}

/// Moves the instance at `location` into trash `trash_id`, in whichever of
/// `lakes` holds it (a local directory no lake names any more is moved
/// within its own root).
pub async fn trash_at<'a>(lakes: impl IntoIterator<Item = &'a Lake>, location: &str, trash_id: &str) -> Result<()> {
    match lake_at(lakes, location) {
        Some(l) => match l.prefix_of(location) {
            Some(p) => l.move_to_trash(&p, trash_id).await,
            None => Ok(()),
        },
        None if location.contains("://") => Err(location::foreign(location)),
        None => trash_location(Path::new(location), trash_id),
    }
}

/// Moves the instance at `location` back from trash `trash_id`.
pub async fn untrash_at<'a>(lakes: impl IntoIterator<Item = &'a Lake>, location: &str, trash_id: &str) -> Result<bool> {
    match lake_at(lakes, location) {
        Some(l) => l.untrash(location, trash_id).await,
        None if location.contains("://") => Err(location::foreign(location)),
        None => untrash_location(Path::new(location), trash_id),
    }
}

/// The manifest of the instance at `location` in trash `trash_id`.
pub async fn trashed_manifest_at<'a>(
    lakes: impl IntoIterator<Item = &'a Lake>,
    location: &str,
    trash_id: &str,
) -> Result<Option<Manifest>> {
    if let Some(l) = lake_at(lakes, location) {
        return l.trashed_manifest(location, trash_id).await;
    }
    if location.contains("://") {
        return Err(location::foreign(location));
    }
    let Some(dir) = trashed_dir(Path::new(location), trash_id) else {
        return Ok(None);
    };
    let path = dir.join(SUCCESS);
    match std::fs::read(&path) {
        Ok(b) => Manifest::parse(&b, &path.display().to_string()).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Deletes trash `trash_id` in the lake holding `location`.
pub async fn delete_trash_at<'a>(
    lakes: impl IntoIterator<Item = &'a Lake>,
    location: &str,
    trash_id: &str,
) -> Result<()> {
    match lake_at(lakes, location) {
        Some(l) => l.delete_trash(trash_id).await,
        None if location.contains("://") => Err(location::foreign(location)),
        None => delete_trash_of(Path::new(location), trash_id),
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
