//! `weir diff ENV_A ENV_B`: per dataset, whether the two environments share a
//! version; where they differ, per common partition: row counts, schema
//! changes, counter, metric and check deltas, profiles and a data diff (by the
//! dataset's `key`).

use crate::serving;
use crate::{Result, UserError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use weir_catalog::{Catalog, InstanceKey};
use weir_exec::diff::DataDiff;

/// Data diffs are computed for this many newest common partitions unless
/// `--partition` names one.
const DATA_DIFF_PARTITIONS: usize = 7;

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartitionDiff {
    pub partition: String,
    pub rows_a: Option<i64>,
    pub rows_b: Option<i64>,
    pub schema_a: Option<String>,
    pub schema_b: Option<String>,
    /// Counter → (a, b) where they differ.
    pub counters: BTreeMap<String, (Option<i64>, Option<i64>)>,
    /// Metric → (a, b) where they differ (metrics datasets).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, (Option<f64>, Option<f64>)>,
    /// Every check, side by side.
    pub checks: Vec<CheckPair>,
    pub blocked_a: bool,
    pub blocked_b: bool,
    /// Column → stat → (a, b), where the profiles differ.
    pub profile: BTreeMap<String, BTreeMap<String, (serde_json::Value, serde_json::Value)>>,
    pub data: Option<DataDiff>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckPair {
    pub name: String,
    pub a: Option<weir_core::check::CheckResult>,
    pub b: Option<weir_core::check::CheckResult>,
}

/// The per-column stats that differ between two profiles.
fn profile_deltas(
    a: Option<&serde_json::Value>,
    b: Option<&serde_json::Value>,
) -> BTreeMap<String, BTreeMap<String, (serde_json::Value, serde_json::Value)>> {
    let cols = |p: Option<&serde_json::Value>| {
        p.and_then(|p| p.get("columns"))
            .and_then(|c| c.as_object())
            .cloned()
            .unwrap_or_default()
    };
    let (ca, cb) = (cols(a), cols(b));
    let mut out = BTreeMap::new();
    for name in ca.keys().chain(cb.keys()).collect::<BTreeSet<_>>() {
        let (x, y) = (ca.get(name), cb.get(name));
        let mut stats = BTreeMap::new();
        for stat in ["null_fraction", "distinct", "min", "max"] {
            let get = |c: Option<&serde_json::Value>| c.and_then(|c| c.get(stat)).cloned().unwrap_or_default();
            let (u, v) = (get(x), get(y));
            if u != v {
                stats.insert(stat.to_string(), (u, v));
            }
        }
        if !stats.is_empty() {
            out.insert(name.clone(), stats);
        }
    }
    out
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetDiff {
    pub dataset: String,
    pub version_a: u32,
    pub version_b: u32,
    pub shared: bool,
    pub only_in_a: usize,
    pub only_in_b: usize,
    pub partitions: Vec<PartitionDiff>,
}

async fn run_of(c: &dyn Catalog, run_id: &str) -> Result<weir_catalog::RunRecord> {
    Ok(c.run(run_id).await?.unwrap_or_else(|| weir_catalog::RunRecord {
        run_id: run_id.to_string(),
        key: InstanceKey {
            dataset: String::new(),
            version: 0,
            partition: 0,
        },
        state: weir_catalog::RunState::Succeeded,
        started_at_ms: 0,
        ended_at_ms: 0,
        error: None,
        log: String::new(),
        counters: BTreeMap::new(),
        metrics: BTreeMap::new(),
        checks: Vec::new(),
    }))
}

/// What to compare.
#[derive(Clone, Debug, Default)]
pub struct DiffArgs {
    pub a: String,
    pub b: String,
    /// Empty: every dataset of both.
    pub datasets: Vec<String>,
    /// One partition only (data diffs otherwise cover the newest seven).
    pub partition: Option<String>,
}

/// Compares two environments: per dataset, shared or parallel versions; per
/// common partition of parallel ones, rows, schema, counters, metrics, checks,
/// profiles and (for the newest partitions) a data diff by the dataset's `key`.
pub async fn diff(dir: &Path, catalog: Arc<dyn Catalog>, args: &DiffArgs) -> Result<Vec<DatasetDiff>> {
    let (a, b, datasets, partition) = (&args.a, &args.b, &args.datasets, args.partition.as_deref());
    let (wa, da) = crate::open_env(dir, catalog.clone(), a).await?;
    let (wb, db) = crate::open_env(dir, catalog, b).await?;
    let names: Vec<String> = if datasets.is_empty() {
        wa.project
            .topo_order
            .iter()
            .filter(|n| wb.project.dataset(n).is_some())
            .cloned()
            .collect()
    } else {
        for d in datasets {
            if wa.project.dataset(d).is_none() || wb.project.dataset(d).is_none() {
                return Err(UserError::new(
                    format!("`{d}` is not a dataset of both `{a}` and `{b}`"),
                    "`weir status --env ENV` lists an environment's datasets",
                )
                .into());
            }
        }
        datasets.to_vec()
    };
    let catalog = wa.catalog.clone();
    let mut out = Vec::new();
    for name in &names {
        let (Some(&va), Some(&vb)) = (da.versions.get(name), db.versions.get(name)) else {
            continue;
        };
        let (dsa, dsb) = (wa.dataset(name)?, wb.dataset(name)?);
        let mut d = DatasetDiff {
            dataset: name.clone(),
            version_a: va,
            version_b: vb,
            shared: va == vb,
            only_in_a: 0,
            only_in_b: 0,
            partitions: Vec::new(),
        };
        if d.shared {
            out.push(d);
            continue;
        }
        let pa: BTreeSet<i64> = catalog.present(name, va).await?.into_iter().collect();
        let pb: BTreeSet<i64> = catalog.present(name, vb).await?.into_iter().collect();
        d.only_in_a = pa.difference(&pb).count();
        d.only_in_b = pb.difference(&pa).count();
        let wanted = partition.map(|s| crate::partition(dsb, s)).transpose()?;
        let common: Vec<i64> = pa
            .intersection(&pb)
            .copied()
            .filter(|i| wanted.is_none_or(|w| w == *i))
            .collect();
        let data_from = common.len().saturating_sub(DATA_DIFF_PARTITIONS);
        for (n, idx) in common.iter().enumerate() {
            let ka = InstanceKey {
                dataset: name.clone(),
                version: va,
                partition: *idx,
            };
            let kb = InstanceKey {
                version: vb,
                ..ka.clone()
            };
            let (Some(ia), Some(ib)) = (catalog.instance(&ka).await?, catalog.instance(&kb).await?) else {
                continue;
            };
            let ma = wa.lake(dsa)?.manifest(&wa.prefix(dsa, va, *idx)).await?;
            let mb = wb.lake(dsb)?.manifest(&wb.prefix(dsb, vb, *idx)).await?;
            let (ra, rb) = (
                run_of(catalog.as_ref(), &ia.run_id).await?,
                run_of(catalog.as_ref(), &ib.run_id).await?,
            );
            let (ca, cb) = (&ra.counters, &rb.counters);
            let mut deltas = BTreeMap::new();
            for k in ca.keys().chain(cb.keys()) {
                let (x, y) = (ca.get(k).copied(), cb.get(k).copied());
                if x != y && k != "duration_ms" {
                    deltas.insert(k.clone(), (x, y));
                }
            }
            let mut metrics = BTreeMap::new();
            for k in ra.metrics.keys().chain(rb.metrics.keys()) {
                let (x, y) = (ra.metrics.get(k).copied(), rb.metrics.get(k).copied());
                // By bits: two nulls (NaN) are the same value.
                if x.map(f64::to_bits) != y.map(f64::to_bits) {
                    metrics.insert(k.clone(), (x, y));
                }
            }
            let mut names: Vec<&String> = ra.checks.iter().map(|c| &c.name).collect();
            names.extend(
                rb.checks
                    .iter()
                    .map(|c| &c.name)
                    .filter(|n| !ra.checks.iter().any(|c| &c.name == *n)),
            );
            let checks = names
                .into_iter()
                .map(|n| CheckPair {
                    name: n.clone(),
                    a: ra.checks.iter().find(|c| &c.name == n).cloned(),
                    b: rb.checks.iter().find(|c| &c.name == n).cloned(),
                })
                .collect();
            let profile = profile_deltas(
                ma.as_ref().and_then(|m| m.profile.as_ref()),
                mb.as_ref().and_then(|m| m.profile.as_ref()),
            );
            let tabular = matches!(
                dsb.format,
                weir_core::Format::Parquet | weir_core::Format::Jsonl | weir_core::Format::Csv
            ) && dsa.format == dsb.format;
            let data = if tabular && (wanted.is_some() || n >= data_from) {
                Some(
                    weir_exec::diff::diff(
                        &serving::instance_input(&wa, dsa, va, *idx)?,
                        &serving::instance_input(&wb, dsb, vb, *idx)?,
                        &dsb.key,
                    )
                    .await?,
                )
            } else {
                None
            };
            d.partitions.push(PartitionDiff {
                partition: dsb.granularity.format_key(*idx),
                rows_a: ia.rows,
                rows_b: ib.rows,
                schema_a: ma.and_then(|m| m.schema),
                schema_b: mb.and_then(|m| m.schema),
                counters: deltas,
                metrics,
                checks,
                blocked_a: ia.blocked,
                blocked_b: ib.blocked,
                profile,
                data,
            });
        }
        out.push(d);
    }
    Ok(out)
}
