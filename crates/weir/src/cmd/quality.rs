//! `weir accept`: release an instance that a blocking check holds back, on
//! the record.

use crate::output::Printer;
use crate::project;
use anyhow::Result;
use std::path::Path;

pub async fn accept(
    dir: Option<&Path>,
    env: Option<&str>,
    dataset: &str,
    partition: &str,
    version: Option<u32>,
    reason: &str,
    p: Printer,
) -> Result<()> {
    let dir = project::find(dir)?;
    let (ws, deployment) = project::open_env(&dir, env).await?;
    let by = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let args = weir_ops::aliases::AcceptArgs {
        dataset,
        partition,
        version,
        reason,
        by: &by,
    };
    let target = env.zip(deployment.as_ref());
    let r = weir_ops::aliases::accept(&ws, target, &args, project::now()?).await?;
    print_accept(&r, p);
    Ok(())
}

/// Prints an acceptance (made here or by a server).
pub fn print_accept(r: &weir_ops::aliases::AcceptReport, p: Printer) {
    let moved = r.aliases.as_ref().map(|a| a.moves.as_slice()).unwrap_or_default();
    crate::cmd::envs::notes(r.aliases.as_ref().map(|a| a.exports.as_slice()).unwrap_or_default(), p);
    crate::cmd::envs::notes(&r.exports, p);
    let json = serde_json::json!({ "accepted": r.accepted, "aliases_moved": moved, "exports": r.exports });
    p.data(&json, || {
        let acc = &r.accepted;
        let mut s = format!(
            "accepted {}: overrode {} on the record ({}: {})\nconsumers read it from the next `weir run`\n",
            r.label,
            if acc.checks.is_empty() {
                "its failing checks".to_string()
            } else {
                acc.checks
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            acc.by,
            acc.reason
        );
        for m in moved {
            s.push_str(&format!("alias {} → v{}\n", m.dataset, m.to_version));
        }
        s
    });
}
