//! Stopping `weir run`: SIGINT (Ctrl-C), SIGTERM and SIGHUP all cancel a run
//! the same way (no new tasks; running jobs' process groups are killed;
//! nothing half-made is committed), and the exit status is 128 + the signal.
//!
//! SIGHUP is left alone when the process started with it ignored (`nohup weir
//! run &`), so closing the terminal does not cancel a run meant to survive it.
//! A second signal, or one that arrives while no run is in progress (during
//! the alias advance, the export sync or the alert flush), exits at once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use tokio::sync::watch;

static STOPPED_BY: AtomicI32 = AtomicI32::new(0);
static RUNNING: AtomicBool = AtomicBool::new(false);
static CANCEL: OnceLock<watch::Receiver<bool>> = OnceLock::new();

/// Starts listening (once per process) and marks a run in progress; the
/// receiver turns true when the run should stop.
pub fn begin_run() -> watch::Receiver<bool> {
    RUNNING.store(true, Ordering::SeqCst);
    CANCEL
        .get_or_init(|| {
            let (tx, rx) = watch::channel(false);
            tokio::spawn(listen(tx));
            rx
        })
        .clone()
}

/// Marks the run over: a signal from now on exits at once.
pub fn end_run() {
    RUNNING.store(false, Ordering::SeqCst);
}

/// The exit status of a run stopped by a signal: 128 + its number.
pub fn interrupted_status() -> u8 {
    let signal = STOPPED_BY.load(Ordering::SeqCst);
    128 + u8::try_from(if signal > 0 { signal } else { 2 }).unwrap_or(2)
}

async fn listen(tx: watch::Sender<bool>) {
    loop {
        let Some(signal) = next_signal().await else { return };
        let first = STOPPED_BY
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if first && RUNNING.load(Ordering::SeqCst) {
            // Cancel first: printing to a terminal that is gone must not stop it.
            let _ = tx.send(true);
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\ninterrupted: cancelling running jobs (nothing half-made is committed); signal again to exit at once"
            );
        } else {
            std::process::exit(128 + signal);
        }
    }
}

#[cfg(unix)]
async fn next_signal() -> Option<i32> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    async fn recv(s: &mut Option<Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    static HANDLERS: tokio::sync::Mutex<Option<[Option<Signal>; 3]>> = tokio::sync::Mutex::const_new(None);
    let mut guard = HANDLERS.lock().await;
    let [int, term, hup] = guard.get_or_insert_with(|| {
        [
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
            (!ignored_at_start(1))
                .then(|| signal(SignalKind::hangup()).ok())
                .flatten(),
        ]
    });
    tokio::select! {
        () = recv(int) => Some(2),
        () = recv(term) => Some(15),
        () = recv(hup) => Some(1),
    }
}

#[cfg(not(unix))]
async fn next_signal() -> Option<i32> {
    tokio::signal::ctrl_c().await.ok().map(|()| 2)
}

/// Whether signal `n` was ignored when the process started (Linux: the
/// `SigIgn` mask in /proc/self/status; elsewhere, assumed not).
fn ignored_at_start(n: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & (1 << (n - 1)) != 0)
}
