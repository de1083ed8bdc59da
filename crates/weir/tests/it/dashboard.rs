//! The dashboard in a real browser (headless Chromium through chromedriver)
//! against `weir serve`: every page loads without console errors, the grid
//! shows each state where it is, keyboard navigation reaches the cells and
//! the actions, and the life of an error works through the buttons.
//! Screenshots of each page are kept under the target directory's
//! `tmp/dashboard/`.

use crate::browser::Browser;
use crate::serve::{Served, token};
use crate::support::*;
use serde_json::Value;

const DASH: &str = r#"
[project]
name = "dash"
start = "2026-01-01"

[datasets.a]
partition = "day"
command = ["sh", "-c", "echo x > \"$WEIR_OUTPUT/x.txt\"; echo '{\"rows\": 5}' > \"$WEIR_COUNTERS\""]

[datasets.b]
partition = "day"
inputs = ["a"]
command = ["sh", "-c", "if [ \"$WEIR_PARTITION\" = date=2026-01-02 ]; then echo broken >&2; exit 3; fi; echo y > \"$WEIR_OUTPUT/y.txt\""]

[datasets.c]
partition = "day"
inputs = ["a"]
command = ["sh", "-c", "n=5; if [ \"$WEIR_PARTITION\" = date=2026-01-03 ]; then n=0; fi; echo z > \"$WEIR_OUTPUT/z.txt\"; echo \"{\\\"good\\\": $n}\" > \"$WEIR_COUNTERS\""]
checks = [{ name = "good rows", check = "good > 0" }]

[datasets.s]
partition = "snapshot"
command = ["sh", "-c", "echo s > \"$WEIR_OUTPUT/s.txt\""]
"#;

const AT: &str = "2026-01-05T06:00:00Z";
const RIGHT: &str = "\u{E014}";
const LEFT: &str = "\u{E012}";
const UP: &str = "\u{E013}";
const DOWN: &str = "\u{E015}";
const END: &str = "\u{E010}";
const ENTER: &str = "\u{E007}";
const TAB: &str = "\u{E004}";

fn api(url: &str, token: Option<&str>) -> Value {
    let mut r = reqwest::blocking::Client::new()
        .get(url)
        .timeout(std::time::Duration::from_secs(30));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().and_then(|r| r.json()).unwrap_or(Value::Null)
}

/// Tabs from the top of the page until the grid has the focus: the grid is
/// reached by keyboard alone.
fn tab_to_grid(b: &Browser) {
    for _ in 0..30 {
        if b.eval("return document.activeElement && document.activeElement.classList.contains('gridcanvas')") == true {
            return;
        }
        b.press(TAB);
    }
    panic!("the grid is not reachable with Tab");
}

/// What the grid announces for its focused cell (the text a screen reader
/// reads, and the tooltip's first line).
fn announced(b: &Browser) -> String {
    b.eval("return document.getElementById('announce').textContent")
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn no_console_errors(b: &Browser, page: &str) {
    let errors = b.console_errors();
    assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
}

/// A failure, a block and an invalidation in `prod`, served still (its
/// scheduler is not running, so nothing changes under the test): each page
/// loads without console errors, and the grid says each state, by keyboard.
#[test]
fn every_page_loads_cleanly_and_the_grid_shows_each_state() {
    let tmp = project(DASH, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, AT, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = exec(dir, AT, &["run", "--env", "prod"]);
    assert_eq!(code, 1, "b fails on 2026-01-02: {err}");
    let (code, _, err) = exec(
        dir,
        AT,
        &["invalidate", "a", "--env", "prod", "--partition", "2026-01-04"],
    );
    assert_eq!(code, 0, "{err}");
    // The server schedules only `idle`, which is paused: prod stays as it is.
    for args in [&["deploy", "--env", "idle"][..], &["pause", "--env", "idle"]] {
        let (code, _, err) = exec(dir, AT, args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let served = Served::start(dir, AT, &["--env", "idle", "--public-read"]);
    let b = Browser::start(1400, 900);

    b.goto(&format!("{}/#/", served.url));
    b.wait_text(".summary", "1 failed, 1 blocked", 30);
    b.screenshot("grid");
    no_console_errors(&b, "the grid");
    tab_to_grid(&b);
    // The last column is 2026-01-05, the first row `a`.
    b.press(END);
    for _ in 0..3 {
        b.press(LEFT);
    }
    // Rows in lineage order: a, the snapshot s (one instance), b, c.
    b.press(DOWN);
    assert_eq!(announced(&b), "s · all · complete");
    b.press(DOWN);
    assert_eq!(announced(&b), "b · 2026-01-02 · failed");
    b.press(DOWN);
    assert_eq!(announced(&b), "c · 2026-01-02 · complete");
    b.press(RIGHT);
    assert_eq!(announced(&b), "c · 2026-01-03 · blocked");
    // Invalidated with a, it waits for a's rebuild.
    b.press(RIGHT);
    assert_eq!(announced(&b), "c · 2026-01-04 · held");
    for _ in 0..3 {
        b.press(UP);
    }
    assert_eq!(announced(&b), "a · 2026-01-04 · invalidated");
    b.press(RIGHT);
    assert_eq!(announced(&b), "a · 2026-01-05 · not due");
    // The tooltip gives the reason of a single partition.
    b.press(LEFT);
    for _ in 0..3 {
        b.press(DOWN);
    }
    b.press(LEFT);
    b.wait_text(
        "#tip",
        "c · 2026-01-03 · blocked\ndate=2026-01-03\n1 blocked\nblocked by `good rows`",
        10,
    );
    // Enter opens the instance: its failing check.
    b.press(ENTER);
    b.wait_text("main h1", "c", 10);
    b.wait_text("table", "good rows", 10);
    b.wait_text(".facts", "yes: a blocking check failed", 10);
    // Lineage one hop up, expandable a hop further.
    b.click("button[aria-label='inputs of a v1 date=2026-01-03']");
    poll(10, "the input expanded", || {
        (b.eval("return document.querySelectorAll('ul.hops ul.hops').length") == 1).then_some(())
    });
    b.screenshot("instance");
    no_console_errors(&b, "the instance");

    let failed = api(&format!("{}/api/v1/runs?state=failed", served.url), None);
    let run_id = failed["runs"][0]["run_id"].as_str().expect("a failed run").to_string();
    let pages = [
        ("lineage", "#/lineage".to_string(), "svg.lineage", "b"),
        ("runs", "#/runs".to_string(), "table", "date=2026-01-02"),
        ("run", format!("#/run/{run_id}"), "pre.log", "broken"),
        (
            "failed-partition",
            "#/instance?env=prod&dataset=b&partition=date%3D2026-01-02&state=failed".to_string(),
            "main",
            "exit",
        ),
        (
            "counters",
            "#/checks?dataset=c&counter=good".to_string(),
            "svg.chart",
            "c v1: good",
        ),
        ("environments", "#/envs".to_string(), "main", "Deployments"),
        ("error", "#/error".to_string(), "main", "Failed or blocked now"),
        ("login", "#/login".to_string(), "form.login", "Token"),
    ];
    for (name, hash, css, text) in pages {
        b.goto(&format!("{}/{hash}", served.url));
        b.wait_text(css, text, 20);
        b.screenshot(name);
        no_console_errors(&b, name);
    }
    // The lineage graph names every dataset with its health; a node opens
    // the grid filtered to it and its neighbours.
    b.goto(&format!("{}/#/lineage", served.url));
    b.wait_text("svg.lineage", "c", 20);
    let nodes: Vec<String> = b
        .eval(
            "return Array.from(document.querySelectorAll('svg.lineage g.node')).map(n => n.getAttribute('aria-label'))",
        )
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    assert_eq!(nodes, ["a: due", "s: complete", "b: failed", "c: blocked"], "{nodes:?}");
    b.click("svg.lineage g.node[aria-label^='b:']");
    b.wait_text(".chip", "datasets: b,a", 10);
    no_console_errors(&b, "the filtered grid");
}

/// The life of an error through the dashboard's buttons, as an operator:
/// sign in with a token, accept a blocked instance, invalidate a faulty one
/// (by keyboard) with a preview of the cascade, watch the rebuild fill the
/// grid, and revert a newly served version.
#[test]
fn the_life_of_an_error_through_the_buttons_accept_invalidate_rebuild_revert() {
    let tmp = project(DASH, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, AT, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let operator = token(dir, "operator", "olga", &[]);
    let served = Served::start(dir, AT, &[]);
    let b = Browser::start(1400, 900);
    b.goto(&format!("{}/", served.url));
    // No session yet: the login page.
    b.keys("#token", &operator);
    b.click("form.login button[type=submit]");
    b.wait_text(".who", "token:olga (operator)", 10);
    b.wait_text(".summary", "1 blocked", 60);
    no_console_errors(&b, "the grid after signing in");

    // Accept the blocked instance.
    b.goto(&format!(
        "{}/#/instance?env=prod&dataset=c&partition=date%3D2026-01-03",
        served.url
    ));
    b.click_text("button", "Accept");
    b.keys("#confirm-reason", "zero is right that day");
    b.click("#confirm-ok");
    b.wait_text(".note", "Accepted", 20);
    let inst = api(
        &format!(
            "{}/api/v1/envs/prod/datasets/c/instance?partition=2026-01-03",
            served.url
        ),
        Some(&operator),
    );
    assert_eq!(inst["blocked"], false, "{inst}");
    assert_eq!(inst["accepted"][0]["reason"], "zero is right that day", "{inst}");
    // The chart of the checked counter annotates the acceptance.
    b.goto(&format!("{}/#/checks?dataset=c&counter=good", served.url));
    b.wait_text("table", "accepted zero is right that day", 20);
    let marks = b.eval("return document.querySelectorAll('svg.chart g.pt.accepted circle').length");
    assert_eq!(marks, 2, "the point and the legend's key");

    // Invalidate a faulty instance: the preview lists what derives from it.
    // By keyboard alone: Tab reaches the action, Enter presses it.
    b.goto(&format!(
        "{}/#/instance?env=prod&dataset=a&partition=date%3D2026-01-02",
        served.url
    ));
    b.wait_text("button", "Invalidate", 20);
    tab_to(&b, "Invalidate…");
    b.press(ENTER);
    let preview = b.wait_text("#confirm-body", "instance(s) go to the trash", 20);
    // b failed that day: a and c go.
    assert!(
        preview.contains("2 instance(s)") && preview.contains("c v1: date=2026-01-02"),
        "{preview}"
    );
    b.keys("#confirm-reason", "bad input");
    b.click("#confirm-ok");
    b.wait_text(".note", "Invalidated 2 instance(s)", 20);
    no_console_errors(&b, "the actions");

    // The scheduler rebuilds by itself; the grid fills again.
    b.goto(&format!("{}/#/", served.url));
    b.wait_text(".summary", "prod:", 20);
    tab_to_grid(&b);
    b.press(END);
    for _ in 0..3 {
        b.press(LEFT);
    }
    poll(60, "a 2026-01-02 rebuilt, in the grid", || {
        b.press(RIGHT);
        b.press(LEFT);
        (announced(&b) == "a · 2026-01-02 · complete").then_some(())
    });
    b.screenshot("grid-refilled");
    let runs = api(
        &format!("{}/api/v1/runs?dataset=a&partition=2026-01-02", served.url),
        Some(&operator),
    );
    assert_eq!(
        runs["runs"].as_array().map(Vec::len),
        Some(2),
        "built, then rebuilt: {runs}"
    );
    no_console_errors(&b, "the refilled grid");

    // A new version of c is deployed and served; the revert button puts the
    // old one back.
    let v2 = DASH
        .replace("n=5; if", "n=7; if")
        .replace("then n=0; fi", "then n=7; fi");
    std::fs::write(dir.join("weir.toml"), v2).expect("edit c");
    let (code, _, err) = exec(dir, AT, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let alias_of_c = || {
        api(&format!("{}/api/v1/envs/prod/aliases", served.url), Some(&operator))
            .as_array()
            .and_then(|a| a.iter().find(|x| x["dataset"] == "c").map(|x| x["version"].clone()))
    };
    poll(60, "c v2 served", || {
        (alias_of_c() == Some(Value::from(2))).then_some(())
    });
    b.goto(&format!("{}/#/envs", served.url));
    b.click("button[data-revert='c']");
    b.keys("#confirm-reason", "v2 looks wrong");
    b.click("#confirm-ok");
    b.wait_text(".note", "c: v2 → v1", 20);
    assert_eq!(alias_of_c(), Some(Value::from(1)));
    b.screenshot("environments-reverted");
    no_console_errors(&b, "the revert");
}

/// Tabs through the page until the focused element's text is `text`.
fn tab_to(b: &Browser, text: &str) {
    for _ in 0..60 {
        if b.eval("return document.activeElement ? document.activeElement.textContent : ''") == text {
            return;
        }
        b.press(TAB);
    }
    panic!("Tab never reaches {text:?}");
}
