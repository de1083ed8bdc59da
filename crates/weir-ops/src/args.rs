//! Arguments every face reads the same way: `--from`/`--to` partitions or
//! dates into a planner selection.

use crate::{Result, UserError};
use chrono::{DateTime, Months, TimeDelta, Utc};
use weir_core::model::Project;
use weir_core::partition::parse_instant;
use weir_core::planner::Selection;

/// Reads `--from`/`--to` (inclusive) into a selection. A date as `--to` covers
/// the whole day; a month, the whole month; an hour, the whole hour.
pub fn selection(datasets: &[String], from: Option<&str>, to: Option<&str>, project: &Project) -> Result<Selection> {
    for d in datasets {
        if project.dataset(d).is_none() {
            let hint = weir_core::diag::did_you_mean(d, project.datasets.keys().map(String::as_str)).map_or_else(
                || format!("datasets: {}", project.topo_order.join(", ")),
                |s| format!("did you mean `{s}`?"),
            );
            return Err(UserError::new(format!("unknown dataset `{d}`"), hint).into());
        }
    }
    let bound = |s: &str, what: &str| -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let value = s.split_once('=').map_or(s, |(_, v)| v);
        let start = parse_instant(value).ok_or_else(|| {
            UserError::new(
                format!("--{what} `{s}` is not a partition or date"),
                "write e.g. 2026-01-03, 2026-01-03T07, 2026-01 or date=2026-01-03",
            )
        })?;
        let end = match value.len() {
            7 => start.checked_add_months(Months::new(1)).unwrap_or(start),
            10 => start + TimeDelta::days(1),
            13 => start + TimeDelta::hours(1),
            15 => start + TimeDelta::minutes(1),
            _ => start + TimeDelta::seconds(1),
        };
        Ok((start, end))
    };
    let from = from.map(|f| bound(f, "from")).transpose()?.map(|b| b.0);
    let until = to.map(|t| bound(t, "to")).transpose()?.map(|b| b.1);
    if let (Some(f), Some(u)) = (from, until)
        && f >= u
    {
        return Err(UserError::new("--from is after --to", "swap them").into());
    }
    Ok(Selection {
        datasets: datasets.to_vec(),
        from,
        until,
        ..Default::default()
    })
}

/// Narrows a selection to an environment's build window (`deploy --window`).
pub fn with_window(
    mut sel: Selection,
    deployment: Option<&weir_catalog::Deployment>,
    now: chrono::DateTime<chrono::Utc>,
) -> Selection {
    if let Some(w) = deployment
        .and_then(|d| d.window.as_deref())
        .and_then(|w| weir_core::Span::parse(w).ok())
    {
        sel = within_span(sel, w, now);
    }
    sel
}

/// Narrows a selection to the partitions starting inside `span` before `now`.
pub fn within_span(mut sel: Selection, span: weir_core::Span, now: chrono::DateTime<chrono::Utc>) -> Selection {
    let start = span.sub_from(now);
    sel.from = Some(sel.from.map_or(start, |f| f.max(start)));
    sel
}

/// Reads a `--window` flag: a positive span such as `2d`.
pub fn window(flag: &str) -> std::result::Result<weir_core::Span, crate::UserError> {
    let hint = "e.g. --window 2d (m, h, d or w)";
    let span = weir_core::Span::parse(flag).map_err(|e| crate::UserError::new(format!("--window: {e}"), hint))?;
    if !span.is_positive() {
        return Err(crate::UserError::new("--window must be positive", hint));
    }
    Ok(span)
}
