//! `weir run`: build until complete, with a progress bar on a terminal and a
//! summary at the end. Ctrl-C cancels running jobs; nothing half-made is committed.

use crate::cli::RunArgs;
use crate::output::{Printer, table};
use crate::project;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::time::Duration;
use weir_core::planner::Order;
use weir_sched::{Progress, RunOptions, RunSummary, TaskReport, TaskState};

struct Bar {
    bar: Option<ProgressBar>,
    printer: Printer,
    alerts: Option<weir_ops::alerts::Webhook>,
    lineage: Option<weir_ops::lineage::LineageSink>,
}

impl Progress for Bar {
    fn run_event(&self, event: &weir_sched::events::RunEvent) {
        if let Some(l) = &self.lineage {
            l.send(event);
        }
    }

    fn alert(&self, event: &weir_sched::alert::AlertEvent) {
        if let Some(w) = &self.alerts {
            w.send(event);
        }
    }

    fn retrying(&self, r: &TaskReport, attempt: u32, wait: Duration) {
        let line = format!(
            "{} {} v{} {} (attempt {attempt} failed: {}); retrying in {:.1}s",
            self.printer.yellow("retry"),
            r.dataset,
            r.version,
            r.partition,
            r.error.as_deref().unwrap_or("").lines().next().unwrap_or(""),
            wait.as_secs_f64()
        );
        match &self.bar {
            Some(b) => b.println(line),
            None if !self.printer.json => eprintln!("{line}"),
            None => {}
        }
    }

    fn planned(&self, runnable: usize, done: usize) {
        if let Some(b) = &self.bar {
            b.set_length((done + runnable) as u64);
            b.set_position(done as u64);
        }
    }

    fn started(&self, dataset: &str, partition: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{dataset} {partition}"));
        }
    }

    fn finished(&self, r: &TaskReport) {
        if r.state == TaskState::Failed {
            let line = format!(
                "{} {} v{} {}: {}",
                self.printer.red("failed"),
                r.dataset,
                r.version,
                r.partition,
                r.error.as_deref().unwrap_or("")
            );
            match &self.bar {
                Some(b) => b.println(line),
                None if !self.printer.json => eprintln!("{line}"),
                None => {}
            }
        }
    }
}

/// Runs the selection; the exit code is 1 if anything failed, [`BLOCKED`] if
/// a check blocked an instance, 128 + the signal if interrupted (130 Ctrl-C,
/// 143 SIGTERM, 129 SIGHUP).
pub async fn run(dir: Option<&Path>, env: Option<&str>, a: RunArgs, p: Printer) -> Result<u8> {
    let dir = project::find(dir)?;
    let (ws, deployment) = project::open_env(&dir, env).await?;
    let now = project::now()?;
    let selection =
        weir_ops::status::within_env(&ws, env.zip(deployment.as_ref()), a.select.selection(&ws.project)?, now).await?;
    let opts = RunOptions {
        selection,
        parallel: a.parallel.unwrap_or_else(num_cpus::get).max(1),
        order: if a.select.oldest_first {
            Order::OldestFirst
        } else {
            Order::NewestFirst
        },
        max_tasks: a.limit,
        now,
        lease: crate::project::lease(),
        control: None,
    };
    let summary = run_with(ws.clone(), opts, p).await?;
    print_summary(&summary, p);
    if let (Some(env), Some(d)) = (env, deployment) {
        let r = weir_ops::aliases::advance(&ws, env, &d, now).await?;
        for m in &r.moves {
            p.note(format!(
                "{env}: {} now serves v{} (was {})",
                m.dataset,
                m.to_version,
                m.from_version.map_or_else(|| "nothing".into(), |v| format!("v{v}"))
            ));
        }
        crate::cmd::envs::notes(&r.exports, p);
    }
    Ok(if summary.interrupted {
        crate::stop::interrupted_status()
    } else if summary.failed > 0 {
        1
    } else if summary.blocked() {
        BLOCKED
    } else {
        0
    })
}

/// The exit code of a run in which nothing failed but a `block` check held an
/// instance back: distinct from 1, so a scheduler calling `weir run` can page
/// on bad data as well as on broken jobs, and tell the two apart.
pub const BLOCKED: u8 = 3;

/// Runs with a progress bar and Ctrl-C/TERM/HUP handling; shared by `run` and `demo`.
pub async fn run_with(ws: std::sync::Arc<weir_sched::Workspace>, opts: RunOptions, p: Printer) -> Result<RunSummary> {
    let bar = p.interactive.then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let progress = Bar {
        bar: bar.clone(),
        printer: p,
        alerts: weir_ops::alerts::Webhook::start(&ws.project, Some(ws.catalog.clone())),
        lineage: weir_ops::lineage::LineageSink::start(&ws.project, &ws.dir),
    };
    let rx = crate::stop::begin_run();
    let result = weir_sched::run(ws, weir_exec::executor_for, opts, &progress, rx).await;
    crate::stop::end_run();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(l) = progress.lineage {
        l.finish(Duration::from_secs(15)).await;
    }
    if let Some(w) = progress.alerts {
        // Queued alerts get a few seconds to go out; the run's result is already final.
        w.finish(Duration::from_secs(15)).await;
    }
    Ok(result?)
}

pub fn print_summary(s: &RunSummary, p: Printer) {
    p.data(s, || {
        let mut out = format!(
            "{} built, {} failed{}{} in {:.1}s\n",
            p.green(&s.succeeded.to_string()),
            if s.failed > 0 {
                p.red(&s.failed.to_string())
            } else {
                "0".into()
            },
            if s.cancelled > 0 {
                format!(", {} cancelled", s.cancelled)
            } else {
                String::new()
            },
            if s.adopted > 0 {
                format!(", {} adopted from earlier runs", s.adopted)
            } else {
                String::new()
            },
            s.elapsed_ms as f64 / 1000.0
        );
        if !s.failures.is_empty() {
            let mut t = vec![
                ["DATASET", "PARTITION", "RUN", "ERROR"]
                    .iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>(),
            ];
            for f in s.failures.iter().take(20) {
                t.push(vec![
                    format!("{} v{}", f.dataset, f.version),
                    f.partition.clone(),
                    f.run_id.clone(),
                    f.error
                        .clone()
                        .unwrap_or_default()
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string(),
                ]);
            }
            out.push_str(&table(&t));
            out.push_str("see a failure's output with `weir logs RUN`\n");
        }
        for e in s.check_failures.iter().take(20) {
            if let weir_sched::alert::AlertEvent::CheckFailed {
                dataset,
                version,
                partition,
                blocked,
                checks,
                ..
            } = e
            {
                let what = if *blocked {
                    p.red("blocked")
                } else {
                    p.yellow("warning")
                };
                out.push_str(&format!("{what}: {dataset} v{version} {partition}\n"));
                out.push_str(&crate::cmd::status::check_lines(checks, p));
            }
        }
        if s.blocked() {
            out.push_str(
                "consumers do not read blocked instances; `weir status` lists them, `weir accept` releases one\n",
            );
        }
        out
    });
}
