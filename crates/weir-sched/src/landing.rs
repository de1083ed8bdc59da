//! Landing zones of ingest datasets: which files belong to which partition.

use std::ops::Not;
use std::path::{Path, PathBuf};
use weir_core::partition::Granularity;

/// Expands an ingest path template for one partition into a glob pattern.
pub fn expand(template: &str, g: Granularity, idx: i64) -> String {
    let t = g.start_of(idx);
    template
        .replace("{date}", &t.format("%Y-%m-%d").to_string())
        .replace("{hour}", &t.format("%H").to_string())
        .replace("{minute}", &t.format("%M").to_string())
        .replace("{month}", &t.format("%Y-%m").to_string())
}

/// A landed file: on this machine, or on object storage.
#[derive(Clone, Debug)]
pub enum Landed {
    Local(PathBuf),
    Remote(weir_lake::RemoteFile),
}

impl Landed {
    /// The file's name (the last part of its path or key).
    pub fn name(&self) -> String {
        match self {
            Landed::Local(p) => p.file_name().and_then(|n| n.to_str()).unwrap_or("file").to_string(),
            Landed::Remote(r) => r.name().to_string(),
        }
    }
}

/// Whether an ingest path template lands on object storage.
pub fn is_remote(template: &str) -> bool {
    ["s3://", "gs://", "az://"].iter().any(|s| template.starts_with(s))
}

/// The landed files of one partition (sorted), and the pattern they matched.
/// On object storage, one listing of the partition's own prefix.
pub async fn landed(
    project_dir: &Path,
    template: &str,
    g: Granularity,
    idx: i64,
) -> (weir_lake::Result<Vec<Landed>>, String) {
    if is_remote(template) {
        let pattern = expand(template, g, idx);
        let files = weir_lake::list_matching(&pattern).await.map(|files| {
            files
                .into_iter()
                .filter(|f| still_landing(f.name()).not())
                .map(Landed::Remote)
                .collect()
        });
        return (files, pattern);
    }
    let (files, pattern) = landing_files(project_dir, template, g, idx);
    (Ok(files.into_iter().map(Landed::Local).collect()), pattern)
}

/// Files still being written (`.tmp`, `.part`, hidden) have not landed.
fn still_landing(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".part")
}

/// The landed files of one partition on this machine (sorted), and the
/// pattern they matched.
pub fn landing_files(project_dir: &Path, template: &str, g: Granularity, idx: i64) -> (Vec<PathBuf>, String) {
    let rel = expand(template, g, idx);
    let pattern = if Path::new(&rel).is_absolute() {
        rel
    } else {
        project_dir.join(&rel).display().to_string()
    };
    let mut files: Vec<PathBuf> =
        match glob::glob(&glob::Pattern::escape(&pattern).replace("\\*", "*").replace("[*]", "*")) {
            Ok(paths) => paths.filter_map(Result::ok).filter(|p| p.is_file()).collect(),
            Err(_) => Vec::new(),
        };
    files.retain(|p| !still_landing(p.file_name().and_then(|n| n.to_str()).unwrap_or("")));
    files.sort();
    (files, pattern)
}

/// The fixed directory an ingest path template lands under: its components
/// up to the first one with a placeholder or a glob (`landing/plays` for
/// `landing/plays/{date}/{hour}.jsonl`). `weir serve` watches it.
pub fn landing_root(project_dir: &Path, template: &str) -> PathBuf {
    let path = Path::new(template);
    let mut root = if path.is_absolute() {
        PathBuf::new()
    } else {
        project_dir.to_path_buf()
    };
    let components: Vec<_> = path.components().collect();
    for (i, c) in components.iter().enumerate() {
        let s = c.as_os_str().to_string_lossy();
        if i + 1 == components.len() || s.contains(['{', '*', '?', '[']) {
            break;
        }
        root.push(c.as_os_str());
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_landing_root_stops_at_the_first_placeholder() {
        let dir = Path::new("/p");
        assert_eq!(
            landing_root(dir, "landing/plays/{date}/{hour}.jsonl"),
            Path::new("/p/landing/plays")
        );
        assert_eq!(landing_root(dir, "in/*.csv"), Path::new("/p/in"));
        assert_eq!(landing_root(dir, "file.csv"), Path::new("/p"));
        assert_eq!(landing_root(dir, "/data/x/{date}.json"), Path::new("/data/x"));
    }
}
