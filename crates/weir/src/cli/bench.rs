//! `weir bench`'s subcommands and their flags.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Plan a synthetic DAG: datasets × daily partitions, about half present.
    Plan {
        #[arg(long, default_value_t = 2000)]
        datasets: usize,
        #[arg(long, default_value_t = 3650)]
        partitions: usize,
        #[arg(long, default_value_t = 5)]
        iterations: usize,
    },
    /// Revert every alias of an environment whose datasets hold many instances.
    Revert {
        #[arg(long, default_value_t = 20)]
        datasets: usize,
        #[arg(long, default_value_t = 10_000)]
        partitions: usize,
    },
    /// Run trivial command tasks and report orchestration overhead per task.
    Run {
        #[arg(long, default_value_t = 1000)]
        tasks: usize,
        #[arg(long, default_value_t = 2)]
        parallel: usize,
        /// `durable` (fsync before commit, the default) or `fast`.
        #[arg(long, default_value = "durable", value_parser = ["durable", "fast"])]
        durability: String,
        /// Small files each task writes (0: the task is `true`).
        #[arg(long, default_value_t = 0)]
        files: usize,
        /// The catalog to run on (default: SQLite in the bench's temporary
        /// directory), e.g. an empty PostgreSQL database: postgres://… or env:NAME.
        #[arg(long, value_name = "URL")]
        catalog: Option<String>,
    },
    /// The demo on a lake: wall time, and object-store requests per task for
    /// the backfill and for one more day on top of the history.
    Lake {
        /// Object storage for the lakes (s3://bucket/prefix; credentials and
        /// WEIR_S3_ENDPOINT from the environment). Default: a local lake.
        #[arg(long, value_name = "URL")]
        lake: Option<String>,
        /// Days of history built before the one more day.
        #[arg(long, default_value_t = 3)]
        days: u32,
        /// Run track_daily and user_daily on Spark (SPARK_REMOTE; a build with --features spark).
        #[arg(long)]
        spark: bool,
    },
    /// Selectors: a selection in process (p99), over HTTP under concurrent
    /// clients (requests/s), and what the assignment log did with each.
    Select {
        /// Concurrent HTTP clients.
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// How long the HTTP clients run.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Selections timed in process.
        #[arg(long, default_value_t = 200_000)]
        selections: usize,
    },
    /// What counters, profiles and checks add to a SQL job's wall time (the demo's plays).
    Checks {
        #[arg(long, default_value_t = 7)]
        days: u32,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// How soon `weir dev` answers an edit of a SQL file (the example project).
    Dev {
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// The figures of `weir serve`: the status grid, landing latency, a simulated day, API load.
    #[command(subcommand)]
    Serve(ServeBench),
    /// Events posted to a stream with durable acknowledgements (and, with
    /// nats-server installed, the same load published to NATS JetStream).
    Ingest {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Events a request.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// About how large each event is.
        #[arg(long, default_value_t = 200)]
        event_bytes: usize,
        /// How long each side runs.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Skip the NATS JetStream reference.
        #[arg(long)]
        no_nats: bool,
    },
    /// The same queries through `weir sql`, the DuckDB CLI and `weir run` (TPC-H SF1 and more).
    Sql {
        /// Where the data and the suite's project live (default ~/.cache/weir-bench-sql).
        #[arg(long, value_name = "DIR")]
        data: Option<std::path::PathBuf>,
        /// Runs per query and engine; the best counts.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Only these queries (comma-separated names, e.g. tpch_q1,distinct_per_group).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Skip the `weir run` job figures.
        #[arg(long)]
        no_jobs: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServeBench {
    /// The status grid of DATASETS × PARTITIONS daily partitions, half present.
    Grid {
        #[arg(long, default_value_t = 100)]
        datasets: usize,
        #[arg(long, default_value_t = 365)]
        partitions: usize,
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// `full` (counts and reasons per cell) or `states` (a letter per
        /// cell: what the dashboard draws).
        #[arg(long, default_value = "full", value_parser = ["full", "states"])]
        detail: String,
        /// After the figures, keep serving the grid (public read) until stdin
        /// closes: the dashboard's browser benchmark uses it. Prints
        /// `serving URL FROM` first.
        #[arg(long)]
        hold: bool,
    },
    /// A landing file appears → its ingest run starts.
    Landing {
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// A day of 15-minute partitions on a virtual clock: scheduler latency by quarter.
    Day {
        /// 208 datasets × 96 partitions ≈ 20,000 runs a day.
        #[arg(long, default_value_t = 208)]
        datasets: usize,
        /// How much faster than real time the clock runs (480: a day in 3 minutes).
        #[arg(long, default_value_t = 480.0)]
        rate: f64,
        #[arg(long, default_value_t = 2)]
        parallel: usize,
    },
    /// Two servers on one catalog against one (each --parallel 1), building TASKS hourly tasks.
    Ha {
        /// The catalog both runs use (an empty PostgreSQL database): postgres://… or env:NAME.
        #[arg(long, value_name = "URL")]
        catalog: String,
        #[arg(long, default_value_t = 1000)]
        tasks: usize,
        /// Each task sleeps this long (0: the task is `true`).
        #[arg(long, default_value_t = 0)]
        sleep_ms: u64,
        /// `durable` (fsync before commit, the default) or `fast`.
        #[arg(long, default_value = "durable", value_parser = ["durable", "fast"])]
        durability: String,
    },
    /// Read endpoints under concurrent clients.
    Api {
        #[arg(long, default_value_t = 100)]
        clients: usize,
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Requests per second per client (0: back to back, saturating the machine).
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
    },
}
