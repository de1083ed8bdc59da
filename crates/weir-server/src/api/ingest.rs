//! `POST /ingest/<stream>`: the HTTP collector. The answer (200) comes only
//! once the events are durable in the stream's log; on any error nothing of
//! the request was stored, and the producer sends it again.

use super::auth::Caller;
use super::{ApiError, ApiResult};
use crate::Shared;
use crate::streams::IntakeError;
use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use weir_ops::tokens::Role;

/// What became of a request's events, once they are durable.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IngestReply {
    /// Events kept (late ones included).
    pub accepted: usize,
    /// Of those, behind the watermark: in the partition of their arrival, flagged `late`.
    pub late: usize,
    /// Copies of an event already taken (by `id`): counted, not kept again.
    pub duplicate: usize,
    /// Malformed events, kept in `<stream>__quarantine` with the reason.
    pub quarantined: usize,
}

/// A refusal the producer should retry after `wait`.
fn retry_later(status: StatusCode, code: &'static str, message: String, hint: String, wait: Duration) -> Response {
    let mut r = ApiError::new(status, code, message, hint).into_response();
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

pub async fn ingest(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(stream): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    if caller.role == Some(Role::Ingest) && !caller.streams.contains(&stream) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{} may not post to stream `{stream}`", caller.actor),
            "create an ingest token for it: `weir token create --role ingest --stream STREAM`",
        ));
    }
    let streams = &shared.streams;
    let max_body = streams.max_body(&stream).map_err(|e| intake_error(&stream, e))?;
    if !streams.is_active() {
        return Ok(not_leader(&shared).await);
    }
    let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body is over stream `{stream}`'s max_body of {max_body} bytes; nothing was stored"),
                "send fewer events per request, or raise `max_body` in the stream's definition",
            ));
        }
    };
    let events = weir_stream::split_body(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("{e}; nothing was stored"),
            "send JSON lines (one event per line) or one JSON array of events",
        )
    })?;
    if let Err(wait) = streams.admit(&caller.actor, events.len()) {
        return Ok(retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("{} is over its rate of events; nothing was stored", caller.actor),
            "retry after the Retry-After seconds, or ask for a higher --ingest-rate".into(),
            wait,
        ));
    }
    let s = match streams.get(&stream).await {
        Ok(s) => s,
        Err(IntakeError::NotLeader) => return Ok(not_leader(&shared).await),
        Err(e) => return Err(intake_error(&stream, e)),
    };
    match s.ingest(&events, streams.now_ms()).await {
        Ok(report) => {
            shared.metrics.ingested(&stream, &report);
            Ok(Json(IngestReply {
                accepted: report.accepted,
                late: report.late,
                duplicate: report.duplicate,
                quarantined: report.quarantined,
            })
            .into_response())
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(stream = %stream, "refused events: {e}");
            Ok(retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the events could not be made durable: {e}; nothing was stored"),
                "send them again after Retry-After".into(),
                Duration::from_secs(1),
            ))
        }
        Err(e) => Err(intake_error(&stream, e.into())),
    }
}

fn intake_error(stream: &str, e: IntakeError) -> ApiError {
    match e {
        IntakeError::Unknown(_) => ApiError::not_found(
            e.to_string(),
            format!(
                "declare [datasets.{stream}] with `stream = {{ … }}` and deploy it to the environment this server serves first"
            ),
        ),
        other => {
            tracing::error!(stream, "intake failed: {other}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("{other}; nothing was stored"),
                "see the server's log",
            )
        }
    }
}

/// 503 from a follower, naming the leader when the catalog knows it.
async fn not_leader(shared: &Shared) -> Response {
    let now = chrono::Utc::now().timestamp_millis();
    let leader = match shared.catalog.leader(crate::lead::ROLE, now).await {
        Ok(Some(holder)) => holder.split_once('@').map(|(_, a)| a.to_string()),
        _ => None,
    };
    let hint = match &leader {
        Some(a) => format!("post to the leader at {a}"),
        None => "no server leads right now; retry after Retry-After".into(),
    };
    let mut r = retry_later(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_leader",
        "this server is not the leader; only the leader takes events".into(),
        hint,
        Duration::from_secs(1),
    );
    if let Some(v) = leader.and_then(|a| HeaderValue::from_str(&a).ok()) {
        r.headers_mut().insert("x-weir-leader", v);
    }
    r
}
