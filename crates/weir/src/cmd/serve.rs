//! What consumers read: `weir sql` over the served versions, and the serving
//! exports that follow aliases.

use crate::UserError;
use crate::cmd::envs::env_ws;
use crate::output::Printer;
use anyhow::Result;
use std::path::Path;
use weir_sched::Workspace;

pub async fn sql(dir: Option<&Path>, env_name: Option<&str>, query: &str, csv: bool, p: Printer) -> Result<()> {
    use weir_exec::query::{Render, query as run_query, render};
    let (ws, env_name) = env_ws(dir, env_name).await?;
    let mut inputs = Vec::new();
    for name in &ws.project.topo_order {
        let Some(a) = ws.catalog.alias(&env_name, name).await? else {
            continue;
        };
        let ds = ws.dataset(name)?;
        if !matches!(
            ds.format,
            weir_core::Format::Parquet | weir_core::Format::Jsonl | weir_core::Format::Csv
        ) {
            continue;
        }
        let lake = ws.lake(ds)?;
        let instances = ws
            .catalog
            .present(name, a.version)
            .await?
            .into_iter()
            .map(|idx| weir_exec::InputInstance {
                dir: lake.instance_dir(&ws.prefix(ds, a.version, idx)),
                partition_key: ds.granularity.format_key(idx),
                rows: None,
            })
            .collect();
        let schema = match &ds.job {
            weir_core::Job::Ingest { schema, .. } => schema.clone(),
            _ => None,
        };
        inputs.push(weir_exec::ResolvedInput {
            table: name.clone(),
            dataset: name.clone(),
            format: ds.format,
            schema,
            instances,
        });
    }
    if inputs.is_empty() {
        return Err(UserError::new(
            format!("`{env_name}` serves no tabular dataset yet"),
            format!("build it: `weir run --env {env_name}`"),
        )
        .into());
    }
    let served: Vec<String> = inputs.iter().map(|i| i.table.clone()).collect();
    let batches = run_query(&inputs, query).await.map_err(|e| {
        UserError::new(
            format!("query failed: {e}"),
            format!("tables served in `{env_name}`: {}", served.join(", ")),
        )
    })?;
    let how = if p.json {
        Render::Json
    } else if csv {
        Render::Csv
    } else {
        Render::Table
    };
    let text = render(&batches, how)?;
    println!("{}", text.trim_end());
    Ok(())
}

/// Makes every export of `env` serve the version its source's alias points at.
/// Returns one line per export for people; failures are reported, not fatal
/// to the alias move that triggered them.
pub async fn sync_exports(ws: &Workspace, env_name: &str) -> Vec<String> {
    let mut notes = Vec::new();
    for name in &ws.project.topo_order {
        let Some(weir_core::model::Dataset {
            job: weir_core::Job::Export { from, to, table, keep },
            ..
        }) = ws.project.dataset(name)
        else {
            continue;
        };
        let result = async {
            let src = ws.dataset(from)?;
            let Some(a) = ws.catalog.alias(env_name, from).await? else {
                return Ok::<_, anyhow::Error>(format!("export {name}: {from} serves nothing in {env_name} yet"));
            };
            let Some(&idx) = ws.catalog.present(from, a.version).await?.last() else {
                return Ok(format!("export {name}: {from} v{} has no instances", a.version));
            };
            let input = weir_exec::ResolvedInput {
                table: from.clone(),
                dataset: from.clone(),
                format: src.format,
                schema: None,
                instances: vec![weir_exec::InputInstance {
                    dir: ws.lake(src)?.instance_dir(&ws.prefix(src, a.version, idx)),
                    partition_key: src.granularity.format_key(idx),
                    rows: None,
                }],
            };
            let r = weir_exec::export::sync(
                to,
                &ws.dir,
                table,
                *keep,
                a.version,
                &src.granularity.format_value(idx),
                &input,
            )
            .await?;
            Ok(format!(
                "export {name}: view {} → {}{}{}",
                r.view,
                r.table,
                r.rows
                    .map(|n| format!(" ({n} rows loaded)"))
                    .unwrap_or_else(|| " (already loaded; view switched)".into()),
                if r.dropped.is_empty() {
                    String::new()
                } else {
                    format!("; dropped {}", r.dropped.join(", "))
                }
            ))
        }
        .await;
        notes.push(result.unwrap_or_else(|e| format!("export {name} failed: {e}")));
    }
    notes
}
