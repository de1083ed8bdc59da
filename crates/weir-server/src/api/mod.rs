//! `/api/v1`: the REST API. Handlers parse, call one operation of weir-ops,
//! and serialise its typed report; errors are `{"error": {code, message, hint}}`
//! with a proper status. Every mutating call is recorded in the audit log.

pub mod auth;
pub mod ingest;
pub mod openapi;
mod ops;
mod read;
mod runs;
pub(crate) mod select;
mod write;

use crate::Shared;
use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use serde::Serialize;
use std::sync::Arc;

/// The largest request body the API reads.
pub const MAX_BODY: usize = 1 << 20;
/// A deployment carries the project's definitions and scripts.
pub const MAX_DEPLOY_BODY: usize = 32 << 20;

/// An API error: status, a stable code, a message and what to do.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub hint: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    code: &'a str,
    message: &'a str,
    hint: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn not_found(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message, hint)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorInner {
                code: self.code,
                message: &self.message,
                hint: &self.hint,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<weir_ops::OpsError> for ApiError {
    fn from(e: weir_ops::OpsError) -> Self {
        use weir_ops::OpsError;
        match &e {
            OpsError::User(u) => {
                let missing = ["unknown ", "no "].iter().any(|p| u.message.starts_with(p))
                    || u.message.contains("is not a dataset of")
                    || u.message.contains("has no deployment");
                if missing {
                    Self::not_found(u.message.clone(), u.hint.clone())
                } else {
                    Self::new(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        u.message.clone(),
                        u.hint.clone(),
                    )
                }
            }
            OpsError::Catalog(
                weir_catalog::CatalogError::AliasMoved { .. } | weir_catalog::CatalogError::SplitMoved { .. },
            ) => Self::new(StatusCode::CONFLICT, "conflict", e.to_string(), "plan the move again"),
            OpsError::Invalid(d) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_definitions",
                d.to_string(),
                "the deployment's definitions do not validate; deploy a fixed version",
            ),
            _ => {
                tracing::error!("request failed: {e}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    e.to_string(),
                    "see the server's log",
                )
            }
        }
    }
}

impl From<weir_catalog::CatalogError> for ApiError {
    fn from(e: weir_catalog::CatalogError) -> Self {
        weir_ops::OpsError::from(e).into()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub use runs::RunsPage;

/// A comma-separated query value (`datasets=a,b`) as a list.
fn list(s: &Option<String>) -> Vec<String> {
    s.iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The handler of each row of the role table ([`auth::ROUTES`]). The router
/// is built from the table, so no route can exist outside it.
fn handler(method: &str, path: &str) -> Option<MethodRouter<Arc<Shared>>> {
    Some(match (method, path) {
        ("GET", "/healthz") => get(read::healthz),
        // The stream's own max_body applies (answered with 413).
        ("POST", "/ingest/{stream}") => post(ingest::ingest).layer(DefaultBodyLimit::disable()),
        ("POST", "/api/v1/session") => post(write::session),
        ("GET", "/api/v1/session") => get(write::whoami),
        ("DELETE", "/api/v1/session") => delete(write::logout),
        ("GET", "/metrics") => get(crate::metrics::render),
        ("GET", "/api/v1/openapi.json") => get(openapi::serve),
        ("GET", "/api/v1/project") => get(read::project),
        ("GET", "/api/v1/envs/{env}/status") => get(read::status),
        ("GET", "/api/v1/envs/{env}/datasets") => get(read::datasets),
        ("GET", "/api/v1/envs/{env}/deployments") => get(read::deployments),
        ("GET", "/api/v1/envs/{env}/aliases") => get(read::aliases),
        ("GET", "/api/v1/envs/{env}/grid") => get(read::grid),
        ("GET", "/api/v1/envs/{env}/aliases/{dataset}/history") => get(read::alias_history),
        ("GET", "/api/v1/events") => get(read::events),
        ("GET", "/api/v1/runs") => get(runs::runs),
        ("GET", "/api/v1/runs/{run_id}") => get(runs::run),
        ("GET", "/api/v1/runs/{run_id}/log") => get(runs::log),
        ("GET", "/api/v1/audit") => get(read::audit),
        ("GET", "/api/v1/tokens") => get(read::tokens),
        ("GET", "/api/v1/envs/{env}/plan") => get(ops::plan),
        ("GET", "/api/v1/envs/{env}/datasets/{dataset}/instance") => get(ops::instance),
        ("GET", "/api/v1/envs/{env}/trash") => get(ops::trash),
        ("POST", "/api/v1/sql") => post(ops::sql),
        ("GET", "/api/v1/envs/{env}/datasets/{dataset}/counters") => get(ops::counters),
        ("GET", "/api/v1/diff") => get(ops::diff),
        ("POST", "/api/v1/envs/{env}/runs") => post(write::request_run),
        ("POST", "/api/v1/envs/{env}/pause") => post(write::pause),
        ("POST", "/api/v1/envs/{env}/resume") => post(write::resume),
        ("POST", "/api/v1/envs/{env}/revert") => post(write::revert),
        ("POST", "/api/v1/envs/{env}/pin") => post(write::pin),
        ("POST", "/api/v1/envs/{env}/unpin") => post(write::unpin),
        ("POST", "/api/v1/envs/{env}/promote") => post(write::promote),
        ("POST", "/api/v1/runs/{run_id}/cancel") => post(write::cancel),
        ("POST", "/api/v1/envs/{env}/invalidate") => post(ops::invalidate),
        ("POST", "/api/v1/envs/{env}/accept") => post(ops::accept),
        ("POST", "/api/v1/envs/{env}/restore") => post(ops::restore),
        ("GET", "/api/v1/select/{selector}") => get(select::select),
        ("GET", "/api/v1/envs/{env}/selectors") => get(select::list),
        ("GET", "/api/v1/envs/{env}/selectors/{selector}") => get(select::show),
        ("GET", "/api/v1/envs/{env}/selectors/{selector}/measures") => get(select::measures),
        ("POST", "/api/v1/envs/{env}/selectors/{selector}/split") => post(select::set_split),
        ("POST", "/api/v1/envs/{env}/deploy") => post(ops::deploy).layer(DefaultBodyLimit::max(MAX_DEPLOY_BODY)),
        _ => return None,
    })
}

/// The router: every route of [`auth::ROUTES`], behind its role check.
pub fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new();
    for r in auth::ROUTES {
        match handler(r.method, r.path) {
            Some(h) => router = router.route(r.path, h),
            // A bug the unit test below catches; the route stays unserved.
            None => tracing::error!("{} {} is in the role table but has no handler", r.method, r.path),
        }
    }
    router
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), auth::enforce))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .fallback(|| async { ApiError::not_found("no such route", "the API lives under /api/v1; see /api/v1/project") })
        .with_state(shared)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_row_of_the_role_table_has_a_handler() {
        for r in super::auth::ROUTES {
            assert!(super::handler(r.method, r.path).is_some(), "{} {}", r.method, r.path);
        }
    }
}
