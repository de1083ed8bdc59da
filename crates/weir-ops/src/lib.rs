//! The operations of weir: what every face (the CLI today, the HTTP server
//! next) calls. Each operation takes typed arguments and returns a typed
//! report that a face prints or serialises; no face holds a rule of its own.
//!
//! - [`serving`]: the one place that says what an environment serves, and the
//!   export sync that follows it;
//! - [`aliases`]: every alias move (advance, revert, pin, unpin, promote,
//!   accept), each followed by the export sync in the same function;
//! - [`invalidate`]: invalidate with its cascade, restore, gc;
//! - [`versions`]: what changed between a dataset's versions;
//! - [`diff`]: two environments compared, down to the rows;
//! - [`tokens`]: API tokens and the roles they carry;
//! - [`control`]: pause, resume, cancel, and the audit log;
//! - [`selectors`]: model variants chosen at run time, their splits, auto-promotion.
//!
//! This crate never parses command lines and never prints.

pub mod alerts;
pub mod aliases;
mod args;
pub mod control;
pub mod datasets;
pub mod deploy;
pub mod diff;
pub mod grid;
pub mod inspect;
pub mod invalidate;
pub mod lineage;
pub mod retention;
pub mod selectors;
pub mod serving;
pub mod status;
pub mod tokens;
pub mod versions;

pub use args::{selection, window, with_window, within_span};
use std::path::Path;
use std::sync::Arc;
use weir_catalog::{Catalog, Deployment};
use weir_sched::Workspace;

/// A mistake in what the user asked for, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UserError {
    pub message: String,
    pub hint: String,
}

impl UserError {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Errors of an operation, by whose fault they are: the user's ([`UserError`]),
/// or the environment's (catalog, lake, export target, I/O).
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Sched(#[from] weir_sched::SchedError),
    #[error(transparent)]
    Catalog(#[from] weir_catalog::CatalogError),
    #[error(transparent)]
    Lake(#[from] weir_lake::LakeError),
    #[error(transparent)]
    Exec(#[from] weir_exec::ExecError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Definitions (a deployment's snapshot) that do not validate.
    #[error("{0}")]
    Invalid(weir_core::Diagnostics),
}

impl OpsError {
    /// The user's mistake inside, if it is one.
    pub fn as_user(&self) -> Option<&UserError> {
        match self {
            OpsError::User(u) => Some(u),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, OpsError>;

/// `name` as a dataset of `ws`, or the user's error naming the datasets.
pub fn dataset<'w>(ws: &'w Workspace, name: &str) -> Result<&'w weir_core::model::Dataset> {
    ws.dataset(name)
        .map_err(|e| UserError::new(e.to_string(), "`weir status` lists the datasets").into())
}

/// The version a verb means when none is named: the one the current
/// definitions produce, or an error if they were never built.
pub async fn current_version(ws: &Workspace, dataset: &str) -> Result<u32> {
    let fingerprint = ws.fingerprints.get(dataset).ok_or_else(|| {
        UserError::new(
            format!("unknown dataset `{dataset}`"),
            "`weir status` lists the datasets",
        )
    })?;
    ws.catalog.version_number(dataset, fingerprint).await?.ok_or_else(|| {
        UserError::new(
            format!("`{dataset}`'s current definitions were never built"),
            format!("build them with `weir run {dataset}`, or name an older version (`weir versions {dataset}`)"),
        )
        .into()
    })
}

/// Parses a partition argument (`2026-03-14`, `date=2026-03-14`) of `dataset`.
pub fn partition(ds: &weir_core::model::Dataset, text: &str) -> Result<i64> {
    ds.granularity
        .parse_partition(text)
        .map_err(|e| UserError::new(e.0, format!("name a partition like {}", ds.granularity.format_value(0))).into())
}

/// The runs of `dataset` (if named), of one `partition` (which needs the
/// dataset): the filter both faces list runs with.
pub fn runs_of(
    ws: &Workspace,
    dataset: Option<&str>,
    partition: Option<&str>,
) -> Result<(Option<String>, Option<i64>)> {
    let idx = match (dataset, partition) {
        (_, None) => None,
        (None, Some(_)) => {
            return Err(UserError::new(
                "a partition needs its dataset",
                "name both, e.g. `weir runs plays --partition 2026-03-14` (API: ?dataset=plays&partition=2026-03-14)",
            )
            .into());
        }
        (Some(d), Some(p)) => Some(self::partition(self::dataset(ws, d)?, p)?),
    };
    if let Some(d) = dataset {
        self::dataset(ws, d)?;
    }
    Ok((dataset.map(str::to_string), idx))
}

/// Opens environment `env`'s workspace: its latest deployment's definitions
/// against the project's catalog and lakes.
pub async fn open_env(dir: &Path, catalog: Arc<dyn Catalog>, env: &str) -> Result<(Arc<Workspace>, Deployment)> {
    let d = weir_sched::env::latest(catalog.as_ref(), env)
        .await
        .map_err(|e| match e {
            weir_sched::SchedError::UnknownEnv { env, hint } => {
                OpsError::from(UserError::new(format!("unknown environment `{env}`"), hint))
            }
            other => other.into(),
        })?;
    let project = weir_sched::env::load_deployment(&d).map_err(OpsError::Invalid)?;
    let ws = Workspace::new(dir.to_path_buf(), project, catalog)?;
    Ok((Arc::new(ws), d))
}

/// The environments that have a deployment, in name order.
pub async fn environments(catalog: &dyn Catalog) -> Result<Vec<String>> {
    let mut envs: Vec<String> = catalog.deployments(None).await?.into_iter().map(|d| d.env).collect();
    envs.sort();
    envs.dedup();
    Ok(envs)
}
