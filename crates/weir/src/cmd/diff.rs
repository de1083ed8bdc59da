//! `weir diff ENV_A ENV_B`: prints what `weir_ops::diff` compares.

use crate::output::Printer;
use crate::project;
use anyhow::Result;
use std::path::Path;
use weir_ops::diff::{DatasetDiff, DiffArgs};

pub async fn diff(
    dir: Option<&Path>,
    a: &str,
    b: &str,
    datasets: &[String],
    partition: Option<&str>,
    p: Printer,
) -> Result<()> {
    let dir = project::find(dir)?;
    let catalog = project::open_catalog(&dir).await?;
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let args = DiffArgs {
        a: a.to_string(),
        b: b.to_string(),
        datasets: datasets.to_vec(),
        partition: partition.map(str::to_string),
    };
    let out = weir_ops::diff::diff(&dir, catalog, &args).await?;
    p.data(&out, || text(&out, a, b));
    Ok(())
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
