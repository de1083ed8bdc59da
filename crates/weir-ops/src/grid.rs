//! The status grid: datasets × time, each cell the state of the partitions
//! in it (the worst wins, with a count per state), as the dashboard and the
//! API show it. Built from one snapshot and one plan, so every cell agrees
//! with `weir plan` and `weir status`.

use crate::Result;
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use weir_catalog::Deployment;
use weir_core::Granularity;
use weir_core::planner::{Order, Reason, plan};
use weir_sched::Workspace;

/// A partition's state, worst first (the order a cell aggregates by).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CellState {
    /// Its last run failed.
    Failed,
    /// Complete, but a blocking check holds it back.
    Blocked,
    /// Past its SLA deadline and not complete.
    Late,
    /// An ingest partition whose files have not landed.
    Waiting,
    /// Waiting for an upstream instance.
    Held,
    /// Runnable: due and not built yet.
    Due,
    Running,
    Paused,
    /// Invalidated (in the trash) and not rebuilt yet.
    Invalidated,
    Complete,
    /// Not due yet (or before the dataset's start).
    NotDue,
}

/// Cell widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Zoom {
    /// A column per minute: streams' partitions as they seal.
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl CellState {
    /// Every state, worst first.
    pub const ALL: [CellState; 11] = [
        CellState::Failed,
        CellState::Blocked,
        CellState::Late,
        CellState::Waiting,
        CellState::Held,
        CellState::Due,
        CellState::Running,
        CellState::Paused,
        CellState::Invalidated,
        CellState::Complete,
        CellState::NotDue,
    ];

    /// The one-letter code of a row's `states` string.
    pub fn code(self) -> char {
        match self {
            CellState::Failed => 'F',
            CellState::Blocked => 'B',
            CellState::Late => 'L',
            CellState::Waiting => 'W',
            CellState::Held => 'H',
            CellState::Due => 'D',
            CellState::Running => 'R',
            CellState::Paused => 'P',
            CellState::Invalidated => 'I',
            CellState::Complete => 'C',
            CellState::NotDue => 'N',
        }
    }
}

/// How much a grid says per cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Each row's `states` and its `cells` (counts and reasons).
    Full,
    /// Only each row's `states`: what a large grid needs to draw.
    States,
}

impl Zoom {
    pub fn parse(s: &str) -> Option<Zoom> {
        Some(match s {
            "minute" => Zoom::Minute,
            "hour" => Zoom::Hour,
            "day" => Zoom::Day,
            "week" => Zoom::Week,
            "month" => Zoom::Month,
            _ => return None,
        })
    }

    /// The start of the cell holding `t`.
    fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let day = Utc.from_utc_datetime(&t.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default());
        match self {
            Zoom::Minute => Granularity::Minutes(1).start_of(Granularity::Minutes(1).index_of(t)),
            Zoom::Hour => Granularity::Hour.start_of(Granularity::Hour.index_of(t)),
            Zoom::Day => day,
            Zoom::Week => day - Duration::days(i64::from(t.weekday().num_days_from_monday())),
            Zoom::Month => Granularity::Month.start_of(Granularity::Month.index_of(t)),
        }
    }

    fn next(self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Zoom::Minute => t + Duration::minutes(1),
            Zoom::Hour => t + Duration::hours(1),
            Zoom::Day => t + Duration::days(1),
            Zoom::Week => t + Duration::days(7),
            Zoom::Month => Granularity::Month.end_of(Granularity::Month.index_of(t)),
        }
    }
}

/// One cell: its worst state, a count per state, and for a single
/// partition, why.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = GridCell))]
pub struct Cell {
    pub state: CellState,
    pub counts: BTreeMap<CellState, usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = GridRow))]
pub struct Row {
    pub dataset: String,
    pub version: Option<u32>,
    /// The version the environment's alias serves.
    pub serving: Option<u32>,
    pub paused: bool,
    /// The state of a snapshot dataset's one instance (`all`); none for a
    /// partitioned dataset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<CellState>,
    /// One letter per column, its worst state (see `codes`), or `-` where
    /// the dataset has no partition (a snapshot dataset, or a cell finer
    /// than its partitions is folded).
    pub states: String,
    /// One per column, with counts and reasons; `None` where `states` has
    /// `-`. Empty when asked for `detail=states`.
    pub cells: Vec<Option<Cell>>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Grid {
    pub zoom: Zoom,
    /// Each column's start (the last column ends at `until`).
    pub columns: Vec<DateTime<Utc>>,
    pub until: DateTime<Utc>,
    /// Datasets in lineage order.
    pub rows: Vec<Row>,
    /// What each letter of a row's `states` means.
    pub codes: BTreeMap<char, CellState>,
}

/// At most this many blocked partitions per row say which checks block them.
const MAX_EXPLAINED: usize = 200;

/// At most this many columns in one grid with full cells.
pub const MAX_COLUMNS: usize = 2000;
/// At most this many columns in one grid of states only (ten years of days).
pub const MAX_STATE_COLUMNS: usize = 4000;

fn reason_text(r: &Reason, project: &weir_core::Project) -> String {
    let key = |ds: &str, idx: i64| {
        project
            .dataset(ds)
            .map_or_else(|| idx.to_string(), |d| d.granularity.format_key(idx))
    };
    match r {
        Reason::WaitingFor { dataset, partition } => format!("waits for {dataset} {}", key(dataset, *partition)),
        Reason::InputFailed { dataset, partition } => format!("{dataset} {} failed", key(dataset, *partition)),
        Reason::InputBlocked { dataset, partition } => {
            format!("{dataset} {} is blocked by a check", key(dataset, *partition))
        }
        Reason::NotLanded => "its files have not landed".into(),
        Reason::Running => "running".into(),
        Reason::Failed => "its last run failed".into(),
        Reason::Paused => "paused".into(),
        Reason::Unsealed => "its events are not sealed yet".into(),
    }
}

/// The grid of `env` over `[from, until)` at `zoom`.
#[allow(clippy::too_many_arguments)]
pub async fn grid(
    ws: &Workspace,
    env: Option<(&str, &Deployment)>,
    datasets: &[String],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    zoom: Zoom,
    detail: Detail,
    now: DateTime<Utc>,
) -> Result<Grid> {
    let max = match detail {
        Detail::Full => MAX_COLUMNS,
        Detail::States => MAX_STATE_COLUMNS,
    };
    let mut columns = Vec::new();
    let mut t = zoom.floor(from);
    while t < until && columns.len() < max {
        columns.push(t);
        t = zoom.next(t);
    }
    let until = t;
    let mut sel = crate::status::env_selection(ws, env, datasets, now).await?;
    sel.from = Some(
        sel.from
            .map_or(columns.first().copied().unwrap_or(from), |f| f.max(from)),
    );
    sel.until = Some(until);
    let versions = ws.versions(false, now.timestamp_millis()).await?;
    let snap = ws.snapshot(&versions, &sel, now, None).await?;
    let p = plan(&ws.project, &snap, now, &sel, Order::NewestFirst, Some(0));
    let trash = ws.catalog.trash().await?;
    let aliases: BTreeMap<String, u32> = match env {
        Some((e, _)) => ws
            .catalog
            .aliases(e)
            .await?
            .into_iter()
            .map(|a| (a.dataset, a.version))
            .collect(),
        None => BTreeMap::new(),
    };
    let mut rows = Vec::new();
    for name in &ws.project.topo_order {
        if !sel.datasets.is_empty() && !p.datasets.iter().any(|d| &d.dataset == name) {
            continue;
        }
        let Some(ds) = ws.project.dataset(name) else { continue };
        let version = versions.get(name).copied().flatten();
        let serving = aliases.get(name).copied();
        let g = ds.granularity;
        let full = detail == Detail::Full;
        let mut cells: Vec<Option<Cell>> = if full { vec![None; columns.len()] } else { Vec::new() };
        let mut worst: Vec<Option<CellState>> = vec![None; columns.len()];
        let (dlo, dhi) = p
            .datasets
            .iter()
            .find(|d| &d.dataset == name)
            .map_or((0, 0), |d| (d.lo, d.hi));
        let empty = weir_core::PartSet::new();
        let present = snap.present.get(name).unwrap_or(&empty);
        let blocked = snap.blocked.get(name).unwrap_or(&empty);
        let reasons: Vec<_> = p.blocked.iter().filter(|b| &b.dataset == name).collect();
        let trashed: std::collections::HashSet<i64> = trash
            .iter()
            .filter(|r| Some(r.key.version) == version && &r.key.dataset == name)
            .map(|r| r.key.partition)
            .collect();
        // One partition's state, and why it is not complete.
        let state_at = |idx: i64| {
            let reason = reasons.iter().find(|b| b.lo <= idx && idx < b.hi).map(|b| &b.reason);
            let state = if present.contains(idx) {
                if blocked.contains(idx) {
                    CellState::Blocked
                } else {
                    CellState::Complete
                }
            } else if idx < dlo || idx >= dhi {
                CellState::NotDue
            } else {
                let late = ds.sla.is_some_and(|s| s.deadline(g, idx) <= now);
                match reason {
                    Some(Reason::Failed) => CellState::Failed,
                    Some(Reason::Running) => CellState::Running,
                    Some(Reason::Paused) => CellState::Paused,
                    _ if late => CellState::Late,
                    Some(Reason::NotLanded | Reason::Unsealed) => CellState::Waiting,
                    Some(_) => CellState::Held,
                    None if trashed.contains(&idx) => CellState::Invalidated,
                    None => CellState::Due,
                }
            };
            (state, reason)
        };
        // An export has no instances of its own: it follows an alias.
        let export = matches!(ds.job, weir_core::model::Job::Export { .. });
        let snapshot = (g == Granularity::Snapshot && !export).then(|| state_at(0).0);
        if g != Granularity::Snapshot && !columns.is_empty() {
            let lo = g.index_of(columns[0]);
            let hi = g.index_at_or_after(until);
            // Which checks block a blocked partition, for the cells that
            // explain themselves (full detail asks for a few cells at once).
            let mut blocked_by: std::collections::HashMap<i64, String> = Default::default();
            if full && let Some(v) = version {
                for idx in (lo..hi).filter(|i| blocked.contains(*i)).take(MAX_EXPLAINED) {
                    let key = weir_catalog::InstanceKey {
                        dataset: name.clone(),
                        version: v,
                        partition: idx,
                    };
                    let Some(inst) = ws.catalog.instance(&key).await? else {
                        continue;
                    };
                    let Some(run) = ws.catalog.run(&inst.run_id).await? else {
                        continue;
                    };
                    let names: Vec<String> = run
                        .checks
                        .iter()
                        .filter(|c| c.severity == weir_core::check::Severity::Block)
                        .filter(|c| {
                            matches!(
                                c.status,
                                weir_core::check::Status::Fail | weir_core::check::Status::Error
                            )
                        })
                        .map(|c| format!("`{}`", c.name))
                        .collect();
                    blocked_by.insert(idx, format!("blocked by {}", names.join(", ")));
                }
            }
            let mut col = 0usize;
            for idx in lo..hi {
                let start = g.start_of(idx);
                while col + 1 < columns.len() && columns[col + 1] <= start {
                    col += 1;
                }
                let (state, reason) = state_at(idx);
                worst[col] = Some(worst[col].map_or(state, |w| w.min(state)));
                if !full {
                    continue;
                }
                let why = || match (state, reason, &ds.job) {
                    (CellState::Blocked, ..) => blocked_by.get(&idx).cloned(),
                    // Which files: the ingest path for this partition.
                    (_, Some(Reason::NotLanded), weir_core::model::Job::Ingest { path, .. }) => Some(format!(
                        "its files have not landed: {}",
                        weir_sched::landing::expand(path, g, idx)
                    )),
                    _ => reason.map(|r| reason_text(r, &ws.project)),
                };
                let cell = cells[col].get_or_insert_with(|| Cell {
                    state,
                    counts: BTreeMap::new(),
                    partition: Some(g.format_key(idx)),
                    reason: why(),
                });
                *cell.counts.entry(state).or_default() += 1;
                if cell.counts.values().sum::<usize>() > 1 {
                    cell.partition = None;
                    if state < cell.state {
                        cell.reason = why();
                    }
                }
                cell.state = cell.state.min(state);
            }
        }
        let states = worst.iter().map(|w| w.map_or('-', CellState::code)).collect();
        rows.push(Row {
            dataset: name.clone(),
            version,
            serving,
            paused: sel.paused.contains(name),
            snapshot,
            states,
            cells,
        });
    }
    Ok(Grid {
        zoom,
        columns,
        until,
        rows,
        codes: CellState::ALL.iter().map(|s| (s.code(), *s)).collect(),
    })
}
