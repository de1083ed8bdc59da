//! Read-only verbs: `validate`, `plan`, `status`, `show`, `runs`, `logs`.

use crate::UserError;
use crate::cli::PlanArgs;
use crate::output::{Printer, human_bytes, table};
use crate::project;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::path::Path;
use weir_catalog::{RunFilter, RunState};
use weir_core::planner::Order;

/// `weir schema`: the JSON Schema of weir.toml, printed, or written where
/// the project's `#:schema` line points (after an upgrade of weir).
pub fn schema(dir: Option<&Path>, write: bool, p: Printer) -> Result<()> {
    let text = weir_core::keys::schema_text();
    if !write {
        print!("{text}");
        return Ok(());
    }
    let path = project::find(dir)?.join(weir_core::keys::SCHEMA_FILE);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    p.note(format!("wrote {}", path.display()));
    Ok(())
}

/// `weir man`: the page on stdout, or one page per verb written into `dir`.
pub fn man(dir: Option<&Path>, p: Printer) -> Result<()> {
    let written = crate::cli::shell::write_man(dir, &mut std::io::stdout().lock())?;
    if let Some(dir) = dir {
        p.note(format!("wrote {} man pages into {}", written.len(), dir.display()));
    }
    Ok(())
}

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

pub async fn plan(dir: Option<&Path>, env: Option<&str>, a: PlanArgs, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let (ws, deployment) = project::open_env(&dir, env).await?;
    let now = project::now()?;
    let sel =
        weir_ops::status::within_env(&ws, env.zip(deployment.as_ref()), a.select.selection(&ws.project)?, now).await?;
    let order = if a.select.oldest_first {
        Order::OldestFirst
    } else {
        Order::NewestFirst
    };
    let report = weir_ops::inspect::plan(&ws, &sel, order, a.limit, now).await?;
    print_plan(&report, p);
    Ok(())
}

/// Prints a plan report (from this process or a server).
pub fn print_plan(r: &weir_ops::inspect::PlanReport, p: Printer) {
    let (tasks, blocked, new_versions, plan) = (&r.tasks, &r.blocked, &r.new_versions, r);
    p.data(r, || {
        let mut s = String::new();
        if !new_versions.is_empty() {
            s.push_str(&format!(
                "new versions (their definitions changed, or something upstream did): {}\n\n",
                new_versions.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
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
    let view = weir_ops::inspect::show(&ws, dataset, partition, version).await?;
    print_instance(&view, p);
    Ok(())
}

/// Prints an instance report (from this process or a server).
pub fn print_instance(view: &weir_ops::inspect::InstanceReport, p: Printer) {
    p.data(view, || {
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
        defs.as_ref()
            .and_then(|d| d.partition_key(&c.key.dataset, c.key.partition))
            .unwrap_or_else(|| c.key.partition.to_string())
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

pub async fn runs(
    dir: Option<&Path>,
    dataset: Option<&str>,
    partition: Option<&str>,
    failed: bool,
    limit: u32,
    p: Printer,
) -> Result<()> {
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    let (dataset, partition) = weir_ops::runs_of(&ws, dataset, partition)?;
    let filter = RunFilter {
        dataset,
        state: failed.then_some(RunState::Failed),
        limit: Some(limit),
        after: None,
        partition,
    };
    let runs = ws.catalog.runs(&filter).await?;
    print_runs(&runs, Some(&ws.project), p);
    Ok(())
}

/// Prints runs (read here or from a server); partition keys come from
/// `project` when there is one.
pub fn print_runs(runs: &[weir_catalog::RunRecord], project: Option<&weir_core::Project>, p: Printer) {
    let key = |r: &weir_catalog::RunRecord| {
        project
            .and_then(|pr| pr.partition_key(&r.key.dataset, r.key.partition))
            .unwrap_or_else(|| r.key.partition.to_string())
    };
    let json: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["partition_key"] = key(r).into();
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
        for r in runs {
            t.push(vec![
                r.run_id.clone(),
                format!("{} v{}", r.key.dataset, r.key.version),
                key(r),
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
}

pub async fn logs(dir: Option<&Path>, run_id: &str, follow: bool, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    let mut told = false;
    let run = loop {
        use weir_ops::inspect::RunLog;
        match weir_ops::inspect::run_log(ws.catalog.as_ref(), run_id).await? {
            RunLog::Finished(run) => break run,
            RunLog::Unknown => {
                return Err(UserError::new(format!("no run `{run_id}`"), "`weir runs` lists run ids").into());
            }
            RunLog::Running { .. } => {}
        }
        if !follow {
            return Err(UserError::new(
                format!("run `{run_id}` is still running; its log is recorded when it ends"),
                "`weir logs --follow` waits for it; with --server it streams the output as it is written",
            )
            .into());
        }
        if !told {
            eprintln!("run {run_id} is running; its log prints when it ends (--server streams it live)");
            told = true;
        }
        // The catalog has no event to wait on from another process.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    print_log(&run, p);
    Ok(())
}

/// Prints a run's log (read here or from a server).
pub fn print_log(run: &weir_catalog::RunRecord, p: Printer) {
    p.data(run, || {
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
}
