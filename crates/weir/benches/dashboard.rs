//! The dashboard's figures in a real browser (docs/benchmarks.md): the first
//! paint of the status grid, and the frame intervals while scrolling it, in
//! headless Chromium with software rendering.
//!
//! `cargo bench -p weir --bench dashboard` measures 100 × 365 and
//! 1,000 × 3,650 grids; `-- --datasets N --partitions P` measures one size.
//! Each size is served by `weir bench serve grid --hold` (a fresh catalog,
//! half the instances present).

#[path = "../tests/it/browser.rs"]
#[allow(dead_code)]
mod browser;

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LOADS: usize = 5;

/// Scrolls the grid diagonally, corner to corner, over 3 seconds, one step
/// per animation frame, and answers the intervals between frames.
const SCROLL: &str = r#"
const done = arguments[arguments.length - 1];
const s = document.querySelector('.gridscroll');
const maxX = s.scrollWidth - s.clientWidth, maxY = s.scrollHeight - s.clientHeight;
const t0 = performance.now();
let last = t0;
const gaps = [];
function step(now) {
  gaps.push(now - last);
  last = now;
  const f = Math.min(1, (now - t0) / 3000);
  s.scrollLeft = maxX * f;
  s.scrollTop = maxY * f;
  if (f < 1) { requestAnimationFrame(step); return; }
  gaps.shift();
  gaps.sort((a, b) => a - b);
  done({ frames: gaps.length, p50: gaps[Math.floor(gaps.length * 0.5)], p95: gaps[Math.floor(gaps.length * 0.95)], max: gaps[gaps.length - 1], maxX, maxY });
}
requestAnimationFrame(step);
"#;

fn measure(datasets: usize, partitions: usize) {
    let t = Instant::now();
    let mut server = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "bench", "serve", "grid", "--detail", "states", "--hold", "--rounds", "3",
        ])
        .args([
            "--datasets",
            &datasets.to_string(),
            "--partitions",
            &partitions.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("weir bench serve grid");
    let mut out = BufReader::new(server.stdout.take().expect("stdout"));
    let mut line = String::new();
    let (url, from) = loop {
        line.clear();
        if out.read_line(&mut line).expect("read") == 0 {
            panic!("weir bench serve grid ended before serving");
        }
        if let Some(rest) = line.trim().strip_prefix("serving ") {
            let (url, from) = rest.split_once(' ').expect("URL and start");
            break (url.to_string(), from.to_string());
        }
    };
    println!(
        "{datasets} datasets × {partitions} days: catalog filled and served in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let b = browser::Browser::start(1400, 900);
    let mut paints = Vec::new();
    for _ in 0..LOADS {
        b.goto("about:blank");
        b.goto(&format!("{url}/#/?zoom=day&from={from}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        let ms = loop {
            let v = b.eval(
                "const m = performance.getEntriesByName('weir-grid-painted'); return m.length ? m[0].startTime : null",
            );
            if let Some(ms) = v.as_f64() {
                break ms;
            }
            assert!(Instant::now() < deadline, "the grid never painted");
            std::thread::sleep(Duration::from_millis(10));
        };
        paints.push(ms);
    }
    let rows = b.eval("return document.querySelector('.summary').textContent");
    paints.sort_by(f64::total_cmp);
    let scroll = b.eval_async(SCROLL);
    b.screenshot(&format!("bench-{datasets}x{partitions}"));
    drop(b);
    if let Some(mut stdin) = server.stdin.take() {
        let _ = stdin.flush();
    }
    // The server's own figures (server-side and over HTTP) follow its
    // `serving` line once stdin closes.
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut out, &mut rest);
    let _ = server.wait();
    for l in rest.lines() {
        println!("  {l}");
    }
    println!("  {}", rows.as_str().unwrap_or_default());
    println!(
        "  first paint of the grid, {LOADS} loads: median {:.0} ms, min {:.0}, max {:.0}",
        paints[LOADS / 2],
        paints[0],
        paints[LOADS - 1]
    );
    println!(
        "  scrolling corner to corner in 3 s: {} frames, interval p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        scroll["frames"],
        scroll["p50"].as_f64().unwrap_or(f64::NAN),
        scroll["p95"].as_f64().unwrap_or(f64::NAN),
        scroll["max"].as_f64().unwrap_or(f64::NAN)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let sizes = match (arg("--datasets"), arg("--partitions")) {
        (Some(d), Some(p)) => vec![(d, p)],
        _ => vec![(100, 365), (1000, 3650)],
    };
    for (d, p) in sizes {
        measure(d, p);
    }
}
