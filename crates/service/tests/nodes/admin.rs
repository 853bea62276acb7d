//! `node_admin.rs`: approving, tagging, key expiry, expiring and deleting nodes, who may do
//! each, what is published, and what is audited.

use std::sync::Arc;
use std::time::Duration;

use keygate_domain::{AuditFilter, NodeId, NodeOwner, ScopeSet, TagSet, TokenId};
use keygate_service::{
    Actor, NewKeyRequest, OAuthGrant, ServiceError, TailnetChange, TailnetEvent,
};
use tokio::sync::broadcast::Receiver;

use crate::support::*;

async fn next(rx: &mut Receiver<Arc<TailnetEvent>>) -> Arc<TailnetEvent> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an event")
        .expect("bus open")
}

fn oauth(scopes: &str, tags: &str) -> Actor {
    Actor::OAuth(OAuthGrant {
        client: TokenId::from_random(&[1; 12]),
        scopes: ScopeSet::parse_list(scopes).unwrap(),
        tags: if tags.is_empty() { TagSet::default() } else { TagSet::parse_list(tags).unwrap() },
    })
}

/// A user and a node enrolled with that user's key: (user actor, node id).
async fn users_node(f: &Fixture, name: &str, n: u8) -> (Actor, NodeId) {
    let user = f.service.create_user(&Actor::Admin, name).await.unwrap();
    let key = f.key(NewKeyRequest { user: Some(name.to_owned()), ..Default::default() }).await;
    let (node, _) = registered(&f.register(request(n, Some(&key))).await);
    (Actor::User(user.id), node.id)
}

/// `(actor, action, target)` of every audit entry for nodes, oldest first.
async fn node_audit(f: &Fixture) -> Vec<(String, String, String)> {
    let events = f.service.list_audit(&Actor::Admin, AuditFilter::default()).await.unwrap();
    events
        .into_iter()
        .rev()
        .filter(|e| e.action.starts_with("node.") || e.action == "key.use")
        .map(|e| (e.actor, e.action, e.target))
        .collect()
}

#[tokio::test]
async fn approval_and_key_expiry_belong_to_admins_and_oauth_with_devices_core() {
    let f = Fixture::new().await;
    f.service.set_device_approval(&Actor::Admin, true).await.unwrap();
    let (alice, mine) = users_node(&f, "alice", 1).await;
    let (_, bobs) = users_node(&f, "bob", 2).await;
    assert!(!f.tailnet.node(mine).unwrap().node.authorized);

    let denied = f.tailnet.set_node_authorized(&alice, mine, true).await.unwrap_err();
    assert!(
        matches!(denied, ServiceError::Forbidden(ref m) if m.contains("administrator")),
        "{denied}"
    );
    let hidden = f.tailnet.set_node_authorized(&alice, bobs, true).await.unwrap_err();
    assert!(matches!(hidden, ServiceError::NotFound { .. }), "{hidden}");
    let denied = f.tailnet.set_node_key_expiry_disabled(&alice, mine, true).await.unwrap_err();
    assert!(matches!(denied, ServiceError::Forbidden(_)));
    let reader = oauth("devices:core:read", "");
    let denied = f.tailnet.set_node_authorized(&reader, mine, true).await.unwrap_err();
    assert!(matches!(denied, ServiceError::Forbidden(ref m) if m.contains("devices:core")));

    let writer = oauth("devices:core", "tag:ci");
    assert!(f.tailnet.set_node_authorized(&writer, mine, true).await.unwrap().node.authorized);
    assert!(
        f.tailnet.set_node_authorized(&Actor::Admin, bobs, true).await.unwrap().node.authorized
    );
    // Stored, not only in memory.
    assert!(f.store.get_node(mine).await.unwrap().authorized);
}

#[tokio::test]
async fn users_see_only_their_nodes_and_oauth_needs_a_device_scope() {
    let f = Fixture::new().await;
    let (alice, mine) = users_node(&f, "alice", 1).await;
    let (_, bobs) = users_node(&f, "bob", 2).await;
    assert_eq!(f.tailnet.visible_node(&alice, mine).unwrap().node.id, mine);
    assert!(matches!(f.tailnet.visible_node(&alice, bobs), Err(ServiceError::NotFound { .. })));
    assert_eq!(f.tailnet.list_nodes(&alice).len(), 1);
    assert_eq!(f.tailnet.list_nodes(&Actor::Admin).len(), 2);
    assert_eq!(f.tailnet.list_nodes(&oauth("devices:core:read", "")).len(), 2);
    assert_eq!(f.tailnet.list_nodes(&oauth("all:read", "")).len(), 2);
    assert!(f.tailnet.list_nodes(&oauth("auth_keys", "tag:ci")).is_empty());
    let keys_only = oauth("auth_keys", "tag:ci");
    assert!(matches!(f.tailnet.visible_node(&keys_only, mine), Err(ServiceError::Forbidden(_))));
    assert!(matches!(
        f.tailnet.visible_node(&Actor::Admin, NodeId(99)),
        Err(ServiceError::NotFound { .. })
    ));
}

#[tokio::test]
async fn tagging_a_users_node_makes_it_an_ownerless_tagged_node_without_expiry() {
    let f = Fixture::new().await;
    let (alice, mine) = users_node(&f, "alice", 1).await;
    let mut rx = f.tailnet.subscribe();
    let tagged = f.tailnet.set_node_tags(&alice, mine, &["tag:web".into()]).await.unwrap();
    assert_eq!(tagged.node.owner, NodeOwner::Tags(TagSet::parse_list("tag:web").unwrap()));
    assert_eq!((tagged.node.key_expiry, tagged.user.as_ref()), (None, None));
    assert!(matches!(&next(&mut rx).await.change,
        TailnetChange::Changed { entry, was_visible: true } if entry.node.owner.is_tagged()));
    assert_eq!(f.store.get_node(mine).await.unwrap(), tagged.node);
    // It is no longer alice's.
    assert!(f.tailnet.list_nodes(&alice).is_empty());

    // Re-tagging replaces the tags; the same tags change nothing and publish nothing.
    let retagged = f
        .tailnet
        .set_node_tags(&Actor::Admin, mine, &["tag:db".into(), "tag:web".into()])
        .await
        .unwrap();
    assert_eq!(retagged.node.owner.tags().unwrap().to_string(), "tag:db,tag:web");
    next(&mut rx).await;
    f.tailnet
        .set_node_tags(&Actor::Admin, mine, &["tag:web".into(), "tag:db".into()])
        .await
        .unwrap();
    assert!(rx.try_recv().is_err(), "nothing changed, nothing published");
}

#[tokio::test]
async fn tag_changes_are_checked() {
    let f = Fixture::new().await;
    let (alice, mine) = users_node(&f, "alice", 1).await;
    // No tags: a user's node stays as it is; bad tags are refused by name.
    let same = f.tailnet.set_node_tags(&Actor::Admin, mine, &[]).await.unwrap();
    assert!(matches!(same.node.owner, NodeOwner::User(_)));
    let bad = f.tailnet.set_node_tags(&Actor::Admin, mine, &["web".into()]).await.unwrap_err();
    assert!(
        matches!(bad, ServiceError::InvalidValue(_)) && bad.to_string().contains("web"),
        "{bad}"
    );

    // An OAuth client applies its own tags only (the default policy has no tagOwners).
    let client = oauth("devices:core", "tag:ci");
    let refused = f.tailnet.set_node_tags(&client, mine, &["tag:prod".into()]).await.unwrap_err();
    assert!(
        matches!(refused, ServiceError::Invalid(ref m) if m.starts_with("requested tags [tag:prod] are invalid or not permitted")),
        "{refused}"
    );

    // With tagOwners, a user applies only tags it owns, an admin any defined tag.
    let policy = r#"{"tagOwners": {"tag:web": ["alice@keygate"], "tag:prod": []},
                     "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}"#;
    f.tailnet.set_policy(&Actor::Admin, policy, None).await.unwrap();
    let refused = f.tailnet.set_node_tags(&alice, mine, &["tag:prod".into()]).await.unwrap_err();
    assert!(matches!(refused, ServiceError::Invalid(_)), "{refused}");
    let undefined = f.tailnet.set_node_tags(&Actor::Admin, mine, &["tag:nope".into()]).await;
    assert!(matches!(undefined, Err(ServiceError::Invalid(ref m)) if m.contains("tag:nope")));
    f.tailnet.set_node_tags(&alice, mine, &["tag:web".into()]).await.unwrap();
    f.tailnet.set_node_tags(&Actor::Admin, mine, &["tag:prod".into()]).await.unwrap();

    // A tagged node keeps at least one tag.
    let empty = f.tailnet.set_node_tags(&Actor::Admin, mine, &[]).await.unwrap_err();
    assert!(matches!(empty, ServiceError::Invalid(ref m) if m.contains("at least one tag")));
}

#[tokio::test]
async fn key_expiry_is_turned_off_and_on_for_users_nodes_only() {
    let f = Fixture::new().await;
    let (_, mine) = users_node(&f, "alice", 1).await;
    let mut rx = f.tailnet.subscribe();
    let off = f.tailnet.set_node_key_expiry_disabled(&Actor::Admin, mine, true).await.unwrap();
    assert_eq!(off.node.key_expiry, None);
    assert!(matches!(&next(&mut rx).await.change, TailnetChange::Changed { .. }));
    f.clock.advance(DAY);
    let on = f.tailnet.set_node_key_expiry_disabled(&Actor::Admin, mine, false).await.unwrap();
    assert_eq!(on.node.key_expiry, Some(f.now().plus(180 * DAY)), "a whole lifetime from now");
    // Turning it on again keeps the expiry it has.
    f.clock.advance(DAY);
    let again = f.tailnet.set_node_key_expiry_disabled(&Actor::Admin, mine, false).await.unwrap();
    assert_eq!(again.node.key_expiry, on.node.key_expiry);
    assert_eq!(f.store.get_node(mine).await.unwrap().key_expiry, on.node.key_expiry);

    let key = f.key(NewKeyRequest { tags: vec!["tag:ci".into()], ..Default::default() }).await;
    let (tagged, _) = registered(&f.register(request(2, Some(&key))).await);
    let refused = f.tailnet.set_node_key_expiry_disabled(&Actor::Admin, tagged.id, false).await;
    assert!(matches!(refused, Err(ServiceError::Invalid(ref m)) if m.contains("tagged")));
    let off = f.tailnet.set_node_key_expiry_disabled(&Actor::Admin, tagged.id, true).await;
    assert_eq!(off.unwrap().node.key_expiry, None);
}

#[tokio::test]
async fn expiring_a_node_sets_its_expiry_to_now_once() {
    let f = Fixture::new().await;
    let (alice, mine) = users_node(&f, "alice", 1).await;
    let expired = f.tailnet.expire_node(&alice, mine).await.unwrap();
    assert_eq!(expired.node.key_expiry, Some(f.now()));
    assert!(expired.node.is_key_expired(f.now()));
    f.clock.advance(DAY);
    let again = f.tailnet.expire_node(&Actor::Admin, mine).await.unwrap();
    assert_eq!(again.node.key_expiry, expired.node.key_expiry, "already expired: unchanged");
    // The watcher does not announce it a second time.
    assert_eq!(f.tailnet.announce_expired_keys(), 0);
    // The node must log in again: a restart learns its key expired.
    let (_, node_key_expired) = registered(&f.register(request(1, None)).await);
    assert!(node_key_expired);
}

#[tokio::test]
async fn a_key_expiring_with_time_is_announced_once() {
    let f = Fixture::new().await;
    let (_, mine) = users_node(&f, "alice", 1).await;
    let mut rx = f.tailnet.subscribe();
    f.clock.advance(180 * DAY - Duration::from_secs(1));
    assert_eq!(f.tailnet.announce_expired_keys(), 0);
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(f.tailnet.announce_expired_keys(), 1);
    assert!(matches!(&next(&mut rx).await.change,
        TailnetChange::Changed { entry, .. } if entry.node.id == mine && entry.node.is_key_expired(f.now())));
    assert_eq!(f.tailnet.announce_expired_keys(), 0);
    // A new expiry (turned off and on) is announced again when it passes.
    f.tailnet.set_node_key_expiry_disabled(&Actor::Admin, mine, true).await.unwrap();
    f.tailnet.set_node_key_expiry_disabled(&Actor::Admin, mine, false).await.unwrap();
    f.clock.advance(181 * DAY);
    assert_eq!(f.tailnet.announce_expired_keys(), 1);
}

#[tokio::test]
async fn deleting_frees_the_address_and_users_may_delete_only_their_own() {
    let f = Fixture::new().await;
    let (alice, mine) = users_node(&f, "alice", 1).await;
    let (_, bobs) = users_node(&f, "bob", 2).await;
    let address = f.tailnet.node(mine).unwrap().node.ipv4;
    let hidden = f.tailnet.delete_node(&alice, bobs).await.unwrap_err();
    assert!(matches!(hidden, ServiceError::NotFound { .. }));
    let mut rx = f.tailnet.subscribe();
    f.tailnet.delete_node(&alice, mine).await.unwrap();
    assert!(matches!(&next(&mut rx).await.change,
        TailnetChange::Removed { entry, was_visible: true } if entry.node.id == mine));
    assert!(f.store.find_node_by_machine_key(&machine(1)).await.unwrap().is_none());
    assert!(matches!(
        f.tailnet.delete_node(&Actor::Admin, mine).await,
        Err(ServiceError::NotFound { .. })
    ));
    let key = f.one_off_key().await;
    let (next_node, _) = registered(&f.register(request(3, Some(&key))).await);
    assert_ne!(next_node.ipv4, address, "a deleted node's address is not handed out again");
}

#[tokio::test]
async fn changes_and_key_uses_are_audited_with_their_actor() {
    let f = Fixture::new().await;
    let (alice, mine) = users_node(&f, "alice", 1).await;
    let id = mine.to_string();
    f.tailnet.set_node_authorized(&Actor::Admin, mine, false).await.unwrap();
    f.tailnet.set_node_authorized(&Actor::Admin, mine, false).await.unwrap(); // no change
    f.tailnet.set_node_key_expiry_disabled(&Actor::Admin, mine, true).await.unwrap();
    f.tailnet.set_node_tags(&alice, mine, &["tag:ci".into()]).await.unwrap();
    f.tailnet.expire_node(&Actor::Admin, mine).await.unwrap();
    f.tailnet.delete_node(&Actor::Admin, mine).await.unwrap();

    let key_id =
        f.service.list_auth_keys(&Actor::Admin).await.unwrap().recently_invalid[0].id.to_string();
    let row = |actor: &str, action: &str, target: &str| {
        (actor.to_owned(), action.to_owned(), target.to_owned())
    };
    assert_eq!(
        node_audit(&f).await,
        vec![
            row(&format!("node:{id}"), "key.use", &key_id),
            row("admin", "node.approve", &id),
            row("admin", "node.expiry", &id),
            row("user:alice", "node.tags", &id),
            row("admin", "node.expiry", &id),
            row("admin", "node.delete", &id),
        ]
    );
}
