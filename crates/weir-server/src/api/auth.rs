//! Who may call what: the role table, and the middleware that enforces it.
//!
//! [`ROUTES`] is the one place roles meet routes: the router is built from
//! it (so no route exists outside it), a route missing from it would be
//! refused to everyone (deny by default), and a test calls every row with
//! every role. Tokens come in an `Authorization: Bearer` header, or in the
//! session cookie that `POST /api/v1/session` sets for browsers (GETs and the
//! event stream; a mutating call with the cookie also needs the CSRF header).
//! A token in a query string is refused: it would end up in logs.

use super::ApiError;
use crate::Shared;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use weir_ops::tokens::Role;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Open,
    /// A token whose role allows this one.
    Role(Role),
}

/// One route: its method, path, who may call it, and what it does (the
/// OpenAPI document is generated from this table).
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
}

const fn route(method: &'static str, path: &'static str, access: Access, summary: &'static str) -> Route {
    Route {
        method,
        path,
        access,
        summary,
    }
}

/// The role table.
pub const ROUTES: &[Route] = &[
    route(
        "POST",
        "/ingest/{stream}",
        Access::Role(Role::Ingest),
        "Post events to a stream (JSON lines or a JSON array); answered once they are durable. An ingest token for that stream, or an operator's.",
    ),
    route(
        "GET",
        "/healthz",
        Access::Open,
        "Liveness and the environments this server schedules.",
    ),
    route(
        "POST",
        "/api/v1/session",
        Access::Open,
        "Trade a token for an HttpOnly session cookie (and the CSRF value).",
    ),
    route(
        "GET",
        "/api/v1/session",
        Access::Open,
        "Who the caller is (nobody, without a valid token or cookie): actor, role, and the CSRF value of a session cookie.",
    ),
    route(
        "DELETE",
        "/api/v1/session",
        Access::Open,
        "End a browser session: the session cookie is cleared.",
    ),
    route("GET", "/metrics", Access::Role(Role::Viewer), "Prometheus metrics."),
    route(
        "GET",
        "/api/v1/openapi.json",
        Access::Role(Role::Viewer),
        "This document.",
    ),
    route(
        "GET",
        "/api/v1/project",
        Access::Role(Role::Viewer),
        "The environments: latest deployment, scheduler state, pauses.",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/status",
        Access::Role(Role::Viewer),
        "Per dataset: complete, missing, waiting, failed, blocked, late, paused, serving.",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/datasets",
        Access::Role(Role::Viewer),
        "The datasets in lineage order: definition in short, inputs and consumers, deployed version, alias, every version.",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/deployments",
        Access::Role(Role::Viewer),
        "The environment's deploy history, newest first (versions, window, message; no files).",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/aliases",
        Access::Role(Role::Viewer),
        "The environment's aliases (the versions consumers read).",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/grid",
        Access::Role(Role::Viewer),
        "The status grid: datasets × time cells with the worst state, counts and reasons.",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/aliases/{dataset}/history",
        Access::Role(Role::Viewer),
        "Every move of one alias, oldest first.",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/datasets/{dataset}/counters",
        Access::Role(Role::Viewer),
        "A dataset's counters over its partitions (name=glob, from, to).",
    ),
    route(
        "GET",
        "/api/v1/diff",
        Access::Role(Role::Viewer),
        "Two environments compared (a, b, datasets, partition): versions, rows, schema, counters, checks, data.",
    ),
    route(
        "POST",
        "/api/v1/sql",
        Access::Role(Role::Viewer),
        "A read-only SQL query over what an environment serves (JSON or Arrow IPC), with row and time limits.",
    ),
    route(
        "GET",
        "/api/v1/events",
        Access::Role(Role::Viewer),
        "Server-sent events: the catalog's changes as they happen (resume with Last-Event-ID).",
    ),
    route(
        "GET",
        "/api/v1/runs",
        Access::Role(Role::Viewer),
        "Runs, newest first, paged with a cursor (dataset, state, limit, cursor); the first page also lists the runs in progress.",
    ),
    route(
        "GET",
        "/api/v1/runs/{run_id}",
        Access::Role(Role::Viewer),
        "One run: counters, metrics, checks, log tail.",
    ),
    route(
        "GET",
        "/api/v1/runs/{run_id}/log",
        Access::Role(Role::Viewer),
        "A run's log, as text; follow=true streams a running run's output until it ends.",
    ),
    route(
        "GET",
        "/api/v1/audit",
        Access::Role(Role::Viewer),
        "The audit log, newest first, paged by `before`.",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/plan",
        Access::Role(Role::Viewer),
        "What would run, and why the rest cannot.",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/datasets/{dataset}/instance",
        Access::Role(Role::Viewer),
        "One instance: files, rows, counters, checks, profile, lineage.",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/trash",
        Access::Role(Role::Viewer),
        "What invalidations removed and gc has not deleted.",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/invalidate",
        Access::Role(Role::Operator),
        "Invalidate instances and what was built from them (dry_run previews).",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/accept",
        Access::Role(Role::Operator),
        "Release an instance a blocking check holds back, on the record.",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/restore",
        Access::Role(Role::Operator),
        "Bring back what an invalidation removed.",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/deploy",
        Access::Role(Role::Admin),
        "Deploy the definitions in the body.",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/runs",
        Access::Role(Role::Operator),
        "Plan now.",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/pause",
        Access::Role(Role::Operator),
        "Pause a dataset, or the whole environment.",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/resume",
        Access::Role(Role::Operator),
        "Resume a dataset, or the whole environment.",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/revert",
        Access::Role(Role::Operator),
        "Move aliases back to their previous version and pin them.",
    ),
    route(
        "GET",
        "/api/v1/select/{selector}",
        Access::Role(Role::Viewer),
        "A unit's variant (?unit=…): the version its alias serves in the served environment and the artifact's location; &artifact=1 answers with the artifact's bytes. Logged into the selector's assignments stream.",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/selectors",
        Access::Role(Role::Viewer),
        "Every selector: the split in force and what each variant serves.",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/selectors/{selector}",
        Access::Role(Role::Viewer),
        "One selector: its state, the declared split, auto-promotion, and the history of its split.",
    ),
    route(
        "GET",
        "/api/v1/envs/{env}/selectors/{selector}/measures",
        Access::Role(Role::Viewer),
        "The selector's measuring dataset (its auto dataset) per variant over the latest served days (?days=30): the numbers behind the dashboard's charts.",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/selectors/{selector}/split",
        Access::Role(Role::Operator),
        "Change a selector's split (recorded in its history); an empty split goes back to the declared one.",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/pin",
        Access::Role(Role::Operator),
        "Pin an alias.",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/unpin",
        Access::Role(Role::Operator),
        "Unpin an alias.",
    ),
    route(
        "POST",
        "/api/v1/runs/{run_id}/cancel",
        Access::Role(Role::Operator),
        "Cancel a running run.",
    ),
    route(
        "POST",
        "/api/v1/envs/{env}/promote",
        Access::Role(Role::Admin),
        "Deploy this environment's definitions to another (default prod).",
    ),
    route(
        "GET",
        "/api/v1/tokens",
        Access::Role(Role::Admin),
        "Every token's name, role and state (never the token).",
    ),
];

/// The caller, as the middleware established it (a request extension).
#[derive(Clone, Debug)]
pub struct Caller {
    /// `token:NAME`, or `anonymous` under `--public-read`.
    pub actor: String,
    pub role: Option<Role>,
    /// For an `ingest` token: the streams it may post to.
    pub streams: Vec<String>,
}

pub const SESSION_COOKIE: &str = "weir_session";
pub const CSRF_HEADER: &str = "x-weir-csrf";

/// The CSRF value that goes with a session token (stateless: derived from it).
pub fn csrf_for(token: &str) -> String {
    hex::encode(&Sha256::digest(format!("weir-csrf:{token}").as_bytes())[..16])
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

pub(super) fn session(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

/// Enforces [`ROUTES`] on every routed request.
pub async fn enforce(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    if req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|kv| matches!(kv.split('=').next(), Some("token" | "access_token")))
    }) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "token_in_query",
            "tokens are not accepted in the query string",
            "send it as `Authorization: Bearer TOKEN` (query strings end up in logs)",
        ));
    }
    let path = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let method = req.method().clone();
    let access = path
        .as_deref()
        .and_then(|p| ROUTES.iter().find(|r| r.path == p && r.method == method.as_str()))
        .map(|r| r.access);
    let Some(access) = access else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "no_access",
            "this route is not in the role table",
            "a bug: every route must be listed in weir-server's role table",
        ));
    };
    let needed = match access {
        Access::Open => {
            req.extensions_mut().insert(Caller {
                actor: "anonymous".into(),
                role: None,
                streams: Vec::new(),
            });
            return Ok(next.run(req).await);
        }
        Access::Role(r) => r,
    };
    let headers = req.headers();
    let (presented, by_cookie) = match (bearer(headers), session(headers)) {
        (Some(t), _) => (Some(t.to_string()), false),
        (None, Some(t)) => (Some(t.to_string()), true),
        (None, None) => (None, false),
    };
    let caller = match presented {
        // Viewer routes only read (POST /api/v1/sql included).
        None if shared.public_read && needed == Role::Viewer => Caller {
            actor: "anonymous".into(),
            role: Some(Role::Viewer),
            streams: Vec::new(),
        },
        None => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "this route needs a token",
                "send `Authorization: Bearer TOKEN`; `weir token create` makes one",
            ));
        }
        Some(token) => {
            if by_cookie && method != Method::GET {
                let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
                if !bool::from(sent.as_bytes().ct_eq(csrf_for(&token).as_bytes())) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "csrf",
                        "a call made with the session cookie needs the CSRF header",
                        format!("send `{CSRF_HEADER}` with the value POST /api/v1/session returned"),
                    ));
                }
            }
            let now = chrono::Utc::now().timestamp_millis();
            let record = shared
                .tokens
                .verify(shared.catalog.as_ref(), &token, now)
                .await
                .map_err(ApiError::from)?;
            let Some(record) = record else {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "bad_token",
                    "the token is unknown, expired or revoked",
                    "`weir token list` shows the tokens; create a new one with `weir token create`",
                ));
            };
            Caller {
                actor: format!("token:{}", record.name),
                role: Role::parse(&record.role),
                streams: record.streams,
            }
        }
    };
    if !caller.role.is_some_and(|r| r.allows(needed)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this route needs the {} role; {} has {}",
                needed.as_str(),
                caller.actor,
                caller.role.map_or("none", Role::as_str)
            ),
            "ask an admin for a token with that role",
        ));
    }
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}
