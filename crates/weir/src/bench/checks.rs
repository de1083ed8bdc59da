//! `weir bench checks`: what measurement costs a SQL job. The demo's `plays`
//! (24 hourly JSON-lines inputs → deduplicated Parquet) runs on the demo data
//! five times per partition: bare (no declared counters, profile or checks),
//! with the profile and checks but no declared counters, and measured (its
//! drop counters, the profile, its data check and the evaluation of every
//! check), each as the executor alone; then bare and measured again, built up
//! to a sealed instance as `weir run` builds one (so recording what was
//! measured counts too). The overhead is the difference in wall time against
//! bare.

use crate::output::{Printer, table};
use anyhow::{Context, Result};
use chrono::{TimeDelta, Utc};
use serde::Serialize;
use std::time::{Duration, Instant};
use weir_core::planner::{Order, Selection};
use weir_exec::{BareSqlExecutor, Executor, SqlExecutor};

#[derive(Serialize)]
struct ChecksBench {
    partitions: usize,
    rounds: usize,
    rows_per_partition: i64,
    bare_ms_median: f64,
    measured_ms_median: f64,
    /// The median of the paired differences (measured − bare).
    overhead_ms_median: f64,
    overhead_pct: f64,
    /// The same, with the declared counters removed: what the profile and the
    /// checks cost on their own.
    profile_checks_ms_median: f64,
    profile_checks_pct: f64,
    counters: usize,
    checks: usize,
    /// Bare and measured again, each as `weir run` builds a partition: up to
    /// its sealed instance (so measurement's bigger manifest counts too).
    sealed_bare_ms_median: f64,
    sealed_overhead_ms_median: f64,
    sealed_overhead_pct: f64,
}

/// How one run of the job is measured.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Bare,
    /// Profile and checks, no declared counters.
    NoCounters,
    Measured,
    /// Bare, built up to a sealed instance.
    SealedBare,
    /// Measured, built up to a sealed instance.
    SealedMeasured,
}

impl Variant {
    fn measured(self) -> bool {
        matches!(self, Variant::Measured | Variant::SealedMeasured)
    }

    fn bare(self) -> bool {
        matches!(self, Variant::Bare | Variant::SealedBare)
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub async fn checks(days: u32, rounds: usize, p: Printer) -> Result<()> {
    let tmp = tempfile::tempdir().context("tempdir")?;
    let dir = tmp.path().join("demo");
    let now = Utc::now();
    let start = now.date_naive() - TimeDelta::days(i64::from(days));
    crate::demo::scaffold(&dir, start, None)?;
    crate::demo::land(&dir, start, start, days, 42, None, None)?;
    let ws = crate::project::open(&dir).await?;
    let quiet = Printer {
        json: true,
        color: false,
        interactive: false,
    };
    let opts = weir_sched::RunOptions {
        selection: Selection {
            datasets: vec!["plays".into()],
            ..Default::default()
        },
        parallel: num_cpus::get().max(1),
        order: Order::NewestFirst,
        max_tasks: None,
        now,
        lease: Duration::from_secs(60),
        control: None,
    };
    let summary = crate::cmd::run::run_with(ws.clone(), opts, quiet).await?;
    anyhow::ensure!(summary.failed == 0, "building the inputs failed");
    let plays = ws.dataset("plays")?.clone();
    let version = ws
        .versions(false, now.timestamp_millis())
        .await?
        .get("plays")
        .copied()
        .flatten()
        .unwrap_or(0);
    let partitions = ws.catalog.present("plays", version).await?;
    anyhow::ensure!(!partitions.is_empty(), "no plays partitions were built");
    let lake = ws.lake(&plays)?;
    let (_tx, cancel) = tokio::sync::watch::channel(false);
    // Paired samples: each partition runs in every variant back to back (in
    // rotating order), so drift in the machine's state cancels out.
    let variants = [
        Variant::Bare,
        Variant::NoCounters,
        Variant::Measured,
        Variant::SealedBare,
        Variant::SealedMeasured,
    ];
    let (mut bare, mut measured, mut diffs, mut diffs_nc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut sealed_bare, mut sealed_diffs) = (Vec::new(), Vec::new());
    let mut rows = 0;
    for round in 0..rounds {
        for (i, idx) in partitions.iter().enumerate() {
            let mut ms = [0.0; 5];
            // Rotate which goes first, so caches favour none.
            for k in 0..variants.len() {
                let slot = (round + i + k) % variants.len();
                let variant = variants[slot];
                let run_id = format!("bench-{round}-{idx}-{slot}");
                let mut ctx = weir_sched::context_for(&ws, "plays", *idx, &run_id).await?;
                if !variant.measured() {
                    ctx.dataset.counters.clear();
                    ctx.dataset.derived.clear();
                }
                if variant.bare() {
                    ctx.dataset.checks.clear();
                }
                let t = Instant::now();
                match variant {
                    Variant::Bare => {
                        BareSqlExecutor.execute(&ctx, cancel.clone()).await?;
                    }
                    Variant::NoCounters | Variant::Measured => {
                        let out = SqlExecutor.execute(&ctx, cancel.clone()).await?;
                        let mut counters = out.counters.clone();
                        weir_sched::checks::derive(&ctx.dataset, &mut counters).map_err(anyhow::Error::msg)?;
                        let results =
                            weir_sched::checks::evaluate(&ws, &ctx.dataset, version, *idx, &counters, &out).await;
                        anyhow::ensure!(results.len() == plays.checks.len(), "every check is evaluated");
                        rows = out.rows.unwrap_or(0);
                    }
                    Variant::SealedBare | Variant::SealedMeasured => {
                        // A version of its own, so the real instance is neither
                        // adopted nor touched; removed again below.
                        ctx.version = version + 1000;
                        let dir = lake.root().join(ws.prefix(&plays, ctx.version, *idx));
                        anyhow::ensure!(!dir.exists(), "a bench instance was left at {}", dir.display());
                        let exec: Box<dyn Executor> = if variant.bare() {
                            Box::new(BareSqlExecutor)
                        } else {
                            Box::new(SqlExecutor)
                        };
                        let report = weir_sched::build_uncommitted(ws.clone(), exec, ctx).await;
                        ms[slot] = t.elapsed().as_secs_f64() * 1000.0;
                        anyhow::ensure!(
                            report.state == weir_sched::TaskState::Succeeded,
                            "building plays failed: {}",
                            report.error.unwrap_or_default()
                        );
                        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
                        continue;
                    }
                }
                ms[slot] = t.elapsed().as_secs_f64() * 1000.0;
                lake.discard(&run_id).await;
            }
            bare.push(ms[0]);
            measured.push(ms[2]);
            diffs.push(ms[2] - ms[0]);
            diffs_nc.push(ms[1] - ms[0]);
            sealed_bare.push(ms[3]);
            sealed_diffs.push(ms[4] - ms[3]);
        }
    }
    let (b, m, d) = (median(&mut bare), median(&mut measured), median(&mut diffs));
    let nc = median(&mut diffs_nc);
    let (sb, sd) = (median(&mut sealed_bare), median(&mut sealed_diffs));
    let r = ChecksBench {
        partitions: partitions.len(),
        rounds,
        rows_per_partition: rows,
        bare_ms_median: b,
        measured_ms_median: m,
        overhead_ms_median: d,
        overhead_pct: d / b * 100.0,
        profile_checks_ms_median: nc,
        profile_checks_pct: nc / b * 100.0,
        counters: plays.counters.len() + plays.derived.len(),
        checks: plays.checks.len(),
        sealed_bare_ms_median: sb,
        sealed_overhead_ms_median: sd,
        sealed_overhead_pct: sd / sb * 100.0,
    };
    p.data(&r, || {
        let mut s = format!(
            "plays on the demo data: {} partitions of ~{} rows, {} rounds; {} declared counters, {} checks\n",
            r.partitions, r.rows_per_partition, r.rounds, r.counters, r.checks
        );
        s.push_str(&table(&[
            vec!["".into(), "MS PER PARTITION (MEDIAN)".into()],
            vec!["bare SQL job".into(), format!("{:.1}", r.bare_ms_median)],
            vec![
                "with counters, profile and checks".into(),
                format!("{:.1}", r.measured_ms_median),
            ],
            vec![
                "overhead (median of paired differences)".into(),
                format!("{:+.1} ms = {:+.1}%", r.overhead_ms_median, r.overhead_pct),
            ],
            vec![
                "of which profile and checks alone".into(),
                format!("{:+.1} ms = {:+.1}%", r.profile_checks_ms_median, r.profile_checks_pct),
            ],
            vec![
                "bare, built up to a sealed instance".into(),
                format!("{:.1}", r.sealed_bare_ms_median),
            ],
            vec![
                "overhead, built up to a sealed instance".into(),
                format!(
                    "{:+.1} ms = {:+.1}%",
                    r.sealed_overhead_ms_median, r.sealed_overhead_pct
                ),
            ],
        ]));
        s
    });
    Ok(())
}
