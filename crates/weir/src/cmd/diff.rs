//! `weir diff ENV_A ENV_B`: per dataset, whether the two environments share a
//! version; where they differ, per common partition: row counts, schema
//! changes, counter deltas and a data diff (by the dataset's `key`).

use crate::UserError;
use crate::output::Printer;
use crate::project;
use anyhow::Result;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use weir_catalog::{Catalog, InstanceKey};
use weir_exec::diff::DataDiff;
use weir_sched::Workspace;

/// Data diffs are computed for this many newest common partitions unless
/// `--partition` names one.
const DATA_DIFF_PARTITIONS: usize = 7;

#[derive(Serialize)]
struct PartitionDiff {
    partition: String,
    rows_a: Option<i64>,
    rows_b: Option<i64>,
    schema_a: Option<String>,
    schema_b: Option<String>,
    /// Counter → (a, b) where they differ.
    counters: BTreeMap<String, (Option<i64>, Option<i64>)>,
    /// Metric → (a, b) where they differ (metrics datasets).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metrics: BTreeMap<String, (Option<f64>, Option<f64>)>,
    /// Every check, side by side.
    checks: Vec<CheckPair>,
    blocked_a: bool,
    blocked_b: bool,
    /// Column → stat → (a, b), where the profiles differ.
    profile: BTreeMap<String, BTreeMap<String, (serde_json::Value, serde_json::Value)>>,
    data: Option<DataDiff>,
}

#[derive(Serialize)]
struct CheckPair {
    name: String,
    a: Option<weir_core::check::CheckResult>,
    b: Option<weir_core::check::CheckResult>,
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

fn show_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.chars().take(24).collect(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() != 0.0 => format!("{f:.4}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[derive(Serialize)]
struct DatasetDiff {
    dataset: String,
    version_a: u32,
    version_b: u32,
    shared: bool,
    only_in_a: usize,
    only_in_b: usize,
    partitions: Vec<PartitionDiff>,
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

fn input(ws: &Workspace, ds: &weir_core::Dataset, version: u32, idx: i64) -> Result<weir_exec::ResolvedInput> {
    let lake = ws.lake(ds)?;
    let schema = match &ds.job {
        weir_core::Job::Ingest { schema, .. } => schema.clone(),
        _ => None,
    };
    Ok(weir_exec::ResolvedInput {
        table: ds.name.clone(),
        dataset: ds.name.clone(),
        format: ds.format,
        schema,
        instances: vec![weir_exec::InputInstance {
            dir: lake.instance_dir(&ws.prefix(ds, version, idx)),
            partition_key: ds.granularity.format_key(idx),
            rows: None,
        }],
    })
}

pub async fn diff(
    dir: Option<&Path>,
    a: &str,
    b: &str,
    datasets: &[String],
    partition: Option<&str>,
    p: Printer,
) -> Result<()> {
    let dir = project::find(dir)?;
    let (wa, da) = project::open_env(&dir, Some(a)).await?;
    let (wb, db) = project::open_env(&dir, Some(b)).await?;
    let (Some(da), Some(db)) = (da, db) else {
        return Err(UserError::new("both environments must exist", "`weir envs` lists them").into());
    };
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
        let wanted = partition
            .map(|s| {
                dsb.granularity
                    .parse_partition(s)
                    .map_err(|e| UserError::new(e.0, format!("e.g. {}", dsb.granularity.format_key(0))))
            })
            .transpose()?;
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
                if x != y {
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
                Some(weir_exec::diff::diff(&input(&wa, dsa, va, *idx)?, &input(&wb, dsb, vb, *idx)?, &dsb.key).await?)
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
    p.data(&out, || text(&out, a, b));
    Ok(())
}

fn text(out: &[DatasetDiff], a: &str, b: &str) -> String {
    let mut s = String::new();
    for d in out {
        if d.shared {
            s.push_str(&format!("{}: shared (v{})\n", d.dataset, d.version_a));
            continue;
        }
        s.push_str(&format!(
            "{}: {a} v{} vs {b} v{}: {} common partitions, {} only in {a}, {} only in {b}\n",
            d.dataset,
            d.version_a,
            d.version_b,
            d.partitions.len(),
            d.only_in_a,
            d.only_in_b
        ));
        for pd in &d.partitions {
            let rows = match (pd.rows_a, pd.rows_b) {
                (Some(x), Some(y)) if x != y => format!("rows {x} → {y} ({:+})", y - x),
                (Some(x), Some(_)) => format!("rows {x} (same)"),
                _ => "rows -".into(),
            };
            let schema = if pd.schema_a != pd.schema_b {
                "; schema changed"
            } else {
                ""
            };
            let counters: Vec<String> = pd
                .counters
                .iter()
                .map(|(k, (x, y))| {
                    format!(
                        "{k} {} → {}",
                        x.map_or("-".into(), |v| v.to_string()),
                        y.map_or("-".into(), |v| v.to_string())
                    )
                })
                .collect();
            s.push_str(&format!("  {}  {rows}{schema}", pd.partition));
            if !counters.is_empty() {
                s.push_str(&format!("; counters: {}", counters.join(", ")));
            }
            let metrics: Vec<String> = pd
                .metrics
                .iter()
                .map(|(k, (x, y))| {
                    let f = |v: &Option<f64>| match v {
                        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", *v as i64),
                        Some(v) => format!("{v:.4}"),
                        None => "-".into(),
                    };
                    format!("{k} {} → {}", f(x), f(y))
                })
                .collect();
            if !metrics.is_empty() {
                s.push_str(&format!("; metrics: {}", metrics.join(", ")));
            }
            let status = |c: &Option<weir_core::check::CheckResult>| c.as_ref().map_or("-", |c| c.status.as_str());
            let checks: Vec<String> = pd
                .checks
                .iter()
                .filter(|c| status(&c.a) != status(&c.b) || status(&c.b) != "pass")
                .map(|c| format!("{} {} → {}", c.name, status(&c.a), status(&c.b)))
                .collect();
            if !checks.is_empty() {
                s.push_str(&format!("; checks: {}", checks.join(", ")));
            }
            if pd.blocked_a != pd.blocked_b {
                let word = |b: bool| if b { "blocked" } else { "ok" };
                s.push_str(&format!("; {} → {}", word(pd.blocked_a), word(pd.blocked_b)));
            }
            let profile: Vec<String> = pd
                .profile
                .iter()
                .map(|(col, stats)| {
                    let parts: Vec<String> = stats
                        .iter()
                        .map(|(k, (x, y))| format!("{k} {} → {}", show_value(x), show_value(y)))
                        .collect();
                    format!("{col} {}", parts.join(", "))
                })
                .collect();
            if !profile.is_empty() {
                s.push_str(&format!("; profile: {}", profile.join("; ")));
            }
            if let Some(data) = &pd.data {
                s.push_str(&format!(
                    "; data: {} only in {a}, {} only in {b}, {} changed",
                    data.only_in_a, data.only_in_b, data.changed
                ));
                if data.key.is_empty() {
                    s.push_str(" (no `key` declared: rows compared whole)");
                }
            }
            s.push('\n');
        }
    }
    s
}
