//! The `weir` binary: parses the command line, opens the project, calls the
//! library crates, and prints through one printer. Errors print their chain and
//! a `hint:`; exit codes: 0 ok, 1 something failed, 2 bad input, 3 (`weir run`) a check
//! blocked an instance, 128 + the signal when interrupted (130 Ctrl-C, 143 TERM, 129 HUP).

mod bench;
mod cli;
mod cmd;
mod demo;
mod output;
mod project;
mod remote;
mod stop;

use clap::FromArgMatches;
use cli::{BenchCmd, Cli, Command};
use output::Printer;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: DataFusion and arrow allocate
/// and free many short-lived buffers across threads, where glibc's malloc
/// spent about a quarter of a SQL job's CPU time (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use weir_ops::UserError;

/// Definitions that failed validation.
#[derive(Debug)]
pub struct Invalid(pub weir_core::Diagnostics);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for Invalid {}

fn main() -> ExitCode {
    // A shell asking for completions (COMPLETE=bash weir …) is answered first.
    cli::shell::complete_if_asked();
    let cli = match Cli::from_arg_matches(&cli::shell::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // A server logs what it does; a verb only what went wrong.
    let level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG").unwrap_or_else(|_| level.into());
    let color = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    let printer = Printer::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli, printer)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => report(&e, printer),
    }
}

fn report(e: &anyhow::Error, p: Printer) -> ExitCode {
    let invalid = match e.downcast_ref::<weir_ops::OpsError>() {
        Some(weir_ops::OpsError::Invalid(d)) => Some(d),
        _ => e.downcast_ref::<Invalid>().map(|i| &i.0),
    };
    if let Some(d) = invalid {
        if p.json {
            p.data(&serde_json::json!({ "valid": false, "errors": d.0 }), String::new);
        }
        eprintln!("{d}");
        eprintln!(
            "{}",
            p.red(&format!("{} error(s) in the definitions; nothing was run", d.0.len()))
        );
        return ExitCode::from(2);
    }
    eprintln!("{} {e}", p.red("error:"));
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    let user = e
        .downcast_ref::<UserError>()
        .or_else(|| e.downcast_ref::<weir_ops::OpsError>().and_then(|o| o.as_user()));
    if let Some(u) = user {
        eprintln!("  hint: {}", u.hint);
        return ExitCode::from(2);
    }
    if let Some(weir_sched::SchedError::UnknownDataset { .. }) = e.downcast_ref::<weir_sched::SchedError>() {
        return ExitCode::from(2);
    }
    ExitCode::from(1)
}

async fn dispatch(cli: Cli, p: Printer) -> anyhow::Result<u8> {
    let project = cli.project.as_deref();
    if cli.envs.len() > 1 && !matches!(cli.command, Command::Serve(_)) {
        return Err(UserError::new(
            "--env is given more than once",
            "only `weir serve` serves several environments",
        )
        .into());
    }
    let env = cli.envs.last().map(String::as_str);
    if let Some(server) = cli.server.as_deref().filter(|s| !s.is_empty())
        && cmd::remote::supported(&cli.command)
    {
        // The server audits what it is asked to do.
        return cmd::remote::verb(server, project, env, cli.command, p).await;
    }
    let audit = audit_of(&cli.command, env);
    let result = verb(project, env, &cli.envs, cli.command, p).await;
    if let Some((action, args)) = audit {
        let outcome = match &result {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        cmd::control::record(project, action, args, outcome).await;
    }
    result
}

/// The audit entry of a verb that changes something (none for reads).
fn audit_of(c: &Command, env: Option<&str>) -> Option<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let env = env.unwrap_or(weir_sched::env::PROD);
    Some(match c {
        Command::Deploy { window, message } => ("deploy", json!({ "env": env, "window": window, "message": message })),
        Command::Promote { env_name, to } => ("promote", json!({ "from": env_name, "to": to })),
        Command::Revert { datasets, all, reason } => (
            "revert",
            json!({ "env": env, "datasets": datasets, "all": all, "reason": reason }),
        ),
        Command::Pin {
            dataset,
            version,
            reason,
        } => (
            "pin",
            json!({ "env": env, "dataset": dataset, "version": version, "reason": reason }),
        ),
        Command::Unpin { dataset } => ("unpin", json!({ "env": env, "dataset": dataset })),
        Command::Invalidate {
            dataset,
            version,
            partition,
            from,
            to,
            no_cascade,
            dry_run: false,
            reason,
        } => (
            "invalidate",
            json!({ "dataset": dataset, "version": version, "partition": partition, "from": from, "to": to,
                    "cascade": !no_cascade, "reason": reason }),
        ),
        Command::Accept {
            dataset,
            partition,
            reason,
            version,
        } => (
            "accept",
            json!({ "env": env, "dataset": dataset, "partition": partition, "version": version, "reason": reason }),
        ),
        Command::Restore { trash_id: Some(id) } => ("restore", json!({ "trash_id": id })),
        Command::Gc { older_than } => ("gc", json!({ "older_than": older_than })),
        Command::Pause { dataset, reason } => ("pause", json!({ "env": env, "dataset": dataset, "reason": reason })),
        Command::Resume { dataset } => ("resume", json!({ "env": env, "dataset": dataset })),
        Command::Cancel { run_id } => ("cancel", json!({ "run": run_id })),
        Command::Token(cli::TokenCmd::Create {
            role,
            name,
            expires,
            streams,
        }) => (
            "token create",
            json!({ "name": name, "role": role, "expires": expires, "streams": streams }),
        ),
        Command::Token(cli::TokenCmd::Revoke { name }) => ("token revoke", json!({ "name": name })),
        Command::Selector(cli::SelectorCmd::Set {
            selector,
            split,
            reset,
            reason,
        }) => (
            "selector set",
            json!({ "env": env, "selector": selector, "split": split, "reset": reset, "reason": reason }),
        ),
        _ => return None,
    })
}

async fn verb(
    project: Option<&std::path::Path>,
    env: Option<&str>,
    envs: &[String],
    command: Command,
    p: Printer,
) -> anyhow::Result<u8> {
    match command {
        Command::Init { dir } => demo::init(dir, p).map(|()| 0),
        Command::Demo {
            dir,
            nearline: true,
            seconds,
            rate,
            ..
        } => demo::nearline::nearline(dir, seconds, rate, p).await,
        Command::Demo {
            dir,
            ml: true,
            days,
            seed,
            ..
        } => demo::ml::ml(dir, days.min(8), seed, p).await,
        Command::Demo {
            dir,
            days,
            seed,
            parallel,
            lake,
            ..
        } => demo::demo(dir, days, seed, parallel, lake.as_deref(), p).await,
        Command::Generate {
            from,
            days,
            seed,
            anomaly,
        } => demo::generate_cmd(project, from.as_deref(), days, seed, anomaly.as_deref(), p).map(|()| 0),
        Command::Validate => cmd::inspect::validate(project, p).map(|()| 0),
        Command::Schema { write } => cmd::inspect::schema(project, write, p).map(|()| 0),
        Command::Completions { shell } => {
            cli::shell::write_completions(&shell, &mut std::io::stdout().lock()).map(|()| 0)
        }
        Command::Man { dir } => cmd::inspect::man(dir.as_deref(), p).map(|()| 0),
        Command::Plan(a) if a.watch => {
            let dev = cli::DevArgs {
                select: a.select,
                limit: a.limit,
                window: None,
                parallel: None,
            };
            cmd::dev::dev(project, env, dev, p).await
        }
        Command::Plan(a) => cmd::inspect::plan(project, env, a, p).await.map(|()| 0),
        Command::Dev(a) => cmd::dev::dev(project, env, a, p).await,
        Command::Run(a) => cmd::run::run(project, env, a, p).await,
        Command::Status { datasets } => cmd::status::status(project, env, &datasets, p).await.map(|()| 0),
        Command::Show {
            dataset,
            partition,
            version,
        } => cmd::inspect::show(project, env, &dataset, partition.as_deref(), version, p)
            .await
            .map(|()| 0),
        Command::Runs {
            dataset, running: true, ..
        } => cmd::inspect::running(project, dataset.as_deref(), p).await.map(|()| 0),
        Command::Runs {
            dataset,
            partition,
            failed,
            limit,
            ..
        } => cmd::inspect::runs(project, dataset.as_deref(), partition.as_deref(), failed, limit, p)
            .await
            .map(|()| 0),
        Command::Counters {
            dataset,
            name,
            from,
            to,
        } => cmd::counters::counters(
            project,
            env,
            &dataset,
            name.as_deref(),
            from.as_deref(),
            to.as_deref(),
            p,
        )
        .await
        .map(|()| 0),
        Command::Logs { run_id, follow } => cmd::inspect::logs(project, &run_id, follow, p).await.map(|()| 0),
        Command::Deploy { window, message } => cmd::envs::deploy(project, env, window.as_deref(), message, p)
            .await
            .map(|()| 0),
        Command::Envs => cmd::envs::envs(project, p).await.map(|()| 0),
        Command::Promote { env_name, to } => cmd::envs::promote(project, &env_name, &to, p).await.map(|()| 0),
        Command::Revert { datasets, all, reason } => cmd::envs::revert(project, env, &datasets, all, reason, p).await,
        Command::Pin {
            dataset,
            version,
            reason,
        } => cmd::envs::pin(project, env, &dataset, version, reason, true, p)
            .await
            .map(|()| 0),
        Command::Unpin { dataset } => cmd::envs::pin(project, env, &dataset, None, None, false, p)
            .await
            .map(|()| 0),
        Command::Alias { dataset } => cmd::envs::alias(project, env, &dataset, p).await.map(|()| 0),
        Command::Path { dataset, partition } => cmd::envs::path(project, env, &dataset, partition.as_deref(), p)
            .await
            .map(|()| 0),
        Command::Sql { query, csv } => cmd::query::sql(project, env, &query, csv, p).await.map(|()| 0),
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
            let t = cmd::repair::Target {
                dataset: &dataset,
                version,
                partition: partition.as_deref(),
                from: from.as_deref(),
                to: to.as_deref(),
                cascade: !no_cascade,
                dry_run,
                reason,
            };
            cmd::repair::invalidate(project, t, p).await.map(|()| 0)
        }
        Command::Catalog(cli::CatalogCmd::Rebuild) => cmd::repair::rebuild(project, p).await.map(|()| 0),
        Command::Catalog(cli::CatalogCmd::Migrate { from, to }) => {
            cmd::repair::migrate_catalog(project, &from, &to, p).await.map(|()| 0)
        }
        Command::Accept {
            dataset,
            partition,
            reason,
            version,
        } => cmd::quality::accept(project, env, &dataset, &partition, version, &reason, p)
            .await
            .map(|()| 0),
        Command::Doctor { deep, repair } => cmd::repair::doctor(project, deep, repair, p).await,
        Command::Restore { trash_id } => cmd::repair::restore(project, trash_id.as_deref(), p).await.map(|()| 0),
        Command::Gc { older_than } => cmd::repair::gc(project, &older_than, p).await.map(|()| 0),
        Command::Diff {
            env_a,
            env_b,
            datasets,
            partition,
        } => cmd::diff::diff(project, &env_a, &env_b, &datasets, partition.as_deref(), p)
            .await
            .map(|()| 0),
        Command::Versions { dataset } => cmd::envs::versions(project, &dataset, p).await.map(|()| 0),
        Command::Serve(a) => cmd::serve::serve(project, envs, a, p).await,
        Command::Token(t) => cmd::control::token(project, t, p).await.map(|()| 0),
        Command::Select { selector, unit } => cmd::select::select(project, env, &selector, &unit, p).await.map(|()| 0),
        Command::Selector(cli::SelectorCmd::List) => cmd::select::list(project, env, p).await.map(|()| 0),
        Command::Selector(cli::SelectorCmd::Show { selector }) => {
            cmd::select::show(project, env, &selector, p).await.map(|()| 0)
        }
        Command::Selector(cli::SelectorCmd::Set {
            selector,
            split,
            reason,
            ..
        }) => cmd::select::set(project, env, &selector, split.as_deref(), reason, p)
            .await
            .map(|()| 0),
        Command::Pause { dataset, reason } => {
            cmd::control::pause(project, env, dataset.as_deref(), true, reason.as_deref(), p)
                .await
                .map(|()| 0)
        }
        Command::Resume { dataset } => cmd::control::pause(project, env, dataset.as_deref(), false, None, p)
            .await
            .map(|()| 0),
        Command::Cancel { run_id } => cmd::control::cancel(project, &run_id, p).await.map(|()| 0),
        Command::Audit { limit } => cmd::control::audit(project, limit, p).await.map(|()| 0),
        Command::Bench(BenchCmd::Plan {
            datasets,
            partitions,
            iterations,
        }) => bench::plan(datasets, partitions, iterations, p).map(|()| 0),
        Command::Bench(BenchCmd::Revert { datasets, partitions }) => {
            bench::revert(datasets, partitions, p).await.map(|()| 0)
        }
        Command::Bench(BenchCmd::Run {
            tasks,
            parallel,
            durability,
            files,
            catalog,
        }) => bench::run(tasks, parallel, &durability, files, catalog.as_deref(), p)
            .await
            .map(|()| 0),
        Command::Bench(BenchCmd::Serve(b)) => {
            use cli::ServeBench;
            match b {
                ServeBench::Grid {
                    datasets,
                    partitions,
                    rounds,
                    detail,
                    hold,
                } => bench::serve::grid(datasets, partitions, rounds, &detail, hold, p).await,
                ServeBench::Landing { rounds } => bench::serve::landing(rounds, p).await,
                ServeBench::Day {
                    datasets,
                    rate,
                    parallel,
                } => bench::serve::day(datasets, rate, parallel, p).await,
                ServeBench::Api { clients, seconds, rate } => bench::serve_api::api(clients, seconds, rate, p).await,
                ServeBench::Ha {
                    catalog,
                    tasks,
                    sleep_ms,
                    durability,
                } => bench::serve_ha::ha(&catalog, tasks, sleep_ms, &durability, p).await,
            }
            .map(|()| 0)
        }
        Command::Bench(BenchCmd::Ingest {
            clients,
            batch,
            event_bytes,
            seconds,
            no_nats,
        }) => {
            let load = bench::ingest::Load {
                clients,
                batch,
                event_bytes,
                seconds,
            };
            bench::ingest::ingest(load, !no_nats, p).await.map(|()| 0)
        }
        Command::Bench(BenchCmd::Checks { days, rounds }) => bench::checks(days, rounds, p).await.map(|()| 0),
        Command::Bench(BenchCmd::Dev { rounds }) => bench::dev(rounds, p).await.map(|()| 0),
        Command::Bench(BenchCmd::Select {
            clients,
            seconds,
            selections,
        }) => bench::select::select(clients, seconds, selections, p).await.map(|()| 0),
        Command::Bench(BenchCmd::Lake { lake, days, spark }) => {
            bench::lake::lake(lake.as_deref(), days, spark, p).await.map(|()| 0)
        }
        Command::Bench(BenchCmd::Sql {
            data,
            rounds,
            only,
            no_jobs,
        }) => bench::sql(data, rounds, &only, !no_jobs, p).map(|()| 0),
    }
}
