//! `weir init`, `weir demo` and `weir generate`: the example project and its
//! sample data (a deterministic generator of music-streaming plays).

pub mod generate;
pub mod ml;
pub mod nearline;

use crate::UserError;
use crate::output::Printer;
use crate::project;
use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use generate::{GenConfig, generate_day};
use std::path::{Path, PathBuf};
use weir_core::planner::{Order, Selection};

const FILES: &[(&str, &str)] = &[
    ("weir.toml", include_str!("template/weir.toml")),
    ("sql/plays.sql", include_str!("template/sql/plays.sql")),
    ("sql/user_daily.sql", include_str!("template/sql/user_daily.sql")),
    ("sql/track_daily.sql", include_str!("template/sql/track_daily.sql")),
    (
        "sql/top_tracks_28d.sql",
        include_str!("template/sql/top_tracks_28d.sql"),
    ),
    ("scripts/train.py", include_str!("template/scripts/train.py")),
    // The Python helper for command jobs, from the repository's python/.
    (
        "scripts/weir_job/__init__.py",
        include_str!("../../../../python/weir_job/__init__.py"),
    ),
    (
        ".gitignore",
        "# weir's local state and data; the definitions are what belongs in git\n.weir/\nlake/\nlake-red/\nlanding/\nserving.db\n__pycache__/\n",
    ),
];

/// Writes the example project into `dir`, starting at `start`. Never
/// overwrites: an existing `weir.toml`, SQL file or script stops it before
/// anything is written; an existing `.gitignore` gets weir's lines appended
/// (those it lacks).
pub(crate) fn scaffold(dir: &Path, start: NaiveDate, lake: Option<&str>) -> Result<()> {
    if dir.join("weir.toml").exists() {
        return Err(UserError::new(
            format!("{} already has a weir.toml", dir.display()),
            "pick an empty directory; nothing was changed",
        )
        .into());
    }
    let taken: Vec<&str> = FILES
        .iter()
        .map(|(rel, _)| *rel)
        .filter(|rel| *rel != GITIGNORE && dir.join(rel).exists())
        .collect();
    if !taken.is_empty() {
        return Err(UserError::new(
            format!("{} already has {}", dir.display(), taken.join(", ")),
            "move them away or pick another directory; nothing was changed",
        )
        .into());
    }
    for (rel, body) in FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let mut body = body.replace("{{START}}", &start.format("%Y-%m-%d").to_string());
        if let Some(url) = lake
            && *rel == "weir.toml"
        {
            let url = url.trim_end_matches('/');
            body = body
                .replace("default   = \"lake\"", &format!("default   = \"{url}/lake\""))
                .replace("sensitive = \"lake-red\"", &format!("sensitive = \"{url}/lake-red\""));
        }
        let body = match std::fs::read_to_string(&path) {
            Ok(existing) if *rel == GITIGNORE => {
                let have: std::collections::HashSet<&str> = existing.lines().map(str::trim).collect();
                let missing: Vec<&str> = body
                    .lines()
                    .filter(|l| !l.starts_with('#') && !have.contains(l.trim()))
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                let sep = if existing.ends_with('\n') || existing.is_empty() {
                    ""
                } else {
                    "\n"
                };
                format!("{existing}{sep}# weir's local state and data\n{}\n", missing.join("\n"))
            }
            _ => body,
        };
        std::fs::write(&path, body).with_context(|| format!("cannot write {}", path.display()))?;
    }
    write_schema(dir)
}

/// The JSON Schema the template's `#:schema` line names, for editors.
pub(crate) fn write_schema(dir: &Path) -> Result<()> {
    let path = dir.join(weir_core::keys::SCHEMA_FILE);
    std::fs::write(&path, weir_core::keys::schema_text()).with_context(|| format!("cannot write {}", path.display()))
}

const GITIGNORE: &str = ".gitignore";

pub fn init(dir: Option<PathBuf>, p: Printer) -> Result<()> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    let now = project::now()?;
    scaffold(&dir, now.date_naive() - TimeDelta::days(14), None)?;
    p.note(format!(
        "created the example project in {}\nnext: `weir generate --days 14` lands sample data, then `weir run`",
        dir.display()
    ));
    Ok(())
}

fn gen_config(start: NaiveDate, seed: u64) -> GenConfig {
    GenConfig {
        start: (start.year(), start.month(), start.day()),
        seed,
        ..GenConfig::default()
    }
}

/// Lands days `[from, from + days)` and, if `now` falls inside the last day,
/// only its hours that have ended.
pub(crate) fn land(
    dir: &Path,
    start: NaiveDate,
    from: NaiveDate,
    days: u32,
    seed: u64,
    anomaly: Option<NaiveDate>,
    now: Option<DateTime<Utc>>,
) -> Result<generate::GenStats> {
    if from < start {
        return Err(UserError::new(
            format!("{from} is before the project start {start}"),
            "generate days on or after the project's start",
        )
        .into());
    }
    let mut cfg = gen_config(start, seed);
    cfg.anomaly_day = anomaly.map(|a| u32::try_from((a - start).num_days()).unwrap_or(u32::MAX));
    let landing = dir.join("landing");
    let mut total = generate::GenStats::default();
    for i in 0..days {
        let day = from + TimeDelta::days(i64::from(i));
        let index = u32::try_from((day - start).num_days()).context("day out of range")?;
        let stats = generate_day(&landing, &cfg, index).context("cannot write landing files")?;
        total.absorb(&stats);
        if let Some(now) = now
            && day == now.date_naive()
        {
            // Hours that have not ended yet have not landed.
            for h in now.hour()..24 {
                let f = landing
                    .join("plays")
                    .join(day.format("%Y-%m-%d").to_string())
                    .join(format!("{h:02}.jsonl"));
                if std::fs::remove_file(f).is_ok() {
                    total.files -= 1;
                }
            }
        }
    }
    Ok(total)
}

pub fn generate_cmd(
    dir: Option<&Path>,
    from: Option<&str>,
    days: u32,
    seed: u64,
    anomaly: Option<&str>,
    p: Printer,
) -> Result<()> {
    let dir = project::find(dir)?;
    let proj = project::load(&dir)?;
    let start = proj
        .start
        .map(|s| s.date_naive())
        .ok_or_else(|| UserError::new("the project has no start date", "set [project] start"))?;
    let date = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| UserError::new(format!("`{s}` is not a date"), "write YYYY-MM-DD"))
    };
    let from = from.map(date).transpose()?.unwrap_or(start);
    let anomaly = anomaly.map(date).transpose()?;
    let stats = land(&dir, start, from, days, seed, anomaly, None)?;
    p.data(
        &serde_json::json!({ "files": stats.files, "lines": stats.lines, "events": stats.events }),
        || {
            format!(
                "landed {} files ({} events, {} lines) for {} day(s) from {from}",
                stats.files, stats.events, stats.lines, days
            )
        },
    );
    Ok(())
}

pub async fn demo(
    dir: Option<PathBuf>,
    days: u32,
    seed: u64,
    parallel: Option<usize>,
    lake: Option<&str>,
    p: Printer,
) -> Result<u8> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("weir-demo"));
    if let Some(url) = lake
        && !["s3://", "gs://", "az://", "file://"]
            .iter()
            .any(|s| url.starts_with(s))
    {
        return Err(UserError::new(
            format!("--lake {url} is not a storage URL"),
            "give s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or file:///path; nothing was changed",
        )
        .into());
    }
    let now = project::now()?;
    let today = now.date_naive();
    let start = if dir.join("weir.toml").exists() {
        let proj = project::load(&dir)?;
        p.note(format!("using the existing project in {}", dir.display()));
        proj.start
            .map_or(today - TimeDelta::days(i64::from(days)), |s| s.date_naive())
    } else {
        let start = today - TimeDelta::days(i64::from(days));
        scaffold(&dir, start, lake)?;
        p.note(format!("1. scaffolded the example project in {}", dir.display()));
        start
    };
    let span = u32::try_from((today - start).num_days() + 1).unwrap_or(days);
    let stats = land(&dir, start, start, span, seed, None, Some(now))?;
    p.note(format!("2. landed {} hourly files of play events ({} events, with malformed lines, duplicates, late and future events) under landing/", stats.files, stats.events));
    let ws = project::open(&dir).await?;
    p.note("3. building every dataset: weir run");
    let opts = weir_sched::RunOptions {
        selection: Selection::default(),
        parallel: parallel.unwrap_or_else(num_cpus::get).max(1),
        order: Order::NewestFirst,
        max_tasks: None,
        now,
        lease: crate::project::lease(),
        control: None,
    };
    let summary = crate::cmd::run::run_with(ws.clone(), opts, p).await?;
    crate::cmd::run::print_summary(&summary, p);
    let rows = weir_sched::status(&ws, &Selection::default(), now).await?;
    if !p.json {
        println!("\n{}", crate::cmd::status::status_table(&rows, p));
        let d = dir.display();
        println!(
            "next, from {d}:\n  weir status                      what exists, per dataset and version\n  weir show plays                  the newest instance: files, rows, counters, lineage\n  weir plan                        what would run and why (nothing, now)\n  edit sql/user_daily.sql, then `weir plan`: user_daily gets a new version; plays does not\n  weir generate --from {today} --days 1 && weir run   land a new day: exactly its partitions build\n  weir deploy && weir run --env prod                  serve it: aliases, and the view top_tracks in serving.db"
        );
    }
    Ok(if summary.failed > 0 { 1 } else { 0 })
}
