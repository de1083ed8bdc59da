//! The command line: every verb and flag (clap derive). Parsing only.

use clap::{Parser, Subcommand};
use clap_complete::ArgValueCompleter;
use std::path::PathBuf;

mod args;
mod bench;
pub mod shell;
pub use args::{CatalogCmd, DevArgs, PlanArgs, RunArgs, SelectArgs, SelectorCmd, ServeArgs, TokenCmd};
pub use bench::{BenchCmd, ServeBench};

/// weir: a functional data platform. Immutable, time-partitioned datasets;
/// deterministic jobs; automatic backfill; versions side by side.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, long_about = None, disable_help_subcommand = true)]
pub struct Cli {
    /// The project directory (default: the current directory, then its parents).
    #[arg(long, global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// The environment (a deployed snapshot of the definitions). Without it,
    /// `run`, `plan` and `status` use the working copy; alias verbs use `prod`.
    /// `weir serve` takes it more than once.
    #[arg(long = "env", global = true, value_name = "ENV", action = clap::ArgAction::Append)]
    pub envs: Vec<String>,
    /// Talk to a running `weir serve` at URL instead of opening the catalog
    /// (status, plan, show, runs, logs, run, deploy, promote, revert, pin,
    /// unpin, invalidate, accept, restore, pause, resume, cancel). The token
    /// comes from WEIR_TOKEN.
    #[arg(long, global = true, value_name = "URL", env = "WEIR_SERVER")]
    pub server: Option<String>,
    /// Log lines as JSON (for log collectors), instead of text.
    #[arg(long, global = true, value_name = "FORMAT", value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold the example project.
    Init {
        /// Where to create it (default: the current directory).
        dir: Option<PathBuf>,
    },
    /// Scaffold, generate sample data, build everything, and show the status.
    Demo {
        /// Where to create it (default: ./weir-demo).
        dir: Option<PathBuf>,
        /// Days of sample data.
        #[arg(long, default_value_t = 14)]
        days: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, value_name = "N")]
        parallel: Option<usize>,
        /// Put the project's lakes on object storage under this URL
        /// (`s3://bucket/prefix`, `gs://…`, `az://…`): `<URL>/lake` and
        /// `<URL>/lake-red`. Credentials come from the environment.
        #[arg(long, value_name = "URL", conflicts_with = "nearline")]
        lake: Option<String>,
        /// The nearline variant: a server and a load generator posting play
        /// events to a stream; minute partitions fill the dashboard's grid.
        #[arg(long)]
        nearline: bool,
        /// With --nearline: stop after this many seconds (default: Ctrl-C).
        #[arg(long, value_name = "S", requires = "nearline")]
        seconds: Option<u64>,
        /// The ML variant: two recommendation models trained daily, users
        /// split between them by a selector, behaviour measured per variant,
        /// and auto-promotion moving the split (a virtual day every 8 s;
        /// --days caps how many).
        #[arg(long, conflicts_with_all = ["nearline", "lake"])]
        ml: bool,
        /// With --nearline: events the generator posts a second.
        #[arg(long, default_value_t = 200, value_name = "N")]
        rate: u64,
    },
    /// Land sample play events for the example project (hourly JSON lines).
    Generate {
        /// First day to land (default: the project start).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Number of days.
        #[arg(long, default_value_t = 1)]
        days: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Triple every event on this day (an anomaly for checks to catch).
        #[arg(long, value_name = "DATE")]
        anomaly: Option<String>,
    },
    /// Check the definitions; errors point at file, line and column.
    Validate,
    /// Print the JSON Schema of weir.toml (for editors: the template's
    /// `#:schema ./weir.schema.json` line points at it).
    Schema {
        /// Write it to the project's weir.schema.json instead of printing it.
        #[arg(long)]
        write: bool,
    },
    /// What would run, and why, without running it.
    Plan(PlanArgs),
    /// Watch the working copy: re-validate and re-plan on every edit of
    /// weir.toml, a SQL file or a script (and build a small window of it).
    ///
    /// Shows the versions each edit changes and why, what would build, or the
    /// errors at file:line:col. With --json, one JSON object per look.
    Dev(DevArgs),
    /// Build every missing instance until the selection is complete.
    ///
    /// Exit status: 0 all built, 1 a job failed, 3 nothing failed but a check
    /// blocked an instance, 130 interrupted.
    Run(RunArgs),
    /// Per dataset and version: complete, missing, waiting, failed, delay.
    Status {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        datasets: Vec<String>,
    },
    /// One instance: files, rows, counters and lineage.
    Show {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: String,
        /// The partition (default: the newest complete one).
        #[arg(long, short)]
        partition: Option<String>,
        /// The version number (default: the current definitions' version).
        #[arg(long, short)]
        version: Option<u32>,
    },
    /// Recent runs, newest first.
    Runs {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: Option<String>,
        /// Only the runs of this partition of DATASET (e.g. 2026-03-14),
        /// every attempt.
        #[arg(long, short, requires = "dataset")]
        partition: Option<String>,
        #[arg(long)]
        failed: bool,
        /// Runs in progress now, in any process (their build claims).
        #[arg(long, conflicts_with = "failed")]
        running: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// A counter's time series over a dataset's partitions, with a sparkline.
    Counters {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: String,
        /// Counter names to show (a glob, e.g. 'dropped.*'; default: all).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_name = "D")]
        from: Option<String>,
        #[arg(long, value_name = "D")]
        to: Option<String>,
    },
    /// The captured output of one run.
    Logs {
        run_id: String,
        /// Wait for a running run: with --server, stream its output as it
        /// is written; against the catalog, print its log when it ends.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Snapshot the definitions as an environment (default `prod`).
    Deploy {
        /// Build only partitions inside this window before now (a cheap candidate), e.g. 3d.
        #[arg(long, value_name = "SPAN")]
        window: Option<String>,
        #[arg(long, short)]
        message: Option<String>,
    },
    /// Environments and their deploy history.
    Envs,
    /// Make another environment (default `prod`) adopt ENV's definitions, reusing what was built.
    Promote {
        env_name: String,
        #[arg(long, default_value = "prod")]
        to: String,
    },
    /// Move aliases back to their previous version and pin them there.
    Revert {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        datasets: Vec<String>,
        /// Every dataset of the environment.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Pin an alias (to its current version, or to --version).
    Pin {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: String,
        #[arg(long, short)]
        version: Option<u32>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Let an alias advance by itself again.
    Unpin {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: String,
    },
    /// An alias: the version consumers read, and every move with when and why.
    Alias {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: String,
    },
    /// Lake locations of the version consumers read (for external tools).
    Path {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: String,
        #[arg(long, short)]
        partition: Option<String>,
    },
    /// Query the versions an environment serves (default `prod`) with SQL;
    /// every served dataset is a table.
    Sql {
        query: String,
        /// Print CSV instead of a table.
        #[arg(long)]
        csv: bool,
    },
    /// Remove instances and, by default, everything built from them; `weir run` rebuilds them.
    Invalidate {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: String,
        /// The version (default: the current definitions' version).
        #[arg(long, short)]
        version: Option<u32>,
        #[arg(long, short, conflicts_with_all = ["from", "to"])]
        partition: Option<String>,
        #[arg(long, value_name = "D")]
        from: Option<String>,
        #[arg(long, value_name = "D")]
        to: Option<String>,
        /// Only these instances, not what was built from them.
        #[arg(long)]
        no_cascade: bool,
        /// Print what would go, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Release an instance that a blocking check holds back; the override is recorded.
    Accept {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: String,
        #[arg(long, short)]
        partition: String,
        /// Why the data is right despite the check (kept with the record).
        #[arg(long, short)]
        reason: String,
        /// The version (default: the current definitions' version).
        #[arg(long, short)]
        version: Option<u32>,
    },
    /// Check the catalog and the lakes against each other.
    Doctor {
        /// Also hash every committed instance's files against its manifest
        /// (sizes are always checked).
        #[arg(long)]
        deep: bool,
        /// Fix what is safe to fix (dead staging areas, directories set aside,
        /// stray files) and say what was done.
        #[arg(long)]
        repair: bool,
    },
    /// Catalog maintenance.
    #[command(subcommand)]
    Catalog(CatalogCmd),
    /// Bring back what an invalidation removed (until `weir gc` deletes it).
    /// Without TRASH_ID, lists the trash.
    Restore { trash_id: Option<String> },
    /// Delete invalidated instances' files for good.
    Gc {
        #[arg(long, default_value = "7d", value_name = "SPAN")]
        older_than: String,
    },
    /// Compare two environments: shared or differing versions, and per common
    /// partition row counts, schema, counter deltas and a data diff by `key`.
    Diff {
        env_a: String,
        env_b: String,
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        datasets: Vec<String>,
        #[arg(long, short)]
        partition: Option<String>,
    },
    /// Every version of a dataset: fingerprint, what changed, completeness.
    Versions {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: String,
    },
    /// Run the platform: schedule the environments (default `prod`) by
    /// themselves, and serve the API on --bind.
    ///
    /// Partitions are built as they become due and as their files land;
    /// deploys, pauses, reverts and invalidations made anywhere are noticed
    /// within a second. SIGTERM or Ctrl-C drains (running jobs get --grace),
    /// SIGHUP reloads the deployments.
    Serve(ServeArgs),
    /// API tokens: create, list, revoke.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Which variant of a selector a unit gets, read fresh from the catalog
    /// (a look: only `weir serve`'s selections are logged).
    Select {
        #[arg(add = ArgValueCompleter::new(shell::selectors))]
        selector: String,
        /// The unit to assign (e.g. a user id).
        #[arg(long)]
        unit: String,
    },
    /// Selectors: the split in force, its history, and changing it.
    #[command(subcommand)]
    Selector(SelectorCmd),
    /// Stop planning a dataset (or, with --env and no dataset, a whole environment).
    Pause {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: Option<String>,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Let a paused dataset (or environment) plan again.
    Resume {
        #[arg(add = ArgValueCompleter::new(shell::datasets))]
        dataset: Option<String>,
    },
    /// Cancel a running run: its job is killed, and it is recorded as cancelled.
    Cancel { run_id: String },
    /// Who changed what, when, through the API or the CLI (newest first).
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Print the script that completes weir's verbs, flags, and the
    /// project's dataset and selector names in your shell.
    ///
    /// bash: `source <(weir completions bash)` in ~/.bashrc;
    /// zsh: `source <(weir completions zsh)` in ~/.zshrc;
    /// fish: `weir completions fish | source` in config.fish;
    /// PowerShell: `weir completions powershell | Out-String | Invoke-Expression` in $PROFILE.
    Completions {
        #[arg(value_parser = ["bash", "zsh", "fish", "powershell", "elvish"])]
        shell: String,
    },
    /// Print the man page (roff), or with --dir write one page per verb there.
    Man {
        /// Write weir.1 and weir-VERB.1 into this directory (e.g. ~/.local/share/man/man1).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Benchmarks of the planner and the run loop.
    #[command(subcommand)]
    Bench(BenchCmd),
}
