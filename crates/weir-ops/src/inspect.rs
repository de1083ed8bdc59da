//! What `weir plan` and `weir show` report: what would run and why, and one
//! instance with everything known about it. Both faces print or serialise
//! these reports.

use crate::{Result, UserError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use weir_catalog::InstanceKey;
use weir_core::planner::{Order, Reason, Selection, plan as make_plan};
use weir_sched::Workspace;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanTask {
    pub dataset: String,
    pub partition: String,
    pub inputs: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanBlocked {
    pub dataset: String,
    pub from: String,
    pub to: String,
    pub count: usize,
    pub reason: String,
}

/// What would run, and why the rest cannot.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanReport {
    pub runnable: usize,
    pub tasks: Vec<PlanTask>,
    pub blocked: Vec<PlanBlocked>,
    /// Datasets whose definitions (or whose upstream's) changed: never built.
    pub new_versions: Vec<String>,
    pub plan_ms: f64,
}

/// Plans `sel` (already narrowed to an environment, if any) at `now`.
pub async fn plan(
    ws: &Workspace,
    sel: &Selection,
    order: Order,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<PlanReport> {
    let versions = ws.versions(false, now.timestamp_millis()).await?;
    let snap = ws.snapshot(&versions, sel, now, None).await?;
    let t0 = std::time::Instant::now();
    let plan = make_plan(&ws.project, &snap, now, sel, order, Some(limit));
    let plan_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let key = |ds: &str, idx: i64| {
        ws.project
            .dataset(ds)
            .map(|d| d.granularity.format_key(idx))
            .unwrap_or_default()
    };
    let tasks: Vec<PlanTask> = plan
        .tasks
        .iter()
        .map(|t| PlanTask {
            dataset: t.dataset.clone(),
            partition: key(&t.dataset, t.partition),
            inputs: t
                .inputs
                .iter()
                .map(|i| {
                    if i.hi - i.lo == 1 {
                        format!("{} {}", i.dataset, key(&i.dataset, i.lo))
                    } else {
                        format!(
                            "{} {}..{} ({})",
                            i.dataset,
                            key(&i.dataset, i.lo),
                            key(&i.dataset, i.hi - 1),
                            i.hi - i.lo
                        )
                    }
                })
                .collect(),
        })
        .collect();
    let blocked: Vec<PlanBlocked> = plan
        .blocked
        .iter()
        .map(|b| PlanBlocked {
            dataset: b.dataset.clone(),
            from: key(&b.dataset, b.lo),
            to: key(&b.dataset, b.hi - 1),
            count: b.count,
            reason: match &b.reason {
                Reason::WaitingFor { dataset, partition } => {
                    format!("waiting for {dataset} {}", key(dataset, *partition))
                }
                Reason::InputFailed { dataset, partition } => {
                    format!("input {dataset} {} failed", key(dataset, *partition))
                }
                Reason::InputBlocked { dataset, partition } => format!(
                    "input {dataset} {} is blocked by a failing check (`weir accept {dataset} --partition {}` releases it)",
                    key(dataset, *partition),
                    ws.project
                        .dataset(dataset)
                        .map(|d| d.granularity.format_value(*partition))
                        .unwrap_or_default()
                ),
                Reason::NotLanded => match ws.project.dataset(&b.dataset).map(|d| (&d.job, d.granularity)) {
                    Some((weir_core::Job::Ingest { path, .. }, g)) => {
                        format!(
                            "waiting for landing files ({} first)",
                            weir_sched::landing::expand(path, g, b.lo)
                        )
                    }
                    _ => "waiting for landing files".to_string(),
                },
                Reason::Running => "being built by another run".to_string(),
                Reason::Failed => "failed; `weir run` retries it".to_string(),
                Reason::Paused => "paused; `weir resume` lets it run".to_string(),
                Reason::Unsealed => "its stream has not sealed it yet (the watermark has not passed its end)".to_string(),
            },
        })
        .collect();
    let new_versions: Vec<String> = versions
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    Ok(PlanReport {
        runnable: plan.runnable,
        tasks,
        blocked,
        new_versions,
        plan_ms,
    })
}

/// One instance: where it is, what it holds, how it was built and measured,
/// what it read and what reads it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceReport {
    pub dataset: String,
    pub version: u32,
    pub fingerprint: String,
    pub partition: String,
    pub location: String,
    pub run_id: String,
    pub rows: Option<i64>,
    pub bytes: i64,
    pub committed_at: String,
    /// For a stream and what reads it: committed minus the partition's end,
    /// in seconds (the pipeline delay of its newest events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_delay_seconds: Option<f64>,
    pub files: Vec<weir_lake::FileEntry>,
    pub schema: Option<String>,
    pub counters: std::collections::BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, Option<f64>>))]
    pub metrics: std::collections::BTreeMap<String, f64>,
    pub blocked: bool,
    pub checks: Vec<weir_core::check::CheckResult>,
    pub accepted: Vec<weir_catalog::Acceptance>,
    pub profile: Option<serde_json::Value>,
    pub inputs: Vec<String>,
    pub consumers: Vec<String>,
}

/// One instance of `dataset`: `partition` (default: the newest complete
/// one) of `version` (default: the definitions' current one).
pub async fn show(
    ws: &Workspace,
    dataset: &str,
    partition: Option<&str>,
    version: Option<u32>,
) -> Result<InstanceReport> {
    let ds = crate::dataset(ws, dataset)?;
    let wanted = partition.map(|s| crate::partition(ds, s)).transpose()?;
    let version = match version {
        Some(v) => v,
        None => crate::current_version(ws, dataset).await?,
    };
    let present = ws.catalog.present(dataset, version).await?;
    let idx = match wanted {
        Some(i) => i,
        None => *present.last().ok_or_else(|| {
            UserError::new(
                format!("no instances of {dataset} v{version} yet"),
                format!("run `weir run {dataset}`"),
            )
        })?,
    };
    let key = InstanceKey {
        dataset: dataset.to_string(),
        version,
        partition: idx,
    };
    let Some(inst) = ws.catalog.instance(&key).await? else {
        return Err(UserError::new(
            format!("no instance {dataset} v{version} {}", ds.granularity.format_key(idx)),
            "`weir status` shows what exists; `weir plan` says why something is missing",
        )
        .into());
    };
    let lake = ws.lake(ds)?;
    let manifest = lake.manifest(&ws.prefix(ds, version, idx)).await?;
    let run = ws.catalog.run(&inst.run_id).await?;
    let fp = ws
        .catalog
        .versions(dataset)
        .await?
        .into_iter()
        .find(|v| v.number == version)
        .map(|v| v.fingerprint)
        .unwrap_or_default();
    let name_of = |k: &InstanceKey| {
        format!(
            "{} v{} {}",
            k.dataset,
            k.version,
            ws.project
                .dataset(&k.dataset)
                .map(|d| d.granularity.format_key(k.partition))
                .unwrap_or_else(|| k.partition.to_string())
        )
    };
    let consumers = ws.catalog.consumers(&key).await?;
    let view = InstanceReport {
        dataset: dataset.to_string(),
        version,
        fingerprint: fp,
        partition: inst.partition_key.clone(),
        location: inst.location.clone(),
        run_id: inst.run_id.clone(),
        rows: inst.rows,
        bytes: inst.bytes,
        pipeline_delay_seconds: ws
            .project
            .fed_by_stream(dataset)
            .then(|| weir_sched::pipeline_delay(ds.granularity, idx, inst.committed_at_ms)),
        committed_at: DateTime::<Utc>::from_timestamp_millis(inst.committed_at_ms)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        files: manifest.as_ref().map(|m| m.files.clone()).unwrap_or_default(),
        schema: manifest.as_ref().and_then(|m| m.schema.clone()),
        profile: manifest.as_ref().and_then(|m| m.profile.clone()),
        metrics: run.as_ref().map(|r| r.metrics.clone()).unwrap_or_default(),
        checks: run.as_ref().map(|r| r.checks.clone()).unwrap_or_default(),
        counters: run.map(|r| r.counters).unwrap_or_default(),
        blocked: inst.blocked,
        accepted: ws
            .catalog
            .acceptances(Some(dataset))
            .await?
            .into_iter()
            .filter(|a| a.run_id == inst.run_id)
            .collect(),
        inputs: inst.inputs.iter().map(name_of).collect(),
        consumers: consumers.iter().map(name_of).collect(),
    };
    Ok(view)
}

/// One partition's counters and metrics, as its run recorded them, with
/// what its checks said: what a chart of them marks.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CounterPoint {
    pub partition: String,
    pub counters: std::collections::BTreeMap<String, i64>,
    /// Metrics (of a metrics dataset); NaN and infinities are null.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, Option<f64>>))]
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// A blocking check failed and no one accepted it: consumers do not read it.
    #[serde(default)]
    pub blocked: bool,
    /// The checks that failed or erred (any severity), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
    /// Why it was accepted despite a failing blocking check, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
}

/// A dataset's counters over its partitions (`weir counters`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CounterSeries {
    pub dataset: String,
    pub version: u32,
    pub points: Vec<CounterPoint>,
}

/// The counters of `dataset`'s current version over `sel`'s partitions, only
/// those whose name matches `name` (a glob such as `dropped.*`) if given.
pub async fn counters(ws: &Workspace, dataset: &str, name: Option<&str>, sel: &Selection) -> Result<CounterSeries> {
    let ds = crate::dataset(ws, dataset)?;
    let pattern = name
        .map(|n| {
            glob::Pattern::new(n)
                .map_err(|e| UserError::new(format!("--name `{n}` is not a pattern: {e}"), "e.g. --name 'dropped.*'"))
        })
        .transpose()?;
    let version = crate::current_version(ws, dataset).await?;
    let g = ds.granularity;
    let accepted: std::collections::HashMap<i64, String> = ws
        .catalog
        .acceptances(Some(dataset))
        .await?
        .into_iter()
        .filter(|a| a.key.version == version)
        .map(|a| (a.key.partition, a.reason))
        .collect();
    let wanted = |k: &String| pattern.as_ref().is_none_or(|pat| pat.matches(k));
    let mut points = Vec::new();
    for idx in ws.catalog.present(dataset, version).await? {
        if sel.from.is_some_and(|f| g.start_of(idx) < g.start_of(g.index_of(f)))
            || sel.until.is_some_and(|u| g.start_of(idx) >= u)
        {
            continue;
        }
        let key = InstanceKey {
            dataset: dataset.to_string(),
            version,
            partition: idx,
        };
        let Some(inst) = ws.catalog.instance(&key).await? else {
            continue;
        };
        let run = ws.catalog.run(&inst.run_id).await?;
        let (counters, metrics, checks) = run.map(|r| (r.counters, r.metrics, r.checks)).unwrap_or_default();
        points.push(CounterPoint {
            partition: g.format_key(idx),
            counters: counters.into_iter().filter(|(k, _)| wanted(k)).collect(),
            metrics: metrics.into_iter().filter(|(k, _)| wanted(k)).collect(),
            blocked: inst.blocked,
            failing: checks
                .into_iter()
                .filter(|c| {
                    matches!(
                        c.status,
                        weir_core::check::Status::Fail | weir_core::check::Status::Error
                    )
                })
                .map(|c| c.name)
                .collect(),
            accepted: accepted.get(&idx).cloned(),
        });
    }
    Ok(CounterSeries {
        dataset: dataset.to_string(),
        version,
        points,
    })
}

/// Where a run's log is: recorded (the run finished), or still with the
/// process that runs it (its claim's owner).
#[derive(Clone, Debug)]
pub enum RunLog {
    Finished(Box<weir_catalog::RunRecord>),
    Running { owner: String },
    Unknown,
}

/// Looks a run up for its log: its record, else the claim it holds, else
/// its record once more (it may have finished between the two looks).
pub async fn run_log(catalog: &dyn weir_catalog::Catalog, run_id: &str) -> Result<RunLog> {
    if let Some(r) = catalog.run(run_id).await? {
        return Ok(RunLog::Finished(Box::new(r)));
    }
    let now = chrono::Utc::now().timestamp_millis();
    if let Some(c) = catalog.running(now).await?.into_iter().find(|c| c.run_id == run_id) {
        return Ok(RunLog::Running { owner: c.owner });
    }
    Ok(match catalog.run(run_id).await? {
        Some(r) => RunLog::Finished(Box::new(r)),
        None => RunLog::Unknown,
    })
}
