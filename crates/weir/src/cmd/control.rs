//! `weir token`, `pause`, `resume`, `cancel`, `audit`: the service's control
//! verbs against the catalog.

use crate::UserError;
use crate::cli::TokenCmd;
use crate::output::{Printer, table};
use crate::project;
use anyhow::Result;
use chrono::{TimeZone, Utc};
use std::path::Path;

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn at(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

pub async fn token(dir: Option<&Path>, cmd: TokenCmd, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let catalog = project::open_catalog(&dir).await?;
    match cmd {
        TokenCmd::Create {
            role,
            name,
            expires,
            streams,
        } => {
            let by = weir_ops::control::os_actor();
            let args = weir_ops::tokens::CreateArgs {
                name: &name,
                role: &role,
                expires: expires.as_deref(),
                streams: &streams,
                by: &by,
            };
            let m = weir_ops::tokens::create(catalog.as_ref(), &args, now_ms()).await?;
            p.data(&serde_json::json!({ "name": m.record.name, "role": m.record.role, "expires_at_ms": m.record.expires_at_ms, "token": m.token }), || {
                format!(
                    "created {} token `{}`{}; it is shown once, keep it now:\n{}\n",
                    m.record.role,
                    m.record.name,
                    m.record.expires_at_ms.map_or_else(String::new, |e| format!(" (expires {})", at(e))),
                    m.token
                )
            });
        }
        TokenCmd::List => {
            let tokens = catalog.tokens().await?;
            let now = now_ms();
            p.data(&tokens, || {
                let mut t = vec![
                    ["NAME", "ROLE", "STATE", "CREATED", "BY", "EXPIRES"]
                        .map(String::from)
                        .to_vec(),
                ];
                for r in &tokens {
                    let state = match (r.revoked_at_ms, r.active(now)) {
                        (Some(_), _) => p.red("revoked"),
                        (None, false) => p.yellow("expired"),
                        (None, true) => p.green("active"),
                    };
                    t.push(vec![
                        r.name.clone(),
                        if r.streams.is_empty() {
                            r.role.clone()
                        } else {
                            format!("{} ({})", r.role, r.streams.join(", "))
                        },
                        state,
                        at(r.created_at_ms),
                        r.created_by.clone(),
                        r.expires_at_ms.map_or_else(|| "never".into(), at),
                    ]);
                }
                table(&t)
            });
        }
        TokenCmd::Revoke { name } => {
            let n = catalog.revoke_token(&name, now_ms()).await?;
            if n == 0 {
                return Err(UserError::new(
                    format!("no active token named `{name}`"),
                    "`weir token list` shows them",
                )
                .into());
            }
            p.data(&serde_json::json!({ "revoked": name }), || {
                format!("revoked `{name}`; servers refuse it within a second\n")
            });
        }
    }
    Ok(())
}

pub async fn pause(
    dir: Option<&Path>,
    env: Option<&str>,
    dataset: Option<&str>,
    pause: bool,
    reason: Option<&str>,
    p: Printer,
) -> Result<()> {
    pause_target(dataset, env, pause)?;
    let env = env.unwrap_or(weir_sched::env::PROD);
    let dir = project::find(dir)?;
    let catalog = project::open_catalog(&dir).await?;
    let by = weir_ops::control::os_actor();
    let r = weir_ops::control::set_paused(catalog.as_ref(), env, dataset, pause, &by, reason, now_ms()).await?;
    print_pause(&r, p);
    Ok(())
}

/// Checks that a pause or resume names something.
pub fn pause_target(dataset: Option<&str>, env: Option<&str>, pause: bool) -> Result<()> {
    let verb = if pause { "pause" } else { "resume" };
    if dataset.is_none() && env.is_none() {
        return Err(UserError::new(
            format!("name a dataset to {verb}, or an environment with --env"),
            format!("`weir {verb} DATASET` (in prod), or `weir {verb} --env ENV` for all of ENV"),
        )
        .into());
    }
    Ok(())
}

/// Prints a pause or resume (made here or by a server).
pub fn print_pause(r: &weir_ops::control::PauseReport, p: Printer) {
    let env = &r.env;
    p.data(r, || {
        let what = r
            .dataset
            .as_deref()
            .map_or_else(|| format!("environment {env}"), |d| format!("{d} in {env}"));
        match (r.changed, r.paused) {
            (true, true) => format!("paused {what}: it plans nothing until `weir resume`\n"),
            (true, false) => format!("resumed {what}\n"),
            (false, true) => format!("{what} was paused already\n"),
            (false, false) => format!("{what} was not paused\n"),
        }
    });
}

pub async fn cancel(dir: Option<&Path>, run_id: &str, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let catalog = project::open_catalog(&dir).await?;
    let by = weir_ops::control::os_actor();
    let r = weir_ops::control::cancel(catalog.as_ref(), run_id, &by, now_ms()).await?;
    print_cancel(&r, p);
    Ok(())
}

/// Prints a cancel request (made here or through a server).
pub fn print_cancel(r: &weir_ops::control::CancelReport, p: Printer) {
    let run_id = &r.run_id;
    p.data(r, || {
        format!("asked the process running {run_id} to cancel it; `weir runs` shows it as cancelled once it stops\n")
    });
}

pub async fn audit(dir: Option<&Path>, limit: u32, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let catalog = project::open_catalog(&dir).await?;
    let entries = catalog.audit(None, limit.max(1)).await?;
    p.data(&entries, || {
        let mut t = vec![
            ["WHEN", "WHO", "VIA", "ACTION", "ARGUMENTS", "OUTCOME"]
                .map(String::from)
                .to_vec(),
        ];
        for e in &entries {
            t.push(vec![
                at(e.at_ms),
                e.actor.clone(),
                e.via.clone(),
                e.action.clone(),
                e.args.clone(),
                if e.outcome == "ok" {
                    p.green("ok")
                } else {
                    p.red(&e.outcome)
                },
            ]);
        }
        table(&t)
    });
    Ok(())
}

/// Records a mutating verb run from the CLI in the audit log, with the OS
/// user as the actor. Best effort: a verb that could not open the catalog
/// has changed nothing worth recording.
pub async fn record(
    dir: Option<&Path>,
    action: &str,
    args: serde_json::Value,
    outcome: std::result::Result<(), String>,
) {
    let Ok(dir) = project::find(dir) else { return };
    let Ok(catalog) = project::open_catalog(&dir).await else {
        return;
    };
    let actor = weir_ops::control::os_actor();
    if let Err(e) = weir_ops::control::audit(catalog.as_ref(), &actor, "cli", action, &args, outcome, now_ms()).await {
        tracing::warn!("cannot record `{action}` in the audit log: {e}");
    }
}
