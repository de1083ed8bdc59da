//! Mutating endpoints. Each calls one operation of weir-ops (never a copy of
//! its rule) and records the call, its arguments and its outcome in the
//! audit log, under the token's name.

use super::auth::{CSRF_HEADER, Caller, SESSION_COOKIE, csrf_for};
use super::{ApiError, ApiResult};
use crate::Shared;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Runs `op`, then records it in the audit log with its outcome.
pub(super) async fn audited<T>(
    shared: &Shared,
    caller: &Caller,
    action: &str,
    args: serde_json::Value,
    op: impl Future<Output = ApiResult<T>>,
) -> ApiResult<T> {
    let result = op.await;
    // A mutation may change what a selector's variants serve, or its split:
    // the very next selection resolves again.
    shared.selectors.invalidate();
    let outcome = match &result {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{} {}: {}", e.status.as_u16(), e.code, e.message)),
    };
    let now = chrono::Utc::now().timestamp_millis();
    if let Err(e) = weir_ops::control::audit(
        shared.catalog.as_ref(),
        &caller.actor,
        "api",
        action,
        &args,
        outcome,
        now,
    )
    .await
    {
        tracing::error!("cannot record `{action}` in the audit log: {e}");
    }
    result
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SessionBody {
    token: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionReply {
    actor: String,
    role: String,
    /// Send this in the `x-weir-csrf` header with mutating calls made with the cookie.
    csrf: String,
    csrf_header: &'static str,
}

/// Trades a token for an HttpOnly, SameSite=Strict session cookie (browsers
/// cannot put a token in a header for page loads or EventSource).
pub async fn session(State(shared): State<Arc<Shared>>, Json(b): Json<SessionBody>) -> ApiResult<impl IntoResponse> {
    let now = chrono::Utc::now().timestamp_millis();
    let Some(record) = shared.tokens.verify(shared.catalog.as_ref(), &b.token, now).await? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "the token is unknown, expired or revoked",
            "create one with `weir token create`",
        ));
    };
    let max_age = record
        .expires_at_ms
        .map_or(12 * 3600, |e| ((e - now) / 1000).clamp(0, 12 * 3600));
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{}",
        b.token,
        if shared.https { "; Secure" } else { "" }
    );
    let reply = SessionReply {
        actor: format!("token:{}", record.name),
        role: record.role,
        csrf: csrf_for(&b.token),
        csrf_header: CSRF_HEADER,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(reply)))
}

/// Who is calling, for the dashboard.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// `token:NAME`, `anonymous` under `--public-read`, or none: nobody is
    /// signed in.
    actor: Option<String>,
    /// `viewer`, `operator`, `admin`, … (none for nobody).
    role: Option<String>,
    /// With a session cookie: the value to send in `csrf_header` with
    /// mutating calls.
    csrf: Option<String>,
    csrf_header: &'static str,
}

/// Who the caller is: the dashboard asks on load (it may hold the HttpOnly
/// cookie but not the CSRF value that goes with it). Open to anyone, so that
/// asking is never an error; it says nothing but whether the caller's own
/// token is valid.
pub async fn whoami(State(shared): State<Arc<Shared>>, headers: axum::http::HeaderMap) -> ApiResult<Json<SessionInfo>> {
    let cookie = super::auth::session(&headers);
    let presented = super::auth::bearer(&headers).or(cookie);
    let now = chrono::Utc::now().timestamp_millis();
    let record = match presented {
        Some(t) => shared.tokens.verify(shared.catalog.as_ref(), t, now).await?,
        None => None,
    };
    let (actor, role) = match &record {
        Some(r) => (Some(format!("token:{}", r.name)), Some(r.role.clone())),
        None if shared.public_read => (Some("anonymous".to_string()), Some("viewer".to_string())),
        None => (None, None),
    };
    Ok(Json(SessionInfo {
        actor,
        role,
        csrf: cookie.filter(|_| record.is_some()).map(csrf_for),
        csrf_header: CSRF_HEADER,
    }))
}

/// Ends a browser session: the cookie is cleared (the token stays valid;
/// `weir token revoke` ends it).
pub async fn logout(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let cookie = format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if shared.https { "; Secure" } else { "" }
    );
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)])
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunRequested {
    env: String,
    /// Whether this server runs the environment's scheduler (otherwise the
    /// request waits for a server that does).
    served: bool,
}

/// Asks the environment's scheduler to plan now.
pub async fn request_run(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
) -> ApiResult<(StatusCode, Json<RunRequested>)> {
    let args = serde_json::json!({ "env": env });
    audited(&shared, &caller, "run", args, async {
        if shared.catalog.deployments(Some(&env)).await?.is_empty() {
            return Err(ApiError::not_found(
                format!("unknown environment `{env}`"),
                "deploy it first: `weir deploy --env ENV`",
            ));
        }
        let h = shared.envs.get(&env);
        if let Some(h) = h {
            h.refresh();
        }
        Ok((
            StatusCode::ACCEPTED,
            Json(RunRequested {
                env: env.clone(),
                served: h.is_some(),
            }),
        ))
    })
    .await
}

#[derive(Deserialize, Serialize, Default, utoipa::ToSchema)]
pub struct PauseBody {
    dataset: Option<String>,
    reason: Option<String>,
}

async fn set_paused(
    shared: &Shared,
    caller: &Caller,
    env: &str,
    b: PauseBody,
    pause: bool,
) -> ApiResult<Json<weir_ops::control::PauseReport>> {
    let args = serde_json::json!({ "env": env, "dataset": b.dataset, "reason": b.reason });
    audited(shared, caller, if pause { "pause" } else { "resume" }, args, async {
        let now = chrono::Utc::now().timestamp_millis();
        let r = weir_ops::control::set_paused(
            shared.catalog.as_ref(),
            env,
            b.dataset.as_deref(),
            pause,
            &caller.actor,
            b.reason.as_deref(),
            now,
        )
        .await?;
        Ok(Json(r))
    })
    .await
}

pub async fn pause(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    body: Option<Json<PauseBody>>,
) -> ApiResult<Json<weir_ops::control::PauseReport>> {
    set_paused(&shared, &caller, &env, body.map(|b| b.0).unwrap_or_default(), true).await
}

pub async fn resume(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    body: Option<Json<PauseBody>>,
) -> ApiResult<Json<weir_ops::control::PauseReport>> {
    set_paused(&shared, &caller, &env, body.map(|b| b.0).unwrap_or_default(), false).await
}

pub async fn cancel(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(run_id): Path<String>,
) -> ApiResult<Json<weir_ops::control::CancelReport>> {
    let args = serde_json::json!({ "run": run_id });
    audited(&shared, &caller, "cancel", args, async {
        let now = chrono::Utc::now().timestamp_millis();
        Ok(Json(
            weir_ops::control::cancel(shared.catalog.as_ref(), &run_id, &caller.actor, now).await?,
        ))
    })
    .await
}

#[derive(Deserialize, Serialize, Default, utoipa::ToSchema)]
pub struct RevertBody {
    #[serde(default)]
    datasets: Vec<String>,
    #[serde(default)]
    all: bool,
    reason: Option<String>,
}

pub async fn revert(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    Json(b): Json<RevertBody>,
) -> ApiResult<Json<weir_ops::aliases::AliasReport>> {
    let args = serde_json::json!({ "env": env, "datasets": b.datasets, "all": b.all, "reason": b.reason });
    audited(&shared, &caller, "revert", args, async {
        let (ws, _) = shared.env(&env).await?;
        let a = weir_ops::aliases::RevertArgs {
            datasets: b.datasets.clone(),
            all: b.all,
            reason: b.reason.clone(),
        };
        Ok(Json(
            weir_ops::aliases::revert(&ws, &env, &a, shared.clock.now()).await?,
        ))
    })
    .await
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct PinBody {
    dataset: String,
    version: Option<u32>,
    reason: Option<String>,
}

pub async fn pin(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    Json(b): Json<PinBody>,
) -> ApiResult<Json<weir_ops::aliases::AliasReport>> {
    let args = serde_json::json!({ "env": env, "dataset": b.dataset, "version": b.version, "reason": b.reason });
    audited(&shared, &caller, "pin", args, async {
        let (ws, _) = shared.env(&env).await?;
        let r = weir_ops::aliases::pin(&ws, &env, &b.dataset, b.version, b.reason.clone(), shared.clock.now()).await?;
        Ok(Json(r))
    })
    .await
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct UnpinBody {
    dataset: String,
}

pub async fn unpin(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    Json(b): Json<UnpinBody>,
) -> ApiResult<Json<weir_ops::aliases::AliasReport>> {
    let args = serde_json::json!({ "env": env, "dataset": b.dataset });
    audited(&shared, &caller, "unpin", args, async {
        let (ws, d) = shared.env(&env).await?;
        Ok(Json(
            weir_ops::aliases::unpin(&ws, &env, &d, &b.dataset, shared.clock.now()).await?,
        ))
    })
    .await
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct PromoteBody {
    /// The environment to promote into (default `prod`).
    to: Option<String>,
}

pub async fn promote(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    body: Option<Json<PromoteBody>>,
) -> ApiResult<Json<weir_ops::aliases::PromoteReport>> {
    let to = body
        .and_then(|b| b.0.to)
        .unwrap_or_else(|| weir_sched::env::PROD.to_string());
    let args = serde_json::json!({ "from": env, "to": to });
    audited(&shared, &caller, "promote", args, async {
        let r = weir_ops::aliases::promote(&shared.dir, shared.catalog.clone(), &env, &to, shared.clock.now()).await?;
        shared.forget_envs().await;
        Ok(Json(r))
    })
    .await
}
