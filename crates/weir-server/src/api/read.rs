//! Read endpoints.

use super::{ApiError, ApiResult};
use crate::Shared;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Liveness.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
    /// The environments this server schedules.
    envs: Vec<String>,
    /// Whether this server leads (checks SLAs and sends their alerts).
    leader: bool,
    /// This server's name in the catalog's leases.
    holder: String,
}

pub async fn healthz(State(shared): State<Arc<Shared>>) -> Json<Health> {
    Json(Health {
        status: "ok",
        envs: shared.envs.keys().cloned().collect(),
        leader: shared.leader.load(std::sync::atomic::Ordering::SeqCst),
        holder: shared.holder.clone(),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EnvInfo {
    env: String,
    deployment: u32,
    deployed_at_ms: i64,
    message: Option<String>,
    window: Option<String>,
    /// Whether this server runs its scheduler.
    served: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduler: Option<crate::daemon::EnvState>,
    paused: Vec<weir_catalog::Pause>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectInfo {
    dir: String,
    envs: Vec<EnvInfo>,
}

pub async fn project(State(shared): State<Arc<Shared>>) -> ApiResult<Json<ProjectInfo>> {
    let deployments = shared.catalog.deployments(None).await?;
    let paused = shared.catalog.paused(None).await?;
    let mut latest: std::collections::BTreeMap<String, weir_catalog::Deployment> = Default::default();
    for d in deployments {
        latest.insert(d.env.clone(), d);
    }
    let envs = latest
        .into_values()
        .map(|d| {
            let h = shared.envs.get(&d.env);
            EnvInfo {
                served: h.is_some(),
                scheduler: h.map(|h| h.state()),
                paused: paused.iter().filter(|p| p.env == d.env).cloned().collect(),
                env: d.env,
                deployment: d.seq,
                deployed_at_ms: d.deployed_at_ms,
                message: d.message,
                window: d.window,
            }
        })
        .collect();
    Ok(Json(ProjectInfo {
        dir: shared.dir.display().to_string(),
        envs,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Comma-separated dataset names (default: all).
    datasets: Option<String>,
    /// First partition or date (inclusive).
    from: Option<String>,
    /// Last partition or date (inclusive).
    to: Option<String>,
}

pub async fn status(
    State(shared): State<Arc<Shared>>,
    Path(env): Path<String>,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<Vec<weir_sched::DatasetStatus>>> {
    let (ws, d) = shared.env(&env).await?;
    let datasets = super::list(&q.datasets);
    let now = shared.clock.now();
    let sel = weir_ops::selection(&datasets, q.from.as_deref(), q.to.as_deref(), &ws.project)?;
    let sel = weir_ops::status::within_env(&ws, Some((&env, &d)), sel, now).await?;
    let rows = weir_ops::status::status_of(&ws, Some((&env, &d)), &sel, now).await?;
    Ok(Json(rows))
}

pub async fn datasets(
    State(shared): State<Arc<Shared>>,
    Path(env): Path<String>,
) -> ApiResult<Json<Vec<weir_ops::datasets::DatasetInfo>>> {
    let (ws, d) = shared.env(&env).await?;
    Ok(Json(weir_ops::datasets::datasets(&ws, &env, &d).await?))
}

/// One deployment, without its files.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeploymentInfo {
    pub seq: u32,
    pub deployed_at_ms: i64,
    pub message: Option<String>,
    pub window: Option<String>,
    /// Dataset → the version it builds.
    pub versions: std::collections::BTreeMap<String, u32>,
}

pub async fn deployments(
    State(shared): State<Arc<Shared>>,
    Path(env): Path<String>,
) -> ApiResult<Json<Vec<DeploymentInfo>>> {
    let all = shared.catalog.deployments(Some(&env)).await?;
    if all.is_empty() {
        return Err(unknown_env(&env));
    }
    let mut out: Vec<DeploymentInfo> = all
        .into_iter()
        .map(|d| DeploymentInfo {
            seq: d.seq,
            deployed_at_ms: d.deployed_at_ms,
            message: d.message,
            window: d.window,
            versions: d.versions,
        })
        .collect();
    out.sort_by_key(|d| std::cmp::Reverse(d.seq));
    Ok(Json(out))
}

fn unknown_env(env: &str) -> ApiError {
    ApiError::not_found(
        format!("unknown environment `{env}`"),
        "GET /api/v1/project lists the environments",
    )
}

pub async fn aliases(
    State(shared): State<Arc<Shared>>,
    Path(env): Path<String>,
) -> ApiResult<Json<Vec<weir_catalog::Alias>>> {
    if shared.catalog.deployments(Some(&env)).await?.is_empty() {
        return Err(unknown_env(&env));
    }
    Ok(Json(shared.catalog.aliases(&env).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    entries: Vec<weir_catalog::AuditEntry>,
    /// Pass as `before` for the next page (absent on the last).
    next: Option<i64>,
}

pub async fn audit(State(shared): State<Arc<Shared>>, Query(q): Query<AuditQuery>) -> ApiResult<Json<AuditPage>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries = shared.catalog.audit(q.before, limit).await?;
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AuditPage { entries, next }))
}

pub async fn tokens(State(shared): State<Arc<Shared>>) -> ApiResult<Json<Vec<weir_catalog::TokenRecord>>> {
    Ok(Json(shared.catalog.tokens().await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GridQuery {
    /// First instant or date (default: a span before `to` that suits the zoom).
    from: Option<String>,
    /// End, exclusive (default: now).
    to: Option<String>,
    /// `hour`, `day` (default), `week` or `month`.
    zoom: Option<String>,
    /// Comma-separated dataset names (default: all).
    datasets: Option<String>,
    /// `full` (default): each cell's counts and reason, up to 2,000 columns;
    /// `states`: only each row's `states` letters, up to 4,000 columns.
    detail: Option<String>,
}

fn instant(what: &str, text: &str) -> ApiResult<chrono::DateTime<chrono::Utc>> {
    weir_core::partition::parse_instant(text).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{what} `{text}` is not a date or an instant"),
            "e.g. 2026-03-14 or 2026-03-14T05:00:00Z",
        )
    })
}

/// The status grid: datasets × time cells, aggregated server-side.
pub async fn grid(
    State(shared): State<Arc<Shared>>,
    Path(env): Path<String>,
    Query(q): Query<GridQuery>,
) -> ApiResult<Json<weir_ops::grid::Grid>> {
    use weir_ops::grid::Zoom;
    let zoom = match q.zoom.as_deref() {
        None => Zoom::Day,
        Some(z) => Zoom::parse(z).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "bad_request",
                format!("unknown zoom `{z}`"),
                "zoom: minute, hour, day, week or month",
            )
        })?,
    };
    let now = shared.clock.now();
    let until = q.to.as_deref().map(|t| instant("to", t)).transpose()?.unwrap_or(now);
    let span = match zoom {
        Zoom::Minute => chrono::Duration::hours(2),
        Zoom::Hour => chrono::Duration::days(2),
        Zoom::Day => chrono::Duration::days(30),
        Zoom::Week => chrono::Duration::weeks(26),
        Zoom::Month => chrono::Duration::days(730),
    };
    let from = q
        .from
        .as_deref()
        .map(|t| instant("from", t))
        .transpose()?
        .unwrap_or(until - span);
    let detail = match q.detail.as_deref() {
        None | Some("full") => weir_ops::grid::Detail::Full,
        Some("states") => weir_ops::grid::Detail::States,
        Some(other) => {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "bad_request",
                format!("unknown detail `{other}`"),
                "detail: full or states",
            ));
        }
    };
    let datasets = super::list(&q.datasets);
    let (ws, d) = shared.env(&env).await?;
    let g = weir_ops::grid::grid(&ws, Some((&env, &d)), &datasets, from, until, zoom, detail, now).await?;
    Ok(Json(g))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Replay changes after this sequence number (default: the newest; the
    /// `Last-Event-ID` header of a reconnecting EventSource also works).
    after: Option<i64>,
}

/// Server-sent events: every change of the catalog's change feed (deploys,
/// alias moves, invalidations, restores, acceptances, pauses, resumes,
/// cancel requests), as `event: <kind>` with the change as JSON and its
/// sequence number as the event id, so a client can resume where it was.
pub async fn events(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<EventsQuery>,
    headers: axum::http::HeaderMap,
) -> ApiResult<
    axum::response::sse::Sse<impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let start = match q.after.or(resume) {
        Some(s) => s,
        None => shared.catalog.last_change().await?,
    };
    let rx = shared.events.subscribe();
    let state = (shared, rx, start, std::collections::VecDeque::new());
    let stream = futures::stream::unfold(state, |(shared, mut rx, mut seen, mut queue)| async move {
        loop {
            if let Some(c) = queue.pop_front() {
                let c: weir_catalog::Change = c;
                let e = Event::default()
                    .id(c.seq.to_string())
                    .event(c.kind.clone())
                    .json_data(&c)
                    .unwrap_or_else(|_| Event::default().comment("unserialisable change"));
                return Some((Ok(e), (shared, rx, seen, queue)));
            }
            match shared.catalog.changes(seen, 500).await {
                Ok(changes) if !changes.is_empty() => {
                    seen = changes.last().map_or(seen, |c| c.seq);
                    queue.extend(changes);
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("the event stream cannot read the change feed: {e}"),
            }
            // Woken by the feed watcher (every 0.5 s at most).
            if rx.changed().await.is_err() {
                return None;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Every move of one alias, oldest first.
pub async fn alias_history(
    State(shared): State<Arc<Shared>>,
    Path((env, dataset)): Path<(String, String)>,
) -> ApiResult<Json<Vec<weir_catalog::AliasMove>>> {
    Ok(Json(shared.catalog.alias_history(&env, &dataset).await?))
}
