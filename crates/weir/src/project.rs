//! The composition root: find the project, load and validate its definitions,
//! open its catalog and lakes, and read the clock (`WEIR_NOW`).

use crate::UserError;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weir_core::load::{PROJECT_FILE, load_project, safe_relative};
use weir_core::model::Project;
use weir_core::partition::parse_instant;
use weir_core::planner::Selection;
use weir_sched::Workspace;

/// The project directory: `--project`, else the nearest ancestor with `weir.toml`.
pub fn find(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        if dir.join(PROJECT_FILE).is_file() {
            return Ok(dir.to_path_buf());
        }
        return Err(UserError::new(
            format!("no {PROJECT_FILE} in {}", dir.display()),
            "run `weir init DIR` to create a project, or point --project at one",
        )
        .into());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    for dir in cwd.ancestors() {
        if dir.join(PROJECT_FILE).is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    Err(UserError::new(
        format!("no {PROJECT_FILE} here or in any parent of {}", cwd.display()),
        "cd into a project, pass --project DIR, or run `weir demo` to make one",
    )
    .into())
}

/// Loads and validates the definitions of the project in `dir`.
pub fn load(dir: &Path) -> Result<Project> {
    load_tracked(dir).0
}

/// Loads and validates, and says which project files the definitions read
/// besides `weir.toml` or looked for (SQL files, scripts, the modules they import),
/// whether or not they loaded: what `weir dev` watches.
pub fn load_tracked(dir: &Path) -> (Result<Project>, Vec<String>) {
    let read_files = std::cell::RefCell::new(Vec::new());
    let text = match std::fs::read_to_string(dir.join(PROJECT_FILE))
        .with_context(|| format!("cannot read {}", dir.join(PROJECT_FILE).display()))
    {
        Ok(t) => t,
        Err(e) => return (Err(e), Vec::new()),
    };
    let read = |rel: &str| -> Result<String, String> {
        if !safe_relative(rel) {
            return Err("the path leaves the project".into());
        }
        // Asked for, found or not: a file that appears changes things too.
        read_files.borrow_mut().push(rel.to_string());
        std::fs::read_to_string(dir.join(rel)).map_err(|e| e.to_string())
    };
    let loaded = load_project(&text, &read).map_err(|d| anyhow::Error::new(crate::Invalid(d)));
    (loaded, read_files.into_inner())
}

/// Opens the workspace of the working copy: definitions, catalog and lakes.
pub async fn open(dir: &Path) -> Result<Arc<Workspace>> {
    Ok(open_env(dir, None).await?.0)
}

/// The working copy's workspace over definitions already loaded (`weir dev`
/// loads them once per look, tracking what they read).
pub async fn open_loaded(dir: &Path, proj: Project) -> Result<Arc<Workspace>> {
    let catalog = open_catalog(dir).await?;
    with_catalog(
        std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
        proj,
        catalog,
    )
}

fn with_catalog(dir: PathBuf, proj: Project, catalog: Arc<dyn weir_catalog::Catalog>) -> Result<Arc<Workspace>> {
    Ok(Arc::new(
        Workspace::new(dir, proj, catalog).context("cannot open the lakes")?,
    ))
}

/// Opens the catalog named by the working copy's `[catalog] url`. Read
/// leniently, so a half-edited working copy does not lock out environments.
pub async fn open_catalog(dir: &Path) -> Result<Arc<dyn weir_catalog::Catalog>> {
    let text = std::fs::read_to_string(dir.join(PROJECT_FILE))
        .with_context(|| format!("cannot read {}", dir.join(PROJECT_FILE).display()))?;
    let url = toml::from_str::<toml::Table>(&text)
        .ok()
        .and_then(|t| t.get("catalog")?.get("url")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "sqlite://.weir/catalog.db".to_string());
    let url = resolve_catalog_url(dir, &url, "[catalog] url")?;
    let shown = weir_exec::secret::redact(&url);
    Ok(Arc::from(weir_catalog::open(&url).await.map_err(|e| {
        anyhow::anyhow!("{}", e.to_string().replace(&url, &shown)).context(format!("cannot open the catalog {shown}"))
    })?))
}

/// Opens an environment's workspace (its latest deployment), or the working
/// copy's when `env` is `None`.
pub async fn open_env(dir: &Path, env: Option<&str>) -> Result<(Arc<Workspace>, Option<weir_catalog::Deployment>)> {
    let catalog = open_catalog(dir).await?;
    // Absolute, so jobs that run in other directories resolve the same paths.
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    match env {
        None => Ok((with_catalog(dir.clone(), load(&dir)?, catalog)?, None)),
        Some(env) => {
            let (ws, d) = weir_ops::open_env(&dir, catalog, env).await?;
            Ok((ws, Some(d)))
        }
    }
}

/// An environment's workspace (default `prod`) and its name, for the verbs
/// that read or move its aliases.
pub async fn env_ws(
    dir: Option<&Path>,
    env: Option<&str>,
) -> Result<(Arc<Workspace>, weir_catalog::Deployment, String)> {
    let dir = find(dir)?;
    let env = env.unwrap_or(weir_sched::env::PROD).to_string();
    let (ws, d) = open_env(&dir, Some(&env)).await?;
    let d = d.ok_or_else(|| UserError::new(format!("unknown environment `{env}`"), "`weir envs` lists them"))?;
    Ok((ws, d, env))
}

/// A catalog URL as given (`what` names where: a key, a flag), made ready to
/// open: `env:NAME` read from the environment (it keeps a password out of
/// weir.toml and deployment snapshots), a relative SQLite path taken from
/// `dir` (its directory created).
pub fn resolve_catalog_url(dir: &Path, url: &str, what: &str) -> Result<String> {
    let url = match url.strip_prefix("env:") {
        Some(var) => std::env::var(var).map_err(|_| {
            UserError::new(
                format!("{what} reads ${var}, which is not set"),
                format!("export {var}=postgres://… (or sqlite://PATH) before running weir"),
            )
        })?,
        None => url.to_string(),
    };
    catalog_url(dir, &url)
}

fn catalog_url(dir: &Path, url: &str) -> Result<String> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.starts_with(':') {
            return Ok(url.to_string());
        }
        let p = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            dir.join(path)
        };
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        return Ok(format!("sqlite://{}", p.display()));
    }
    Ok(url.to_string())
}

/// The clock: `WEIR_NOW` (RFC 3339) or the system time.
pub fn now() -> Result<DateTime<Utc>> {
    match std::env::var("WEIR_NOW") {
        Ok(s) if !s.trim().is_empty() => parse_instant(&s).ok_or_else(|| {
            UserError::new(
                format!("WEIR_NOW=`{s}` is not a time"),
                "use RFC 3339, e.g. 2026-01-15T00:00:00Z",
            )
            .into()
        }),
        _ => Ok(Utc::now()),
    }
}

impl crate::cli::SelectArgs {
    /// The planner selection these arguments name.
    pub fn selection(&self, project: &Project) -> Result<Selection> {
        selection(&self.datasets, self.from.as_deref(), self.to.as_deref(), project)
    }
}

/// Reads `--from`/`--to` (inclusive) into a selection (see `weir_ops::selection`).
pub fn selection(datasets: &[String], from: Option<&str>, to: Option<&str>, project: &Project) -> Result<Selection> {
    Ok(weir_ops::selection(datasets, from, to, project)?)
}

/// The build-claim lease: 60 s, or `WEIR_LEASE_SECS` (tests that kill
/// `weir run` use a short lease so the next run takes over quickly).
pub fn lease() -> std::time::Duration {
    secs_from_env("WEIR_LEASE_SECS", 60)
}

/// `WEIR_ALERT_GRACE_SECS` (60 by default): how long a run alert may stay
/// owed before the leading server sends it in its sender's place.
pub fn alert_grace() -> std::time::Duration {
    secs_from_env("WEIR_ALERT_GRACE_SECS", 60)
}

fn secs_from_env(var: &str, default: u64) -> std::time::Duration {
    let secs = std::env::var(var)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(default);
    std::time::Duration::from_secs(secs)
}
