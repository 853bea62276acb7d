//! The audit log: append, then list newest first with every filter.

use keygate_domain::{
    AuditAction, AuditActor, AuditEvent, AuditFilter, NewAuditEvent, NodeId, TokenId, UserName,
};

use crate::support::{conformance, TestDb, MINUTE, T0};

conformance!(
    audit_events_round_trip_newest_first,
    audit_filters_combine,
    audit_listing_honours_the_limit,
);

fn event(minute: u32, actor: AuditActor, action: AuditAction, target: &str) -> NewAuditEvent {
    NewAuditEvent {
        at: T0.plus(MINUTE * minute),
        actor,
        action,
        target: target.to_owned(),
        detail: format!(r#"{{"minute":{minute}}}"#),
    }
}

fn alice() -> AuditActor {
    AuditActor::User(UserName::parse("alice").unwrap())
}

/// Five entries across actors, actions and targets, at minutes 0 to 4.
async fn seeded(db: &TestDb) -> Vec<AuditEvent> {
    let client = TokenId::from_random(&[3; 12]);
    let entries = [
        event(0, AuditActor::Admin, AuditAction::UserCreate, "alice"),
        event(1, alice(), AuditAction::KeyCreate, "kOne"),
        event(2, AuditActor::OAuthClient(client), AuditAction::KeyCreate, "kTwo"),
        event(3, AuditActor::Node(NodeId(7)), AuditAction::KeyUse, "kOne"),
        event(4, alice(), AuditAction::KeyRevoke, "kOne"),
    ];
    let mut stored = Vec::new();
    for e in &entries {
        stored.push(db.store.insert_audit_event(e).await.unwrap());
    }
    stored
}

async fn audit_events_round_trip_newest_first(db: TestDb) {
    let stored = seeded(&db).await;
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id), "ids grow");
    let first = &stored[1];
    assert_eq!(
        (first.at, first.actor.as_str(), first.action.as_str(), first.target.as_str()),
        (T0.plus(MINUTE), "user:alice", "key.create", "kOne")
    );
    assert_eq!(first.detail, r#"{"minute":1}"#);
    assert!(stored[2].actor.starts_with("oauth:t"), "{}", stored[2].actor);
    assert_eq!(stored[3].actor, "node:7");

    let listed = db.store.list_audit_events(&AuditFilter::default()).await.unwrap();
    let mut newest_first = stored.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
}

async fn audit_filters_combine(db: TestDb) {
    let stored = seeded(&db).await;
    let ids = |events: Vec<AuditEvent>| events.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let list = |filter: AuditFilter| {
        let db = db.clone();
        async move { ids(db.store.list_audit_events(&filter).await.unwrap()) }
    };
    let by_actor = AuditFilter { actor: Some("user:alice".into()), ..Default::default() };
    assert_eq!(list(by_actor).await, vec![stored[4].id, stored[1].id]);
    let by_action = AuditFilter { action: Some("key.create".into()), ..Default::default() };
    assert_eq!(list(by_action).await, vec![stored[2].id, stored[1].id]);
    let by_target = AuditFilter { target: Some("kOne".into()), ..Default::default() };
    assert_eq!(list(by_target).await, vec![stored[4].id, stored[3].id, stored[1].id]);
    let since = AuditFilter { since: Some(T0.plus(MINUTE * 3)), ..Default::default() };
    assert_eq!(list(since).await, vec![stored[4].id, stored[3].id]);
    let all_of_them = AuditFilter {
        actor: Some("user:alice".into()),
        action: Some("key.revoke".into()),
        target: Some("kOne".into()),
        since: Some(T0.plus(MINUTE)),
        ..Default::default()
    };
    assert_eq!(list(all_of_them).await, vec![stored[4].id]);
    let nothing = AuditFilter { actor: Some("user:bob".into()), ..Default::default() };
    assert_eq!(list(nothing).await, Vec::<i64>::new());
}

async fn audit_listing_honours_the_limit(db: TestDb) {
    let stored = seeded(&db).await;
    let two = AuditFilter { limit: 2, ..Default::default() };
    let listed = db.store.list_audit_events(&two).await.unwrap();
    assert_eq!(listed, vec![stored[4].clone(), stored[3].clone()]);
}
