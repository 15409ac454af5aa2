//! The web pages, embedded in the binary: no build step, nothing to deploy beside it.
//! `/` is the customer page (`index.html`, `app.js`, `app.css`); `/agent` is the
//! agent console (`agent.html`, `agent.js`, `agent.css`). Both load what they have in
//! common first (`common.css`, `common.js`).
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
static AGENT_HTML: Asset = asset!("../assets/agent.html", "text/html; charset=utf-8");
static AGENT_JS: Asset = asset!("../assets/agent.js", "text/javascript; charset=utf-8");
static AGENT_CSS: Asset = asset!("../assets/agent.css", "text/css; charset=utf-8");
static COMMON_JS: Asset = asset!("../assets/common.js", "text/javascript; charset=utf-8");
static CARD_CSS: Asset = asset!("../assets/card.css", "text/css; charset=utf-8");
static COMMON_CSS: Asset = asset!("../assets/common.css", "text/css; charset=utf-8");

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
            "/static/card.css",
            get(|h: HeaderMap| async move { serve(&CARD_CSS, &h) }),
        )
        .route(
            "/static/app.css",
            get(|h: HeaderMap| async move { serve(&APP_CSS, &h) }),
        )
        .route(
            "/agent",
            get(|h: HeaderMap| async move { serve(&AGENT_HTML, &h) }),
        )
        .route(
            "/static/agent.js",
            get(|h: HeaderMap| async move { serve(&AGENT_JS, &h) }),
        )
        .route(
            "/static/agent.css",
            get(|h: HeaderMap| async move { serve(&AGENT_CSS, &h) }),
        )
        .route(
            "/static/common.js",
            get(|h: HeaderMap| async move { serve(&COMMON_JS, &h) }),
        )
        .route(
            "/static/common.css",
            get(|h: HeaderMap| async move { serve(&COMMON_CSS, &h) }),
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::header::{CONTENT_SECURITY_POLICY, ETAG};
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::{Config, app, open_store};

    #[tokio::test]
    async fn the_agent_console_and_the_shared_files_are_served_like_the_customer_page() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let store = open_store(&config).await.unwrap();
        let app = app(AppState::new(config, store).unwrap());
        for (path, ty) in [
            ("/agent", "text/html"),
            ("/static/agent.js", "text/javascript"),
            ("/static/agent.css", "text/css"),
            ("/static/common.js", "text/javascript"),
            ("/static/common.css", "text/css"),
        ] {
            let get = || Request::get(path).body(Body::empty()).unwrap();
            let resp = app.clone().oneshot(get()).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let h = resp.headers();
            assert!(h[CONTENT_TYPE].to_str().unwrap().starts_with(ty), "{path}");
            assert_eq!(h[CACHE_CONTROL], "no-cache", "{path}");
            assert!(h.contains_key(CONTENT_SECURITY_POLICY), "{path}");
            let etag = h[ETAG].clone();
            let again = Request::get(path)
                .header(IF_NONE_MATCH, etag)
                .body(Body::empty())
                .unwrap();
            let resp = app.clone().oneshot(again).await.unwrap();
            assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{path}");
        }
    }

    /// The CSP allows no inline script or style: the pages must not need any.
    #[test]
    fn no_page_has_inline_script_style_or_handlers() {
        for page in [INDEX_HTML.body, AGENT_HTML.body] {
            let lower = page.to_ascii_lowercase();
            for (i, _) in lower.match_indices("<script") {
                let tag = &lower[i..i + lower[i..].find('>').unwrap()];
                assert!(tag.contains(" src="), "inline script: {tag}");
            }
            assert!(!lower.contains("<style"), "inline <style>");
            assert!(!lower.contains(" style="), "style attribute");
            assert!(!lower.contains(" onclick="), "inline handler");
            assert!(!lower.contains(" onload="), "inline handler");
        }
        for script in [APP_JS.body, AGENT_JS.body, COMMON_JS.body] {
            assert!(!script.contains("innerHTML"), "innerHTML in a script");
            assert!(!script.contains("setAttribute('style'"), "style attribute");
        }
    }

    /// The shared sheet and script go before the page's own, which build on them
    /// (both scripts are deferred: they run in the order they stand).
    #[test]
    fn each_page_loads_the_shared_files_first() {
        for (page, own) in [(INDEX_HTML.body, "app"), (AGENT_HTML.body, "agent")] {
            let at = |path: &str| {
                page.find(&format!("\"/static/{path}\""))
                    .unwrap_or_else(|| panic!("{own}: no {path}"))
            };
            assert!(at("common.css") < at(&format!("{own}.css")), "{own}");
            assert!(at("common.js") < at(&format!("{own}.js")), "{own}");
        }
    }
}
