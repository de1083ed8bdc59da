//! Environments and aliases: `deploy`, `envs`, `promote`, `revert`, `pin`,
//! `unpin`, `alias`, `path`, `versions`.

use crate::UserError;
use crate::output::{Printer, table};
use crate::project;
use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;
use weir_catalog::AliasMove;
use weir_sched::env::PROD;

fn when(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

pub async fn deploy(
    dir: Option<&Path>,
    env_name: Option<&str>,
    window: Option<&str>,
    message: Option<String>,
    p: Printer,
) -> Result<()> {
    let dir = project::find(dir)?;
    let env_name = env_name.unwrap_or(PROD);
    let ws = project::open(&dir).await?;
    let files = weir_ops::deploy::working_copy(&ws)?;
    let r = weir_ops::deploy::deploy(
        &dir,
        ws.catalog.clone(),
        env_name,
        window,
        message,
        files,
        project::now()?,
    )
    .await?;
    print_deploy(&r, p);
    Ok(())
}

/// Prints a deployment (made here or by a server).
pub fn print_deploy(r: &weir_ops::deploy::DeployReport, p: Printer) {
    let report = &r.datasets;
    p.data(
        &serde_json::json!({ "env": r.env, "seq": r.seq, "window": r.window, "datasets": report }),
        || {
            let mut t = vec![
                ["DATASET", "VERSION", "STATUS"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            ];
            for r in report.iter() {
                let status = if r.shared_with.is_empty() {
                    r.status.to_string()
                } else {
                    format!("shared with {}", r.shared_with.join(", "))
                };
                t.push(vec![r.dataset.clone(), format!("v{}", r.version), status]);
            }
            format!(
                "deployed {}#{}{}\n{}build it with `weir run --env {}`",
                r.env,
                r.seq,
                r.window.as_ref().map(|w| format!(" (window {w})")).unwrap_or_default(),
                table(&t),
                r.env
            )
        },
    );
}

pub async fn envs(dir: Option<&Path>, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let catalog = project::open_catalog(&dir).await?;
    let all = catalog.deployments(None).await?;
    #[derive(Serialize)]
    struct Row {
        env: String,
        seq: u32,
        deployed_at: String,
        window: Option<String>,
        message: Option<String>,
        versions: std::collections::BTreeMap<String, u32>,
    }
    let rows: Vec<Row> = all
        .iter()
        .map(|d| Row {
            env: d.env.clone(),
            seq: d.seq,
            deployed_at: when(d.deployed_at_ms),
            window: d.window.clone(),
            message: d.message.clone(),
            versions: d.versions.clone(),
        })
        .collect();
    p.data(&rows, || {
        if rows.is_empty() {
            return "no environments yet: `weir deploy` snapshots the definitions as `prod`".to_string();
        }
        let mut t = vec![
            ["ENV", "DEPLOY", "WHEN", "WINDOW", "MESSAGE"]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        ];
        for r in &rows {
            t.push(vec![
                r.env.clone(),
                format!("#{}", r.seq),
                r.deployed_at.clone(),
                r.window.clone().unwrap_or_else(|| "-".into()),
                r.message.clone().unwrap_or_default(),
            ]);
        }
        table(&t)
    });
    Ok(())
}

pub async fn promote(dir: Option<&Path>, from: &str, to: &str, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let catalog = project::open_catalog(&dir).await?;
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let r = weir_ops::aliases::promote(&dir, catalog, from, to, project::now()?).await?;
    print_promote(&r, p);
    Ok(())
}

/// Prints a promotion (made here or by a server).
pub fn print_promote(r: &weir_ops::aliases::PromoteReport, p: Printer) {
    notes(&r.aliases.exports, p);
    p.data(r, || {
        let d = &r.deployment;
        let mut s = format!("{}#{} now runs the definitions of {}#{}\n", d.env, d.seq, r.source, r.source_seq);
        s.push_str(&moves_text(&r.aliases.moves));
        if !r.pending.is_empty() {
            s.push_str(&format!(
                "not serving yet (incomplete over their serve window): {}\nbuild them with `weir run --env {}`; aliases advance when complete\n",
                r.pending.join(", "),
                d.env
            ));
        }
        s
    });
}

/// Prints one note per export sync (to stderr, beside the data).
pub(crate) fn notes(exports: &[weir_ops::serving::ExportSync], p: Printer) {
    for e in exports {
        p.note(e.to_string());
    }
}

fn moves_text(moves: &[AliasMove]) -> String {
    moves
        .iter()
        .map(|m| {
            format!(
                "{} {}: {} → v{}{}\n",
                m.kind,
                m.dataset,
                m.from_version.map_or_else(|| "none".into(), |v| format!("v{v}")),
                m.to_version,
                if m.pinned { " (pinned)" } else { "" }
            )
        })
        .collect()
}

pub async fn revert(
    dir: Option<&Path>,
    env_name: Option<&str>,
    datasets: &[String],
    all: bool,
    reason: Option<String>,
    p: Printer,
) -> Result<u8> {
    let (ws, _, env_name) = project::env_ws(dir, env_name).await?;
    let args = weir_ops::aliases::RevertArgs {
        datasets: datasets.to_vec(),
        all,
        reason,
    };
    let r = weir_ops::aliases::revert(&ws, &env_name, &args, project::now()?).await?;
    print_moves(&r, true, p);
    Ok(0)
}

/// Prints alias moves (made here or by a server); `pinned_note` after a revert.
pub fn print_moves(r: &weir_ops::aliases::AliasReport, pinned_note: bool, p: Printer) {
    notes(&r.exports, p);
    p.data(&r.moves, || {
        let mut s = moves_text(&r.moves);
        if pinned_note {
            s.push_str("pinned: these aliases stay put until `weir unpin`\n");
        }
        s
    });
}

pub async fn pin(
    dir: Option<&Path>,
    env_name: Option<&str>,
    dataset: &str,
    version: Option<u32>,
    reason: Option<String>,
    pinned: bool,
    p: Printer,
) -> Result<()> {
    let (ws, d, env_name) = project::env_ws(dir, env_name).await?;
    let now = project::now()?;
    let r = if pinned {
        weir_ops::aliases::pin(&ws, &env_name, dataset, version, reason, now).await?
    } else {
        weir_ops::aliases::unpin(&ws, &env_name, &d, dataset, now).await?
    };
    print_moves(&r, false, p);
    Ok(())
}

pub async fn alias(dir: Option<&Path>, env_name: Option<&str>, dataset: &str, p: Printer) -> Result<()> {
    let (ws, _, env_name) = project::env_ws(dir, env_name).await?;
    ws.dataset(dataset)
        .map_err(|e| UserError::new(e.to_string(), "`weir status` lists the datasets"))?;
    let current = ws.catalog.alias(&env_name, dataset).await?;
    let history = ws.catalog.alias_history(&env_name, dataset).await?;
    p.data(
        &serde_json::json!({ "env": env_name, "dataset": dataset, "current": current, "history": history }),
        || {
            let mut s = match &current {
                Some(a) => format!(
                    "{dataset} in {env_name} serves v{}{}\n",
                    a.version,
                    if a.pinned { " (pinned)" } else { "" }
                ),
                None => format!(
                    "{dataset} in {env_name} serves nothing yet: no version is complete over its serve window\n"
                ),
            };
            if !history.is_empty() {
                let mut t = vec![
                    ["#", "WHEN", "MOVE", "FROM", "TO", "WHY"]
                        .iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>(),
                ];
                for m in &history {
                    t.push(vec![
                        m.seq.to_string(),
                        when(m.at_ms),
                        format!("{}{}", m.kind, if m.pinned { " (pinned)" } else { "" }),
                        m.from_version.map_or_else(|| "-".into(), |v| format!("v{v}")),
                        format!("v{}", m.to_version),
                        m.reason.clone().unwrap_or_default(),
                    ]);
                }
                s.push_str(&table(&t));
            }
            s
        },
    );
    Ok(())
}

/// Prints one line per served partition (or the one named): never the
/// version directory, whose glob would include blocked partitions.
pub async fn path(
    dir: Option<&Path>,
    env_name: Option<&str>,
    dataset: &str,
    partition: Option<&str>,
    p: Printer,
) -> Result<()> {
    let (ws, _, env_name) = project::env_ws(dir, env_name).await?;
    let r = weir_ops::serving::paths(&ws, &env_name, dataset, partition).await?;
    let json = match (partition, r.partitions.first()) {
        // One partition: the shape `weir path --partition` always had.
        (Some(_), Some(one)) => {
            serde_json::json!({ "env": r.env, "dataset": r.dataset, "version": r.version, "partition": one.partition, "path": one.path })
        }
        _ => serde_json::to_value(&r)?,
    };
    p.data(&json, || {
        r.partitions
            .iter()
            .map(|x| x.path.clone())
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub async fn versions(dir: Option<&Path>, dataset: &str, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let catalog = project::open_catalog(&dir).await?;
    let rows = weir_ops::versions::versions(catalog.as_ref(), dataset).await?;
    p.data(&rows, || {
        let mut t = vec![
            ["VERSION", "FINGERPRINT", "CREATED", "COMPLETE", "CHANGED"]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        ];
        for r in &rows {
            t.push(vec![
                format!("v{}", r.version),
                r.fingerprint.clone(),
                when(r.created_at_ms),
                r.complete.to_string(),
                r.changed.join(", "),
            ]);
        }
        table(&t)
    });
    Ok(())
}
