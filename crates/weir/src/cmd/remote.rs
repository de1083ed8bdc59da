//! The verbs that talk to a running `weir serve` (`--server URL` or
//! `WEIR_SERVER`): each sends one API request and prints the report the
//! local verb would print. Environment verbs default to `prod`.

use crate::cli::Command;
use crate::output::Printer;
use crate::remote::{Remote, enc};
use crate::{UserError, project};
use anyhow::Result;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use weir_server::api::RunsPage;

/// Whether `c` can run against a server.
pub fn supported(c: &Command) -> bool {
    matches!(
        c,
        Command::Status { .. }
            | Command::Plan(crate::cli::PlanArgs { watch: false, .. })
            | Command::Show { .. }
            | Command::Runs { .. }
            | Command::Logs { .. }
            | Command::Run(_)
            | Command::Deploy { .. }
            | Command::Promote { .. }
            | Command::Revert { .. }
            | Command::Pin { .. }
            | Command::Unpin { .. }
            | Command::Invalidate { .. }
            | Command::Accept { .. }
            | Command::Restore { .. }
            | Command::Pause { .. }
            | Command::Resume { .. }
            | Command::Cancel { .. }
            | Command::Select { .. }
            | Command::Selector(_)
    )
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", enc(v))))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

fn csv(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join(","))
}

pub async fn verb(
    server: &str,
    project_dir: Option<&Path>,
    env: Option<&str>,
    command: Command,
    p: Printer,
) -> Result<u8> {
    let r = Remote::new(server)?;
    let env = env.unwrap_or(weir_sched::env::PROD).to_string();
    let e = enc(&env);
    match command {
        Command::Status { datasets } => {
            let rows: Vec<weir_sched::DatasetStatus> = r
                .get(&format!("/envs/{e}/status{}", query(&[("datasets", csv(&datasets))])))
                .await?;
            p.data(&rows, || crate::cmd::status::status_table(&rows, p));
        }
        Command::Plan(a) => {
            let q = query(&[
                ("datasets", csv(&a.select.datasets)),
                ("from", a.select.from.clone()),
                ("to", a.select.to.clone()),
                ("limit", Some(a.limit.to_string())),
                ("oldest_first", a.select.oldest_first.then(|| "true".into())),
            ]);
            let report = r.get(&format!("/envs/{e}/plan{q}")).await?;
            crate::cmd::inspect::print_plan(&report, p);
        }
        Command::Show {
            dataset,
            partition,
            version,
        } => {
            let q = query(&[("partition", partition), ("version", version.map(|v| v.to_string()))]);
            let report = r
                .get(&format!("/envs/{e}/datasets/{}/instance{q}", enc(&dataset)))
                .await?;
            crate::cmd::inspect::print_instance(&report, p);
        }
        Command::Runs {
            dataset,
            partition,
            failed,
            running,
            limit,
        } => {
            let state = if running {
                Some("running".to_string())
            } else {
                failed.then(|| "failed".to_string())
            };
            let q = query(&[
                ("dataset", dataset),
                ("partition", partition),
                ("env", Some(env.clone())),
                ("state", state),
                ("limit", Some(limit.to_string())),
            ]);
            let page: RunsPage = r.get(&format!("/runs{q}")).await?;
            if running {
                let claims = page.running;
                p.data(&claims, || {
                    let mut s = String::new();
                    for c in &claims {
                        s.push_str(&format!(
                            "{}  {} v{} {}\n",
                            c.run_id, c.key.dataset, c.key.version, c.key.partition
                        ));
                    }
                    s
                });
            } else {
                let defs = project::find(project_dir).ok().and_then(|d| project::load(&d).ok());
                crate::cmd::inspect::print_runs(&page.runs, defs.as_ref(), p);
            }
        }
        Command::Logs { run_id, follow } => {
            if follow {
                let mut out = std::io::stdout();
                r.stream(&format!("/runs/{}/log?follow=true", enc(&run_id)), &mut out)
                    .await?;
            }
            let run: weir_catalog::RunRecord = r.get(&format!("/runs/{}", enc(&run_id))).await?;
            if follow {
                eprintln!("run {run_id}: {}", run.state.as_str());
            } else {
                crate::cmd::inspect::print_log(&run, p);
            }
        }
        Command::Run(a) => return run(&r, &e, a, p).await,
        Command::Deploy { window, message } => {
            let dir = project::find(project_dir)?;
            let ws = project::open(&dir).await?;
            let files = weir_ops::deploy::working_copy(&ws)?;
            let body = json!({ "files": files, "message": message, "window": window });
            let report = r.post(&format!("/envs/{e}/deploy"), &body).await?;
            crate::cmd::envs::print_deploy(&report, p);
        }
        Command::Promote { env_name, to } => {
            let report = r
                .post(&format!("/envs/{}/promote", enc(&env_name)), &json!({ "to": to }))
                .await?;
            crate::cmd::envs::print_promote(&report, p);
        }
        Command::Revert { datasets, all, reason } => {
            let body = json!({ "datasets": datasets, "all": all, "reason": reason });
            let report = r.post(&format!("/envs/{e}/revert"), &body).await?;
            crate::cmd::envs::print_moves(&report, true, p);
        }
        // Through the server, a selection is a real one: answered from the
        // environment it serves, and logged.
        Command::Select { selector, unit } => {
            let s = r
                .get(&format!("/select/{}{}", enc(&selector), query(&[("unit", Some(unit))])))
                .await?;
            crate::cmd::select::print_selection(&s, p);
        }
        Command::Selector(crate::cli::SelectorCmd::List) => {
            let states: Vec<weir_ops::selectors::SelectorState> = r.get(&format!("/envs/{e}/selectors")).await?;
            crate::cmd::select::print_states(&env, &states, p);
        }
        Command::Selector(crate::cli::SelectorCmd::Show { selector }) => {
            let report = r.get(&format!("/envs/{e}/selectors/{}", enc(&selector))).await?;
            crate::cmd::select::print_report(&report, p);
        }
        Command::Selector(crate::cli::SelectorCmd::Set {
            selector,
            split,
            reason,
            ..
        }) => {
            let split: std::collections::BTreeMap<String, u32> = match split {
                Some(text) => weir_ops::selectors::parse_split(&text)?.into_iter().collect(),
                None => Default::default(),
            };
            let report = r
                .post(
                    &format!("/envs/{e}/selectors/{}/split", enc(&selector)),
                    &json!({ "split": split, "reason": reason }),
                )
                .await?;
            crate::cmd::select::print_split(&report, p);
        }
        Command::Pin {
            dataset,
            version,
            reason,
        } => {
            let body = json!({ "dataset": dataset, "version": version, "reason": reason });
            let report = r.post(&format!("/envs/{e}/pin"), &body).await?;
            crate::cmd::envs::print_moves(&report, false, p);
        }
        Command::Unpin { dataset } => {
            let report = r
                .post(&format!("/envs/{e}/unpin"), &json!({ "dataset": dataset }))
                .await?;
            crate::cmd::envs::print_moves(&report, false, p);
        }
        Command::Invalidate {
            dataset,
            version,
            partition,
            from,
            to,
            no_cascade,
            dry_run,
            reason,
        } => {
            let body = json!({ "dataset": dataset, "version": version, "partition": partition, "from": from,
                               "to": to, "cascade": !no_cascade, "dry_run": dry_run, "reason": reason });
            let report = r.post(&format!("/envs/{e}/invalidate"), &body).await?;
            crate::cmd::repair::print_invalidate(&report, p);
        }
        Command::Accept {
            dataset,
            partition,
            reason,
            version,
        } => {
            let body = json!({ "dataset": dataset, "partition": partition, "version": version, "reason": reason });
            let report = r.post(&format!("/envs/{e}/accept"), &body).await?;
            crate::cmd::quality::print_accept(&report, p);
        }
        Command::Restore { trash_id: None } => {
            let entries: Vec<weir_ops::invalidate::TrashEntry> = r.get(&format!("/envs/{e}/trash")).await?;
            crate::cmd::repair::print_trash(&entries, p);
        }
        Command::Restore { trash_id: Some(id) } => {
            let report = r
                .post(&format!("/envs/{e}/restore"), &json!({ "trash_id": id }))
                .await?;
            crate::cmd::repair::print_restore(&report, p);
        }
        Command::Pause { dataset, reason } => {
            let body = json!({ "dataset": dataset, "reason": reason });
            let report = r.post(&format!("/envs/{e}/pause"), &body).await?;
            crate::cmd::control::print_pause(&report, p);
        }
        Command::Resume { dataset } => {
            let report = r
                .post(&format!("/envs/{e}/resume"), &json!({ "dataset": dataset }))
                .await?;
            crate::cmd::control::print_pause(&report, p);
        }
        Command::Cancel { run_id } => {
            let report = r.post(&format!("/runs/{}/cancel", enc(&run_id)), &json!({})).await?;
            crate::cmd::control::print_cancel(&report, p);
        }
        _ => {
            return Err(UserError::new(
                "this verb does not talk to a server",
                "run it without --server (and without WEIR_SERVER)",
            )
            .into());
        }
    }
    Ok(0)
}

/// `weir run --server`: asks the server to plan now, then waits until the
/// selection has nothing runnable or running; exit 1 if a run failed, 3 if a
/// check blocked an instance, 0 otherwise.
async fn run(r: &Remote, e: &str, a: crate::cli::RunArgs, p: Printer) -> Result<u8> {
    let _: serde_json::Value = r.post(&format!("/envs/{e}/runs"), &json!({})).await?;
    let q = query(&[
        ("datasets", csv(&a.select.datasets)),
        ("from", a.select.from.clone()),
        ("to", a.select.to.clone()),
    ]);
    let mut wait = Duration::from_millis(100);
    // The server plans within a moment of the request; a pass is over when
    // nothing of the selection is runnable or running.
    let rows = loop {
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
        let rows: Vec<weir_sched::DatasetStatus> = r.get(&format!("/envs/{e}/status{q}")).await?;
        if rows.iter().all(|x| x.runnable == 0 && x.running == 0) {
            break rows;
        }
    };
    p.data(&rows, || crate::cmd::status::status_table(&rows, p));
    Ok(if rows.iter().any(|x| x.failed > 0) {
        1
    } else if rows.iter().any(|x| x.blocked > 0) {
        crate::cmd::run::BLOCKED
    } else {
        0
    })
}
