//! `weir status`: per dataset, what exists, what is missing and why, and the
//! instances blocked by checks; and how check results are printed everywhere.

use crate::output::{Printer, human_duration, table};
use crate::project;
use anyhow::Result;
use std::path::Path;

pub async fn status(dir: Option<&Path>, env: Option<&str>, datasets: &[String], p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let (ws, deployment) = project::open_env(&dir, env).await?;
    let now = project::now()?;
    let rows = weir_ops::status::status(&ws, env.zip(deployment.as_ref()), datasets, now).await?;
    p.data(&rows, || status_table(&rows, p));
    Ok(())
}

/// Check results, one per line: a mark, the name, severity and the values behind it.
pub fn check_lines(checks: &[weir_core::check::CheckResult], p: Printer) -> String {
    use weir_core::check::Status;
    let mut s = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Pass => p.green("✓"),
            Status::Fail | Status::Error if c.severity == weir_core::check::Severity::Warn => p.yellow("!"),
            Status::Fail | Status::Error => p.red("✗"),
            Status::Skipped => "-".to_string(),
        };
        s.push_str(&format!(
            "  {mark} {} [{}, {}]  {}\n",
            c.name,
            c.severity.as_str(),
            c.status.as_str(),
            c.detail
        ));
    }
    s
}

pub fn status_table(rows: &[weir_sched::DatasetStatus], p: Printer) -> String {
    let serving = rows.iter().any(|r| r.serving.is_some());
    let mut t = vec![
        [
            "DATASET",
            "VERSION",
            "COMPLETE",
            "MISSING",
            "WAITING",
            "FAILED",
            "BLOCKED",
            "FIRST MISSING",
            "DELAY",
            "DONE",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    ];
    if serving {
        t[0].push("SERVING".into());
    }
    let late = rows.iter().any(|r| r.late > 0);
    if late {
        t[0].push("LATE".into());
    }
    let pipeline = rows.iter().any(|r| r.pipeline_delay_seconds.is_some());
    if pipeline {
        t[0].push("PIPELINE DELAY".into());
    }
    for r in rows {
        let done = format!("{:.0}%", r.fraction * 100.0);
        t.push(vec![
            if r.paused {
                format!("{} {}", r.dataset, p.yellow("(paused)"))
            } else {
                r.dataset.clone()
            },
            r.version
                .map_or_else(|| format!("new ({})", r.fingerprint), |v| format!("v{v}")),
            format!("{}/{}", r.complete, r.desired),
            r.missing.to_string(),
            r.waiting.to_string(),
            if r.failed > 0 {
                p.red(&r.failed.to_string())
            } else {
                "0".into()
            },
            if r.blocked > 0 {
                p.red(&r.blocked.to_string())
            } else {
                "0".into()
            },
            r.first_missing.clone().unwrap_or_else(|| "-".into()),
            r.delay_seconds.map_or_else(|| "-".into(), human_duration),
            if r.fraction >= 1.0 {
                p.green(&done)
            } else {
                p.yellow(&done)
            },
        ]);
        if serving && let Some(row) = t.last_mut() {
            row.push(r.serving.map_or_else(|| "-".into(), |v| format!("v{v}")));
        }
        if late && let Some(row) = t.last_mut() {
            row.push(match &r.first_late {
                Some(first) if r.late > 0 => p.red(&format!("{} (from {first})", r.late)),
                _ => "0".into(),
            });
        }
        if pipeline && let Some(row) = t.last_mut() {
            row.push(
                r.pipeline_delay_seconds
                    .map_or_else(|| "-".into(), |d| human_duration(d.round() as i64)),
            );
        }
    }
    let mut s = table(&t);
    for r in rows {
        for h in &r.held {
            s.push_str(&format!(
                "{} {} {} is blocked; consumers do not read it:\n",
                p.red("blocked:"),
                r.dataset,
                h.partition
            ));
            for c in &h.checks {
                s.push_str(&format!("  ✗ {}  ({})\n", c.name, c.detail));
            }
            s.push_str(&format!(
                "  release it with `weir accept {} --partition {} --reason \"…\"`, or fix and `weir invalidate` it\n",
                r.dataset, h.partition
            ));
        }
    }
    s
}
