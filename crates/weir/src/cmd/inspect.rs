//! Read-only verbs: `validate`, `plan`, `status`, `show`, `runs`, `logs`.

use crate::UserError;
use crate::cli::PlanArgs;
use crate::output::{Printer, human_bytes, table};
use crate::project;
use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;
use weir_catalog::{InstanceKey, RunFilter, RunState};
use weir_core::planner::{Order, Reason, plan as make_plan};

pub fn validate(dir: Option<&Path>, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let proj = project::load(&dir)?;
    let fps = weir_core::fingerprint::fingerprints(&proj);
    let datasets: Vec<serde_json::Value> = proj
        .topo_order
        .iter()
        .map(|n| {
            let d = &proj.datasets[n];
            serde_json::json!({ "dataset": n, "kind": d.job.kind(), "partition": d.granularity.to_string(), "inputs": d.inputs, "fingerprint": fps[n] })
        })
        .collect();
    p.data(
        &serde_json::json!({ "valid": true, "project": proj.name, "datasets": datasets }),
        || {
            format!(
                "{} {} datasets in project `{}` are valid: {}",
                p.green("ok:"),
                proj.datasets.len(),
                proj.name,
                proj.topo_order.join(" → ")
            )
        },
    );
    Ok(())
}

#[derive(Serialize)]
struct PlanTaskView {
    dataset: String,
    partition: String,
    inputs: Vec<String>,
}

#[derive(Serialize)]
struct BlockedView {
    dataset: String,
    from: String,
    to: String,
    count: usize,
    reason: String,
}

pub async fn plan(dir: Option<&Path>, env: Option<&str>, a: PlanArgs, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let (ws, deployment) = project::open_env(&dir, env).await?;
    let now = project::now()?;
    let sel =
        weir_ops::status::within_env(&ws, env.zip(deployment.as_ref()), a.select.selection(&ws.project)?, now).await?;
    let versions = ws.versions(false, now.timestamp_millis()).await?;
    let snap = ws.snapshot(&versions, &sel, now, None).await?;
    let order = if a.select.oldest_first {
        Order::OldestFirst
    } else {
        Order::NewestFirst
    };
    let t0 = std::time::Instant::now();
    let plan = make_plan(&ws.project, &snap, now, &sel, order, Some(a.limit));
    let plan_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let key = |ds: &str, idx: i64| {
        ws.project
            .dataset(ds)
            .map(|d| d.granularity.format_key(idx))
            .unwrap_or_default()
    };
    let tasks: Vec<PlanTaskView> = plan
        .tasks
        .iter()
        .map(|t| PlanTaskView {
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
    let blocked: Vec<BlockedView> = plan
        .blocked
        .iter()
        .map(|b| BlockedView {
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
            },
        })
        .collect();
    let new_versions: Vec<&String> = versions.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k).collect();
    let json = serde_json::json!({ "runnable": plan.runnable, "tasks": tasks, "blocked": blocked, "new_versions": new_versions, "plan_ms": plan_ms });
    p.data(&json, || {
        let mut s = String::new();
        if !new_versions.is_empty() {
            s.push_str(&format!(
                "new versions (their definitions changed, or something upstream did): {}\n\n",
                new_versions.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        if plan.runnable == 0 {
            s.push_str("nothing to run: every due instance of the selection exists or is waiting\n");
        } else {
            s.push_str(&format!(
                "{} to run{}:\n",
                plan.runnable,
                if plan.runnable > tasks.len() {
                    format!(" (first {} shown)", tasks.len())
                } else {
                    String::new()
                }
            ));
            let mut rows = vec![vec!["DATASET".into(), "PARTITION".into(), "READS".into()]];
            rows.extend(
                tasks
                    .iter()
                    .map(|t| vec![t.dataset.clone(), t.partition.clone(), t.inputs.join(", ")]),
            );
            s.push_str(&table(&rows));
        }
        if !blocked.is_empty() {
            s.push_str("\nnot runnable yet:\n");
            let mut rows = vec![vec!["DATASET".into(), "PARTITIONS".into(), "WHY".into()]];
            rows.extend(blocked.iter().map(|b| {
                vec![
                    b.dataset.clone(),
                    if b.count == 1 {
                        b.from.clone()
                    } else {
                        format!("{}..{} ({})", b.from, b.to, b.count)
                    },
                    b.reason.clone(),
                ]
            }));
            s.push_str(&table(&rows));
        }
        s
    });
    Ok(())
}

#[derive(Serialize)]
struct ShowView {
    dataset: String,
    version: u32,
    fingerprint: String,
    partition: String,
    location: String,
    run_id: String,
    rows: Option<i64>,
    bytes: i64,
    committed_at: String,
    files: Vec<weir_lake::FileEntry>,
    schema: Option<String>,
    counters: std::collections::BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    metrics: std::collections::BTreeMap<String, f64>,
    blocked: bool,
    checks: Vec<weir_core::check::CheckResult>,
    accepted: Vec<weir_catalog::Acceptance>,
    profile: Option<serde_json::Value>,
    inputs: Vec<String>,
    consumers: Vec<String>,
}

pub async fn show(
    dir: Option<&Path>,
    env: Option<&str>,
    dataset: &str,
    partition: Option<&str>,
    version: Option<u32>,
    p: Printer,
) -> Result<()> {
    let dir = project::find(dir)?;
    let (ws, _) = project::open_env(&dir, env).await?;
    let ds = ws.dataset(dataset)?;
    let wanted = partition.map(|s| weir_ops::partition(ds, s)).transpose()?;
    let version = match version {
        Some(v) => v,
        None => weir_ops::current_version(&ws, dataset).await?,
    };
    let present = ws.catalog.present(dataset, version).await?;
    let idx = match wanted {
        Some(i) => i,
        None => *present.last().ok_or_else(|| {
            UserError::new(
                format!("{dataset} v{version} has no instances yet"),
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
            format!("{dataset} v{version} {} does not exist", ds.granularity.format_key(idx)),
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
    let view = ShowView {
        dataset: dataset.to_string(),
        version,
        fingerprint: fp,
        partition: inst.partition_key.clone(),
        location: inst.location.clone(),
        run_id: inst.run_id.clone(),
        rows: inst.rows,
        bytes: inst.bytes,
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
    p.data(&view, || {
        let mut s = format!("{} v{} {}\n", p.bold(&view.dataset), view.version, view.partition);
        s.push_str(&format!(
            "  fingerprint  {}\n  location     {}\n  run          {}\n  committed    {}\n",
            view.fingerprint, view.location, view.run_id, view.committed_at
        ));
        s.push_str(&format!(
            "  rows         {}\n  bytes        {}\n",
            view.rows.map_or_else(|| "-".into(), |r| r.to_string()),
            human_bytes(view.bytes)
        ));
        if let Some(schema) = &view.schema {
            s.push_str(&format!("  schema       {schema}\n"));
        }
        s.push_str("files:\n");
        for f in &view.files {
            s.push_str(&format!(
                "  {}  {}  sha256:{}\n",
                f.name,
                human_bytes(f.size as i64),
                &f.sha256[..16.min(f.sha256.len())]
            ));
        }
        s.push_str("counters:\n");
        for (k, v) in &view.counters {
            s.push_str(&format!("  {k} = {v}\n"));
        }
        if !view.metrics.is_empty() {
            s.push_str("metrics:\n");
            for (k, v) in &view.metrics {
                s.push_str(&format!("  {k} = {v}\n"));
            }
        }
        if !view.checks.is_empty() {
            let state = if view.blocked {
                p.red("BLOCKED")
            } else if view.accepted.is_empty() {
                "ok".to_string()
            } else {
                p.yellow("accepted")
            };
            s.push_str(&format!("checks ({state}):\n"));
            s.push_str(&crate::cmd::status::check_lines(&view.checks, p));
        }
        for a in &view.accepted {
            s.push_str(&format!(
                "  accepted by {} at {}: {}\n",
                a.by,
                DateTime::<Utc>::from_timestamp_millis(a.at_ms)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
                a.reason
            ));
        }
        if let Some(cols) = view
            .profile
            .as_ref()
            .and_then(|p| p.get("columns"))
            .and_then(|c| c.as_object())
        {
            let mut t = vec![vec![
                "  COLUMN".to_string(),
                "NULLS".into(),
                "MIN".into(),
                "MAX".into(),
                "~DISTINCT".into(),
            ]];
            for (name, c) in cols {
                let cell = |k: &str| {
                    c.get(k)
                        .and_then(|v| v.as_str())
                        .map_or_else(|| "-".to_string(), |v| v.chars().take(32).collect())
                };
                t.push(vec![
                    format!("  {name}"),
                    format!(
                        "{:.1}%",
                        c.get("null_fraction").and_then(|v| v.as_f64()).unwrap_or(0.0) * 100.0
                    ),
                    cell("min"),
                    cell("max"),
                    c.get("distinct").map(|v| v.to_string()).unwrap_or_default(),
                ]);
            }
            s.push_str("profile:\n");
            s.push_str(&table(&t));
        }
        s.push_str(&format!("inputs ({}):\n", view.inputs.len()));
        for i in &view.inputs {
            s.push_str(&format!("  {i}\n"));
        }
        if !view.consumers.is_empty() {
            s.push_str(&format!("read by ({}):\n", view.consumers.len()));
            for c in &view.consumers {
                s.push_str(&format!("  {c}\n"));
            }
        }
        s
    });
    Ok(())
}

/// `weir runs --running`: the build claims held now, in every process.
pub async fn running(dir: Option<&Path>, dataset: Option<&str>, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let catalog = project::open_catalog(&dir).await?;
    let claims: Vec<_> = catalog
        .running(chrono::Utc::now().timestamp_millis())
        .await?
        .into_iter()
        .filter(|c| dataset.is_none_or(|d| c.key.dataset == d))
        .collect();
    // Partition keys from the working copy's definitions, where they still match.
    let defs = project::load(&dir).ok();
    let key = |c: &weir_catalog::Claim| {
        defs.as_ref().and_then(|d| d.dataset(&c.key.dataset)).map_or_else(
            || c.key.partition.to_string(),
            |d| d.granularity.format_key(c.key.partition),
        )
    };
    p.data(&claims, || {
        let mut t = vec![["RUN", "DATASET", "PARTITION", "PROCESS"].map(String::from).to_vec()];
        for c in &claims {
            t.push(vec![
                c.run_id.clone(),
                format!("{} v{}", c.key.dataset, c.key.version),
                key(c),
                c.owner.split(':').next().unwrap_or("").to_string(),
            ]);
        }
        let mut s = table(&t);
        s.push_str("`weir cancel RUN` stops one\n");
        s
    });
    Ok(())
}

pub async fn runs(dir: Option<&Path>, dataset: Option<&str>, failed: bool, limit: u32, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    if let Some(d) = dataset {
        ws.dataset(d)?;
    }
    let filter = RunFilter {
        dataset: dataset.map(str::to_string),
        state: failed.then_some(RunState::Failed),
        limit: Some(limit),
    };
    let runs = ws.catalog.runs(&filter).await?;
    let json: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            if let Some(d) = ws.project.dataset(&r.key.dataset) {
                v["partition_key"] = d.granularity.format_key(r.key.partition).into();
            }
            v
        })
        .collect();
    p.data(&json, || {
        let mut t = vec![
            ["RUN", "DATASET", "PARTITION", "STATE", "TOOK", "ERROR"]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        ];
        for r in &runs {
            let part = ws
                .project
                .dataset(&r.key.dataset)
                .map(|d| d.granularity.format_key(r.key.partition))
                .unwrap_or_default();
            t.push(vec![
                r.run_id.clone(),
                format!("{} v{}", r.key.dataset, r.key.version),
                part,
                r.state.as_str().to_string(),
                format!("{} ms", r.ended_at_ms - r.started_at_ms),
                r.error
                    .clone()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            ]);
        }
        table(&t)
    });
    Ok(())
}

pub async fn logs(dir: Option<&Path>, run_id: &str, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    let Some(run) = ws.catalog.run(run_id).await? else {
        return Err(UserError::new(format!("no run `{run_id}`"), "`weir runs` lists run ids").into());
    };
    p.data(&run, || {
        let mut s = format!(
            "run {} of {} v{}: {}\n",
            run.run_id,
            run.key.dataset,
            run.key.version,
            run.state.as_str()
        );
        if let Some(e) = &run.error {
            s.push_str(&format!("error: {e}\n"));
        }
        s.push_str("--- log ---\n");
        s.push_str(&run.log);
        s
    });
    Ok(())
}
