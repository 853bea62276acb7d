//! The one-time setup link that creates the first admin.

use http::StatusCode;

use crate::helpers::{Browser, TestConsole, PASSWORD, SERVER_URL};

/// The setup link's token.
async fn setup_token(console: &TestConsole) -> String {
    let link = keygate_console::setup_link_if_needed(&console.service, SERVER_URL)
        .await
        .unwrap()
        .expect("a link while there is no admin");
    let prefix = format!("{SERVER_URL}/console/setup?token=");
    assert!(link.starts_with(&prefix), "{link}");
    link[prefix.len()..].to_owned()
}

/// Opens the setup page and posts the form.
async fn set_up(
    console: &TestConsole,
    browser: &mut Browser,
    token: &str,
    name: &str,
    password: &str,
    confirm: &str,
) -> crate::helpers::Reply {
    let page = console.get(browser, &format!("/console/setup?token={token}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    browser.absorb(&page);
    let csrf = page.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("token", token),
        ("name", name),
        ("password", password),
        ("confirm", confirm),
    ];
    let reply = console.post(browser, "/console/setup", &fields).await;
    browser.absorb(&reply);
    reply
}

#[tokio::test]
async fn the_setup_link_creates_the_first_admin_and_signs_them_in() {
    let console = TestConsole::new().await;
    let token = setup_token(&console).await;
    let mut browser = Browser::default();
    let reply = set_up(&console, &mut browser, &token, "alice", PASSWORD, PASSWORD).await;
    assert_eq!(reply.location(), "/console/keys?notice=welcome");
    let page = console.get(&browser, "/console/keys?notice=welcome").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Signed in as <strong>alice</strong>"));
    assert!(page.body.contains("Welcome!"));
    assert_eq!(console.service.console_admin_count().await.unwrap(), 1);
    // With an admin, no more links.
    let none = keygate_console::setup_link_if_needed(&console.service, SERVER_URL).await.unwrap();
    assert_eq!(none, None);
}

#[tokio::test]
async fn a_setup_link_cannot_be_used_twice() {
    let console = TestConsole::new().await;
    let token = setup_token(&console).await;
    let mut first = Browser::default();
    set_up(&console, &mut first, &token, "alice", PASSWORD, PASSWORD).await;

    let mut second = Browser::default();
    let page = console.get(&second, &format!("/console/setup?token={token}")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("invalid, used or expired"), "{}", page.body);

    // Posting the form again anyway (say, from a second tab opened before) is refused too.
    second.absorb(&console.get(&second, "/console/sign-in").await);
    let csrf = second.cookies[0].split('=').nth(1).unwrap().to_owned();
    let fields = [
        ("csrf", csrf.as_str()),
        ("token", &token),
        ("name", "mallory"),
        ("password", PASSWORD),
        ("confirm", PASSWORD),
    ];
    let reply = console.post(&second, "/console/setup", &fields).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.set_cookie("keygate_session").is_none());
    assert_eq!(console.service.console_admin_count().await.unwrap(), 1);
}

#[tokio::test]
async fn unknown_and_malformed_setup_tokens_are_refused() {
    let console = TestConsole::new().await;
    setup_token(&console).await;
    for token in ["", "abc", &"0".repeat(64), "%3Cscript%3E"] {
        let page = console.get(&Browser::default(), &format!("/console/setup?token={token}")).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{token}");
        assert!(!page.body.contains("<script>"));
    }
}

#[tokio::test]
async fn bad_setup_values_come_back_next_to_their_fields() {
    let console = TestConsole::new().await;
    let token = setup_token(&console).await;
    let mut browser = Browser::default();
    let reply = set_up(&console, &mut browser, &token, "Not A Name", "short", "other").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body.contains(r#"id="name-error">Use 1 to 63 lowercase letters"#),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains(
            r#"id="password-error">The password is too short: use at least 12 characters.</p>"#
        ),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(r#"id="confirm-error">The two passwords differ.</p>"#));
    assert!(reply.body.contains(r#"value="Not A Name""#), "the name is kept");
    // Nothing was used up: the link still works.
    let reply = set_up(&console, &mut browser, &token, "alice", PASSWORD, PASSWORD).await;
    assert_eq!(reply.location(), "/console/keys?notice=welcome");
}
