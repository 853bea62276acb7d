//! The Settings page: tailnet settings and API tokens.

use http::StatusCode;
use keygate_service::Actor;

use crate::helpers::TestConsole;

fn shown_token(body: &str) -> Option<String> {
    let start = body.find("keygate-api-")?;
    let end = body[start..].find(['<', ' ', '"'])? + start;
    Some(body[start..end].to_owned())
}

#[tokio::test]
async fn settings_are_saved() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let reply = console
        .submit(
            &browser,
            "/console/settings",
            &[("device_approval", "on"), ("node_key_expiry_days", "30")],
        )
        .await;
    assert_eq!(reply.location(), "/console/settings?notice=saved");
    let settings = console.service.settings().await.unwrap();
    assert!(settings.device_approval);
    assert_eq!(settings.node_key_expiry_days, 30);
    let page = console.get(&browser, "/console/settings?notice=saved").await.body;
    assert!(page.contains("Settings saved."));
    assert!(page.contains(r#"name="device_approval" checked"#), "{page}");

    // An unchecked box is absent from the form: approval goes off.
    console.submit(&browser, "/console/settings", &[("node_key_expiry_days", "30")]).await;
    assert!(!console.service.settings().await.unwrap().device_approval);
}

#[tokio::test]
async fn a_bad_node_key_expiry_is_shown_next_to_the_field() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    for bad in ["0", "181", "ten", ""] {
        let reply = console
            .submit(
                &browser,
                "/console/settings",
                &[("device_approval", "on"), ("node_key_expiry_days", bad)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(
            reply.body.contains(
                r#"id="node_key_expiry_days-error">Enter a number of days from 1 to 180.</p>"#
            ),
            "{}",
            reply.body
        );
        assert!(reply.body.contains(&format!(r#"value="{bad}""#)), "the value is kept");
    }
    assert!(!console.service.settings().await.unwrap().device_approval, "nothing was saved");
}

#[tokio::test]
async fn an_api_token_is_shown_once_and_can_be_revoked() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let reply = console
        .submit(
            &browser,
            "/console/settings/tokens",
            &[("description", "ci"), ("expiry_days", "7")],
        )
        .await;
    let target = reply.location().to_owned();
    assert!(target.starts_with("/console/settings?shown="), "{target}");
    let page = console.get(&browser, &target).await;
    let secret = shown_token(&page.body).expect("the token is shown");
    assert!(console.service.authenticate_api_token(&secret).await.is_ok());
    assert_eq!(shown_token(&console.get(&browser, &target).await.body), None, "only once");

    let token = console.service.list_api_tokens(&Actor::Admin).await.unwrap().remove(0);
    let id = token.id.as_str();
    let confirm = console.get(&browser, &format!("/console/settings/tokens/{id}/revoke")).await;
    assert!(confirm.body.contains(&format!("Revoke API token {id}?")));
    let reply =
        console.submit(&browser, &format!("/console/settings/tokens/{id}/revoke"), &[]).await;
    assert_eq!(reply.location(), "/console/settings?notice=token-revoked");
    assert!(console.service.authenticate_api_token(&secret).await.is_err());
    let page = console.get(&browser, "/console/settings").await.body;
    let row = &page[page.find(&format!(r#"data-token-id="{id}""#)).unwrap()..];
    assert!(row[..600].contains("Revoked"), "{}", &row[..600]);
}

#[tokio::test]
async fn bad_token_values_come_back_next_to_their_fields() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let fields = [("description", "x\u{7}y"), ("user", "ghost"), ("expiry_days", "0")];
    let reply = console.submit(&browser, "/console/settings/tokens", &fields).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body.contains(
            r#"id="token_description-error">Description must not contain control characters"#
        ),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(r#"id="token_user-error">Choose a user from the list."#));
    assert!(reply
        .body
        .contains(r#"id="token_expiry_days-error">Enter a number of days from 1 to 90."#));
    assert!(console.service.list_api_tokens(&Actor::Admin).await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_tokens_are_404() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let page = console.get(&browser, "/console/settings/tokens/tAAAAAAAAAAAA/revoke").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let reply =
        console.submit(&browser, "/console/settings/tokens/tAAAAAAAAAAAA/revoke", &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_settings_page_lists_the_console_admins() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let page = console.get(&browser, "/console/settings").await.body;
    assert!(page.contains(r#"<span class="badge">root</span>"#), "{page}");
}
