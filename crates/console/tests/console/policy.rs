//! The Policy page: the default policy shown, saving through the live tailnet, errors at their
//! line with the text kept, failing tests, stale revisions, CSRF and sign-in; and the Keys
//! page offering the policy's tags and refusing tags the key's user does not own.

use http::StatusCode;
use keygate_service::Actor;

use crate::helpers::{assert_sign_in_redirect, hidden_field, Browser, TestConsole};

const VALID: &str = r#"{
  // Engineers reach the web servers.
  "groups": {"group:eng": ["alice"]},
  "tagOwners": {"tag:web": ["group:eng"]},
  "acls": [
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:web:443"]},
  ],
}
"#;

/// Line 4 names a group that is not defined.
const UNKNOWN_GROUP: &str = r#"{
  "groups": {"group:eng": ["alice"]},
  "acls": [
    {"action": "accept", "src": ["group:ops"], "dst": ["*:*"]},
  ],
}
"#;

/// Its test expects alice to be refused port 22, which the rule accepts.
const FAILING_TEST: &str = r#"{
  "acls": [{"action": "accept", "src": ["alice"], "dst": ["*:*"]}],
  "tests": [{"src": "alice", "deny": ["100.64.0.1:22"]}],
}
"#;

/// `text` as askama escapes it in the page.
fn escape(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

async fn save(
    console: &TestConsole,
    browser: &Browser,
    text: &str,
    revision: &str,
) -> crate::helpers::Reply {
    console
        .submit(
            browser,
            "/console/policy",
            &[("policy", text), ("revision", revision), ("action", "save")],
        )
        .await
}

#[tokio::test]
async fn the_page_shows_the_default_policy_with_revision_zero() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let page = console.get(&browser, "/console/policy").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("href=\"/console/policy\" aria-current=\"page\""), "in the nav");
    assert_eq!(hidden_field(&page.body, "revision").as_deref(), Some("0"));
    let default = console.service.policy(&Actor::Admin).await.unwrap();
    assert!(page.body.contains(&escape(default.text())), "{}", page.body);
    assert!(page.body.contains("<textarea id=\"policy\""));
    assert!(
        page.body.contains(">Validate</button>") && page.body.contains(">Save policy</button>")
    );
}

#[tokio::test]
async fn a_valid_policy_is_saved_and_put_in_force() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let reply = save(&console, &browser, &VALID.replace('\n', "\r\n"), "0").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/console/policy?saved=1");
    let page = console.get(&browser, reply.location()).await;
    assert!(page.body.contains("Policy saved (revision 1)."), "{}", page.body);
    assert_eq!(hidden_field(&page.body, "revision").as_deref(), Some("1"));

    let stored = console.service.policy(&Actor::Admin).await.unwrap();
    assert_eq!(stored.text(), VALID, "kept as typed, with LF line ends");
    assert!(console.tailnet.policy().has_tag_owners(), "the live tailnet has it in force");
}

#[tokio::test]
async fn an_invalid_policy_comes_back_with_its_line_and_the_text_as_typed() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let reply = save(&console, &browser, UNKNOWN_GROUP, "0").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert!(reply.body.contains("data-line=\"4\""), "{}", reply.body);
    assert!(reply.body.contains("line 4, column"), "{}", reply.body);
    assert!(reply.body.contains("group:ops"));
    assert!(reply.body.contains("<li class=\"bad\">4</li>"), "the gutter marks line 4");
    assert!(reply.body.contains(&escape(UNKNOWN_GROUP)), "the text as typed: {}", reply.body);
    assert_eq!(hidden_field(&reply.body, "revision").as_deref(), Some("0"));
    assert_eq!(console.service.policy(&Actor::Admin).await.unwrap().revision_id(), 0, "not saved");

    // Validate says the same without saving, and says so when the file is fine.
    let checked = console
        .submit(
            &browser,
            "/console/policy",
            &[("policy", UNKNOWN_GROUP), ("revision", "0"), ("action", "validate")],
        )
        .await;
    assert_eq!(checked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(checked.body.contains("line 4, column"));
    let fine = console
        .submit(
            &browser,
            "/console/policy",
            &[("policy", VALID), ("revision", "0"), ("action", "validate")],
        )
        .await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.body);
    assert!(fine.body.contains("The policy is valid. It was not saved."));
    assert_eq!(console.service.policy(&Actor::Admin).await.unwrap().revision_id(), 0);
}

#[tokio::test]
async fn a_policy_whose_tests_fail_is_refused_naming_the_assertion() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let reply = save(&console, &browser, FAILING_TEST, "0").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert!(reply.body.contains("tests failed"), "{}", reply.body);
    assert!(reply.body.contains("tests[0].deny[0]"), "{}", reply.body);
    assert!(reply.body.contains("line 3, column"), "{}", reply.body);
    assert_eq!(console.service.policy(&Actor::Admin).await.unwrap().revision_id(), 0);
}

#[tokio::test]
async fn a_stale_revision_is_refused_naming_the_current_one() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    console.tailnet.set_policy(&Actor::Admin, VALID, None).await.unwrap();
    let mine = VALID.replace("443", "8443");
    let reply = save(&console, &browser, &mine, "0").await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(
        reply.body.contains("Someone else saved the policy meanwhile: the current revision is 1"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("8443"), "the user's text is kept");
    assert_eq!(console.service.policy(&Actor::Admin).await.unwrap().text(), VALID);
}

#[tokio::test]
async fn saving_needs_the_csrf_token_and_a_session() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let forged = console
        .post(
            &browser,
            "/console/policy",
            &[("policy", VALID), ("revision", "0"), ("action", "save")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert_eq!(console.service.policy(&Actor::Admin).await.unwrap().revision_id(), 0);

    let stranger = Browser::default();
    assert_sign_in_redirect(&console.get(&stranger, "/console/policy").await);
    let anonymous = console
        .post(
            &stranger,
            "/console/policy",
            &[("csrf", &browser.csrf), ("policy", VALID), ("revision", "0")],
        )
        .await;
    assert_sign_in_redirect(&anonymous);
    assert_eq!(console.service.policy(&Actor::Admin).await.unwrap().revision_id(), 0);
}

#[tokio::test]
async fn a_policy_larger_than_an_ordinary_form_is_accepted() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let padding = format!("// {}\n", "x".repeat(100)).repeat(400);
    let big = format!("{padding}{VALID}");
    assert!(big.len() > keygate_console::REQUEST_BODY_LIMIT);
    let reply = save(&console, &browser, &big, "0").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

#[tokio::test]
async fn the_keys_page_offers_the_policy_tags_and_refuses_unowned_ones_at_the_field() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let page = console.get(&browser, "/console/keys").await;
    assert!(!page.body.contains("<datalist"), "no tagOwners, no list");

    console.tailnet.set_policy(&Actor::Admin, VALID, None).await.unwrap();
    let page = console.get(&browser, "/console/keys").await;
    assert!(page.body.contains("list=\"policy-tags\""), "{}", page.body);
    assert!(page.body.contains("<option value=\"tag:web\"></option>"));

    // The default user is not in group:eng.
    let reply = console
        .submit(
            &browser,
            "/console/keys",
            &[("kind", "one-off"), ("expiry_days", "90"), ("tags", "tag:web")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    let error = reply.body.split("id=\"tags-error\">").nth(1).expect("an error at the tags field");
    let error = &error[..error.find("</p>").unwrap()];
    assert!(error.contains("tag:web"), "{error}");
    assert!(reply.body.contains("value=\"tag:web\""), "the field keeps the tag");

    // Free text is still checked for form.
    let reply = console
        .submit(
            &browser,
            "/console/keys",
            &[("kind", "one-off"), ("expiry_days", "90"), ("tags", "web")],
        )
        .await;
    assert!(reply.body.contains(&escape("Invalid tag \"web\"")), "{}", reply.body);
}
