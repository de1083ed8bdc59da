//! `weir serve`: parse the flags, bind, hand the process's signals to the
//! server, and wait for it to drain.

use crate::UserError;
use crate::cli::ServeArgs;
use crate::output::Printer;
use crate::project;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use weir_server::{Clock, ServeOptions, Server, Signal};

fn span(flag: &str, text: &str) -> Result<Duration> {
    match weir_core::Span::parse(text) {
        Ok(weir_core::Span::Seconds(s)) if s >= 0 => Ok(Duration::from_secs(s as u64)),
        _ => Err(UserError::new(format!("--{flag} `{text}` is not a duration"), "e.g. 30s, 2m").into()),
    }
}

/// The server's clock: `WEIR_NOW` is where it starts (the system time by
/// default), and `WEIR_CLOCK_RATE` how much faster than real time it runs.
pub(crate) fn clock() -> Result<Clock> {
    let rate = match std::env::var("WEIR_CLOCK_RATE") {
        Ok(r) if !r.trim().is_empty() => r.trim().parse::<f64>().ok().filter(|r| *r > 0.0).ok_or_else(|| {
            UserError::new(
                format!("WEIR_CLOCK_RATE=`{r}` is not a positive number"),
                "e.g. 60 (a minute per second)",
            )
        })?,
        _ => 1.0,
    };
    Ok(Clock::starting(project::now()?, rate))
}

/// Where streams' log segments roll: `WEIR_STREAM_SEGMENT_BYTES` (for tests
/// of the log's release), 64 MiB by default.
fn segment_bytes() -> Result<u64> {
    match std::env::var("WEIR_STREAM_SEGMENT_BYTES") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            UserError::new(
                format!("WEIR_STREAM_SEGMENT_BYTES=`{v}` is not a positive number of bytes"),
                "e.g. 67108864 (64 MiB, the default)",
            )
            .into()
        }),
        _ => Ok(weir_stream::WalOptions::default().segment_bytes),
    }
}

pub async fn serve(dir: Option<&Path>, envs: &[String], a: ServeArgs, p: Printer) -> Result<u8> {
    let dir = project::find(dir)?;
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let bind: std::net::SocketAddr = a.bind.parse().map_err(|_| {
        UserError::new(
            format!("--bind `{}` is not an address", a.bind),
            "e.g. 127.0.0.1:7878, or 0.0.0.0:7878 to listen on every interface",
        )
    })?;
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => Some(
            weir_server::tls::config(cert, key)
                .map_err(|e| UserError::new(e.to_string(), "give a PEM certificate chain and its PEM private key"))?,
        ),
        (None, None) => None,
        _ => {
            return Err(UserError::new(
                "--tls-cert and --tls-key go together",
                "give both (PEM files), or neither for plain HTTP on loopback",
            )
            .into());
        }
    };
    if !bind.ip().is_loopback() && tls.is_none() {
        eprintln!(
            "{} serving on {bind} without TLS: tokens cross the network in clear text; give --tls-cert and --tls-key, or put weir behind a TLS proxy",
            p.yellow("warning:")
        );
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let envs = if envs.is_empty() {
        vec![weir_sched::env::PROD.to_string()]
    } else {
        envs.to_vec()
    };
    let opts = ServeOptions {
        dir: dir.clone(),
        envs: envs.clone(),
        bind,
        parallel: a.parallel.unwrap_or_else(num_cpus::get).max(1),
        grace: span("grace", &a.grace)?,
        public_read: a.public_read,
        clock: clock()?,
        lease: project::lease(),
        rescan: span("rescan", &a.rescan)?.max(Duration::from_secs(1)),
        alert_grace: project::alert_grace(),
        tls,
        advertise: a.advertise.clone(),
        ingest_rate: a.ingest_rate,
        segment_bytes: segment_bytes()?,
    };
    let catalog = project::open_catalog(&dir).await?;
    weir_server::check_envs(catalog.as_ref(), &envs).await?;
    let server = Server::bind(catalog, opts).await?;
    let addr = server.local_addr().context("the listener has no address")?;
    // The first line of stdout says where to reach it (tests read it).
    println!("listening on {scheme}://{addr}");
    let _ = std::io::stdout().flush();
    p.note(format!(
        "serving {} from {}; SIGTERM or Ctrl-C drains",
        envs.join(", "),
        dir.display()
    ));
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(forward_signals(tx));
    server.run(rx).await?;
    p.note("drained; bye");
    Ok(0)
}

/// SIGTERM and SIGINT drain (a second one exits at once); SIGHUP reloads.
async fn forward_signals(tx: tokio::sync::mpsc::Sender<Signal>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot listen for signals");
        return;
    };
    let mut stopping = false;
    loop {
        let sig = tokio::select! {
            _ = term.recv() => Signal::Stop,
            _ = int.recv() => Signal::Stop,
            _ = hup.recv() => Signal::Reload,
        };
        if sig == Signal::Stop {
            if stopping {
                eprintln!("second signal: exiting at once");
                std::process::exit(130);
            }
            stopping = true;
        }
        if tx.send(sig).await.is_err() {
            return;
        }
    }
}
