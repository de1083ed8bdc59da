//! Sealed means sealed: a job cannot damage sealed data, a builder that lost
//! its claim never seals, and a signal stops a run without committing
//! anything half-made.

use crate::support::*;
use std::process::Stdio;

const NOW3: &str = "2026-01-04T00:00:00Z";

fn weir_std(dir: &std::path::Path) -> std::process::Command {
    weir_process(dir, NOW3)
}

/// A downstream job that links its upstream's sealed directory into its output.
const LINKING: &str = r#"
[project]
name = "l"
start = "2026-01-03"
[datasets.up]
partition = "day"
command = ["sh", "-c", "echo ok > \"$WEIR_OUTPUT/data.txt\""]
format = "files"
[datasets.down]
partition = "day"
inputs = ["up"]
command = ["sh", "-c", "ln -s \"$WEIR_INPUT_UP\" \"$WEIR_OUTPUT/up\""]
format = "files"
"#;

#[test]
fn a_job_that_links_sealed_data_into_its_output_fails_and_damages_nothing() {
    let tmp = project(LINKING, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW3, &["run"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("output entry `up` refused") && err.contains("symbolic link"),
        "the error names the entry: {err}"
    );
    let up = dir.join("lake/up/v1/date=2026-01-03");
    assert_eq!(
        std::fs::read_to_string(up.join("data.txt")).expect("upstream data"),
        "ok\n"
    );
    assert!(up.join("_SUCCESS").is_file(), "the upstream's seal is where it was");
    assert!(!dir.join("lake/down/v1/date=2026-01-03/_SUCCESS").exists());
    let (code, out, err) = exec(dir, NOW3, &["doctor"]);
    assert_eq!(code, 0, "doctor finds nothing broken:\n{out}{err}");
}

/// A job that writes its pid, then sleeps (the shell execs into sleep).
const SLOW: &str = r#"
[project]
name = "slow"
start = "2026-01-03"
[datasets.slow]
partition = "day"
command = ["sh", "-c", "echo $$ > \"$WEIR_OUTPUT/part.txt\"; exec sleep 300"]
"#;

#[test]
fn int_term_and_hup_cancel_running_jobs_kill_them_and_commit_nothing_half_made() {
    use nix::sys::signal::Signal;
    let toml = SLOW;
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let tmp = project(toml, &[]);
        let dir = tmp.path();
        let mut child = weir_std(dir)
            .args(["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        // The job's pid, once it has written it (the shell execs into sleep).
        let job = poll(30, "the job to start writing", || {
            files_under(&dir.join("lake/_staging"))
                .iter()
                .find(|f| f.ends_with("part.txt"))
                .and_then(|f| std::fs::read_to_string(dir.join("lake/_staging").join(f)).ok())
                .and_then(|t| t.trim().parse::<i32>().ok())
        });
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        nix::sys::signal::kill(pid, signal).expect("send the signal");
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(code), "{signal:?} exits with {code}");
        poll(10, "the job's process to be gone", || {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(job), None)
                .is_err()
                .then_some(())
        });
        assert!(!dir.join("lake/slow/v1/date=2026-01-03").exists(), "nothing was sealed");
        assert!(
            files_under(&dir.join("lake/_staging")).is_empty(),
            "the half-made output was discarded"
        );
        let st = crate::support::status(dir, NOW3);
        assert_eq!(st["slow"]["complete"], 0);
        let runs = json(dir, NOW3, &["runs"]);
        assert_eq!(runs[0]["state"], "cancelled", "{signal:?}");
    }
}

#[test]
fn a_builder_stopped_past_its_lease_never_seals_and_its_files_are_never_swept() {
    use nix::sys::signal::{Signal, kill};
    let toml = r#"
[project]
name = "fence"
start = "2026-01-03"
[datasets.slow]
partition = "day"
format = "files"
command = ["sh", "-c", "touch \"$WEIR_OUTPUT/started\"; sleep 5; for i in $(seq 1 300); do echo $i > \"$WEIR_OUTPUT/f$i.txt\"; done"]
"#;
    let tmp = project(toml, &[]);
    let dir = tmp.path();
    let spawn = || {
        weir_std(dir)
            .env("WEIR_LEASE_SECS", "2")
            .args(["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let staging = dir.join("lake/_staging");
    let mut a = spawn();
    let a_stage = poll(30, "A's job to start", || {
        files_under(&staging)
            .iter()
            .find(|f| f.ends_with("started"))
            .map(|f| staging.join(f).parent().expect("dir").to_path_buf())
    });
    let a_pid = nix::unistd::Pid::from_raw(i32::try_from(a.id()).expect("pid"));
    kill(a_pid, Signal::SIGSTOP).expect("SIGSTOP");
    // Past two leases, a sweep by age alone would take A's live staging area.
    poll(30, "A's staging area to be older than two leases", || {
        std::fs::metadata(&a_stage)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_millis(4500))
            .then_some(())
    });
    let b = spawn().wait_with_output().expect("B");
    assert_eq!(
        b.status.code(),
        Some(0),
        "B builds the instance: {}",
        String::from_utf8_lossy(&b.stderr)
    );
    kill(a_pid, Signal::SIGCONT).expect("SIGCONT");
    let a_out = {
        let status = a.wait().expect("A");
        let mut err = String::new();
        if let Some(mut e) = a.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    };
    assert_eq!(a_out.0, Some(1), "A's run fails: {}", a_out.1);
    assert!(
        !a_out.1.contains("No such file"),
        "A's job kept its staging area: {}",
        a_out.1
    );
    // Exactly one sealed instance, and its files are its manifest's.
    let inst = dir.join("lake/slow/v1/date=2026-01-03");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(inst.join("_SUCCESS")).expect("manifest")).expect("json");
    let files = m["files"].as_array().expect("files");
    assert_eq!(files.len(), 301, "started + 300 files");
    for f in files {
        let name = f["name"].as_str().expect("name");
        let size = std::fs::metadata(inst.join(name)).expect(name).len();
        assert_eq!(Some(size), f["size"].as_u64(), "{name}");
    }
    assert_eq!(
        std::fs::read_dir(&inst).expect("list").count(),
        302,
        "no file of A's mixed in"
    );
    let runs = json(dir, NOW3, &["runs"]);
    let ok = runs
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["state"] == "succeeded")
        .count();
    assert_eq!(ok, 1, "{runs}");
    let (code, out, err) = exec(dir, NOW3, &["doctor"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn under_nohup_a_hangup_does_not_stop_the_run() {
    use nix::sys::signal::{Signal, kill};
    let toml = SLOW;
    let tmp = project(toml, &[]);
    let dir = tmp.path();
    let mut child = std::process::Command::new("nohup")
        .arg(assert_cmd::cargo::cargo_bin("weir"))
        .arg("run")
        .current_dir(dir)
        .env("WEIR_NOW", NOW3)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nohup weir run");
    poll(30, "the job to start", || {
        files_under(&dir.join("lake/_staging"))
            .iter()
            .any(|f| f.ends_with("part.txt"))
            .then_some(())
    });
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(143), "the hangup was ignored; the TERM stopped it");
}
