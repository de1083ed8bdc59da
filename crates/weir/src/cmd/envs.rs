//! Environments and aliases: `deploy`, `envs`, `promote`, `revert`, `pin`,
//! `unpin`, `alias`, `path`, `versions`.

use crate::UserError;
use crate::output::{Printer, table};
use crate::project::{self, env_error};
use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;
use weir_catalog::AliasMove;
use weir_core::Span;
use weir_sched::Workspace;
use weir_sched::env::{self, PROD};

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
    if !weir_core::load::valid_name(env_name) {
        return Err(UserError::new(
            format!("`{env_name}` is not a valid environment name"),
            "use lowercase letters, digits and _",
        )
        .into());
    }
    let window = window
        .map(|w| Span::parse(w).map_err(|e| UserError::new(format!("--window: {e}"), "e.g. --window 3d")))
        .transpose()?;
    if window.is_some_and(|w| !w.is_positive()) {
        return Err(UserError::new("--window must be positive", "e.g. --window 3d").into());
    }
    let ws = project::open(&dir).await?;
    let files = weir_sched::env::snapshot_files(&dir, &ws.project)?;
    let now = project::now()?;
    let (d, report) = env::deploy(&ws, env_name, window, message, files, now).await?;
    p.data(
        &serde_json::json!({ "env": d.env, "seq": d.seq, "window": d.window, "datasets": report }),
        || {
            let mut t = vec![
                ["DATASET", "VERSION", "STATUS"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            ];
            for r in &report {
                let status = if r.shared_with.is_empty() {
                    r.status.clone()
                } else {
                    format!("shared with {}", r.shared_with.join(", "))
                };
                t.push(vec![r.dataset.clone(), format!("v{}", r.version), status]);
            }
            format!(
                "deployed {}#{}{}\n{}build it with `weir run --env {}`",
                d.env,
                d.seq,
                d.window.as_ref().map(|w| format!(" (window {w})")).unwrap_or_default(),
                table(&t),
                d.env
            )
        },
    );
    Ok(())
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
    let (ws, source) = project::open_env(&dir, Some(from)).await?;
    let source =
        source.ok_or_else(|| UserError::new(format!("unknown environment `{from}`"), "`weir envs` lists them"))?;
    if from == to {
        return Err(UserError::new(
            format!("`{from}` cannot be promoted to itself"),
            "promote a candidate to prod: `weir promote candidate`",
        )
        .into());
    }
    let now = project::now()?;
    let message = Some(format!("promoted from {}#{}", source.env, source.seq));
    let (d, report) = env::deploy(&ws, to, None, message, source.files.clone(), now).await?;
    let moves = env::advance(&ws, to, &d, now).await?;
    for n in crate::cmd::serve::sync_exports(&ws, to).await {
        p.note(n);
    }
    p.data(&serde_json::json!({ "env": d.env, "seq": d.seq, "datasets": report, "alias_moves": moves }), || {
        let mut s = format!("{}#{} now runs the definitions of {}#{}\n", d.env, d.seq, source.env, source.seq);
        s.push_str(&moves_text(&moves));
        let pending: Vec<&str> = report.iter().filter(|r| !moves.iter().any(|m| m.dataset == r.dataset)).filter(|r| r.status != "unchanged").map(|r| r.dataset.as_str()).collect();
        if !pending.is_empty() {
            s.push_str(&format!("not serving yet (incomplete over their serve window): {}\nbuild them with `weir run --env {}`; aliases advance when complete\n", pending.join(", "), d.env));
        }
        s
    });
    Ok(())
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

pub(crate) async fn env_ws(dir: Option<&Path>, env_name: Option<&str>) -> Result<(std::sync::Arc<Workspace>, String)> {
    let dir = project::find(dir)?;
    let env_name = env_name.unwrap_or(PROD).to_string();
    let (ws, _) = project::open_env(&dir, Some(&env_name)).await?;
    Ok((ws, env_name))
}

pub async fn revert(
    dir: Option<&Path>,
    env_name: Option<&str>,
    datasets: &[String],
    all: bool,
    reason: Option<String>,
    p: Printer,
) -> Result<u8> {
    let (ws, env_name) = env_ws(dir, env_name).await?;
    let moves = revert_moves(
        &ws,
        &env_name,
        datasets,
        all,
        reason,
        project::now()?.timestamp_millis(),
    )
    .await?;
    for n in crate::cmd::serve::sync_exports(&ws, &env_name).await {
        p.note(n);
    }
    p.data(&moves, || {
        format!(
            "{}pinned: these aliases stay put until `weir unpin`\n",
            moves_text(&moves)
        )
    });
    Ok(0)
}

/// Moves the named aliases (or all with a previous version) back and pins
/// them: all or none. Only catalog metadata changes.
pub async fn revert_moves(
    ws: &Workspace,
    env_name: &str,
    datasets: &[String],
    all: bool,
    reason: Option<String>,
    now: i64,
) -> Result<Vec<AliasMove>> {
    let env_name = env_name.to_string();
    if datasets.is_empty() && !all {
        return Err(UserError::new(
            "name the datasets to revert, or pass --all",
            "e.g. `weir revert user_daily`",
        )
        .into());
    }
    let names: Vec<String> = if all {
        ws.project.topo_order.clone()
    } else {
        datasets.to_vec()
    };
    // Check everything first: a revert moves all the named aliases or none.
    let mut planned = Vec::new();
    for name in &names {
        ws.dataset(name)
            .map_err(|e| UserError::new(e.to_string(), "`weir status` lists the datasets"))?;
        let Some(alias) = ws.catalog.alias(&env_name, name).await? else {
            if all {
                continue;
            }
            return Err(UserError::new(
                format!("`{name}` has no serving version in `{env_name}` yet"),
                format!("nothing to revert; `weir alias {name} --env {env_name}`"),
            )
            .into());
        };
        match env::previous_version(ws, &env_name, &alias).await? {
            Some(prev) => planned.push((alias, prev)),
            None if all => {}
            None => {
                return Err(UserError::new(
                    format!(
                        "`{name}` in `{env_name}` has no previous version to revert to (it serves v{})",
                        alias.version
                    ),
                    format!("`weir alias {name} --env {env_name}` shows its history"),
                )
                .into());
            }
        }
    }
    if planned.is_empty() {
        return Err(UserError::new(
            format!("nothing in `{env_name}` has a previous version to revert to"),
            "`weir alias DATASET` shows an alias's history",
        )
        .into());
    }
    let mut moves = Vec::new();
    for (alias, prev) in planned {
        let mv = AliasMove {
            env: env_name.clone(),
            dataset: alias.dataset.clone(),
            seq: 0,
            from_version: Some(alias.version),
            to_version: prev,
            pinned: true,
            kind: "revert".into(),
            reason: reason.clone(),
            at_ms: now,
        };
        ws.catalog.move_alias(&mv).await?;
        moves.push(mv);
    }
    Ok(moves)
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
    let (ws, env_name) = env_ws(dir, env_name).await?;
    ws.dataset(dataset)
        .map_err(|e| UserError::new(e.to_string(), "`weir status` lists the datasets"))?;
    let current = ws.catalog.alias(&env_name, dataset).await?;
    let to = match (version, &current) {
        (Some(v), _) => {
            if !ws.catalog.versions(dataset).await?.iter().any(|r| r.number == v) {
                return Err(UserError::new(
                    format!("`{dataset}` has no version v{v}"),
                    format!("`weir versions {dataset}` lists them"),
                )
                .into());
            }
            v
        }
        (None, Some(a)) => a.version,
        (None, None) => {
            return Err(UserError::new(
                format!("`{dataset}` has no serving version in `{env_name}`"),
                "pass --version V",
            )
            .into());
        }
    };
    let mv = AliasMove {
        env: env_name.clone(),
        dataset: dataset.to_string(),
        seq: 0,
        from_version: current.map(|a| a.version),
        to_version: to,
        pinned,
        kind: if pinned { "pin" } else { "unpin" }.into(),
        reason,
        at_ms: project::now()?.timestamp_millis(),
    };
    ws.catalog.move_alias(&mv).await?;
    let mut moves = vec![mv];
    if !pinned {
        let d = env::latest(ws.catalog.as_ref(), &env_name).await.map_err(env_error)?;
        moves.extend(env::advance(&ws, &env_name, &d, project::now()?).await?);
    }
    for n in crate::cmd::serve::sync_exports(&ws, &env_name).await {
        p.note(n);
    }
    p.data(&moves, || moves_text(&moves));
    Ok(())
}

pub async fn alias(dir: Option<&Path>, env_name: Option<&str>, dataset: &str, p: Printer) -> Result<()> {
    let (ws, env_name) = env_ws(dir, env_name).await?;
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

pub async fn path(
    dir: Option<&Path>,
    env_name: Option<&str>,
    dataset: &str,
    partition: Option<&str>,
    p: Printer,
) -> Result<()> {
    let (ws, env_name) = env_ws(dir, env_name).await?;
    let ds = ws
        .dataset(dataset)
        .map_err(|e| UserError::new(e.to_string(), "`weir status` lists the datasets"))?;
    let Some(a) = ws.catalog.alias(&env_name, dataset).await? else {
        return Err(UserError::new(
            format!("`{dataset}` has no serving version in `{env_name}` yet"),
            format!("build it: `weir run --env {env_name}`"),
        )
        .into());
    };
    let lake = ws.lake(ds)?;
    let location = match partition {
        Some(part) => {
            let idx = ds
                .granularity
                .parse_partition(part)
                .map_err(|e| UserError::new(e.0, format!("e.g. {}", ds.granularity.format_key(0))))?;
            if ws.catalog.instance(&ws.key(dataset, a.version, idx)).await?.is_none() {
                return Err(UserError::new(
                    format!(
                        "{dataset} v{} has no partition {}",
                        a.version,
                        ds.granularity.format_key(idx)
                    ),
                    "`weir status` shows what exists",
                )
                .into());
            }
            lake.instance_dir(&ws.prefix(ds, a.version, idx))
        }
        None => lake.instance_dir(&format!("{dataset}/v{}", a.version)),
    };
    p.data(
        &serde_json::json!({ "env": env_name, "dataset": dataset, "version": a.version, "path": location }),
        || location.display().to_string(),
    );
    Ok(())
}

pub async fn versions(dir: Option<&Path>, dataset: &str, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let catalog = project::open_catalog(&dir).await?;
    let records = catalog.versions(dataset).await?;
    if records.is_empty() {
        return Err(UserError::new(
            format!("`{dataset}` has no versions"),
            "`weir deploy` or `weir run` records the current definitions' versions",
        )
        .into());
    }
    #[derive(Serialize)]
    struct Row {
        version: u32,
        fingerprint: String,
        created_at: String,
        complete: usize,
        changed: Vec<String>,
    }
    let mut rows = Vec::new();
    let mut prev: Option<serde_json::Value> = None;
    for r in &records {
        let spec: serde_json::Value = serde_json::from_str(&r.spec).unwrap_or_default();
        let changed = prev
            .as_ref()
            .map(|pv| spec_changes(pv, &spec))
            .unwrap_or_else(|| vec!["first version".into()]);
        rows.push(Row {
            version: r.number,
            fingerprint: weir_core::fingerprint::short(&r.fingerprint).to_string(),
            created_at: when(r.created_at_ms),
            complete: catalog.present(dataset, r.number).await?.len(),
            changed,
        });
        prev = Some(spec);
    }
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
                r.created_at.clone(),
                r.complete.to_string(),
                r.changed.join(", "),
            ]);
        }
        table(&t)
    });
    Ok(())
}

/// What differs between two canonical specs, as readable paths (`job.sql`,
/// `inputs[0].fingerprint` becomes "upstream version of plays").
fn spec_changes(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into("", a, b, &mut out);
    let upstream: Vec<String> = match (a.get("inputs"), b.get("inputs")) {
        (Some(serde_json::Value::Array(x)), Some(serde_json::Value::Array(y))) => x
            .iter()
            .zip(y)
            .filter(|(i, j)| i.get("fingerprint") != j.get("fingerprint"))
            .filter_map(|(_, j)| {
                j.get("dataset")
                    .and_then(|d| d.as_str())
                    .map(|d| format!("upstream {d} changed"))
            })
            .collect(),
        _ => Vec::new(),
    };
    out.retain(|p| !p.ends_with(".fingerprint"));
    out.extend(upstream);
    out
}

fn diff_into(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_into(
                    &p,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                diff_into(&format!("{path}[{i}]"), u, v, out);
            }
        }
        _ if a != b => out.push(path.to_string()),
        _ => {}
    }
}
