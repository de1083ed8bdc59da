//! `weir select` and `weir selector`: a unit's variant, the selectors'
//! state and history, and split changes. Each calls one operation of
//! `weir_ops::selectors` and prints its report.

use crate::output::{Printer, table};
use crate::project;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;
use weir_ops::selectors::{Selection, SelectorReport, SelectorState, SplitArgs, SplitReport};

fn show_split(m: &BTreeMap<String, u32>) -> String {
    m.iter().map(|(v, w)| format!("{v}={w}")).collect::<Vec<_>>().join(",")
}

/// `weir select SELECTOR --unit U`: read fresh from the catalog, not logged.
pub async fn select(dir: Option<&Path>, env: Option<&str>, selector: &str, unit: &str, p: Printer) -> Result<()> {
    let (ws, _, env) = project::env_ws(dir, env).await?;
    print_selection(&weir_ops::selectors::select(&ws, &env, selector, unit).await?, p);
    Ok(())
}

pub fn print_selection(s: &Selection, p: Printer) {
    p.data(s, || {
        let mut out = format!(
            "{} {} → {} ({} v{}, {})\n  {}",
            s.selector, s.unit, s.variant, s.dataset, s.version, s.partition, s.location
        );
        if let Some(a) = &s.artifact {
            out.push_str(&format!("\n  artifact: {a}"));
        }
        out
    });
}

fn state_rows(s: &SelectorState) -> String {
    let mut rows = vec![vec![
        "variant".to_string(),
        "share".into(),
        "dataset".into(),
        "serves".into(),
        "artifact".into(),
    ]];
    for v in &s.variants {
        rows.push(vec![
            v.variant.clone(),
            format!("{}%", v.share),
            v.dataset.clone(),
            match (v.version, &v.partition) {
                (Some(n), Some(p)) => format!("v{n} {p}"),
                (Some(n), None) => format!("v{n} (nothing readable)"),
                _ => "nothing yet".into(),
            },
            v.artifact.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    table(&rows)
}

/// `weir selector list`.
pub async fn list(dir: Option<&Path>, env: Option<&str>, p: Printer) -> Result<()> {
    let (ws, _, env) = project::env_ws(dir, env).await?;
    print_states(&env, &weir_ops::selectors::states(&ws, &env).await?, p);
    Ok(())
}

pub fn print_states(env: &str, states: &[SelectorState], p: Printer) {
    p.data(&states, || {
        if states.is_empty() {
            return format!("no selectors in `{env}` (declare [selectors.NAME] in weir.toml)");
        }
        states
            .iter()
            .map(|s| {
                format!(
                    "{} (by {}, split {}{})\n{}",
                    s.selector,
                    s.unit,
                    show_split(&s.split),
                    if s.split_seq == 0 { ", as declared" } else { "" },
                    state_rows(s)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
}

/// `weir selector show SELECTOR`: state, declared split, auto, history.
pub async fn show(dir: Option<&Path>, env: Option<&str>, selector: &str, p: Printer) -> Result<()> {
    let (ws, _, env) = project::env_ws(dir, env).await?;
    print_report(&weir_ops::selectors::report(&ws, &env, selector).await?, p);
    Ok(())
}

pub fn print_report(r: &SelectorReport, p: Printer) {
    p.data(r, || {
        let s = &r.state;
        let mut out = format!(
            "{} in {} (by {}; assignments → {})\nsplit {} (declared {})\n{}",
            s.selector,
            s.env,
            s.unit,
            s.log.as_deref().unwrap_or("not logged"),
            show_split(&s.split),
            show_split(&r.declared),
            state_rows(s)
        );
        if let Some(a) = &r.auto {
            out.push_str(&format!(
                "\nauto: {} of {} beats the others by {:.1}% for {} days (≥ {} units each) → {}%",
                a.metric,
                a.dataset,
                a.min_lift * 100.0,
                a.days,
                a.min_units,
                a.to
            ));
        }
        if r.history.is_empty() {
            out.push_str("\nhistory: none (the declared split)");
        } else {
            out.push_str("\nhistory:");
            for h in &r.history {
                let at = chrono::DateTime::from_timestamp_millis(h.at_ms)
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default();
                out.push_str(&format!(
                    "\n  #{} {at} {} by {}: {}{}",
                    h.seq,
                    h.kind,
                    h.by,
                    show_split(&h.split),
                    h.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
                ));
            }
        }
        out
    });
}

/// `weir selector set SELECTOR --split a=90,b=10` (or `--reset`).
pub async fn set(
    dir: Option<&Path>,
    env: Option<&str>,
    selector: &str,
    split: Option<&str>,
    reason: Option<String>,
    p: Printer,
) -> Result<()> {
    let (ws, _, env) = project::env_ws(dir, env).await?;
    let split = match split {
        Some(text) => weir_ops::selectors::parse_split(text)?,
        None => Vec::new(),
    };
    let r = weir_ops::selectors::set_split(
        &ws,
        &env,
        selector,
        SplitArgs {
            split,
            by: weir_ops::control::os_actor(),
            reason,
            kind: "set".into(),
            after: None,
            owed: Vec::new(),
            now_ms: project::now()?.timestamp_millis(),
        },
    )
    .await?;
    print_split(&r, p);
    Ok(())
}

pub fn print_split(r: &SplitReport, p: Printer) {
    p.data(r, || {
        format!(
            "{} in {}: split {} → {} (change #{})",
            r.selector,
            r.env,
            show_split(&r.from),
            show_split(&r.change.split),
            r.change.seq
        )
    });
}
