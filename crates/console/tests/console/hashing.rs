//! Floods of sign-in and setup posts: how many password hashes they can cause. Concurrent
//! wrong sign-ins are held to the limiter's count, setup posts with made-up links never hash,
//! and when every hashing slot is taken the answer is 503 with `Retry-After`, at once.

use std::sync::Arc;

use http::header::RETRY_AFTER;
use http::StatusCode;
use keygate_console::LOCKOUT_POLICY;
use keygate_service::HashSlot;
use tokio::task::JoinSet;

use crate::helpers::{Browser, Reply, TestConsole, ADMIN, PASSWORD, SERVER_URL};

/// How many posts each flood sends at once.
const FLOOD: usize = 40;

/// A browser that picked its own pre-session cookie, as a script can: the double-submit check
/// only needs the `csrf` field to equal it.
fn self_made_browser(n: usize) -> (Browser, String) {
    let csrf = format!("{n:064x}");
    (Browser { cookies: vec![format!("keygate_presession={csrf}")], csrf: csrf.clone() }, csrf)
}

/// Sends `FLOOD` posts of `fields(i)` to `path` at once and returns the answers.
async fn flood(
    console: &Arc<TestConsole>,
    path: &'static str,
    fields: impl Fn(usize) -> Vec<(&'static str, String)>,
) -> Vec<Reply> {
    let mut posts = JoinSet::new();
    for i in 0..FLOOD {
        let (console, fields) = (console.clone(), fields(i));
        posts.spawn(async move {
            let (browser, csrf) = self_made_browser(i);
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            console.post(&browser, path, &all).await
        });
    }
    posts.join_all().await
}

fn count(replies: &[Reply], status: StatusCode) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

/// Takes every hashing slot of the console's service.
fn take_every_slot(console: &TestConsole) -> Vec<HashSlot> {
    let hashing = console.service.password_hashing();
    let held: Vec<HashSlot> = std::iter::from_fn(|| hashing.try_reserve().ok()).collect();
    assert_eq!(held.len(), hashing.slots());
    held
}

#[tokio::test]
async fn concurrent_wrong_sign_ins_check_at_most_the_limiters_number_of_guesses() {
    let console = Arc::new(TestConsole::new().await);
    console.create_admin().await;
    let before = console.service.password_hashing().hashes_started();
    let replies = flood(&console, "/console/sign-in", |_| {
        vec![("name", ADMIN.to_owned()), ("password", "not the password".to_owned())]
    })
    .await;
    let hashed = console.service.password_hashing().hashes_started() - before;
    let wrong = count(&replies, StatusCode::UNAUTHORIZED);
    let limited = count(&replies, StatusCode::TOO_MANY_REQUESTS);
    let busy = count(&replies, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!((wrong + limited + busy), FLOOD, "401s: {wrong}, 429s: {limited}, 503s: {busy}");
    let allowed = u64::from(LOCKOUT_POLICY.free_failures);
    assert!(hashed <= allowed, "{hashed} guesses checked, the limit is {allowed}");
    assert_eq!(wrong as u64, hashed, "each 'wrong password' answer is one checked guess");
    for reply in replies.iter().filter(|r| r.status != StatusCode::UNAUTHORIZED) {
        assert!(reply.headers.contains_key(RETRY_AFTER), "{}: {}", reply.status, reply.body);
    }
}

#[tokio::test]
async fn setup_posts_with_made_up_links_never_hash_and_are_limited() {
    let console = Arc::new(TestConsole::new().await);
    // A real link exists, so the table of links is not empty.
    keygate_console::setup_link_if_needed(&console.service, SERVER_URL).await.unwrap().unwrap();
    let replies = flood(&console, "/console/setup", |i| {
        vec![
            ("token", format!("{:064x}", i + 1)),
            ("name", "mallory".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("confirm", PASSWORD.to_owned()),
        ]
    })
    .await;
    assert_eq!(console.service.password_hashing().hashes_started(), 0, "no password hashed");
    let refused = count(&replies, StatusCode::FORBIDDEN);
    let limited = count(&replies, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused + limited, FLOOD, "403s: {refused}, 429s: {limited}");
    assert!(refused <= LOCKOUT_POLICY.free_failures as usize, "{refused} links checked");
    assert!(limited > 0);
    for reply in replies.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS) {
        assert!(reply.headers.contains_key(RETRY_AFTER), "{}", reply.body);
        assert!(reply.body.contains("Too many setup attempts"), "{}", reply.body);
    }
    assert_eq!(console.service.console_admin_count().await.unwrap(), 0);
}

#[tokio::test]
async fn with_every_hashing_slot_taken_sign_in_answers_503_at_once_and_counts_nothing() {
    let console = TestConsole::new().await;
    console.create_admin().await;
    let held = take_every_slot(&console);
    let before = console.service.password_hashing().hashes_started();
    // More tries than the limiter allows: a busy answer is no failed guess.
    for _ in 0..=LOCKOUT_POLICY.free_failures {
        let reply = console.sign_in_as(&mut Browser::default(), ADMIN, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.body);
        assert_eq!(reply.headers[RETRY_AFTER], "1");
        assert!(reply.body.contains("busy"), "{}", reply.body);
        assert!(reply.set_cookie("keygate_session").is_none());
    }
    assert_eq!(console.service.password_hashing().hashes_started(), before);
    drop(held);
    let reply = console.sign_in_as(&mut Browser::default(), ADMIN, PASSWORD).await;
    assert_eq!(reply.location(), "/console/machines");
}

#[tokio::test]
async fn with_every_hashing_slot_taken_setup_answers_503_and_the_link_still_works() {
    let console = TestConsole::new().await;
    let link =
        keygate_console::setup_link_if_needed(&console.service, SERVER_URL).await.unwrap().unwrap();
    let token = link.rsplit('=').next().unwrap().to_owned();
    let (browser, csrf) = self_made_browser(7);
    let fields = [
        ("csrf", csrf.as_str()),
        ("token", token.as_str()),
        ("name", "alice"),
        ("password", PASSWORD),
        ("confirm", PASSWORD),
    ];
    let held = take_every_slot(&console);
    let reply = console.post(&browser, "/console/setup", &fields).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.body);
    assert_eq!(reply.headers[RETRY_AFTER], "1");
    assert_eq!(console.service.console_admin_count().await.unwrap(), 0);
    drop(held);
    let reply = console.post(&browser, "/console/setup", &fields).await;
    assert_eq!(reply.location(), "/console/keys?notice=welcome");
    assert_eq!(console.service.password_hashing().hashes_started(), 1);
}
