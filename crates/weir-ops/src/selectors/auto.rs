//! Auto-promotion (`[selectors.NAME.auto]`): the leader's check, after each
//! pass of an environment's loop, of whether one variant has won.
//!
//! The auto dataset is read through [`crate::serving::served`] (so a
//! blocked or trashed day never counts), one daily partition at a time:
//! a row per variant with columns `variant`, the metric, and `units`. Only
//! days that start after the split last changed count, so a split set by
//! hand is not overruled before `days` days of new evidence. The decision
//! itself is `weir_core::selector::decide`, pure and tested there.

use super::measures::day_rows;
use super::{SplitArgs, SplitReport, definition, split_in_force};
use crate::serving::served;
use crate::{Result, UserError};
use serde::Serialize;
use std::collections::BTreeMap;
use weir_core::selector::{Figure, Verdict, decide};
use weir_sched::Workspace;
use weir_sched::alert::AlertEvent;

/// What auto-promotion found for one selector.
#[derive(Clone, Debug, Serialize)]
pub struct AutoOutcome {
    pub env: String,
    pub selector: String,
    /// Why the split stays, when it does.
    pub held: Option<String>,
    /// The change made, when one variant won.
    pub promoted: Option<SplitReport>,
    /// The alert to send about the change.
    #[serde(skip)]
    pub alert: Option<AlertEvent>,
}

/// Checks every selector of `env` that has `auto`, and moves the split of
/// those whose variant won (recorded as kind `auto`, by `auto`, and only if
/// no one changed the split meanwhile).
pub async fn evaluate(ws: &Workspace, env: &str, now_ms: i64) -> Result<Vec<AutoOutcome>> {
    let mut out = Vec::new();
    let names: Vec<String> = ws
        .project
        .selectors
        .values()
        .filter(|s| s.auto.is_some())
        .map(|s| s.name.clone())
        .collect();
    for name in names {
        out.push(evaluate_one(ws, env, &name, now_ms).await?);
    }
    Ok(out)
}

async fn evaluate_one(ws: &Workspace, env: &str, name: &str, now_ms: i64) -> Result<AutoOutcome> {
    let sel = definition(ws, name)?;
    let Some(auto) = &sel.auto else {
        return Err(UserError::new(
            format!("selector `{name}` has no auto-promotion"),
            "add [selectors.NAME.auto]",
        )
        .into());
    };
    let (split, seq) = split_in_force(ws, env, sel).await?;
    let since_ms = ws.catalog.split_history(env, name).await?.last().map(|c| c.at_ms);
    let mut outcome = AutoOutcome {
        env: env.to_string(),
        selector: name.to_string(),
        held: None,
        promoted: None,
        alert: None,
    };
    let days = match figures(ws, env, &auto.dataset, &auto.metric, auto.days, since_ms).await {
        Ok(d) => d,
        Err(why) => {
            outcome.held = Some(why);
            return Ok(outcome);
        }
    };
    match decide(auto, &split, &days) {
        Verdict::Hold(why) => outcome.held = Some(why),
        Verdict::Promote {
            winner,
            split: to,
            days,
            lifts,
        } => {
            let ds = crate::dataset(ws, &auto.dataset)?;
            let keys: Vec<String> = days.iter().map(|p| ds.granularity.format_key(*p)).collect();
            let reason = format!(
                "`{winner}` led on {} by {} over {}",
                auto.metric,
                lifts
                    .iter()
                    .map(|l| format!("{:+.1}%", l * 100.0))
                    .collect::<Vec<_>>()
                    .join(", "),
                keys.join(", ")
            );
            // With compare and swap on change `seq`, this one is `seq + 1`:
            // its alert is known, and owed in the change's transaction.
            let from: BTreeMap<String, u32> = split.iter().cloned().collect();
            let event = AlertEvent::SplitPromoted {
                env: env.to_string(),
                selector: name.to_string(),
                seq: seq + 1,
                winner,
                from,
                to: to.iter().cloned().collect(),
                metric: auto.metric.clone(),
                lifts,
            };
            let owed = match (&ws.project.alerts, serde_json::to_string(&event)) {
                (Some(_), Ok(json)) => vec![(event.id(), json)],
                _ => Vec::new(),
            };
            let args = SplitArgs {
                split: to,
                by: "auto".into(),
                reason: Some(reason),
                kind: "auto".into(),
                after: Some(seq),
                owed,
                now_ms,
            };
            match super::set_split(ws, env, name, args).await {
                Ok(report) => {
                    outcome.alert = Some(event);
                    outcome.promoted = Some(report);
                }
                // Someone changed the split meanwhile: theirs stands.
                Err(crate::OpsError::Catalog(weir_catalog::CatalogError::SplitMoved { .. })) => {
                    outcome.held = Some("the split was changed meanwhile".into());
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(outcome)
}

/// The latest `days` served partitions of `dataset` that start at or after
/// `since_ms`: variant → (metric, units) of each. An error is why not.
async fn figures(
    ws: &Workspace,
    env: &str,
    dataset: &str,
    metric: &str,
    days: u32,
    since_ms: Option<i64>,
) -> std::result::Result<BTreeMap<i64, BTreeMap<String, Figure>>, String> {
    let ds = ws.dataset(dataset).map_err(|e| e.to_string())?;
    let Some(s) = served(ws, env, dataset).await.map_err(|e| e.to_string())? else {
        return Err(format!("`{dataset}` serves nothing in `{env}` yet"));
    };
    let counted: Vec<i64> = s
        .partitions
        .iter()
        .copied()
        .filter(|p| since_ms.is_none_or(|t| ds.granularity.start_of(*p).timestamp_millis() >= t))
        .collect();
    let mut out = BTreeMap::new();
    for p in counted.iter().rev().take(days as usize) {
        let rows = day_rows(ws, dataset, s.version, *p).await?;
        let mut day = BTreeMap::new();
        for (variant, numbers) in rows {
            let (Some(value), Some(units)) = (numbers.get(metric), numbers.get("units")) else {
                return Err(format!(
                    "`{dataset}` must have columns `variant`, `{metric}` and `units` (one row per variant)"
                ));
            };
            let units = if units.is_finite() && *units > 0.0 {
                *units as u64
            } else {
                0
            };
            day.insert(variant, Figure { value: *value, units });
        }
        out.insert(*p, day);
    }
    Ok(out)
}
