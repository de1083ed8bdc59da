//! Runs: the list (paged with a cursor), one run, and its log, which streams
//! while the run is running.

use super::{ApiError, ApiResult};
use crate::Shared;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use weir_catalog::{Claim, RunFilter, RunRecord, RunState};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    dataset: Option<String>,
    /// `running`, `succeeded`, `failed` or `cancelled` (default: all).
    state: Option<String>,
    /// Runs per page (default 100, at most 1000).
    limit: Option<u32>,
    /// The `next` of the page before.
    cursor: Option<String>,
    /// Only runs of this partition (with `dataset`), e.g. `2026-03-14`,
    /// read with the dataset's definition in `env`.
    partition: Option<String>,
    /// The environment whose definitions read `partition` (default `prod`).
    env: Option<String>,
}

/// A page of runs, newest first.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunsPage {
    /// The runs in progress (on the first page, unless a finished state is asked for).
    pub running: Vec<Claim>,
    /// Finished runs; their logs are at `/api/v1/runs/{run_id}/log`.
    pub runs: Vec<RunRecord>,
    /// Pass as `cursor` for the next page (absent on the last).
    pub next: Option<String>,
    /// Each listed run's partition as a key (`date=2026-03-14`), by run id,
    /// read with `env`'s definitions (runs of datasets it lacks are left out).
    #[serde(default)]
    pub partitions: std::collections::BTreeMap<String, String>,
}

fn bad(message: String, hint: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message, hint)
}

/// A cursor is `<ended_at_ms>:<run_id>` of the last run of a page.
fn cursor_of(r: &RunRecord) -> String {
    format!("{}:{}", r.ended_at_ms, r.run_id)
}

fn parse_cursor(c: &str) -> ApiResult<(i64, String)> {
    c.split_once(':')
        .and_then(|(ms, id)| Some((ms.parse().ok()?, id.to_string())))
        .ok_or_else(|| bad(format!("`{c}` is not a cursor"), "pass the `next` of the page before"))
}

pub async fn runs(State(shared): State<Arc<Shared>>, Query(q): Query<RunsQuery>) -> ApiResult<Json<RunsPage>> {
    let (with_running, state) = match q.state.as_deref() {
        None => (q.cursor.is_none(), None),
        Some("running") => (true, None),
        Some(s) => match RunState::named(s) {
            Some(state) => (false, Some(state)),
            None => {
                return Err(bad(
                    format!("unknown run state `{s}`"),
                    "states: running, succeeded, failed, cancelled",
                ));
            }
        },
    };
    let running = if with_running {
        let now = chrono::Utc::now().timestamp_millis();
        let mut claims: Vec<Claim> = shared
            .catalog
            .running(now)
            .await?
            .into_iter()
            .filter(|c| q.dataset.as_deref().is_none_or(|d| c.key.dataset == d))
            .collect();
        claims.sort_by(|a, b| a.run_id.cmp(&b.run_id));
        claims
    } else {
        Vec::new()
    };
    if q.state.as_deref() == Some("running") {
        let partitions = keys(&shared, q.env.as_deref(), running.iter().map(|c| (&c.run_id, &c.key))).await;
        return Ok(Json(RunsPage {
            running,
            runs: Vec::new(),
            next: None,
            partitions,
        }));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let (dataset, partition) = match (&q.partition, &q.dataset) {
        (None, _) => (q.dataset, None),
        _ => {
            let env = q.env.as_deref().unwrap_or(weir_sched::env::PROD);
            let (ws, _) = shared.env(env).await?;
            weir_ops::runs_of(&ws, q.dataset.as_deref(), q.partition.as_deref())?
        }
    };
    let filter = RunFilter {
        partition,
        dataset,
        state,
        limit: Some(limit),
        after: q.cursor.as_deref().map(parse_cursor).transpose()?,
    };
    let mut runs = shared.catalog.runs(&filter).await?;
    // The log is its own route; a list carries no logs.
    for r in &mut runs {
        r.log.clear();
    }
    let next = (runs.len() == limit as usize)
        .then(|| runs.last().map(cursor_of))
        .flatten();
    let listed = running
        .iter()
        .map(|c| (&c.run_id, &c.key))
        .chain(runs.iter().map(|r| (&r.run_id, &r.key)));
    let partitions = keys(&shared, q.env.as_deref(), listed).await;
    Ok(Json(RunsPage {
        running,
        runs,
        next,
        partitions,
    }))
}

/// The partition keys of `runs`, read with `env`'s definitions (default
/// `prod`; none if it is not deployed).
async fn keys<'a>(
    shared: &Shared,
    env: Option<&str>,
    runs: impl Iterator<Item = (&'a String, &'a weir_catalog::InstanceKey)>,
) -> std::collections::BTreeMap<String, String> {
    let Ok((ws, _)) = shared.env(env.unwrap_or(weir_sched::env::PROD)).await else {
        return Default::default();
    };
    runs.filter_map(|(id, k)| Some((id.clone(), ws.project.partition_key(&k.dataset, k.partition)?)))
        .collect()
}

fn no_run(run_id: &str) -> ApiError {
    ApiError::not_found(format!("no run `{run_id}`"), "GET /api/v1/runs lists runs")
}

pub async fn run(State(shared): State<Arc<Shared>>, Path(run_id): Path<String>) -> ApiResult<Json<RunRecord>> {
    Ok(Json(shared.catalog.run(&run_id).await?.ok_or_else(|| no_run(&run_id))?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Stream a running run's output as it is written, to the run's end.
    #[serde(default)]
    follow: bool,
}

fn text(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The owner of the claim a running run holds, if it is running.
async fn claim_owner(shared: &Shared, run_id: &str) -> ApiResult<Option<String>> {
    let now = chrono::Utc::now().timestamp_millis();
    Ok(shared
        .catalog
        .running(now)
        .await?
        .into_iter()
        .find(|c| c.run_id == run_id)
        .map(|c| c.owner))
}

async fn claimed(shared: &Shared, run_id: &str) -> ApiResult<bool> {
    Ok(claim_owner(shared, run_id).await?.is_some())
}

/// Marks a request one server forwarded to another (never forwarded again).
const FORWARDED: &str = "x-weir-forwarded";

/// Forwards a log request to the server that runs the job (its address is
/// in the claim's owner), with the caller's credentials; `None` if it does
/// not answer, and the caller falls back to waiting for the record.
async fn forward(shared: &Shared, owner: &str, run_id: &str, follow: bool, headers: &HeaderMap) -> Option<Response> {
    let address = weir_sched::owner_address(owner)?;
    if address == shared.address || headers.contains_key(FORWARDED) {
        return None;
    }
    let mut req = shared
        .http
        .get(format!("{address}/api/v1/runs/{run_id}/log?follow={follow}"))
        .header(FORWARDED, "1");
    for name in [header::AUTHORIZATION, header::COOKIE] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v.clone());
        }
    }
    let resp = match req.send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            tracing::warn!(run_id, %address, status = %r.status(), "the run's server refused the log request");
            return None;
        }
        Err(e) => {
            tracing::warn!(run_id, %address, "the run's server does not answer: {e}");
            return None;
        }
    };
    let stream = futures::stream::unfold(resp, |mut r| async move {
        match r.chunk().await {
            Ok(Some(bytes)) => Some((Ok::<_, std::io::Error>(bytes), r)),
            _ => None,
        }
    });
    Some(text(Body::from_stream(stream)))
}

/// How often a follower of a run running in another process looks for its
/// record (its output is not visible from here until it is committed).
const ELSEWHERE_POLL: Duration = Duration::from_millis(500);

/// A run's log. A finished run's is its record's; a running run's is what
/// it has printed so far, or with `follow=true` a stream of its output as it
/// is written, which ends when the run does. A run that another server on
/// the catalog runs is forwarded to it; one that a `weir run` runs (no
/// address in its claim) is followed by waiting for its record.
pub async fn log(
    State(shared): State<Arc<Shared>>,
    Path(run_id): Path<String>,
    Query(q): Query<LogQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    use weir_ops::inspect::RunLog;
    let owner = match weir_ops::inspect::run_log(shared.catalog.as_ref(), &run_id).await? {
        RunLog::Finished(r) => return Ok(text(Body::from(r.log))),
        RunLog::Unknown => return Err(no_run(&run_id)),
        RunLog::Running { owner } => owner,
    };
    let live = shared.logs.follow(&run_id);
    // Running on another server: it streams the output.
    if live.is_none()
        && let Some(r) = forward(&shared, &owner, &run_id, q.follow, &headers).await
    {
        return Ok(r);
    }
    if !q.follow {
        return Ok(text(Body::from(live.map(|f| f.so_far()).unwrap_or_default())));
    }
    if let Some(follower) = live {
        let stream = futures::stream::unfold(follower, |mut f| async move {
            let chunk = f.next().await?;
            Some((Ok::<_, std::convert::Infallible>(chunk), f))
        });
        return Ok(text(Body::from_stream(stream)));
    }
    // Running elsewhere: its log arrives with its record.
    let stream = futures::stream::unfold(Some((shared, run_id)), |state| async move {
        let (shared, run_id) = state?;
        loop {
            match shared.catalog.run(&run_id).await {
                Ok(Some(r)) => return Some((Ok::<_, std::convert::Infallible>(r.log.into_bytes()), None)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("following run {run_id}: {e}");
                    return None;
                }
            }
            match claimed(&shared, &run_id).await {
                Ok(true) => tokio::time::sleep(ELSEWHERE_POLL).await,
                // Unclaimed and unrecorded: it ended without a record (its
                // process died); one last look, then the stream ends.
                _ => {
                    let last = shared.catalog.run(&run_id).await.ok().flatten()?;
                    return Some((Ok(last.log.into_bytes()), None));
                }
            }
        }
    });
    Ok(text(Body::from_stream(stream)))
}
