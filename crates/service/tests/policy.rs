//! The policy file through the service: saving (checked, tested, guarded by ETags), reading,
//! history, and tag ownership enforced when keys are created.

use std::sync::Arc;

use keygate_domain::{Pepper, Timestamp, User};
use keygate_policy::DEFAULT_POLICY;
use keygate_service::{
    Actor, CurrentPolicy, ManualClock, NewKeyRequest, Service, ServiceConfig, ServiceError,
    SetPolicyError, Tailnet, TailnetConfig,
};

const START: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);

/// A service and its live tailnet, through which alone a policy is saved.
#[derive(Clone)]
struct TestService {
    service: Service,
    tailnet: Tailnet,
}

impl std::ops::Deref for TestService {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.service
    }
}

impl TestService {
    async fn set_policy(
        &self,
        actor: &Actor,
        text: &str,
        if_match: Option<&str>,
    ) -> Result<CurrentPolicy, SetPolicyError> {
        self.tailnet.set_policy(actor, text, if_match).await
    }
}

async fn service() -> TestService {
    let store = keygate_store::connect("sqlite::memory:").await.expect("in-memory sqlite opens");
    let clock = ManualClock::new(START);
    let service =
        Service::new(store, Pepper::from_bytes([9; 32]), Arc::new(clock), ServiceConfig::default());
    let tailnet = Tailnet::load(service.clone(), TailnetConfig::default()).await.expect("loads");
    TestService { service, tailnet }
}

async fn user(svc: &Service, name: &str) -> User {
    svc.create_user(&Actor::Admin, name).await.expect("the user is created")
}

/// A tagged one-off key for `user`, as an admin asks for it.
fn tagged_key(user: &str, tags: &[&str]) -> NewKeyRequest {
    NewKeyRequest {
        user: Some(user.to_owned()),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ..NewKeyRequest::default()
    }
}

const OWNERS: &str = r#"{
  // alice owns tag:web; group:ops owns tag:db; every user owns tag:ci.
  "groups": {"group:ops": ["carol"]},
  "tagOwners": {
    "tag:web": ["alice"],
    "tag:db": ["group:ops"],
    "tag:ci": ["autogroup:member"],
  },
}"#;

#[tokio::test]
async fn a_key_with_a_tag_its_creator_does_not_own_is_refused_naming_the_tag() {
    let svc = service().await;
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    user(&svc, "carol").await;
    svc.set_policy(&Actor::Admin, OWNERS, None).await.unwrap();

    // An admin creates keys *for* a user; that user must own the tags.
    let err =
        svc.create_auth_key(&Actor::Admin, tagged_key("bob", &["tag:web"])).await.unwrap_err();
    let ServiceError::Invalid(message) = err else { panic!("expected Invalid, got {err:?}") };
    assert!(message.contains("tag:web") && message.contains("user bob"), "{message}");

    // A user's own API token: the same rule.
    let err = svc
        .create_auth_key(&Actor::User(bob.id), tagged_key("bob", &["tag:web", "tag:ci"]))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("[tag:web]") && !message.contains("[tag:web, tag:ci]"),
        "only the refused tag: {message}"
    );

    // A tag nobody defined is named too.
    let err =
        svc.create_auth_key(&Actor::Admin, tagged_key("alice", &["tag:nope"])).await.unwrap_err();
    assert!(err.to_string().contains("tag:nope"), "{err}");

    // Owners directly, through a group, and through autogroup:member.
    let key = svc
        .create_auth_key(&Actor::User(alice.id), tagged_key("alice", &["tag:web"]))
        .await
        .unwrap();
    assert_eq!(key.key.tags.to_string(), "tag:web");
    svc.create_auth_key(&Actor::Admin, tagged_key("carol", &["tag:db", "tag:ci"])).await.unwrap();
    svc.create_auth_key(&Actor::Admin, tagged_key("bob", &["tag:ci"])).await.unwrap();
    // Untagged keys need no owner.
    svc.create_auth_key(&Actor::Admin, tagged_key("bob", &[])).await.unwrap();
}

#[tokio::test]
async fn with_the_default_policy_every_user_owns_every_tag() {
    let svc = service().await;
    user(&svc, "bob").await;
    let current = svc.current_policy().await.unwrap();
    assert_eq!(current.text(), DEFAULT_POLICY);
    assert_eq!(current.etag(), "\"0\"");
    assert!(current.revision.is_none());
    svc.create_auth_key(&Actor::Admin, tagged_key("bob", &["tag:anything"])).await.unwrap();
    svc.create_auth_key(
        &Actor::Admin,
        NewKeyRequest { tags: vec!["tag:x".into()], ..Default::default() },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_invalid_policy_is_refused_with_line_and_column() {
    let svc = service().await;
    let text = "{\n  \"acls\": [\n    {\"action\": \"accept\", \"src\": [\"group:nope\"], \"dst\": [\"*:*\"]},\n  ],\n}";
    let Err(SetPolicyError::Invalid(errors)) = svc.set_policy(&Actor::Admin, text, None).await
    else {
        panic!("the policy is refused as invalid");
    };
    let e = &errors.errors()[0];
    assert_eq!((e.line, e.column, e.path.as_str()), (3, 34, "acls[0].src[0]"));
    assert!(
        errors
            .to_string()
            .starts_with("line 3, column 34: acls[0].src[0]: unknown group \"group:nope\""),
        "{errors}"
    );
    assert!(svc.policy_history(&Actor::Admin).await.unwrap().is_empty(), "nothing was saved");
}

#[tokio::test]
async fn a_policy_whose_tests_fail_is_refused_naming_the_assertion() {
    let svc = service().await;
    let text = r#"{
  "tagOwners": {"tag:db": ["alice"]},
  "acls": [{"action": "accept", "src": ["alice"], "dst": ["tag:db:5432"]}],
  "tests": [{"src": "bob", "accept": ["tag:db:5432"]}],
}"#;
    let Err(SetPolicyError::Invalid(errors)) = svc.set_policy(&Actor::Admin, text, None).await
    else {
        panic!("the policy is refused");
    };
    assert!(errors.only_tests_failed());
    assert!(
        errors
            .to_string()
            .contains("tests[0].accept[0]: test failed: bob should reach tag:db:5432"),
        "{errors}"
    );
    assert!(svc.policy_history(&Actor::Admin).await.unwrap().is_empty());
    // Validation says the same without saving.
    assert!(matches!(
        svc.validate_policy(&Actor::Admin, text).await,
        Err(SetPolicyError::Invalid(_))
    ));
}

#[tokio::test]
async fn if_match_refuses_a_save_from_a_stale_revision() {
    let svc = service().await;
    let first = svc.set_policy(&Actor::Admin, "{}", Some("\"0\"")).await.unwrap();
    assert_eq!(first.etag(), format!("\"{}\"", first.revision_id()));
    assert!(first.revision_id() > 0);

    // A second editor who also read revision 0 loses.
    let stale = svc.set_policy(&Actor::Admin, "{\"acls\": []}", Some("\"0\"")).await;
    assert!(
        matches!(stale, Err(SetPolicyError::PreconditionFailed { current }) if current == first.revision_id()),
        "{stale:?}"
    );
    let stale = svc.set_policy(&Actor::Admin, "{\"acls\": []}", Some("ts-default")).await;
    assert!(matches!(stale, Err(SetPolicyError::PreconditionFailed { .. })), "{stale:?}");

    // The current ETag, `*` and no If-Match at all are accepted.
    let second =
        svc.set_policy(&Actor::Admin, "{\"acls\": []}", Some(&first.etag())).await.unwrap();
    let third = svc.set_policy(&Actor::Admin, DEFAULT_POLICY, Some("*")).await.unwrap();
    let fourth = svc.set_policy(&Actor::Admin, "{}", None).await.unwrap();
    assert_eq!(svc.current_policy().await.unwrap().revision_id(), fourth.revision_id());

    let history: Vec<i64> =
        svc.policy_history(&Actor::Admin).await.unwrap().iter().map(|r| r.id).collect();
    let expected = [&fourth, &third, &second, &first].map(|p| p.revision_id());
    assert_eq!(history, expected, "every save is kept, newest first");
}

#[tokio::test]
async fn concurrent_saves_from_the_same_etag_let_exactly_one_through() {
    let svc = service().await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let svc = svc.clone();
            tokio::spawn(async move {
                svc.set_policy(&Actor::Admin, &format!("// editor {i}\n{{}}"), Some("\"0\"")).await
            })
        })
        .collect();
    let mut saved = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => saved += 1,
            Err(SetPolicyError::PreconditionFailed { .. }) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(saved, 1);
    assert_eq!(svc.policy_history(&Actor::Admin).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_saved_text_is_kept_as_written_with_who_saved_it() {
    let svc = service().await;
    svc.set_policy(&Actor::Admin, OWNERS, None).await.unwrap();
    let current = svc.policy(&Actor::Admin).await.unwrap();
    assert_eq!(current.text(), OWNERS);
    let history = svc.policy_history(&Actor::Admin).await.unwrap();
    assert_eq!(history[0].saved_by, "admin");
    assert_eq!(history[0].created, START);
}

#[tokio::test]
async fn users_may_neither_read_nor_change_the_policy() {
    let svc = service().await;
    let bob = user(&svc, "bob").await;
    let actor = Actor::User(bob.id);
    assert!(matches!(svc.policy(&actor).await, Err(ServiceError::Forbidden(_))));
    assert!(matches!(
        svc.set_policy(&actor, "{}", None).await,
        Err(SetPolicyError::Service(ServiceError::Forbidden(_)))
    ));
    assert!(matches!(svc.policy_history(&actor).await, Err(ServiceError::Forbidden(_))));
}

#[tokio::test]
async fn tests_alone_run_against_the_policy_in_force() {
    let svc = service().await;
    let text = r#"{
  "tagOwners": {"tag:web": ["alice"]},
  "acls": [{"action": "accept", "src": ["alice"], "dst": ["tag:web:443"]}],
}"#;
    svc.set_policy(&Actor::Admin, text, None).await.unwrap();
    svc.validate_policy_tests(&Actor::Admin, r#"[{"src": "alice", "accept": ["tag:web:443"]}]"#)
        .await
        .unwrap();
    let failed = svc
        .validate_policy_tests(&Actor::Admin, r#"[{"src": "bob", "accept": ["tag:web:443"]}]"#)
        .await;
    let Err(SetPolicyError::Invalid(errors)) = failed else { panic!("{failed:?}") };
    assert!(errors.only_tests_failed(), "{errors}");
}
