//! The arguments several verbs share (a selection, planning, running) and
//! the subcommands of `serve`, `selector`, `token` and `catalog`.

use super::shell;
use clap::{Args, Subcommand};
use clap_complete::ArgValueCompleter;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the API listens. Binding beyond loopback without TLS warns.
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    pub bind: String,
    /// Jobs at once per environment (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub parallel: Option<usize>,
    /// How long running jobs may finish after SIGTERM before they are killed.
    #[arg(long, default_value = "30s", value_name = "SPAN")]
    pub grace: String,
    /// Let anyone read (GET) without a token: for a trusted network only.
    #[arg(long)]
    pub public_read: bool,
    /// The safety-net rescan for landing files that file events missed.
    #[arg(long, default_value = "60s", value_name = "SPAN")]
    pub rescan: String,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// The URL other servers on the same catalog reach this one at (they
    /// forward followers of its runs' logs here). Default: the bound address.
    #[arg(long, value_name = "URL")]
    pub advertise: Option<String>,
    /// Events per second (and per burst) each token may post to streams;
    /// over it, POST /ingest answers 429 with Retry-After.
    #[arg(long, default_value_t = weir_server::streams::DEFAULT_RATE, value_name = "N")]
    pub ingest_rate: u32,
}

#[derive(Debug, Subcommand)]
pub enum SelectorCmd {
    /// Every selector: the split in force and what each variant serves.
    List,
    /// One selector: what each variant serves, the declared split,
    /// auto-promotion, and every change of the split.
    Show {
        #[arg(add = ArgValueCompleter::new(shell::selectors))]
        selector: String,
    },
    /// Change the split (recorded in its history, like an alias move).
    Set {
        #[arg(add = ArgValueCompleter::new(shell::selectors))]
        selector: String,
        /// Variant=percent, summing to 100 (e.g. popularity=90,cooc=10).
        #[arg(
            long,
            value_name = "V=P,…",
            required_unless_present = "reset",
            conflicts_with = "reset"
        )]
        split: Option<String>,
        /// Go back to the declared split.
        #[arg(long)]
        reset: bool,
        /// Why (kept in the history and the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token; it is printed once, alone on the last line.
    Create {
        /// viewer, operator, admin or ingest.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
        /// Expire after this long (e.g. 30d); default never.
        #[arg(long, value_name = "SPAN")]
        expires: Option<String>,
        /// For ingest tokens: a stream it may post to (repeatable).
        #[arg(long = "stream", value_name = "STREAM")]
        streams: Vec<String>,
    },
    /// Every token: name, role, state (never the token itself).
    List,
    /// Revoke the active token of this name.
    Revoke { name: String },
}

/// Which partitions and datasets.
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// Target datasets (their upstream comes along). Default: all.
    #[arg(add = ArgValueCompleter::new(shell::datasets))]
    pub datasets: Vec<String>,
    /// First partition or date (inclusive).
    #[arg(long, value_name = "D")]
    pub from: Option<String>,
    /// Last partition or date (inclusive).
    #[arg(long, value_name = "D")]
    pub to: Option<String>,
    /// Build oldest partitions first (default: newest first).
    #[arg(long)]
    pub oldest_first: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Show at most this many tasks.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Plan again on every edit of the definitions (as `weir dev`).
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Show at most this many tasks.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// After each edit, also build the partitions inside this window before
    /// now (e.g. 2d): a change tried in seconds.
    #[arg(long, value_name = "SPAN")]
    pub window: Option<String>,
    /// Jobs at once when building (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub parallel: Option<usize>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Jobs at once (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub parallel: Option<usize>,
    /// Stop after dispatching this many tasks.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCmd {
    /// Reconstruct versions, instances and lineage from the lakes' _SUCCESS manifests
    /// (disaster recovery when the catalog is lost). Idempotent.
    Rebuild,
    /// Copy a whole catalog into another (e.g. SQLite into PostgreSQL), then
    /// check every table's row count on both sides. Idempotent.
    Migrate {
        /// The catalog to copy: sqlite://PATH, postgres://… or env:NAME.
        #[arg(long, value_name = "URL")]
        from: String,
        /// Where to: an empty database, or an earlier copy of this catalog.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}
