//! The command executor: any program, with its context in `WEIR_*` variables.
//! Its output is captured as the run's log; it runs in its own process group,
//! which is killed on timeout or cancellation.

use crate::sql::{cancelled, sleep_opt};
use crate::{ExecError, ExecOutput, Executor, TaskContext, log_tail};
use async_trait::async_trait;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::watch;
use weir_core::model::Job;

/// The most log kept per run.
pub const LOG_LIMIT: usize = 64 * 1024;

/// Runs `command` jobs.
#[derive(Debug, Clone, Copy)]
pub struct CommandExecutor;

async fn drain(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return buf,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 4 * LOG_LIMIT {
                    buf.drain(..buf.len() - LOG_LIMIT);
                }
            }
        }
    }
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

#[async_trait]
impl Executor for CommandExecutor {
    async fn execute(&self, ctx: &TaskContext, cancel: watch::Receiver<bool>) -> Result<ExecOutput, ExecError> {
        let Job::Command { argv, env } = &ctx.dataset.job else {
            return Err(ExecError::job("not a command job"));
        };
        let Some((program, args)) = argv.split_first() else {
            return Err(ExecError::job("empty command"));
        };
        let counters_path = ctx.output_dir.with_extension("counters.json");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&ctx.project_dir)
            .envs(env)
            .env("WEIR_DATASET", &ctx.dataset.name)
            .env("WEIR_VERSION", ctx.version.to_string())
            .env("WEIR_RUN_ID", &ctx.run_id)
            .env("WEIR_PARTITION", &ctx.partition_key)
            .env("WEIR_PARTITION_START", ctx.partition_start.to_rfc3339())
            .env("WEIR_PARTITION_END", ctx.partition_end.to_rfc3339())
            .env("WEIR_OUTPUT", &ctx.output_dir)
            .env("WEIR_COUNTERS", &counters_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for input in &ctx.inputs {
            let dirs: Vec<String> = input.instances.iter().map(|i| i.dir.display().to_string()).collect();
            cmd.env(
                format!("WEIR_INPUT_{}", input.table.to_ascii_uppercase()),
                dirs.join(":"),
            );
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| ExecError::job(format!("cannot start `{program}`: {e}")))?;
        let pid = child.id();
        let out = tokio::spawn(drain(child.stdout.take().ok_or_else(|| ExecError::job("no stdout"))?));
        let err = tokio::spawn(drain(child.stderr.take().ok_or_else(|| ExecError::job("no stderr"))?));
        let status = tokio::select! {
            s = child.wait() => Some(s?),
            _ = cancelled(cancel) => { kill_group(pid); None }
            _ = sleep_opt(ctx.timeout) => { kill_group(pid); let _ = child.wait().await; return Err(ExecError::Timeout(ctx.timeout.unwrap_or_default(), collect_log(out, err).await)); }
        };
        let Some(status) = status else {
            let _ = child.wait().await;
            return Err(ExecError::Cancelled(collect_log(out, err).await));
        };
        // The job may have left children behind; they belong to its group.
        kill_group(pid);
        let log = collect_log(out, err).await;
        if !status.success() {
            let _ = std::fs::remove_file(&counters_path);
            return Err(ExecError::Job {
                message: format!("`{}` exited with {status}", argv.join(" ")),
                log,
            });
        }
        let mut counters = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(&counters_path) {
            let _ = std::fs::remove_file(&counters_path);
            let parsed: BTreeMap<String, serde_json::Value> =
                serde_json::from_str(&text).map_err(|e| ExecError::Job {
                    message: format!("the counters file is not a JSON object: {e}"),
                    log: log.clone(),
                })?;
            for (k, v) in parsed {
                let n = v.as_i64().ok_or_else(|| ExecError::Job {
                    message: format!("counter `{k}` is not an integer: {v}"),
                    log: log.clone(),
                })?;
                counters.insert(k, n);
            }
        }
        Ok(ExecOutput {
            rows: None,
            schema: None,
            counters,
            log,
        })
    }
}

async fn collect_log(out: tokio::task::JoinHandle<Vec<u8>>, err: tokio::task::JoinHandle<Vec<u8>>) -> String {
    let mut all = out.await.unwrap_or_default();
    let err = err.await.unwrap_or_default();
    if !err.is_empty() {
        if !all.is_empty() && !all.ends_with(b"\n") {
            all.push(b'\n');
        }
        all.extend_from_slice(&err);
    }
    log_tail(String::from_utf8_lossy(&all).into_owned(), LOG_LIMIT)
}
