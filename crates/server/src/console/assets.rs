//! The console's stylesheet and script, embedded in the binary. Their URLs carry a digest of the
//! content, so browsers may cache them for a year and still see a new version at once.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use slipway_core::Sha256;

const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");

fn versioned(path: &str, content: &str) -> String {
    format!(
        "{path}?v={}",
        &Sha256::of(content.as_bytes()).to_hex()[..12]
    )
}

pub(super) fn css_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| versioned("/assets/console.css", CSS))
        .clone()
}

pub(super) fn js_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| versioned("/assets/console.js", JS))
        .clone()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

pub(super) async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}
