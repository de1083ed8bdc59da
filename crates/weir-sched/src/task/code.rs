//! Command jobs run the code that was fingerprinted: the scripts a job
//! names are copied, by content hash, into `.weir/code/`.

use crate::workspace::{SchedError, Workspace};
use weir_core::Dataset;
use weir_core::model::Job;

/// A command job runs the code that was fingerprinted, not whatever the
/// working copy holds now: the scripts it names are written once to
/// `.weir/code/<sha256>/<path>` and its arguments point there.
pub(super) fn materialize(ws: &Workspace, ds: &Dataset) -> Result<Dataset, SchedError> {
    let Job::Command { argv, env, files } = &ds.job else {
        return Ok(ds.clone());
    };
    if files.is_empty() {
        return Ok(ds.clone());
    }
    use sha2::Digest;
    let mut argv = argv.clone();
    for (rel, body) in files {
        let hash = hex::encode(sha2::Sha256::digest(body.as_bytes()));
        let path = ws.dir.join(".weir/code").join(&hash[..16]).join(rel);
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
