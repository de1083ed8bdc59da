//! Selectors (issue 20): sticky assignment of units to model variants,
//! answered from what each variant's alias serves, with the split's history
//! in the catalog; over HTTP with every assignment logged into a stream; a
//! revert seen by the very next selection; auto-promotion with its alert.

use crate::serve::{Served, token};
use crate::support::*;
use serde_json::{Value, json};

const TRAIN: &str = r#"
set -e
printf 'weights of %s %s %s' "$1" "$WEIR_VERSION" "$WEIR_PARTITION" > "$WEIR_OUTPUT/model.bin"
cat > "$WEIR_OUTPUT/model.json" <<CARD
{"framework": "none", "metrics": {"auc": 0.8},
 "signature": {"inputs": ["user_id"], "outputs": ["track_id"]}, "files": ["model.bin"]}
CARD
"#;

fn project_toml(cooc_version: &str, auto: &str) -> String {
    format!(
        r#"
[project]
name = "sel"
start = "2026-01-01"

[alerts]
webhook = "env:TEST_WEBHOOK"

[datasets.reco_popularity]
partition = "day"
kind = "model"
command = ["sh", "scripts/train.sh", "popularity"]

[datasets.reco_cooc]
partition = "day"
kind = "model"
version = "{cooc_version}"
command = ["sh", "scripts/train.sh", "cooc"]

[datasets.reco_assignments]
partition = "15m"
start = "2026-01-04"
stream = {{ event_time = "time", id = "id" }}

[datasets.engagement]
partition = "day"
sql = "SELECT * FROM (VALUES ('cooc', 3.3, 500), ('popularity', 3.0, 480)) AS t(variant, plays_per_session, units)"

[selectors.reco]
variants = {{ popularity = "reco_popularity", cooc = "reco_cooc" }}
split = {{ popularity = 50, cooc = 50 }}
unit = "user_id"
{auto}
"#
    )
}

fn files() -> Vec<(&'static str, &'static str)> {
    vec![("scripts/train.sh", TRAIN)]
}

#[test]
fn a_selector_assigns_units_stickily_and_keeps_the_history_of_its_split() {
    let tmp = project(&project_toml("1", ""), &files());
    let dir = tmp.path();
    for args in [&["deploy"][..], &["run", "--env", "prod"]] {
        let (code, out, err) = exec(dir, NOW, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    let pick = |unit: &str| json(dir, NOW, &["select", "reco", "--unit", unit]);
    let s = pick("u1");
    assert_eq!(s, pick("u1"), "the same unit gets the same answer");
    let variant = s["variant"].as_str().expect("variant").to_string();
    assert!(["popularity", "cooc"].contains(&variant.as_str()), "{s}");
    assert_eq!(s["version"], 1, "{s}");
    assert_eq!(s["partition"], "date=2026-01-03", "the newest served model: {s}");
    let artifact = s["artifact"].as_str().expect("artifact");
    assert!(artifact.ends_with("model.bin"), "{s}");
    let bytes = std::fs::read_to_string(artifact).expect("the artifact is where it says");
    assert!(bytes.starts_with(&format!("weights of {variant}")), "{bytes}");
    // Both variants get units.
    let seen: std::collections::BTreeSet<String> = (0..12)
        .map(|i| pick(&format!("user-{i}"))["variant"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");

    // A new split, recorded with its history, moves the unit.
    let other = if variant == "cooc" { "popularity" } else { "cooc" };
    let split = format!("{other}=100,{variant}=0");
    let r = json(
        dir,
        NOW,
        &["selector", "set", "reco", "--split", &split, "--reason", "all in"],
    );
    assert_eq!(r["change"]["seq"], 1, "{r}");
    assert_eq!(r["from"][&variant], 50, "{r}");
    assert_eq!(pick("u1")["variant"], other, "the split moved u1");
    let shown = json(dir, NOW, &["selector", "show", "reco"]);
    let history = shown["history"].as_array().expect("history");
    assert_eq!(history.len(), 1, "{shown}");
    assert_eq!(history[0]["kind"], "set");
    assert_eq!(history[0]["reason"], "all in");
    assert_eq!(shown["state"]["split"][other], 100, "{shown}");
    // Another environment's split is its own.
    let (code, _, err) = exec(
        dir,
        NOW,
        &[
            "selector",
            "set",
            "reco",
            "--env",
            "staging",
            "--split",
            "cooc=50,popularity=50",
        ],
    );
    assert_ne!(code, 0, "staging has no deployment: {err}");
    let prod = json(dir, NOW, &["selector", "show", "reco"]);
    assert_eq!(prod["history"].as_array().map(Vec::len), Some(1));

    // Bad input: a clear error, nothing recorded.
    for (args, says) in [
        (
            vec!["selector", "set", "reco", "--split", "cooc=90"],
            "split has no share for popularity",
        ),
        (
            vec!["selector", "set", "reco", "--split", "coc=50,popularity=50"],
            "`coc` is not a variant",
        ),
        (
            vec!["selector", "set", "reco", "--split", "cooc=ninety"],
            "not a whole percent",
        ),
        (vec!["select", "rec", "--unit", "u1"], "did you mean `reco`?"),
    ] {
        let (code, out, err) = exec(dir, NOW, &args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Back to the declared split.
    let r = json(dir, NOW, &["selector", "set", "reco", "--reset"]);
    assert_eq!(r["change"]["kind"], "reset");
    assert_eq!(r["change"]["split"]["cooc"], 50, "{r}");
    assert_eq!(pick("u1")["variant"], variant.as_str(), "the unit is back where it was");
    let audit = json(dir, NOW, &["audit"]);
    assert!(
        audit.to_string().matches("selector set").count() >= 3,
        "every change is audited: {audit}"
    );
}

fn get(url: &str, token: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .expect("request")
}

#[test]
fn selections_over_http_are_logged_and_follow_a_revert_at_once() {
    let tmp = project(&project_toml("1", ""), &files());
    let dir = tmp.path();
    for args in [&["deploy"][..], &["run", "--env", "prod"]] {
        let (code, out, err) = exec(dir, NOW, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    // A second version of the cooc variant serves in prod.
    std::fs::write(dir.join("weir.toml"), project_toml("2", "")).expect("write");
    for args in [&["deploy"][..], &["run", "--env", "prod"]] {
        let (code, out, err) = exec(dir, NOW, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    let (code, _, err) = exec(
        dir,
        NOW,
        &["selector", "set", "reco", "--split", "cooc=100,popularity=0"],
    );
    assert_eq!(code, 0, "{err}");
    let viewer = token(dir, "viewer", "v", &[]);
    let operator = token(dir, "operator", "o", &[]);
    // The clock runs ten minutes a second: assignments' 15-minute
    // partitions close and seal within seconds.
    let served = Served::start_with(dir, NOW, &[], &[("WEIR_CLOCK_RATE", "600")], "serve.log");
    let select = |unit: &str| -> Value {
        get(&format!("{}/api/v1/select/reco?unit={unit}", served.url), &viewer)
            .json()
            .expect("json")
    };
    let s = select("u1");
    assert_eq!(
        (s["variant"].as_str(), s["version"].as_u64()),
        (Some("cooc"), Some(2)),
        "{s}"
    );
    let r = get(
        &format!("{}/api/v1/select/reco?unit=u1&artifact=1", served.url),
        &viewer,
    );
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-weir-version"], "2");
    let body = r.text().expect("bytes");
    assert_eq!(
        body,
        std::fs::read_to_string(s["artifact"].as_str().expect("artifact")).expect("file"),
        "the artifact's bytes"
    );
    let r = get(&format!("{}/api/v1/select/reco", served.url), &viewer);
    assert_eq!(r.status(), 400, "no unit");
    let r = get(&format!("{}/api/v1/select/nope?unit=u1", served.url), &viewer);
    assert_eq!(r.status(), 404, "no selector");

    // Revert the variant through the API: the very next selection serves v1.
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/envs/prod/revert", served.url))
        .bearer_auth(&operator)
        .json(&json!({ "datasets": ["reco_cooc"], "reason": "v2 is worse" }))
        .send()
        .expect("revert");
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let s = select("u1");
    assert_eq!(s["version"], 1, "the next selection after the revert: {s}");
    // A split changed through the API is seen at once too.
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/envs/prod/selectors/reco/split", served.url))
        .bearer_auth(&operator)
        .json(&json!({ "split": { "cooc": 0, "popularity": 100 }, "reason": "test" }))
        .send()
        .expect("split");
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    assert_eq!(select("u1")["variant"], "popularity");
    // The CLI through the server: a real selection (logged), and the split's history.
    let remote = |args: &[&str], token: &str| -> Value {
        let out = weir_process(dir, NOW)
            .args(["--server", served.url.as_str(), "--json"])
            .args(args)
            .env("WEIR_TOKEN", token)
            .output()
            .expect("weir --server");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    assert_eq!(
        remote(&["select", "reco", "--unit", "u1"], &viewer)["variant"],
        "popularity"
    );
    let shown = remote(&["selector", "show", "reco"], &viewer);
    assert_eq!(shown["history"].as_array().map(Vec::len), Some(2), "{shown}");
    assert_eq!(
        shown["history"][1]["by"], "token:o",
        "the operator token's name: {shown}"
    );

    // Every selection is logged into the stream, and sealed like any event.
    for i in 0..50 {
        select(&format!("user-{i}"));
    }
    let logged = |m: &str| -> Option<u64> {
        m.lines()
            .find(|l| l.starts_with("weir_assignments_logged_total{selector=\"reco\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
    };
    poll(30, "55 assignments logged", || {
        let m = get(&format!("{}/metrics", served.url), &viewer).text().ok()?;
        (logged(&m)? >= 55).then_some(())
    });
    let m = get(&format!("{}/metrics", served.url), &viewer)
        .text()
        .expect("metrics");
    assert!(!m.contains("weir_assignments_dropped_total{"), "nothing dropped: {m}");
    assert!(
        m.contains("weir_selections_total{selector=\"reco\",variant=\"popularity\"}"),
        "{m}"
    );
    let rows = poll(90, "the assignments sealed and served", || {
        let r: Value = reqwest::blocking::Client::new()
            .post(format!("{}/api/v1/sql", served.url))
            .bearer_auth(&viewer)
            .json(&json!({ "query": "SELECT json_get_str(event, 'variant') AS variant, json_get_int(event, 'version') AS version, count(*) AS n FROM reco_assignments GROUP BY 1, 2 ORDER BY 1, 2" }))
            .send()
            .ok()?
            .json()
            .ok()?;
        let rows = r["rows"].as_array()?.clone();
        let total: u64 = rows.iter().filter_map(|r| r["n"].as_u64()).sum();
        (total >= 55).then_some(rows)
    });
    assert_eq!(
        rows,
        vec![
            json!({ "variant": "cooc", "version": 1, "n": 1 }),
            json!({ "variant": "cooc", "version": 2, "n": 2 }),
            json!({ "variant": "popularity", "version": 1, "n": 52 }),
        ],
        "each selection once, with the version it answered"
    );
    drop(served);
}

#[test]
fn a_variant_that_wins_every_day_is_promoted_with_an_alert() {
    let auto = "[selectors.reco.auto]\ndataset = \"engagement\"\nmetric = \"plays_per_session\"\nmin_lift = 0.05\ndays = 2\nmin_units = 100\nto = 90";
    let tmp = project(&project_toml("1", auto), &files());
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let (url, bodies, _) = crate::quality::receiver();
    let served = Served::start_with(dir, NOW, &[], &[("TEST_WEBHOOK", url.as_str())], "serve.log");
    let history = poll(90, "the auto-promotion", || {
        let shown = json(dir, NOW, &["selector", "show", "reco"]);
        let h = shown["history"].as_array()?.clone();
        (!h.is_empty()).then_some(h)
    });
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["kind"], "auto");
    assert_eq!(history[0]["by"], "auto");
    assert_eq!(history[0]["split"], json!({ "cooc": 90, "popularity": 10 }));
    let reason = history[0]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("+10.0%") && reason.contains("date=2026-01-02") && reason.contains("date=2026-01-03"),
        "the lift on each day that counted: {reason}"
    );
    let alert = poll(30, "the alert", || {
        bodies
            .lock()
            .expect("lock")
            .iter()
            .find(|b| b.contains("auto-promotion"))
            .cloned()
    });
    let alert: Value = serde_json::from_str(&alert).expect("json");
    assert_eq!(alert["id"], "split:prod/reco/1", "{alert}");
    assert_eq!(alert["kind"], "selector");
    let text = alert["text"].as_str().unwrap_or("");
    assert!(text.contains("popularity=50") && text.contains("cooc=90"), "{text}");
    drop(served);
}

/// The dashboard's Models page in a real browser: the split, what each
/// variant serves, and a chart per measure with a line per variant.
#[test]
fn the_models_page_charts_each_variant() {
    let auto = "[selectors.reco.auto]\ndataset = \"engagement\"\nmetric = \"plays_per_session\"\nmin_lift = 0.05\ndays = 2\nmin_units = 100\nto = 90";
    let tmp = project(&project_toml("1", auto), &files());
    let dir = tmp.path();
    for args in [
        &["deploy"][..],
        &["run", "--env", "prod"],
        &[
            "selector",
            "set",
            "reco",
            "--split",
            "cooc=70,popularity=30",
            "--reason",
            "more cooc",
        ],
        // The server schedules only `idle`, which is paused: prod stays as it is.
        &["deploy", "--env", "idle"],
        &["pause", "--env", "idle"],
    ] {
        let (code, out, err) = exec(dir, NOW, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    let served = Served::start(dir, NOW, &["--env", "idle", "--public-read"]);
    let b = crate::browser::Browser::start(1400, 1000);
    b.goto(&format!("{}/#/models", served.url));
    b.wait_text("section.selector h2", "Selector reco", 30);
    b.wait_text("section.selector svg.chart .charttitle", "plays_per_session", 30);
    let lines = b.eval(
        "return [...document.querySelectorAll('svg.chart[data-column=\"plays_per_session\"] g.variant')].map(g => [g.dataset.series, g.querySelectorAll('.pt').length - 1, g.querySelector('path.line').getAttribute('d').length > 0])",
    );
    assert_eq!(
        lines,
        json!([["cooc", 3, true], ["popularity", 3, true]]),
        "a line per variant over the three served days"
    );
    let split = b.texts(".split span");
    assert_eq!(split, vec!["cooc 70%", "popularity 30%"]);
    let history = b.texts("section.selector table:last-of-type tbody td");
    assert!(history.iter().any(|t| t == "more cooc"), "{history:?}");
    b.screenshot("models");
    let errors = b.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    drop(served);
}
