//! Every form of a signed-in admin needs the session's CSRF token and a same-origin request.

use http::StatusCode;

use crate::helpers::{Browser, TestConsole, SERVER_URL};

/// Every form a signed-in admin can post, with fields that would otherwise be accepted.
const FORMS: &[(&str, &[(&str, &str)])] = &[
    ("/console/keys", &[("kind", "one-off"), ("expiry_days", "90")]),
    ("/console/settings", &[("node_key_expiry_days", "30")]),
    ("/console/settings/tokens", &[("expiry_days", "90")]),
    ("/console/keys/kAAAAAAAAAAAA/revoke", &[]),
    ("/console/settings/tokens/tAAAAAAAAAAAA/revoke", &[]),
    ("/console/machines/1/approve", &[]),
    ("/console/machines/1/delete", &[]),
    ("/console/machines/1/tags", &[("tags", "tag:web")]),
    ("/console/machines/1/expiry", &[("disabled", "true")]),
    ("/console/sign-out", &[]),
];

#[tokio::test]
async fn a_form_without_the_csrf_token_is_refused() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    for (path, fields) in FORMS {
        let reply = console.post(&browser, path, fields).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}: {}", reply.body);
        assert!(reply.body.contains("security token"), "{path}");
    }
    // Nothing happened.
    let keys = console.service.list_auth_keys(&keygate_service::Actor::Admin).await.unwrap();
    assert!(keys.valid.is_empty());
    assert!(console
        .service
        .list_api_tokens(&keygate_service::Actor::Admin)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_wrong_csrf_token_is_refused() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    for token in ["", "0", &"0".repeat(64), &browser.csrf[..63]] {
        let mut fields = vec![("csrf", token)];
        fields.extend_from_slice(FORMS[0].1);
        let reply = console.post(&browser, "/console/keys", &fields).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{token:?}");
    }
}

#[tokio::test]
async fn another_sessions_token_is_refused() {
    let console = TestConsole::new().await;
    let alice = console.signed_in().await;
    let mut bob = Browser::default();
    console.sign_in_as(&mut bob, crate::helpers::ADMIN, crate::helpers::PASSWORD).await;
    let mut fields = vec![("csrf", alice.csrf.as_str())];
    fields.extend_from_slice(FORMS[0].1);
    let reply = console.post(&bob, "/console/keys", &fields).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn cross_site_posts_are_refused_even_with_the_token() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let fields = [("csrf", browser.csrf.as_str()), ("kind", "one-off")];
    for headers in [
        &[("origin", "https://evil.example")][..],
        &[("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "same-site"), ("origin", SERVER_URL)][..],
        &[("origin", "null")][..],
    ] {
        let reply = console.post_with(&browser, "/console/keys", &fields, headers).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(reply.body.contains("sent from another site"), "{}", reply.body);
    }
    // Without Origin or Sec-Fetch-Site (not a browser), the token alone decides.
    let reply = console.post_with(&browser, "/console/keys", &fields, &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

#[tokio::test]
async fn the_sign_in_and_setup_forms_refuse_cross_site_posts() {
    let console = TestConsole::new().await;
    console.create_admin().await;
    let mut browser = Browser::default();
    let page = console.get(&browser, "/console/sign-in").await;
    browser.absorb(&page);
    let fields = [
        ("csrf", page.csrf()),
        ("name", "root".into()),
        ("password", crate::helpers::PASSWORD.into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let reply = console
        .post_with(&browser, "/console/sign-in", &fields, &[("origin", "https://evil.example")])
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = console
        .post_with(&browser, "/console/setup", &fields, &[("sec-fetch-site", "cross-site")])
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}
