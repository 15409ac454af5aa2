//! The web pages, embedded in the binary: no build step, nothing to deploy beside it.
//!
//! Each asset carries an ETag (a hash of its bytes) and `Cache-Control: no-cache`:
//! browsers revalidate on every load and get `304 Not Modified` while the binary is
//! unchanged, and the new page at once after an upgrade, never an old script
//! talking to a new server.

use std::sync::LazyLock;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::secret::sha256_hex;

/// One embedded file.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: LazyLock<String>,
}

macro_rules! asset {
    ($path:literal, $ty:literal) => {
        Asset {
            body: include_str!($path),
            content_type: $ty,
            etag: LazyLock::new(|| format!("\"{}\"", &sha256_hex(include_str!($path))[..16])),
        }
    };
}

static INDEX_HTML: Asset = asset!("../assets/index.html", "text/html; charset=utf-8");
static APP_JS: Asset = asset!("../assets/app.js", "text/javascript; charset=utf-8");
static APP_CSS: Asset = asset!("../assets/app.css", "text/css; charset=utf-8");

/// The page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|h: HeaderMap| async move { serve(&INDEX_HTML, &h) }),
        )
        .route(
            "/static/app.js",
            get(|h: HeaderMap| async move { serve(&APP_JS, &h) }),
        )
        .route(
            "/static/app.css",
            get(|h: HeaderMap| async move { serve(&APP_CSS, &h) }),
        )
}

fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag =
        HeaderValue::from_str(&asset.etag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    let headers = [
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (ETAG, etag.clone()),
    ];
    if request.get(IF_NONE_MATCH).is_some_and(|v| v == etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        headers,
        [(CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
        asset.body,
    )
        .into_response()
}
