//! Command jobs run the code that was fingerprinted: the scripts a job
//! names (and the project modules they import) are copied, by content hash,
//! into `.weir/code/`.

use crate::workspace::{SchedError, Workspace};
use weir_core::Dataset;
use weir_core::model::Job;

/// A command job runs the code that was fingerprinted, not whatever the
/// working copy holds now: its files are written once to
/// `.weir/code/<hash of the set>/<path>` and its arguments point there.
pub(super) fn materialize(ws: &Workspace, ds: &Dataset) -> Result<Dataset, SchedError> {
    let Job::Command { argv, env, files } = &ds.job else {
        return Ok(ds.clone());
    };
    if files.is_empty() {
        return Ok(ds.clone());
    }
    use sha2::Digest;
    // One directory for the job's whole code, named by the hash of every
    // path and content in it: a script finds the modules it imports beside
    // it, as it did in the working copy.
    let mut set = sha2::Sha256::new();
    for (rel, body) in files {
        set.update(rel.as_bytes());
        set.update([0]);
        set.update(sha2::Sha256::digest(body.as_bytes()));
    }
    let root = ws.dir.join(".weir/code").join(&hex::encode(set.finalize())[..16]);
    let mut argv = argv.clone();
    for (rel, body) in files {
        let path = root.join(rel);
        if !path.exists() {
            let io = |e: std::io::Error| SchedError::Other(format!("cannot write {}: {e}", path.display()));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, body).map_err(io)?;
            // Executable, so `command = ["./scripts/x.sh"]` runs the copy as it
            // ran the original (the snapshot keeps content, not modes).
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
            }
            std::fs::rename(&tmp, &path).map_err(io)?;
        }
        for a in argv.iter_mut().filter(|a| *a == rel) {
            *a = path.display().to_string();
        }
    }
    let mut out = ds.clone();
    out.job = Job::Command {
        argv,
        env: env.clone(),
        files: files.clone(),
    };
    Ok(out)
}
