//! `weir bench`: the planner on a synthetic DAG, and the run loop's overhead
//! per task on trivial command jobs. The figures go to docs/benchmarks.md.

mod checks;
mod dev;
pub mod ingest;
pub mod ingest_nats;
pub mod lake;
pub mod select;
pub mod serve;
pub mod serve_api;
pub mod serve_ha;
mod sql;

pub use checks::checks;
pub use dev::dev;
pub use sql::sql;

use crate::UserError;
use crate::output::Printer;
use anyhow::{Context, Result};
use chrono::{TimeDelta, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::PartSet;
use weir_core::load::load_project;
use weir_core::partition::parse_instant;
use weir_core::planner::{Order, Selection, Snapshot, plan as make_plan};

/// A small deterministic generator, so every bench run plans the same DAG.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[derive(Serialize)]
struct PlanBench {
    datasets: usize,
    partitions: usize,
    instances: usize,
    present: usize,
    runnable: usize,
    blocked_groups: usize,
    plan_ms_min: f64,
    plan_ms_median: f64,
    peak_rss_mib: Option<f64>,
}

pub fn plan(datasets: usize, partitions: usize, iterations: usize, p: Printer) -> Result<()> {
    let roots = (datasets / 10).max(1);
    let mut rng = Lcg(7);
    let mut toml = String::from("[project]\nname = \"bench\"\nstart = \"2016-01-01\"\n");
    for i in 0..datasets {
        let _ = write!(toml, "[datasets.d{i}]\npartition = \"day\"\ncommand = [\"true\"]\n");
        if i >= roots {
            let a = rng.below(i);
            let b = rng.below(i);
            if i % 10 == 0 {
                let _ = writeln!(
                    toml,
                    "inputs = {{ a = \"d{a}\", b = {{ dataset = \"d{b}\", window = \"7d\" }} }}"
                );
            } else {
                let _ = writeln!(toml, "inputs = {{ a = \"d{a}\", b = \"d{b}\" }}");
            }
        }
    }
    let project = load_project(&toml, &|_| Err("no files".into())).map_err(|d| anyhow::anyhow!("{d}"))?;
    let start = parse_instant("2016-01-01").context("start")?;
    let now = start + TimeDelta::days(partitions as i64);
    let g = weir_core::Granularity::Day;
    let lo = g.index_of(start);
    let half = lo + partitions as i64 / 2;
    let mut snap = Snapshot::default();
    for name in &project.topo_order {
        let set: PartSet = (lo..half).collect();
        snap.present.insert(name.clone(), set);
    }
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..iterations.max(1) {
        let t0 = Instant::now();
        let pl = make_plan(
            &project,
            &snap,
            now,
            &Selection::default(),
            Order::NewestFirst,
            Some(1000),
        );
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        last = Some(pl);
    }
    times.sort_by(f64::total_cmp);
    let pl = last.context("no iteration")?;
    let r = PlanBench {
        datasets,
        partitions,
        instances: datasets * partitions,
        present: snap.present.values().map(PartSet::len).sum(),
        runnable: pl.runnable,
        blocked_groups: pl.blocked.len(),
        plan_ms_min: times[0],
        plan_ms_median: times[times.len() / 2],
        peak_rss_mib: peak_rss_mib(),
    };
    p.data(&r, || {
        format!(
            "planned {} instances ({} present) of {} datasets × {} partitions\n  runnable {}, blocked groups {}\n  plan: min {:.1} ms, median {:.1} ms over {} iterations\n  peak RSS {:.0} MiB (whole process)",
            r.instances, r.present, r.datasets, r.partitions, r.runnable, r.blocked_groups, r.plan_ms_min, r.plan_ms_median, times.len(), r.peak_rss_mib.unwrap_or(f64::NAN)
        )
    });
    Ok(())
}

#[derive(Serialize)]
struct RunBench {
    tasks: usize,
    parallel: usize,
    wall_ms: f64,
    per_task_ms: f64,
    spawn_only_per_task_ms: f64,
    overhead_per_task_ms: f64,
    noop_replan_ms_median: f64,
}

pub async fn run(
    tasks: usize,
    parallel: usize,
    durability: &str,
    files: usize,
    catalog: Option<&str>,
    p: Printer,
) -> Result<()> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let now = Utc::now();
    let start = now - TimeDelta::hours(tasks as i64);
    // Each task writes `files` small files, so sealing has data to fsync.
    let command = if files == 0 {
        "[\"true\"]".to_string()
    } else {
        format!("[\"sh\", \"-c\", \"for i in $(seq 1 {files}); do echo $i > \\\"$WEIR_OUTPUT/f$i\\\"; done\"]")
    };
    let catalog_table = catalog.map_or(String::new(), |url| format!("[catalog]\nurl = \"{url}\"\n"));
    let toml = format!(
        "[project]\nname = \"bench\"\nstart = \"{}\"\ndurability = \"{durability}\"\n{catalog_table}[datasets.t]\npartition = \"hour\"\ncommand = {command}\nformat = \"files\"\n",
        start.format("%Y-%m-%dT%H:00:00Z")
    );
    std::fs::write(dir.path().join("weir.toml"), toml)?;
    let ws = crate::project::open(dir.path()).await?;
    if !ws.catalog.versions("t").await?.is_empty() {
        return Err(UserError::new(
            "the bench needs an empty catalog: this one has run it before",
            "give it a fresh database (dropdb/createdb), or leave out --catalog",
        )
        .into());
    }
    let expected = weir_core::mapping::due_range(&ws.project.datasets["t"], now);
    let opts = weir_sched::RunOptions {
        selection: Selection::default(),
        parallel,
        order: Order::NewestFirst,
        max_tasks: None,
        now,
        lease: Duration::from_secs(60),
        control: None,
    };
    let quiet = Printer {
        json: true,
        color: false,
        interactive: false,
    };
    let t0 = Instant::now();
    let summary = crate::cmd::run::run_with(ws.clone(), opts, quiet).await?;
    let wall = t0.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(summary.failed == 0, "{} tasks failed", summary.failed);
    let built = summary.succeeded;
    anyhow::ensure!(
        built as i64 == expected.1 - expected.0,
        "built {built}, expected {}",
        expected.1 - expected.0
    );
    // The cost of spawning the same processes with nothing around them.
    let t1 = Instant::now();
    let mut spawned = tokio::task::JoinSet::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    // Found in PATH once, as the command executor finds a job's program, so
    // the floor does not pay for a lookup the tasks skip.
    let bin = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("true")).find(|p| p.is_file()))
        .unwrap_or_else(|| "true".into());
    for _ in 0..built {
        let permit = sem.clone().acquire_owned().await?;
        let bin = bin.clone();
        spawned.spawn(async move {
            let _ = tokio::process::Command::new(bin).status().await;
            drop(permit);
        });
    }
    while spawned.join_next().await.is_some() {}
    let spawn_wall = t1.elapsed().as_secs_f64() * 1000.0;
    // The "nothing to do" re-plan: versions, snapshot and plan, as `weir run` does.
    let mut replans = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let versions = ws.versions(true, now.timestamp_millis()).await?;
        let snap = ws
            .snapshot(&versions, &Selection::default(), now, Some(&HashMap::new()))
            .await?;
        let pl = make_plan(
            &ws.project,
            &snap,
            now,
            &Selection::default(),
            Order::NewestFirst,
            Some(8),
        );
        anyhow::ensure!(pl.runnable == 0, "a complete project should have nothing to run");
        replans.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    replans.sort_by(f64::total_cmp);
    let r = RunBench {
        tasks: built,
        parallel,
        wall_ms: wall,
        per_task_ms: wall / built as f64,
        spawn_only_per_task_ms: spawn_wall / built as f64,
        overhead_per_task_ms: (wall - spawn_wall) / built as f64,
        noop_replan_ms_median: replans[replans.len() / 2],
    };
    p.data(&r, || {
        format!(
            "ran {} command tasks ({files} files each, durability {durability}) at --parallel {} in {:.0} ms\n  {:.2} ms per task (wall)\n  {:.2} ms per task spawning the same processes bare\n  {:.2} ms per task of orchestration overhead (claim, stage, seal, commit)\n  no-op re-plan of the complete project: {:.1} ms (median of 10)",
            r.tasks, r.parallel, r.wall_ms, r.per_task_ms, r.spawn_only_per_task_ms, r.overhead_per_task_ms, r.noop_replan_ms_median
        )
    });
    Ok(())
}

#[derive(Serialize)]
struct RevertBench {
    datasets: usize,
    partitions: usize,
    instances: usize,
    revert_all_ms_median: f64,
    revert_all_ms_max: f64,
}

pub async fn revert(datasets: usize, partitions: usize, p: Printer) -> Result<()> {
    use weir_catalog::{AliasMove, InstanceKey, Outcome};
    let dir = tempfile::tempdir().context("tempdir")?;
    let now = Utc::now();
    let start = (now - TimeDelta::days(partitions as i64)).format("%Y-%m-%d");
    let mut toml = format!("[project]\nname = \"bench\"\nstart = \"{start}\"\n");
    for i in 0..datasets {
        let _ = write!(toml, "[datasets.d{i}]\npartition = \"day\"\ncommand = [\"true\"]\n");
    }
    std::fs::write(dir.path().join("weir.toml"), toml)?;
    let ws = crate::project::open(dir.path()).await?;
    let t0 = Instant::now();
    let mut instances = 0;
    for name in ws.project.topo_order.clone() {
        let v1 = ws
            .catalog
            .register_version(&name, &ws.fingerprints[&name], "{}", 0)
            .await?;
        let v2 = ws.catalog.register_version(&name, "bench-v2", "{}", 1).await?;
        let lo = ws.project.datasets[&name].granularity.index_of(now) - partitions as i64;
        for v in [v1, v2] {
            let batch: Vec<Outcome> = (lo..lo + partitions as i64)
                .map(|idx| {
                    let key = InstanceKey {
                        dataset: name.clone(),
                        version: v,
                        partition: idx,
                    };
                    serve::fake_outcome(key, format!("{name}-{v}-{idx}"))
                })
                .collect();
            ws.catalog.commit(&batch).await?;
            instances += batch.len();
        }
        for (from, to) in [(None, v1), (Some(v1), v2)] {
            let mv = AliasMove {
                env: "prod".into(),
                dataset: name.clone(),
                seq: 0,
                from_version: from,
                to_version: to,
                pinned: false,
                kind: weir_catalog::MoveKind::Advance,
                reason: None,
                at_ms: 0,
            };
            ws.catalog.move_alias(&mv).await?;
        }
    }
    let setup = t0.elapsed();
    let mut times = Vec::new();
    for round in 0..5 {
        let t = Instant::now();
        let args = weir_ops::aliases::RevertArgs {
            datasets: Vec::new(),
            all: true,
            reason: Some("bench".into()),
        };
        let at = chrono::DateTime::from_timestamp_millis(round).unwrap_or_default();
        let moves = weir_ops::aliases::revert(&ws, "prod", &args, at).await?.moves;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(moves.len() == datasets, "reverted {} of {datasets}", moves.len());
        // Put every alias back on v2 (unpinned) for the next round.
        for m in moves {
            let back = AliasMove {
                from_version: Some(m.to_version),
                to_version: m.from_version.unwrap_or(m.to_version),
                pinned: false,
                kind: weir_catalog::MoveKind::Unpin,
                ..m
            };
            ws.catalog.move_alias(&back).await?;
        }
    }
    times.sort_by(f64::total_cmp);
    let r = RevertBench {
        datasets,
        partitions,
        instances,
        revert_all_ms_median: times[times.len() / 2],
        revert_all_ms_max: times[times.len() - 1],
    };
    p.data(&r, || {
        format!(
            "reverted the aliases of {} datasets ({} instances in the catalog, set up in {:.1} s)\n  revert --all: median {:.1} ms, max {:.1} ms over {} rounds",
            r.datasets, r.instances, setup.as_secs_f64(), r.revert_all_ms_median, r.revert_all_ms_max, times.len()
        )
    });
    Ok(())
}
