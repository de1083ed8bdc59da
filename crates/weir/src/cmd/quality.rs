//! `weir accept`: release an instance that a blocking check holds back, on
//! the record.

use crate::UserError;
use crate::output::Printer;
use crate::project;
use anyhow::Result;
use std::path::Path;
use weir_catalog::InstanceKey;

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
    let ds = ws.dataset(dataset)?;
    if reason.trim().is_empty() {
        return Err(UserError::new(
            "an acceptance needs a reason",
            "say why the data is right despite the check, e.g. --reason \"replayed logs, counts are real\"",
        )
        .into());
    }
    let idx = ds
        .granularity
        .parse_partition(partition)
        .map_err(|e| UserError::new(e.0, format!("name a partition like {}", ds.granularity.format_value(0))))?;
    let version = match version {
        Some(v) => v,
        None => match ws.catalog.version_number(dataset, &ws.fingerprints[dataset]).await? {
            Some(v) => v,
            None => {
                return Err(UserError::new(
                    format!("`{dataset}`'s current definitions have never been built"),
                    "name the version with --version",
                )
                .into());
            }
        },
    };
    let key = InstanceKey {
        dataset: dataset.to_string(),
        version,
        partition: idx,
    };
    let label = format!("{dataset} v{version} {}", ds.granularity.format_key(idx));
    let by = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let now = project::now()?;
    let Some(acc) = ws.catalog.accept(&key, reason, &by, now.timestamp_millis()).await? else {
        let hint = if ws.catalog.instance(&key).await?.is_some() {
            "it is not blocked: its blocking checks passed, or it was accepted already (`weir show` has the record)"
        } else {
            "it does not exist; `weir status` lists blocked instances"
        };
        return Err(UserError::new(format!("{label} has nothing to accept"), hint).into());
    };
    let mut moved = Vec::new();
    if let (Some(env), Some(d)) = (env, deployment) {
        moved = weir_sched::env::advance(&ws, env, &d, now).await?;
    }
    let json = serde_json::json!({ "accepted": acc, "aliases_moved": moved });
    p.data(&json, || {
        let mut s = format!(
            "accepted {label}: overrode {} on the record ({by}: {reason})\nconsumers read it from the next `weir run`\n",
            if acc.checks.is_empty() {
                "its failing checks".to_string()
            } else {
                acc.checks.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
            }
        );
        for m in &moved {
            s.push_str(&format!("alias {} → v{}\n", m.dataset, m.to_version));
        }
        s
    });
    Ok(())
}
