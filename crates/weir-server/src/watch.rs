//! Landing-file notifications: one inotify watch (through `notify`) on the
//! landing root of every ingest dataset of a deployment. An event only asks
//! the environment's loop to look again; what landed is read from the file
//! system by the planner's snapshot, so a missed or doubled event costs
//! nothing but latency (the slow rescan is the safety net).

use notify::{EventKind, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use weir_core::model::{Job, Project};

/// Watches the landing roots of `project`; `on_event` is called (from the
/// watcher's thread) when something there is created, written or moved in.
/// Roots that cannot be watched are reported and left to the rescan.
pub fn landing_watcher(
    dir: &Path,
    project: &Project,
    on_event: impl Fn() + Send + 'static,
) -> Option<notify::RecommendedWatcher> {
    let roots = landing_roots(dir, project);
    if roots.is_empty() {
        return None;
    }
    let mut watcher = match notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev
            && arrival(&ev.kind)
        {
            on_event();
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("landing files will be found by the rescan only: cannot watch: {e}");
            return None;
        }
    };
    for root in roots {
        // A landing root that does not exist yet is created, so that the
        // first file to land there is noticed at once.
        if !root.exists()
            && let Err(e) = std::fs::create_dir_all(&root)
        {
            tracing::warn!(
                "cannot create landing root {}: {e}; the rescan will find its files",
                root.display()
            );
            continue;
        }
        if let Err(e) = watcher.watch(&root, RecursiveMode::Recursive) {
            tracing::warn!("cannot watch {}: {e}; the rescan will find its files", root.display());
        }
    }
    Some(watcher)
}

/// A file created, written or moved in.
fn arrival(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any)
}

/// Watches the tree under `dir` (`weir dev`): `on_change` is called (from the
/// watcher's thread) with the paths of each event that creates, writes, moves
/// or removes something there. Editors save by writing a new file and
/// renaming it over the old one, so a directory is watched, not a file.
pub fn tree_watcher(
    dir: &Path,
    on_change: impl Fn(Vec<PathBuf>) + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev
            && (arrival(&ev.kind) || matches!(ev.kind, EventKind::Remove(_)))
        {
            on_change(ev.paths);
        }
    })?;
    watcher.watch(dir, RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// The distinct landing roots of a project's ingest datasets, outermost only.
pub fn landing_roots(dir: &Path, project: &Project) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = project
        .datasets
        .values()
        .filter_map(|d| match &d.job {
            // Object stores send no file events: the rescan timer lists those.
            Job::Ingest { path, .. } if !weir_sched::landing::is_remote(path) => {
                Some(weir_sched::landing::landing_root(dir, path))
            }
            _ => None,
        })
        .collect();
    roots.sort();
    roots.dedup();
    let all = roots.clone();
    roots.retain(|r| !all.iter().any(|o| o != r && r.starts_with(o)));
    roots
}
