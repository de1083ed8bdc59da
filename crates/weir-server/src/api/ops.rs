//! The API's faces of plan, show, deploy, invalidate, accept, restore and the
//! trash: each parses, calls one operation, serialises its report (and a
//! mutation is audited).

use super::auth::Caller;
use super::write::audited;
use super::{ApiError, ApiResult, list};
use crate::Shared;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanQuery {
    datasets: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    oldest_first: bool,
}

/// What would run in `env`, and why the rest cannot.
pub async fn plan(
    State(shared): State<Arc<Shared>>,
    Path(env): Path<String>,
    Query(q): Query<PlanQuery>,
) -> ApiResult<Json<weir_ops::inspect::PlanReport>> {
    let (ws, d) = shared.env(&env).await?;
    let now = shared.clock.now();
    let sel = weir_ops::selection(&list(&q.datasets), q.from.as_deref(), q.to.as_deref(), &ws.project)?;
    let sel = weir_ops::status::within_env(&ws, Some((&env, &d)), sel, now).await?;
    let order = if q.oldest_first {
        weir_core::planner::Order::OldestFirst
    } else {
        weir_core::planner::Order::NewestFirst
    };
    let r = weir_ops::inspect::plan(&ws, &sel, order, q.limit.unwrap_or(50).min(10_000), now).await?;
    Ok(Json(r))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstanceQuery {
    partition: Option<String>,
    version: Option<u32>,
}

/// One instance of a dataset (default: the newest complete partition of the
/// environment's version).
pub async fn instance(
    State(shared): State<Arc<Shared>>,
    Path((env, dataset)): Path<(String, String)>,
    Query(q): Query<InstanceQuery>,
) -> ApiResult<Json<weir_ops::inspect::InstanceReport>> {
    let (ws, _) = shared.env(&env).await?;
    Ok(Json(
        weir_ops::inspect::show(&ws, &dataset, q.partition.as_deref(), q.version).await?,
    ))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct DeployBody {
    /// Project-relative path → content: `weir.toml`, SQL files, scripts.
    files: Option<BTreeMap<String, String>>,
    /// Instead of `files`: deploy the definitions in the server's own
    /// project directory, as `weir deploy` there would.
    #[serde(default)]
    working_copy: bool,
    message: Option<String>,
    window: Option<String>,
}

/// Deploys the definitions in the body to `env`.
pub async fn deploy(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    Json(b): Json<DeployBody>,
) -> ApiResult<Json<weir_ops::deploy::DeployReport>> {
    let names: Vec<&String> = b.files.iter().flat_map(|f| f.keys()).collect();
    let args = serde_json::json!({
        "env": env, "files": names, "working_copy": b.working_copy, "message": b.message, "window": b.window
    });
    audited(&shared, &caller, "deploy", args, async {
        let files = match (&b.files, b.working_copy) {
            (Some(files), false) => files.clone(),
            (None, true) => weir_ops::deploy::files_in(&shared.dir)?,
            _ => {
                return Err(ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "bad_request",
                    "give either `files` or `working_copy: true`",
                    "`files` carries a project; `working_copy` deploys the server's own directory",
                ));
            }
        };
        let r = weir_ops::deploy::deploy(
            &shared.dir,
            shared.catalog.clone(),
            &env,
            b.window.as_deref(),
            b.message.clone(),
            files,
            shared.clock.now(),
        )
        .await?;
        shared.forget_envs().await;
        Ok(Json(r))
    })
    .await
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct InvalidateBody {
    dataset: String,
    version: Option<u32>,
    partition: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(default = "yes")]
    cascade: bool,
    #[serde(default)]
    dry_run: bool,
    reason: Option<String>,
}

fn yes() -> bool {
    true
}

/// Invalidates instances (with their consumers unless `cascade` is false);
/// `dry_run` previews.
pub async fn invalidate(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    Json(b): Json<InvalidateBody>,
) -> ApiResult<Json<weir_ops::invalidate::InvalidateReport>> {
    let args = serde_json::to_value(&b).unwrap_or_default();
    let op = async {
        let (ws, _) = shared.env(&env).await?;
        let (from, to) = match &b.partition {
            Some(p) => (Some(p.as_str()), Some(p.as_str())),
            None => (b.from.as_deref(), b.to.as_deref()),
        };
        let a = weir_ops::invalidate::InvalidateArgs {
            dataset: b.dataset.clone(),
            version: b.version,
            selection: weir_ops::selection(&[], from, to, &ws.project)?,
            cascade: b.cascade,
            dry_run: b.dry_run,
            reason: b.reason.clone(),
        };
        Ok(Json(
            weir_ops::invalidate::invalidate(&ws, &a, shared.clock.now()).await?,
        ))
    };
    if b.dry_run {
        return op.await;
    }
    audited(&shared, &caller, "invalidate", args, op).await
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct AcceptBody {
    dataset: String,
    partition: String,
    version: Option<u32>,
    reason: String,
}

/// Releases an instance a blocking check holds back, on the record.
pub async fn accept(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    Json(b): Json<AcceptBody>,
) -> ApiResult<Json<weir_ops::aliases::AcceptReport>> {
    let args = serde_json::to_value(&b).unwrap_or_default();
    audited(&shared, &caller, "accept", args, async {
        let (ws, d) = shared.env(&env).await?;
        let a = weir_ops::aliases::AcceptArgs {
            dataset: &b.dataset,
            partition: &b.partition,
            version: b.version,
            reason: &b.reason,
            by: &caller.actor,
        };
        Ok(Json(
            weir_ops::aliases::accept(&ws, Some((&env, &d)), &a, shared.clock.now()).await?,
        ))
    })
    .await
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct RestoreBody {
    trash_id: String,
}

/// Brings back what an invalidation removed.
pub async fn restore(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    Json(b): Json<RestoreBody>,
) -> ApiResult<Json<weir_ops::invalidate::RestoreReport>> {
    let args = serde_json::json!({ "env": env, "trash_id": b.trash_id });
    audited(&shared, &caller, "restore", args, async {
        let (ws, _) = shared.env(&env).await?;
        Ok(Json(
            weir_ops::invalidate::restore(&ws, &b.trash_id, shared.clock.now()).await?,
        ))
    })
    .await
}

/// What invalidations removed and `weir gc` has not deleted yet.
pub async fn trash(
    State(shared): State<Arc<Shared>>,
    Path(env): Path<String>,
) -> ApiResult<Json<Vec<weir_ops::invalidate::TrashEntry>>> {
    let (ws, _) = shared.env(&env).await?;
    Ok(Json(weir_ops::invalidate::trash(&ws).await?))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct SqlBody {
    /// A read-only query over what the environment serves (every served
    /// dataset is a table).
    query: String,
    /// The environment (default `prod`).
    env: Option<String>,
    /// `json` (default) or `arrow` (an Arrow IPC stream).
    format: Option<String>,
    /// At most this many rows (default 10,000; at most 1,000,000).
    limit: Option<usize>,
    /// Stop waiting after this many seconds (default 30; at most 300).
    timeout_s: Option<f64>,
}

/// The JSON answer of `POST /api/v1/sql`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SqlRows {
    /// The served tables the query could read.
    tables: Vec<String>,
    /// One object per row, column name → value.
    #[schema(value_type = Vec<Object>)]
    rows: serde_json::Value,
    /// Whether the row limit cut the answer.
    truncated: bool,
}

/// `weir sql` over HTTP: read-only, with a row limit and a time limit.
pub async fn sql(State(shared): State<Arc<Shared>>, Json(b): Json<SqlBody>) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let env = b.env.clone().unwrap_or_else(|| weir_sched::env::PROD.to_string());
    let (ws, _) = shared.env(&env).await?;
    let limit = b.limit.unwrap_or(10_000).clamp(1, 1_000_000);
    let timeout = std::time::Duration::from_secs_f64(b.timeout_s.unwrap_or(30.0).clamp(0.001, 300.0));
    let r = weir_ops::serving::sql_bounded(&ws, &env, &b.query, limit, timeout).await?;
    let bad = |e: weir_exec::ExecError| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
            "see the server's log",
        )
    };
    match b.format.as_deref().unwrap_or("json") {
        "json" => {
            let text = weir_exec::query::render(&r.batches, weir_exec::query::Render::Json).map_err(bad)?;
            let rows: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            Ok(Json(SqlRows {
                tables: r.tables,
                rows,
                truncated: r.truncated,
            })
            .into_response())
        }
        "arrow" => {
            let bytes = weir_exec::query::ipc(&r.batches).map_err(bad)?;
            let truncated = if r.truncated { "true" } else { "false" };
            Ok((
                [
                    (axum::http::header::CONTENT_TYPE, "application/vnd.apache.arrow.stream"),
                    (axum::http::HeaderName::from_static("x-weir-truncated"), truncated),
                ],
                bytes,
            )
                .into_response())
        }
        other => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "bad_request",
            format!("unknown format `{other}`"),
            "format: json or arrow",
        )),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountersQuery {
    /// A glob over counter names (`dropped.*`).
    name: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// A dataset's counters over its partitions.
pub async fn counters(
    State(shared): State<Arc<Shared>>,
    Path((env, dataset)): Path<(String, String)>,
    Query(q): Query<CountersQuery>,
) -> ApiResult<Json<weir_ops::inspect::CounterSeries>> {
    let (ws, _) = shared.env(&env).await?;
    let sel = weir_ops::selection(&[], q.from.as_deref(), q.to.as_deref(), &ws.project)?;
    Ok(Json(
        weir_ops::inspect::counters(&ws, &dataset, q.name.as_deref(), &sel).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    a: String,
    b: String,
    datasets: Option<String>,
    partition: Option<String>,
}

/// Two environments compared: versions, rows, schema, counters, checks, data.
pub async fn diff(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Vec<weir_ops::diff::DatasetDiff>>> {
    let args = weir_ops::diff::DiffArgs {
        a: q.a,
        b: q.b,
        datasets: list(&q.datasets),
        partition: q.partition,
    };
    Ok(Json(
        weir_ops::diff::diff(&shared.dir, shared.catalog.clone(), &args).await?,
    ))
}
