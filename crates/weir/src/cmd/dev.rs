//! `weir dev` (and `weir plan --watch`): the working copy, watched. Every
//! edit of `weir.toml`, a SQL file or a script re-validates and re-plans at
//! once: which versions the edit changed and why, what would (re)build, or the
//! errors at file:line:col. With `--window 2d` it also builds that window of
//! the working copy, so a change can be tried in seconds.
//!
//! File events come from the same watcher as `weir serve`'s landing files
//! (`weir_server::watch`, inotify through `notify`); an event only asks for
//! another look, so a doubled event costs one cycle and nothing else.

use crate::cli::DevArgs;
use crate::output::Printer;
use crate::project;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use weir_core::fingerprint::{Change, Snapshot};
use weir_core::planner::Order;
use weir_sched::{RunOptions, RunSummary};

/// Edits that arrive this close together are one edit (an editor's save is
/// often a write, a rename and a chmod).
const SETTLE: Duration = Duration::from_millis(80);

/// What one look at the working copy found: one JSON line with `--json`.
#[derive(Serialize, Default)]
struct Cycle {
    /// `start`, or the project files whose edit started this look.
    trigger: Vec<String>,
    valid: bool,
    /// The definitions' errors, each at its file:line:col.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<weir_core::Diagnostic>,
    /// What the definitions could not be opened for (not a definition error).
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<String>,
    datasets: usize,
    /// The versions this edit changed since the last look that loaded.
    changes: Vec<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<weir_ops::inspect::PlanReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    build: Option<RunSummary>,
    /// From the first file event to the plan (or the errors), build excluded.
    reacted_ms: u64,
}

/// What the watcher should care about, learnt from the last load.
#[derive(Default)]
struct Interest {
    loaded: bool,
    /// Files the definitions read (or looked for), project-relative.
    files: BTreeSet<String>,
    /// Their directories (not the project's root): a new file there counts.
    dirs: BTreeSet<String>,
    /// Where data goes: local lakes and landing roots.
    data: Vec<PathBuf>,
}

impl Interest {
    /// What the last load read (or looked for), and whether it loaded.
    fn learn(&mut self, read: Vec<String>, loaded: bool) {
        self.dirs = read
            .iter()
            .filter_map(|f| f.rsplit_once('/').map(|(d, _)| d.to_string()))
            .collect();
        self.files = read.into_iter().collect();
        self.loaded = loaded;
    }

    fn relevant(&self, dir: &Path, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(dir).ok()?;
        if self.data.iter().any(|d| path.starts_with(d)) {
            return None;
        }
        let mut parts = Vec::new();
        for c in rel.components() {
            let s = c.as_os_str().to_str()?;
            if s.starts_with('.') || matches!(s, "__pycache__" | "target" | "node_modules") {
                return None;
            }
            parts.push(s);
        }
        let rel = parts.join("/");
        let name = parts.last()?;
        if name.ends_with('~') || name.ends_with(".swp") || name.ends_with(".tmp") {
            return None;
        }
        let parent = parts[..parts.len() - 1].join("/");
        let ours = rel == weir_core::load::PROJECT_FILE
            || self.files.contains(&rel)
            || self.dirs.contains(&parent)
            || rel.ends_with(".sql")
            || rel.ends_with(".py")
            // Until the definitions load, any edit may be the fix.
            || !self.loaded;
        ours.then_some(rel)
    }
}

pub async fn dev(dir: Option<&Path>, env: Option<&str>, a: DevArgs, p: Printer) -> Result<u8> {
    if let Some(env) = env {
        return Err(crate::UserError::new(
            format!("`--env {env}`: weir dev watches the working copy's files, not an environment's deployment"),
            "drop --env; `weir plan --env NAME` plans an environment once",
        )
        .into());
    }
    let dir = project::find(dir)?;
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let window = a.window.as_deref().map(weir_ops::window).transpose()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
    let _watcher = weir_server::watch::tree_watcher(&dir, move |paths| {
        let _ = tx.send(paths);
    })
    .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", dir.display()))?;
    if !p.json {
        p.note(format!(
            "watching {} for edits of weir.toml, SQL and scripts{}; Ctrl-C stops",
            dir.display(),
            window
                .map(|w| format!(", building the last {w} of each"))
                .unwrap_or_default()
        ));
    }
    let mut interest = Interest::default();
    let mut last: Option<Snapshot> = None;
    let started = Instant::now();
    if look(
        &dir,
        &a,
        window,
        vec!["start".into()],
        started,
        &mut interest,
        &mut last,
        p,
    )
    .await?
    {
        return Ok(crate::stop::interrupted_status());
    }
    while let Some(paths) = rx.recv().await {
        let first = Instant::now();
        let mut trigger: BTreeSet<String> = paths.iter().filter_map(|q| interest.relevant(&dir, q)).collect();
        if trigger.is_empty() {
            continue;
        }
        // Let the rest of the save arrive, then look once.
        let settle = tokio::time::sleep(SETTLE);
        tokio::pin!(settle);
        loop {
            tokio::select! {
                () = &mut settle => break,
                more = rx.recv() => match more {
                    Some(paths) => trigger.extend(paths.iter().filter_map(|q| interest.relevant(&dir, q))),
                    None => break,
                },
            }
        }
        // An editor's temporary file, created and gone within the save, is
        // no edit; a definition file removed is one.
        trigger.retain(|rel| {
            dir.join(rel).exists() || interest.files.contains(rel) || rel == weir_core::load::PROJECT_FILE
        });
        if trigger.is_empty() {
            continue;
        }
        let trigger = trigger.into_iter().collect();
        if look(&dir, &a, window, trigger, first, &mut interest, &mut last, p).await? {
            return Ok(crate::stop::interrupted_status());
        }
    }
    Ok(0)
}

/// One look: load, diff the versions, plan, maybe build, and report. True if
/// a build was interrupted (and `weir dev` should stop).
#[allow(clippy::too_many_arguments)]
async fn look(
    dir: &Path,
    a: &DevArgs,
    window: Option<weir_core::Span>,
    trigger: Vec<String>,
    first: Instant,
    interest: &mut Interest,
    last: &mut Option<Snapshot>,
    p: Printer,
) -> Result<bool> {
    let mut cycle = Cycle {
        trigger,
        ..Cycle::default()
    };
    let (loaded, read) = project::load_tracked(dir);
    interest.learn(read, loaded.is_ok());
    let mut planned = None;
    match loaded {
        Err(e) => match e.downcast::<crate::Invalid>() {
            Ok(invalid) => cycle.errors = invalid.0.0,
            Err(e) => cycle.failure = Some(format!("{e:#}")),
        },
        Ok(proj) => {
            cycle.valid = true;
            cycle.datasets = proj.datasets.len();
            interest.data = data_roots(dir, &proj);
            let snap = Snapshot::of(&proj);
            if let Some(before) = last.as_ref() {
                cycle.changes = snap.changes_since(before);
            }
            *last = Some(snap);
            match plan(dir, proj, a, window).await {
                Ok((report, run)) => {
                    planned = (report.runnable > 0).then_some(run);
                    cycle.plan = Some(report);
                }
                Err(e) => cycle.failure = Some(format!("{e:#}")),
            }
        }
    }
    cycle.reacted_ms = u64::try_from(first.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (Some(window), Some(run)) = (window, planned) else {
        print(&cycle, p);
        return Ok(false);
    };
    // The reaction is shown at once, then the build.
    if !p.json {
        print(&cycle, p);
        println!("building the last {window}…");
    }
    let mut interrupted = false;
    match build(run, a, p).await {
        Ok(summary) => {
            interrupted = summary.interrupted;
            if !p.json {
                crate::cmd::run::print_summary(&summary, p);
            }
            cycle.build = Some(summary);
        }
        Err(e) => {
            if !p.json {
                println!("{} {e:#}", p.red("error:"));
            }
            cycle.failure = Some(format!("{e:#}"));
        }
    }
    if p.json {
        print(&cycle, p);
    }
    Ok(interrupted)
}

/// What `plan` leaves for a build of the window.
struct Planned {
    ws: std::sync::Arc<weir_sched::Workspace>,
    sel: weir_core::planner::Selection,
    order: Order,
    now: chrono::DateTime<chrono::Utc>,
}

/// Plans the selection (inside the window, if there is one) over the
/// definitions this look loaded.
async fn plan(
    dir: &Path,
    proj: weir_core::Project,
    a: &DevArgs,
    window: Option<weir_core::Span>,
) -> Result<(weir_ops::inspect::PlanReport, Planned)> {
    let ws = project::open_loaded(dir, proj).await?;
    let now = project::now()?;
    let mut sel = weir_ops::status::within_env(&ws, None, a.select.selection(&ws.project)?, now).await?;
    if let Some(w) = window {
        sel = weir_ops::within_span(sel, w, now);
    }
    let order = if a.select.oldest_first {
        Order::OldestFirst
    } else {
        Order::NewestFirst
    };
    let report = weir_ops::inspect::plan(&ws, &sel, order, a.limit, now).await?;
    Ok((report, Planned { ws, sel, order, now }))
}

async fn build(run: Planned, a: &DevArgs, p: Printer) -> Result<RunSummary> {
    let opts = RunOptions {
        selection: run.sel,
        parallel: a.parallel.unwrap_or_else(num_cpus::get).max(1),
        order: run.order,
        max_tasks: None,
        now: run.now,
        lease: project::lease(),
        control: None,
    };
    crate::cmd::run::run_with(run.ws, opts, p).await
}

/// Local lakes and landing roots: builds and arrivals write there, and
/// neither is an edit.
fn data_roots(dir: &Path, proj: &weir_core::Project) -> Vec<PathBuf> {
    let mut roots = weir_server::watch::landing_roots(dir, proj);
    roots.extend(proj.lakes.values().filter(|l| !l.contains("://")).map(|l| dir.join(l)));
    roots
}

fn print(c: &Cycle, p: Printer) {
    if p.json {
        println!("{}", serde_json::to_string(c).unwrap_or_default());
        return;
    }
    let what = c.trigger.join(", ");
    let head = if c.trigger == ["start"] {
        "the working copy".to_string()
    } else {
        format!("{what} changed")
    };
    println!("\n{} ({} ms)", p.bold(&format!("── {head}")), c.reacted_ms);
    if !c.errors.is_empty() {
        println!("{}", weir_core::Diagnostics(c.errors.clone()));
        println!(
            "{}",
            p.red(&format!(
                "{} error(s) in the definitions; waiting for the next edit",
                c.errors.len()
            ))
        );
        return;
    }
    if let Some(f) = &c.failure {
        println!("{} {f}", p.red("error:"));
        return;
    }
    if !c.changes.is_empty() {
        let mut by_cause: Vec<(&str, Vec<&str>)> = Vec::new();
        for ch in &c.changes {
            match by_cause.last_mut() {
                Some((cause, names)) if *cause == ch.cause.as_str() => names.push(&ch.dataset),
                _ => by_cause.push((ch.cause.as_str(), vec![&ch.dataset])),
            }
        }
        for (cause, names) in by_cause {
            println!("new versions ({cause}): {}", names.join(", "));
        }
    } else if c.trigger != ["start"] {
        println!("valid; no version changed");
    }
    if let Some(plan) = &c.plan {
        // The versions this edit made are listed above, by cause; the plan
        // still names those new before it (not built yet).
        let mut plan = plan.clone();
        plan.new_versions
            .retain(|v| !c.changes.iter().any(|ch| &ch.dataset == v));
        crate::cmd::inspect::print_plan(&plan, p);
    }
}
