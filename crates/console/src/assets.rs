//! The stylesheet, script and icon, compiled into the binary.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};

use crate::error::ConsoleError;

/// An embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../static/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/console.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../static/favicon.svg"),
    },
];

/// `GET /console/static/{file}`. Pages link assets with `?v=<version>`, so a day of caching
/// never serves a new page an old stylesheet.
pub(crate) async fn serve(Path(file): Path<String>) -> Result<Response, ConsoleError> {
    let asset = ASSETS.iter().find(|a| a.name == file).ok_or(ConsoleError::NotFound)?;
    Ok(([(CONTENT_TYPE, asset.content_type), (CACHE_CONTROL, "public, max-age=86400")], asset.body)
        .into_response())
}
