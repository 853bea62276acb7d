//! Security headers, static assets, escaping, and unknown pages.

use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_FRAME_OPTIONS,
};
use http::StatusCode;
use keygate_service::{Actor, NewKeyRequest};

use crate::helpers::{Browser, TestConsole};

#[tokio::test]
async fn every_page_has_the_security_headers_and_is_not_cached() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    for path in [
        "/console/sign-in",
        "/console/keys",
        "/console/machines",
        "/console/settings",
        "/console/nope",
    ] {
        let reply = console.get(&browser, path).await;
        let csp = reply.headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(reply.headers[X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(reply.headers[REFERRER_POLICY], "same-origin", "{path}");
        assert_eq!(reply.headers[CACHE_CONTROL], "no-store", "{path}");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{path}");
    }
}

#[tokio::test]
async fn pages_have_no_inline_script_or_style() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    for path in ["/console/keys", "/console/machines", "/console/settings"] {
        let body = console.get(&browser, path).await.body;
        assert!(
            !body.contains("<script>") && !body.contains("style=") && !body.contains("onclick"),
            "{path}"
        );
        assert!(body.contains(r#"<script src="/console/static/console.js"#), "{path}");
    }
}

#[tokio::test]
async fn assets_are_served_from_the_binary() {
    let console = TestConsole::new().await;
    let nobody = Browser::default();
    for (file, kind) in [
        ("console.css", "text/css"),
        ("console.js", "text/javascript"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let reply = console.get(&nobody, &format!("/console/static/{file}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{file}");
        assert!(reply.headers[CONTENT_TYPE].to_str().unwrap().starts_with(kind), "{file}");
        assert!(reply.headers[CACHE_CONTROL].to_str().unwrap().contains("max-age"), "{file}");
        assert!(!reply.body.is_empty());
    }
    let missing = console.get(&nobody, "/console/static/../Cargo.toml").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn text_from_users_is_escaped() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let request = NewKeyRequest {
        description: "<img src=x onerror=alert(1)>".into(),
        ..NewKeyRequest::default()
    };
    console.service.create_auth_key(&Actor::Admin, request).await.unwrap();
    let page = console.get(&browser, "/console/keys").await;
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    assert!(
        page.body.contains("&#60;img src=x onerror=alert(1)&#62;")
            || page.body.contains("&lt;img src=x"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn unknown_console_pages_are_404_pages() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let reply = console.get(&browser, "/console/does-not-exist").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body.contains("Not found"));
}
