//! The Keys page: generating keys of each kind, the secret shown once, form errors, revoking.

use http::header::CACHE_CONTROL;
use http::StatusCode;
use keygate_service::Actor;

use crate::helpers::{Browser, TestConsole, SERVER_URL};

/// The secret shown on a page, if any.
fn shown_secret(body: &str) -> Option<String> {
    let start = body.find("keygate-auth-")?;
    let end = body[start..].find(['<', ' ', '"'])? + start;
    Some(body[start..end].to_owned())
}

/// Generates a key with `fields`; the redirect's target.
async fn generate(console: &TestConsole, browser: &Browser, fields: &[(&str, &str)]) -> String {
    let reply = console.submit(browser, "/console/keys", fields).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let target = reply.location().to_owned();
    assert!(target.starts_with("/console/keys?shown="), "{target}");
    assert!(shown_secret(&reply.body).is_none(), "the POST's answer holds no secret");
    target
}

#[tokio::test]
async fn each_kind_of_key_is_generated_and_its_secret_shown_exactly_once() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let kinds: &[&[(&str, &str)]] = &[
        &[("kind", "one-off"), ("expiry_days", "90"), ("description", "one-off")],
        &[
            ("kind", "reusable"),
            ("usage_limit", "3"),
            ("expiry_days", "30"),
            ("description", "limited"),
        ],
        &[
            ("kind", "reusable"),
            ("expiry_days", "1"),
            ("ephemeral", "on"),
            ("description", "ephemeral"),
        ],
        &[
            ("kind", "one-off"),
            ("preauthorized", "on"),
            ("tags", "tag:ci, tag:web"),
            ("description", "tagged"),
        ],
    ];
    for fields in kinds {
        let target = generate(&console, &browser, fields).await;
        let page = console.get(&browser, &target).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.headers[CACHE_CONTROL], "no-store");
        let secret = shown_secret(&page.body).expect("the secret is shown");
        assert!(page
            .body
            .contains(&format!("tailscale up --login-server {SERVER_URL} --authkey {secret}")));
        assert!(page.body.contains("data-copy=\"new-key-secret\""), "a copy button");
        assert!(
            console.service.check_presented_auth_key(&secret).await.is_ok(),
            "the shown secret works"
        );

        let reload = console.get(&browser, &target).await;
        assert_eq!(shown_secret(&reload.body), None, "a reload shows it no more");
        assert!(reload.body.contains("id=\"secret-gone\""));
    }
    let listing = console.service.list_auth_keys(&Actor::Admin).await.unwrap();
    assert_eq!(listing.valid.len(), 4);
    let limited = listing.valid.iter().find(|k| k.description.as_str() == "limited").unwrap();
    assert!(limited.reusable && limited.usage_limit == Some(3));
    let tagged = listing.valid.iter().find(|k| k.description.as_str() == "tagged").unwrap();
    assert!(tagged.preauthorized && !tagged.reusable);
    assert_eq!(tagged.tags.to_strings(), ["tag:ci", "tag:web"]);
    let page = console.get(&browser, "/console/keys").await.body;
    for badge in ["One-off", "Reusable", "Ephemeral", "Pre-approved", "tag:web", "0 / 3"] {
        assert!(page.contains(badge), "{badge}");
    }
}

#[tokio::test]
async fn another_session_cannot_see_the_secret() {
    let console = TestConsole::new().await;
    let alice = console.signed_in().await;
    let target = generate(&console, &alice, &[("kind", "one-off")]).await;
    let mut other = Browser::default();
    console.sign_in_as(&mut other, crate::helpers::ADMIN, crate::helpers::PASSWORD).await;
    assert_eq!(shown_secret(&console.get(&other, &target).await.body), None);
    assert!(
        shown_secret(&console.get(&alice, &target).await.body).is_some(),
        "still there for its session"
    );
}

#[tokio::test]
async fn bad_values_come_back_next_to_their_fields() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let fields = [
        ("kind", "reusable"),
        ("usage_limit", "0"),
        ("tags", "web"),
        ("expiry_days", "91"),
        ("description", "a description that is far too long to be accepted here"),
        ("user", "nobody"),
    ];
    let reply = console.submit(&browser, "/console/keys", &fields).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = &reply.body;
    for (id, text) in [
        ("usage_limit-error", "Enter a whole number of at least 1"),
        ("tags-error", "Invalid tag &#34;web&#34;"),
        ("expiry_days-error", "Enter a number of days from 1 to 90."),
        ("description-error", "at most 50 are allowed"),
        ("user-error", "Choose a user from the list."),
    ] {
        let at =
            body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("{id} missing: {body}"));
        assert!(body[at..at + 300].contains(text), "{id}: {}", &body[at..at + 300]);
    }
    assert!(body.contains(r#"value="91""#) && body.contains(r#"value="web""#), "values are kept");
    assert!(body.contains(r#"<input type="radio" name="kind" value="reusable" checked>"#));
    assert!(console.service.list_auth_keys(&Actor::Admin).await.unwrap().valid.is_empty());

    let one_off_with_limit = [("kind", "one-off"), ("usage_limit", "5"), ("expiry_days", "90")];
    let reply = console.submit(&browser, "/console/keys", &one_off_with_limit).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains("A usage limit needs a reusable key"));
}

#[tokio::test]
async fn a_malformed_form_is_a_400_page() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let reply = console
        .submit(&browser, "/console/keys", &[("kind", "one-off"), ("kind", "reusable")])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
}

#[tokio::test]
async fn revoking_asks_first_then_lists_the_key_as_revoked() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    generate(&console, &browser, &[("kind", "one-off"), ("description", "to revoke")]).await;
    let key = console.service.list_auth_keys(&Actor::Admin).await.unwrap().valid.remove(0);
    let id = key.id.as_str();

    let confirm = console.get(&browser, &format!("/console/keys/{id}/revoke")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains(&format!("Revoke key {id}?")));
    assert!(confirm.body.contains(&format!(r#"action="/console/keys/{id}/revoke""#)));
    assert!(
        console.service.list_auth_keys(&Actor::Admin).await.unwrap().recently_invalid.is_empty(),
        "nothing yet"
    );

    let reply = console.submit(&browser, &format!("/console/keys/{id}/revoke"), &[]).await;
    assert_eq!(reply.location(), "/console/keys?notice=revoked");
    let page = console.get(&browser, "/console/keys?notice=revoked").await.body;
    let invalid = &page[page.find("id=\"invalid-keys\"").expect("the revoked table")..];
    assert!(invalid.contains(id) && invalid.contains("Revoked"));
    assert!(page.contains("The key was revoked."));

    let again = console.submit(&browser, &format!("/console/keys/{id}/revoke"), &[]).await;
    assert_eq!(again.location(), "/console/keys?notice=already-revoked");
}

#[tokio::test]
async fn unknown_keys_are_404() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let page = console.get(&browser, "/console/keys/kAAAAAAAAAAAA/revoke").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let reply = console.submit(&browser, "/console/keys/not-an-id/revoke", &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}
