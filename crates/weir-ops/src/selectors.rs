//! Selectors: run-time choice between model variants (docs/models.md).
//!
//! A selector's state in an environment is resolved from that environment's
//! deployment and catalog: the split in force (its latest recorded change,
//! else the declared split) and, for each variant, what its alias serves
//! (through [`crate::serving::served`], so a blocked, trashed or reverted
//! instance is never chosen). [`choose`] then assigns a unit in
//! microseconds, with no I/O: [`SelectorCache`] keeps resolved states
//! until something that changes them happens.
//!
//! A variant that serves nothing (no alias yet, everything blocked) takes
//! no units: rendezvous hashing gives its units to the others, and only
//! its, until it serves again.

pub mod auto;
pub mod measures;

use crate::serving::{instance_location, served};
use crate::{Result, UserError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use weir_catalog::SplitChange;
use weir_core::model::Selector;
use weir_sched::Workspace;

/// What one variant serves in an environment.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariantState {
    pub variant: String,
    pub dataset: String,
    /// Its percent of the split in force.
    pub share: u32,
    /// The version its alias serves; none before its first alias.
    pub version: Option<u32>,
    /// The newest partition served (the model in use), e.g. `date=2026-03-14`.
    pub partition: Option<String>,
    /// Where that instance is (a path or a URL).
    pub location: Option<String>,
    /// Its artifact: the first file its `model.json` lists (a path or a URL).
    pub artifact: Option<String>,
    /// The artifact's file name inside the instance.
    #[serde(skip)]
    pub artifact_file: Option<String>,
    #[serde(skip)]
    pub instance: Option<weir_lake::Location>,
    #[serde(skip)]
    partition_index: Option<i64>,
}

/// A selector as it stands in one environment.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SelectorState {
    pub env: String,
    pub selector: String,
    pub unit: String,
    /// The stream each assignment is logged into, if any.
    pub log: Option<String>,
    /// Variant → percent, in force.
    pub split: BTreeMap<String, u32>,
    /// The latest change of the split (0: never changed, the declared split).
    pub split_seq: u32,
    pub variants: Vec<VariantState>,
    #[serde(skip)]
    salt: String,
    /// The split over the variants that serve something (the others take no units).
    #[serde(skip)]
    live: Vec<(String, u32)>,
}

/// One unit's assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Selection {
    pub env: String,
    pub selector: String,
    pub unit: String,
    pub variant: String,
    pub dataset: String,
    /// The version the variant's alias serves.
    pub version: u32,
    /// The served instance in use (the newest partition).
    pub partition: String,
    pub location: String,
    /// The artifact file (a path or a URL); none when the card lists no file.
    pub artifact: Option<String>,
}

/// The selector `name` of the environment's deployment.
pub fn definition<'w>(ws: &'w Workspace, name: &str) -> Result<&'w Selector> {
    ws.project.selectors.get(name).ok_or_else(|| {
        let known: Vec<&str> = ws.project.selectors.keys().map(String::as_str).collect();
        let hint = match weir_core::diag::did_you_mean(name, known.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if known.is_empty() => "declare one: [selectors.NAME] in weir.toml (docs/models.md)".into(),
            None => format!("the selectors are: {}", known.join(", ")),
        };
        UserError::new(format!("unknown selector `{name}`"), hint).into()
    })
}

/// The split in force and the number of the latest recorded change (0:
/// none). The split is that change's, else the declared one; a recorded
/// split naming variants the deployment no longer has is set aside for the
/// declared split (its number stays, so a compare and swap still holds).
async fn split_in_force(ws: &Workspace, env: &str, sel: &Selector) -> Result<(Vec<(String, u32)>, u32)> {
    let history = ws.catalog.split_history(env, &sel.name).await?;
    Ok(match history.last() {
        Some(c) => {
            let recorded = to_vec(&c.split);
            match weir_core::selector::check_split(sel.variants.keys().map(String::as_str), &recorded) {
                Ok(_) => (recorded, c.seq),
                Err(_) => (sel.split.clone(), c.seq),
            }
        }
        None => (sel.split.clone(), 0),
    })
}

fn to_vec(m: &BTreeMap<String, u32>) -> Vec<(String, u32)> {
    m.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

/// Resolves selector `name` in `env`: the split in force, and what each
/// variant serves (the newest served instance of its alias version).
pub async fn state(ws: &Workspace, env: &str, name: &str) -> Result<SelectorState> {
    let sel = definition(ws, name)?;
    let (split, split_seq) = split_in_force(ws, env, sel).await?;
    let mut variants = Vec::new();
    for (variant, share) in &split {
        let dataset = sel.variants.get(variant).cloned().unwrap_or_default();
        let ds = crate::dataset(ws, &dataset)?;
        let mut v = VariantState {
            variant: variant.clone(),
            dataset: dataset.clone(),
            share: *share,
            version: None,
            partition: None,
            location: None,
            artifact: None,
            artifact_file: None,
            instance: None,
            partition_index: None,
        };
        if let Some(s) = served(ws, env, &dataset).await? {
            v.version = Some(s.version);
            if let Some(&p) = s.partitions.last() {
                let loc = instance_location(ws, ds, s.version, p)?;
                // The card was checked when the instance was built; a card
                // that cannot be read now leaves the artifact unnamed.
                let file = match loc.read(weir_core::model_card::MODEL_CARD).await {
                    Ok(bytes) => weir_core::model_card::parse(&bytes)
                        .ok()
                        .and_then(|c| c.files.into_iter().next()),
                    Err(e) => {
                        tracing::warn!(dataset, "cannot read the model card of the served instance: {e}");
                        None
                    }
                };
                v.partition = Some(ds.granularity.format_key(p));
                v.location = Some(loc.display());
                v.artifact = file.as_ref().map(|f| loc.file_display(f));
                v.artifact_file = file;
                v.instance = Some(loc);
                v.partition_index = Some(p);
            }
        }
        variants.push(v);
    }
    let live = variants
        .iter()
        .filter(|v| v.partition.is_some())
        .map(|v| (v.variant.clone(), v.share))
        .collect();
    Ok(SelectorState {
        env: env.to_string(),
        selector: name.to_string(),
        unit: sel.unit.clone(),
        log: sel.log.clone(),
        split: split.into_iter().collect(),
        split_seq,
        variants,
        salt: sel.salt.clone(),
        live,
    })
}

/// Every selector of `env`'s deployment, resolved.
pub async fn states(ws: &Workspace, env: &str) -> Result<Vec<SelectorState>> {
    let mut out = Vec::new();
    for name in ws.project.selectors.keys() {
        out.push(state(ws, env, name).await?);
    }
    Ok(out)
}

/// The variant `unit` gets: no I/O, a hash per variant.
pub fn choose(state: &SelectorState, unit: &str) -> Result<Selection> {
    if unit.is_empty() {
        return Err(UserError::new(
            format!("no {} to assign", state.unit),
            format!("pass the unit: ?unit=… (the selector assigns by {})", state.unit),
        )
        .into());
    }
    let variant = weir_core::selector::assign(&state.salt, unit, &state.live).ok_or_else(|| {
        UserError::new(
            format!(
                "selector `{}` has no variant that serves a model in `{}`{}",
                state.selector,
                state.env,
                if state.live.is_empty() {
                    ""
                } else {
                    " with a share above 0"
                }
            ),
            format!("build the variants: `weir run --env {}`", state.env),
        )
    })?;
    let v = state
        .variants
        .iter()
        .find(|v| v.variant == variant)
        .ok_or_else(|| UserError::new(format!("variant `{variant}` vanished"), "try again"))?;
    Ok(Selection {
        env: state.env.clone(),
        selector: state.selector.clone(),
        unit: unit.to_string(),
        variant: v.variant.clone(),
        dataset: v.dataset.clone(),
        version: v.version.unwrap_or(0),
        partition: v.partition.clone().unwrap_or_default(),
        location: v.location.clone().unwrap_or_default(),
        artifact: v.artifact.clone(),
    })
}

/// `weir select`: one unit's assignment, read fresh from the catalog. (A
/// look, not an exposure: only the server logs assignments.)
pub async fn select(ws: &Workspace, env: &str, name: &str, unit: &str) -> Result<Selection> {
    choose(&state(ws, env, name).await?, unit)
}

/// What `weir selector set` did.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SplitReport {
    pub env: String,
    pub selector: String,
    pub from: BTreeMap<String, u32>,
    pub change: SplitChange,
}

/// Parses `popularity=90,cooc=10`.
pub fn parse_split(text: &str) -> Result<Vec<(String, u32)>> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|part| {
            let (v, w) = part.split_once('=').ok_or_else(|| {
                UserError::new(
                    format!("`{part}` is not variant=percent"),
                    "e.g. --split popularity=90,cooc=10",
                )
            })?;
            let w: u32 = w.trim().parse().map_err(|_| {
                UserError::new(
                    format!("the share of `{}` is not a whole percent: `{w}`", v.trim()),
                    "e.g. --split popularity=90,cooc=10",
                )
            })?;
            Ok((v.trim().to_string(), w))
        })
        .collect()
}

/// Who changes a split and why.
#[derive(Clone, Debug)]
pub struct SplitArgs {
    pub split: Vec<(String, u32)>,
    pub by: String,
    pub reason: Option<String>,
    /// `set` by hand (`reset` when the split is empty), or `auto`.
    pub kind: String,
    /// Apply only while the change in force is this one (auto-promotion).
    pub after: Option<u32>,
    /// Alerts owed with the change (id, event JSON), in its transaction.
    pub owed: Vec<(String, String)>,
    pub now_ms: i64,
}

/// Records a new split for selector `name` in `env`, checked against its
/// variants; `split` empty means the declared split (a reset).
pub async fn set_split(ws: &Workspace, env: &str, name: &str, args: SplitArgs) -> Result<SplitReport> {
    let sel = definition(ws, name)?;
    let wanted = if args.split.is_empty() {
        sel.split.clone()
    } else {
        args.split.clone()
    };
    let split = weir_core::selector::check_split(sel.variants.keys().map(String::as_str), &wanted)
        .map_err(|e| UserError::new(format!("selector `{name}`: {e}"), "e.g. --split popularity=90,cooc=10"))?;
    // A split set by hand back to the declared one is a reset.
    let kind = if args.split.is_empty() && args.kind == "set" {
        "reset".to_string()
    } else {
        args.kind
    };
    let (from, _) = split_in_force(ws, env, sel).await?;
    let change = ws
        .catalog
        .set_split(
            &SplitChange {
                env: env.to_string(),
                selector: name.to_string(),
                seq: 0,
                split: split.into_iter().collect(),
                kind,
                reason: args.reason,
                by: args.by,
                at_ms: args.now_ms,
            },
            args.after,
            &args.owed,
        )
        .await?;
    Ok(SplitReport {
        env: env.to_string(),
        selector: name.to_string(),
        from: from.into_iter().collect(),
        change,
    })
}

/// A selector's state and the history of its split in one environment.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SelectorReport {
    pub state: SelectorState,
    /// The declared split (what a reset goes back to).
    pub declared: BTreeMap<String, u32>,
    pub auto: Option<weir_core::model::AutoPromote>,
    /// Every change of the split, oldest first.
    pub history: Vec<SplitChange>,
}

/// `weir selector show`: the state, the declared split and the history.
pub async fn report(ws: &Workspace, env: &str, name: &str) -> Result<SelectorReport> {
    let sel = definition(ws, name)?;
    Ok(SelectorReport {
        state: state(ws, env, name).await?,
        declared: sel.split.iter().cloned().collect(),
        auto: sel.auto.clone(),
        history: ws.catalog.split_history(env, name).await?,
    })
}

/// The largest total of artifact bytes a [`SelectorCache`] keeps.
pub const ARTIFACT_CACHE_BYTES: usize = 256 << 20;

/// Resolved selector states and artifact bytes, for a server answering
/// selections. States are dropped by [`SelectorCache::invalidate`] (any
/// change of aliases, instances, splits or deployments); artifacts are
/// immutable (a sealed instance never changes), so they are kept by
/// instance until the cache is over [`ARTIFACT_CACHE_BYTES`].
#[derive(Default)]
pub struct SelectorCache {
    states: RwLock<HashMap<(String, String), Arc<SelectorState>>>,
    generation: AtomicU64,
    artifacts: Mutex<HashMap<(String, u32, i64, String), bytes::Bytes>>,
}

impl SelectorCache {
    pub fn new() -> SelectorCache {
        SelectorCache::default()
    }

    /// Forgets every resolved state: the next selection resolves again.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut s) = self.states.write() {
            s.clear();
        }
    }

    /// The state of `name` in `env`, if resolved and still valid.
    pub fn cached(&self, env: &str, name: &str) -> Option<Arc<SelectorState>> {
        self.states
            .read()
            .ok()
            .and_then(|s| s.get(&(env.to_string(), name.to_string())).cloned())
    }

    /// The state of `name` in `env`, resolved if it is not cached. A state
    /// resolved while an invalidation happened is used once, not kept.
    pub async fn state(&self, ws: &Workspace, env: &str, name: &str) -> Result<Arc<SelectorState>> {
        if let Some(s) = self.cached(env, name) {
            return Ok(s);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let s = Arc::new(state(ws, env, name).await?);
        if let Ok(mut states) = self.states.write()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            states.insert((env.to_string(), name.to_string()), s.clone());
        }
        Ok(s)
    }

    /// The artifact bytes of a selection's variant, read once per instance.
    pub async fn artifact(&self, state: &SelectorState, variant: &str) -> Result<bytes::Bytes> {
        let v = state
            .variants
            .iter()
            .find(|v| v.variant == variant)
            .ok_or_else(|| UserError::new(format!("no variant `{variant}`"), "select again"))?;
        let (Some(version), Some(p), Some(loc)) = (v.version, v.partition_index, &v.instance) else {
            return Err(UserError::new(format!("variant `{variant}` serves nothing"), "select again").into());
        };
        let Some(file) = &v.artifact_file else {
            return Err(UserError::new(
                format!("no artifact: the model card of {} v{version} lists no files", v.dataset),
                "list the artifact in model.json's `files`",
            )
            .into());
        };
        let key = (v.dataset.clone(), version, p, file.clone());
        if let Some(b) = self.artifacts.lock().ok().and_then(|a| a.get(&key).cloned()) {
            return Ok(b);
        }
        let bytes = loc.read(file).await?;
        if let Ok(mut a) = self.artifacts.lock() {
            let total: usize = a.values().map(bytes::Bytes::len).sum();
            if total + bytes.len() > ARTIFACT_CACHE_BYTES {
                a.clear();
            }
            if bytes.len() <= ARTIFACT_CACHE_BYTES {
                a.insert(key, bytes.clone());
            }
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_parse_from_the_command_line() {
        let s = super::parse_split("popularity=90, cooc=10").expect("parses");
        assert_eq!(s, vec![("popularity".to_string(), 90), ("cooc".to_string(), 10)]);
        for bad in ["popularity", "popularity=ninety", "a=-1"] {
            assert!(super::parse_split(bad).is_err(), "{bad}");
        }
    }
}
