//! Signing in and out: sessions, wrong passwords, the lockout, and pages without a session.

use std::time::Duration;

use http::StatusCode;
use keygate_service::CONSOLE_SESSION_LIFETIME;

use crate::helpers::{assert_sign_in_redirect, Browser, TestConsole, ADMIN, PASSWORD};

#[tokio::test]
async fn pages_without_a_session_redirect_to_sign_in_and_come_back() {
    let console = TestConsole::new().await;
    let nobody = Browser::default();
    for path in [
        "/console/machines",
        "/console/keys",
        "/console/settings",
        "/console/keys/kAAAAAAAAAAAA/revoke",
        "/console/machines/1/delete",
        "/console/settings/tokens/tAAAAAAAAAAAA/revoke",
    ] {
        let reply = console.get(&nobody, path).await;
        assert_sign_in_redirect(&reply);
        let next = path.replace('/', "%2F");
        assert_eq!(reply.location(), format!("/console/sign-in?next={next}"), "{path}");
    }
    assert_eq!(console.get(&nobody, "/console").await.location(), "/console/machines");
}

#[tokio::test]
async fn forms_posted_without_a_session_redirect_to_sign_in() {
    let console = TestConsole::new().await;
    let nobody = Browser::default();
    for path in [
        "/console/keys",
        "/console/keys/kAAAAAAAAAAAA/revoke",
        "/console/machines/1/approve",
        "/console/machines/1/delete",
        "/console/machines/1/tags",
        "/console/machines/1/expiry",
        "/console/settings",
        "/console/settings/tokens",
        "/console/settings/tokens/tAAAAAAAAAAAA/revoke",
    ] {
        let reply = console.post(&nobody, path, &[("csrf", "whatever")]).await;
        assert_sign_in_redirect(&reply);
        assert_eq!(reply.location(), "/console/sign-in", "{path}");
    }
}

#[tokio::test]
async fn the_live_state_without_a_session_is_401() {
    let console = TestConsole::new().await;
    let reply = console.get(&Browser::default(), "/console/live").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.body.contains("sign-in required"), "{}", reply.body);
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_signing_out_revokes_it() {
    let console = TestConsole::new().await;
    console.create_admin().await;
    let mut browser = Browser::default();
    let reply = console.sign_in_as(&mut browser, ADMIN, PASSWORD).await;
    assert_eq!(reply.location(), "/console/machines");
    let cookie = reply.set_cookie("keygate_session").expect("a session cookie is set");
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("; Path=/console"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag ({cookie})");
    let secret = cookie.split(';').next().unwrap().trim_start_matches("keygate_session=");
    assert_eq!(secret.len(), 64, "256 bits in hex");

    let page = console.get(&browser, "/console/machines").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Signed in as <strong>root</strong>"), "{}", page.body);
    let csrf = page.csrf();

    // A copy of the cookie taken before signing out stops working with it.
    let copy = browser.clone();
    let out = console.post(&browser, "/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/console/sign-in?notice=signed-out");
    assert!(out.set_cookie("keygate_session").unwrap().contains("Max-Age=0"));
    assert_sign_in_redirect(&console.get(&copy, "/console/machines").await);
}

#[tokio::test]
async fn signing_out_needs_the_csrf_token() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let reply = console.post(&browser, "/console/sign-out", &[]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        console.get(&browser, "/console/keys").await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn a_session_ends_when_it_expires() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    console.advance(CONSOLE_SESSION_LIFETIME - Duration::from_secs(1));
    assert_eq!(console.get(&browser, "/console/keys").await.status, StatusCode::OK);
    console.advance(Duration::from_secs(1));
    assert_sign_in_redirect(&console.get(&browser, "/console/keys").await);
}

#[tokio::test]
async fn empty_fields_get_messages_next_to_them() {
    let console = TestConsole::new().await;
    let mut browser = Browser::default();
    let reply = console.sign_in_as(&mut browser, "", "").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body.contains(r#"<p class="field-error" id="name-error">Enter your admin name.</p>"#),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(r#"id="password-error">Enter your password.</p>"#));
    assert!(reply.body.contains(r#"aria-describedby="name-error""#));
}

#[tokio::test]
async fn a_wrong_password_shows_an_error_and_the_sixth_attempt_is_locked_out() {
    let console = TestConsole::new().await;
    console.create_admin().await;
    let mut browser = Browser::default();
    for attempt in 1..=4 {
        let reply = console.sign_in_as(&mut browser, ADMIN, "not the password").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
        assert!(reply.body.contains("Wrong name or password."), "{}", reply.body);
        assert!(!reply.body.contains("locked"), "attempt {attempt}");
        assert!(reply.set_cookie("keygate_session").is_none());
    }
    let fifth = console.sign_in_as(&mut browser, ADMIN, "not the password").await;
    assert!(
        fifth.body.contains("Wrong name or password. Too many failed sign-ins"),
        "{}",
        fifth.body
    );
    assert!(fifth.body.contains("Try again in 15 minutes."), "{}", fifth.body);

    // Locked: even the right password is refused, without being checked.
    let sixth = console.sign_in_as(&mut browser, ADMIN, PASSWORD).await;
    assert_eq!(sixth.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(sixth.body.contains("sign-in is locked"), "{}", sixth.body);
    assert!(sixth.set_cookie("keygate_session").is_none());
}

#[tokio::test]
async fn unknown_names_are_refused_like_wrong_passwords() {
    let console = TestConsole::new().await;
    console.create_admin().await;
    let mut browser = Browser::default();
    let reply = console.sign_in_as(&mut browser, "nobody", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.body.contains("Wrong name or password."));
    assert!(reply.body.contains(r#"value="nobody""#), "the name is kept");
    assert!(!reply.body.contains(PASSWORD), "the password is never sent back");
}

#[tokio::test]
async fn sign_in_without_the_pre_session_token_is_refused() {
    let console = TestConsole::new().await;
    console.create_admin().await;
    let no_cookie = Browser::default();
    let fields = [("csrf", "a".repeat(64)), ("name", ADMIN.into()), ("password", PASSWORD.into())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let reply = console.post(&no_cookie, "/console/sign-in", &fields).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    // With the cookie but another token.
    let mut browser = Browser::default();
    browser.absorb(&console.get(&browser, "/console/sign-in").await);
    let reply = console.post(&browser, "/console/sign-in", &fields).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body.contains("security token"), "{}", reply.body);
}

#[tokio::test]
async fn after_sign_in_only_console_pages_are_followed() {
    let console = TestConsole::new().await;
    console.create_admin().await;
    for (next, expected) in [
        ("/console/settings", "/console/settings"),
        ("https://evil.example/", "/console/machines"),
        ("//evil.example", "/console/machines"),
    ] {
        let mut browser = Browser::default();
        let form = console.get(&browser, "/console/sign-in").await;
        browser.absorb(&form);
        let csrf = form.csrf();
        let reply = console
            .post(
                &browser,
                "/console/sign-in",
                &[("csrf", &csrf), ("name", ADMIN), ("password", PASSWORD), ("next", next)],
            )
            .await;
        assert_eq!(reply.location(), expected, "{next}");
    }
}

#[tokio::test]
async fn the_sign_in_page_says_how_to_create_the_first_admin() {
    let console = TestConsole::new().await;
    let page = console.get(&Browser::default(), "/console/sign-in").await;
    assert!(page.body.contains("keygate admin create NAME"), "{}", page.body);
    let cookie = page.set_cookie("keygate_presession").expect("a pre-session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    console.create_admin().await;
    let page = console.get(&Browser::default(), "/console/sign-in").await;
    assert!(!page.body.contains("keygate admin create NAME"));
}
