//! Selectors over HTTP: a unit's variant (`GET /api/v1/select/{selector}`),
//! the selectors' state and history, and split changes.

use super::write::audited;
use super::{ApiError, ApiResult};
use crate::Shared;
use crate::api::auth::Caller;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use weir_ops::selectors::{Selection, SelectorReport, SelectorState, SplitArgs, SplitReport};

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SelectQuery {
    /// The unit to assign (e.g. a user id).
    unit: Option<String>,
    /// `1`: answer with the artifact's bytes instead of JSON (headers
    /// `x-weir-variant`, `x-weir-dataset`, `x-weir-version`).
    artifact: Option<String>,
}

/// The environment selections answer from: the first one this server
/// serves (`prod` by default), whose deployment defines the streams too.
fn served_env(shared: &Shared) -> ApiResult<String> {
    shared
        .streams
        .env()
        .map(str::to_string)
        .ok_or_else(|| ApiError::not_found("this server serves no environment", "start it with --env prod"))
}

/// One unit's variant: the version its alias serves and where the artifact
/// is. Logged into the selector's assignments stream without waiting.
pub async fn select(
    State(shared): State<Arc<Shared>>,
    Path(selector): Path<String>,
    Query(q): Query<SelectQuery>,
) -> ApiResult<Response> {
    let env = served_env(&shared)?;
    let state = match shared.selectors.cached(&env, &selector) {
        Some(s) => s,
        None => {
            let (ws, _) = shared.env(&env).await?;
            shared.selectors.state(&ws, &env, &selector).await?
        }
    };
    let unit = q.unit.unwrap_or_default();
    let sel = weir_ops::selectors::choose(&state, &unit).map_err(|e| match e.as_user() {
        Some(u) if u.message.starts_with("no ") && !u.message.contains("variant") => ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            u.message.clone(),
            u.hint.clone(),
        ),
        Some(u) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_variant",
            u.message.clone(),
            u.hint.clone(),
        ),
        None => e.into(),
    })?;
    shared
        .assignments
        .record(&sel, state.log.as_deref(), shared.clock.now());
    if q.artifact.as_deref().is_some_and(|a| a == "1" || a == "true") {
        let bytes = shared.selectors.artifact(&state, &sel.variant).await?;
        let mut r = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )],
            bytes,
        )
            .into_response();
        for (name, value) in [
            ("x-weir-variant", sel.variant.clone()),
            ("x-weir-dataset", sel.dataset.clone()),
            ("x-weir-version", sel.version.to_string()),
            ("x-weir-partition", sel.partition.clone()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().insert(HeaderName::from_static(name), v);
            }
        }
        return Ok(r);
    }
    Ok(Json::<Selection>(sel).into_response())
}

/// Every selector of the environment: the split in force and what each
/// variant serves.
pub async fn list(State(shared): State<Arc<Shared>>, Path(env): Path<String>) -> ApiResult<Json<Vec<SelectorState>>> {
    let (ws, _) = shared.env(&env).await?;
    Ok(Json(weir_ops::selectors::states(&ws, &env).await?))
}

/// One selector: its state, the declared split, auto-promotion and the
/// history of its split.
pub async fn show(
    State(shared): State<Arc<Shared>>,
    Path((env, selector)): Path<(String, String)>,
) -> ApiResult<Json<SelectorReport>> {
    let (ws, _) = shared.env(&env).await?;
    Ok(Json(weir_ops::selectors::report(&ws, &env, &selector).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct MeasuresQuery {
    /// How many of the latest served days (default 30, at most 366).
    days: Option<usize>,
}

/// The selector's measuring dataset per variant and day (the dashboard's charts).
pub async fn measures(
    State(shared): State<Arc<Shared>>,
    Path((env, selector)): Path<(String, String)>,
    Query(q): Query<MeasuresQuery>,
) -> ApiResult<Json<weir_ops::selectors::measures::Measures>> {
    let (ws, _) = shared.env(&env).await?;
    let days = q.days.unwrap_or(30).clamp(1, 366);
    Ok(Json(
        weir_ops::selectors::measures::measures(&ws, &env, &selector, days).await?,
    ))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct SplitBody {
    /// Variant → percent, summing to 100; empty or absent: back to the declared split.
    #[serde(default)]
    split: BTreeMap<String, u32>,
    reason: Option<String>,
}

/// Changes the split (recorded in its history, audited).
pub async fn set_split(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((env, selector)): Path<(String, String)>,
    Json(b): Json<SplitBody>,
) -> ApiResult<Json<SplitReport>> {
    let args = serde_json::json!({ "env": env, "selector": selector, "split": b.split, "reason": b.reason });
    audited(&shared, &caller, "selector set", args, async {
        let (ws, _) = shared.env(&env).await?;
        let split: Vec<(String, u32)> = b.split.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let r = weir_ops::selectors::set_split(
            &ws,
            &env,
            &selector,
            SplitArgs {
                split,
                by: caller.actor.clone(),
                reason: b.reason.clone(),
                kind: "set".into(),
                after: None,
                owed: Vec::new(),
                now_ms: shared.clock.now().timestamp_millis(),
            },
        )
        .await?;
        Ok(Json(r))
    })
    .await
}
