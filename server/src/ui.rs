//! The web UI at `/`: a few embedded files (HTML, CSS, vanilla JavaScript; no build step)
//! that read spandb's own API, Tempo's search and metrics endpoints, and draw the renderer's
//! SVGs (docs/HTTP.md, "Web UI"). The trace page is the `spandb trace --output html`
//! waterfall with its data fetched instead of inlined.
//!
//! The pages hold no data, so they are served without the bearer token; the data they fetch
//! is behind it as usual. With a token configured the UI asks for it once, keeps it in the
//! browser's localStorage and sends it as `Authorization: Bearer`. Every page carries a
//! Content-Security-Policy allowing only this origin: no script, style, image or connection
//! can reach another host, and no inline script runs.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use spandb::render::trace_html;

use crate::http::AppState;

/// Only this origin; inline styles (the waterfall positions its rows with them) but no
/// inline scripts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

const INDEX_HTML: &str = include_str!("ui/index.html");
const APP_JS: &str = include_str!("ui/app.js");
const APP_CSS: &str = include_str!("ui/app.css");
const TRACE_LOADER_JS: &str = include_str!("ui/trace_loader.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { page(INDEX_HTML.to_owned()) }))
        .route("/ui", get(|| async { page(INDEX_HTML.to_owned()) }))
        .route("/ui/", get(|| async { page(INDEX_HTML.to_owned()) }))
        .route("/ui/trace/{id}", get(trace_page))
        .route("/ui/assets/{name}", get(asset))
}

fn with_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn page(html: String) -> Response {
    with_headers(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

/// `/ui/trace/{id}`: the waterfall page without its data; `trace_loader.js` fetches it from
/// `/api/spandb/traces/{id}/waterfall` (with the token) and then runs the page's script.
async fn trace_page(Path(_id): Path<String>) -> Response {
    page(trace_html::trace_html_shell(
        "/ui/assets/trace.css",
        "/ui/assets/trace_loader.js",
    ))
}

async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "trace_loader.js" => (TRACE_LOADER_JS, "text/javascript; charset=utf-8"),
        "trace.js" => (trace_html::TRACE_HTML_JS, "text/javascript; charset=utf-8"),
        "trace.css" => (trace_html::TRACE_HTML_CSS, "text/css; charset=utf-8"),
        _ => return with_headers((StatusCode::NOT_FOUND, "not found").into_response()),
    };
    with_headers(([(header::CONTENT_TYPE, content_type)], body).into_response())
}
