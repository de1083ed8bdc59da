//! The dashboard: static files compiled into the binary (no npm step), served
//! at `/` and `/assets/…`. The page reads only the public API (`/api/v1`),
//! with the session cookie or under `--public-read`; it holds no logic of
//! its own beyond drawing.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Each asset: its name under `/assets/`, its content type and its bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../dash/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../dash/api.js"),
    ),
    (
        "grid.js",
        "text/javascript; charset=utf-8",
        include_str!("../dash/grid.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_str!("../dash/pages.js"),
    ),
    (
        "lineage.js",
        "text/javascript; charset=utf-8",
        include_str!("../dash/lineage.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../dash/chart.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../dash/style.css"),
    ),
    ("icon.svg", "image/svg+xml", include_str!("../dash/icon.svg")),
];

const INDEX: &str = include_str!("../dash/index.html");

/// Only the page's own files run; nothing is framed or sent elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn page(content_type: &str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // A new binary may bring new files: the browser asks each time (they are
    // small, and come from memory).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ty, body)) => page(ty, body),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// The dashboard's routes: open to anyone, since the page holds no data; the
/// API calls it makes are checked as any other.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
        .route(
            "/favicon.ico",
            get(|| async { page("image/svg+xml", include_str!("../dash/icon.svg")) }),
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_asset_the_page_loads_is_served() {
        let all = super::ASSETS.iter().map(|(_, _, b)| *b).chain([super::INDEX]);
        for text in all {
            for part in text.split("/assets/").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_' || *c == '-')
                    .collect();
                assert!(
                    super::ASSETS.iter().any(|(n, _, _)| *n == name),
                    "/assets/{name} is referenced but not served"
                );
            }
        }
    }
}
