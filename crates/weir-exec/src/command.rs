//! The command executor: any program, with its context in `WEIR_*` variables.
//! Its output is captured as the run's log; it runs in its own process group,
//! which is killed on timeout or cancellation.

use crate::sql::{cancelled, sleep_opt};
use crate::{ExecError, ExecOutput, Executor, LiveLog, TaskContext, log_tail};
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

/// How long to wait for a finished job's pipes to close.
const PIPE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `command` jobs.
#[derive(Debug, Clone, Copy)]
pub struct CommandExecutor;

type Buf = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// Copies a pipe into `buf`, keeping at most about `LOG_LIMIT` bytes of
/// tail, and into the live log as it arrives.
async fn drain(mut r: impl AsyncRead + Unpin, buf: Buf, live: LiveLog) {
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                live.write(&chunk[..n]);
                let Ok(mut b) = buf.lock() else { return };
                b.extend_from_slice(&chunk[..n]);
                if b.len() > 4 * LOG_LIMIT {
                    let cut = b.len() - LOG_LIMIT;
                    b.drain(..cut);
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

/// `program` as a path: a bare name is looked up in `PATH` once per
/// process, so a spawn does not try `execve` in every `PATH` entry before
/// the one that holds it. A job that sets its own `PATH`, a name with a
/// `/`, or a name not found is left to the system's lookup as before.
fn resolve(program: &str, env: &BTreeMap<String, String>) -> std::path::PathBuf {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static FOUND: OnceLock<Mutex<HashMap<String, std::path::PathBuf>>> = OnceLock::new();
    if program.contains('/') || env.contains_key("PATH") {
        return program.into();
    }
    let cache = FOUND.get_or_init(Mutex::default);
    // One stat keeps a long-lived process from spawning a program that moved.
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(program).cloned())
        && is_executable(&p)
    {
        return p;
    }
    // A relative `PATH` entry means another directory to the job (it runs
    // in the project directory): the system's lookup decides then.
    let found = std::env::var_os("PATH").and_then(|path| {
        let dirs: Vec<_> = std::env::split_paths(&path).collect();
        if dirs.iter().any(|d| !d.is_absolute()) {
            return None;
        }
        dirs.into_iter().map(|d| d.join(program)).find(|p| is_executable(p))
    });
    match found {
        Some(p) => {
            if let Ok(mut c) = cache.lock() {
                c.insert(program.to_string(), p.clone());
            }
            p
        }
        None => program.into(),
    }
}

fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[async_trait]
impl Executor for CommandExecutor {
    async fn execute(&self, ctx: &TaskContext, cancel: watch::Receiver<bool>) -> Result<ExecOutput, ExecError> {
        let Job::Command { argv, env, .. } = &ctx.dataset.job else {
            return Err(ExecError::job("not a command job"));
        };
        let Some((program, args)) = argv.split_first() else {
            return Err(ExecError::job("empty command"));
        };
        let counters_path = ctx.output_dir.with_extension("counters.json");
        let mut cmd = Command::new(resolve(program, env));
        cmd.args(args)
            .current_dir(&ctx.project_dir)
            // A job writes only its output: no `__pycache__` beside the
            // project's scripts (the dataset's `env` may say otherwise).
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .envs(env)
            .env("WEIR_DATASET", &ctx.dataset.name)
            .env("WEIR_VERSION", ctx.version.to_string())
            .env("WEIR_RUN_ID", &ctx.run_id)
            .env("WEIR_PARTITION", &ctx.partition_key)
            .env("WEIR_PARTITION_START", ctx.partition_start.to_rfc3339())
            .env("WEIR_PARTITION_END", ctx.partition_end.to_rfc3339())
            .env("WEIR_OUTPUT", &ctx.output_dir)
            .envs(ctx.output_url.iter().map(|u| ("WEIR_OUTPUT_URL", u)))
            .env("WEIR_COUNTERS", &counters_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // Inputs on object storage are fetched beside the staging directory
        // (removed with it); their URLs are in WEIR_INPUT_<NAME>_URL.
        let scratch = ctx.output_dir.with_extension("in");
        for input in &ctx.inputs {
            let name = input.table.to_ascii_uppercase();
            let dirs = crate::sql::local_dirs(input, &scratch).await?;
            let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            cmd.env(format!("WEIR_INPUT_{name}"), dirs.join(":"));
            let urls: Vec<String> = input
                .instances
                .iter()
                .filter_map(|i| match &i.location {
                    weir_lake::Location::Object(o) => Some(o.url.clone()),
                    weir_lake::Location::Dir(_) => None,
                })
                .collect();
            if !urls.is_empty() {
                cmd.env(format!("WEIR_INPUT_{name}_URL"), urls.join(" "));
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| ExecError::job(format!("cannot start `{program}`: {e}")))?;
        let pid = child.id();
        let logs = Logs::default();
        let out = tokio::spawn(drain(
            child.stdout.take().ok_or_else(|| ExecError::job("no stdout"))?,
            logs.out.clone(),
            ctx.log.clone(),
        ));
        let err = tokio::spawn(drain(
            child.stderr.take().ok_or_else(|| ExecError::job("no stderr"))?,
            logs.err.clone(),
            ctx.log.clone(),
        ));
        let status = tokio::select! {
            s = child.wait() => Some(s?),
            _ = cancelled(cancel) => { kill_group(pid); None }
            _ = sleep_opt(ctx.timeout) => { kill_group(pid); let _ = child.wait().await; return Err(ExecError::Timeout(ctx.timeout.unwrap_or_default(), logs.collect(out, err).await)); }
        };
        let Some(status) = status else {
            let _ = child.wait().await;
            return Err(ExecError::Cancelled(logs.collect(out, err).await));
        };
        // The job may have left children behind; they belong to its group.
        kill_group(pid);
        let log = logs.collect(out, err).await;
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
        let metrics = if ctx.dataset.kind == weir_core::model::Kind::Model {
            model_metrics(&ctx.output_dir).map_err(|message| ExecError::Job {
                message,
                log: log.clone(),
            })?
        } else {
            BTreeMap::new()
        };
        Ok(ExecOutput {
            rows: None,
            schema: None,
            counters,
            metrics,
            log,
            ..Default::default()
        })
    }
}

/// A model's card (`model.json` in its output), checked: valid, and every
/// artifact it lists written. Its metrics go into the manifest.
fn model_metrics(output: &std::path::Path) -> Result<BTreeMap<String, f64>, String> {
    use weir_core::model_card::{MODEL_CARD, parse};
    let bytes = std::fs::read(output.join(MODEL_CARD)).map_err(|e| {
        format!("a model dataset writes {MODEL_CARD} into $WEIR_OUTPUT (framework, metrics, signature, files): {e}")
    })?;
    let card = parse(&bytes)?;
    for f in &card.files {
        if !output.join(f).is_file() {
            return Err(format!(
                "{MODEL_CARD} lists `{f}`, which the job did not write into $WEIR_OUTPUT"
            ));
        }
    }
    Ok(card.metrics)
}

/// The captured stdout and stderr of a job.
#[derive(Default)]
struct Logs {
    out: Buf,
    err: Buf,
}

impl Logs {
    /// Waits (briefly) for the pipes to close, then returns stdout followed by
    /// stderr. A process that escaped the group and holds the pipes open
    /// cannot hang the run: after a grace period the readers are dropped.
    async fn collect(&self, out: tokio::task::JoinHandle<()>, err: tokio::task::JoinHandle<()>) -> String {
        let (oa, ea) = (out.abort_handle(), err.abort_handle());
        if tokio::time::timeout(PIPE_GRACE, async {
            let _ = out.await;
            let _ = err.await;
        })
        .await
        .is_err()
        {
            oa.abort();
            ea.abort();
        }
        let mut all = self.out.lock().map(|b| b.clone()).unwrap_or_default();
        let err = self.err.lock().map(|b| b.clone()).unwrap_or_default();
        if !err.is_empty() {
            if !all.is_empty() && !all.ends_with(b"\n") {
                all.push(b'\n');
            }
            all.extend_from_slice(&err);
        }
        log_tail(String::from_utf8_lossy(&all).into_owned(), LOG_LIMIT)
    }
}
