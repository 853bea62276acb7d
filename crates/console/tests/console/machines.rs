//! The Machines page: nodes with their state, approving, deleting, and the live state.

use http::StatusCode;
use keygate_domain::{
    ip_pool, DiscoKey, MachineKey, NewNode, NodeId, NodeKey, NodeOwner, TagSet, UserName,
};
use keygate_service::Actor;

use crate::helpers::{Browser, TestConsole, T0};

/// A node numbered `n`, approved or pending, owned by user 1 or by `tag:server`.
fn node(n: u32, authorized: bool, tagged: bool) -> NewNode {
    let bytes = |kind: u8| {
        let mut b = [kind; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        b
    };
    let owner = if tagged {
        NodeOwner::Tags(TagSet::parse(["tag:server"]).unwrap())
    } else {
        NodeOwner::User(keygate_domain::UserId(1))
    };
    NewNode {
        machine_key: MachineKey(bytes(1)),
        node_key: NodeKey(bytes(2)),
        disco_key: DiscoKey(bytes(3)),
        hostname: format!("Host {n}"),
        given_name: format!("host-{n}"),
        owner,
        auth_key_id: None,
        ipv4: ip_pool::ipv4_at(n),
        ipv6: ip_pool::ipv6_at(n),
        hostinfo_json: r#"{"OS":"linux","OSVersion":"Debian 12"}"#.into(),
        endpoints: Vec::new(),
        created: T0,
        last_seen: None,
        ephemeral: n == 3,
        authorized,
        key_expiry: (!tagged).then(|| T0.plus(std::time::Duration::from_secs(180 * 86_400))),
    }
}

/// A console whose store has user 1 (`alice`) and three nodes: approved, pending, tagged.
async fn console_with_machines() -> TestConsole {
    // Users must exist before nodes reference them, so build the store first.
    let store = keygate_store::connect("sqlite::memory:").await.expect("in-memory SQLite opens");
    store.insert_user(&UserName::parse("alice").unwrap(), T0).await.unwrap();
    for n in [1, 2] {
        store.insert_node(&node(n, n == 1, false)).await.unwrap();
    }
    store.insert_node(&node(3, true, true)).await.unwrap();
    TestConsole::from_store(store).await
}

/// The table row of machine `name`.
fn row_of<'a>(body: &'a str, name: &str) -> &'a str {
    let start = body.find(&format!(r#"data-node-name="{name}""#)).expect("the machine's row");
    let end = body[start..].find("</tr>").expect("the row ends") + start;
    &body[start..end]
}

#[tokio::test]
async fn every_machine_is_listed_with_its_state() {
    let console = console_with_machines().await;
    let browser = console.signed_in().await;
    let page = console.get(&browser, "/console/machines").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(
        body.contains("3 machines · 0 online · <strong>1 waiting for approval</strong>"),
        "{body}"
    );
    for text in [
        "host-1",
        "Host 1",
        "100.64.0.1",
        "alice",
        "linux Debian 12",
        "tag:server",
        "No expiry (tagged)",
        "Ephemeral",
        "Never connected",
    ] {
        assert!(body.contains(text), "{text} missing");
    }
    let pending = row_of(body, "host-2");
    assert!(pending.contains("Needs approval"));
    assert!(pending.contains(r#"aria-label="Approve host-2""#));
    assert!(!row_of(body, "host-1").contains("Approve host-1"));
}

#[tokio::test]
async fn approving_a_pending_machine() {
    let console = console_with_machines().await;
    let browser = console.signed_in().await;
    let id = console
        .tailnet
        .list_nodes(&Actor::Admin)
        .iter()
        .find(|e| !e.node.authorized)
        .unwrap()
        .node
        .id;
    let reply = console.submit(&browser, &format!("/console/machines/{}/approve", id.0), &[]).await;
    assert_eq!(reply.location(), "/console/machines?notice=approved");
    assert!(console.tailnet.node(id).unwrap().node.authorized);
    let page = console.get(&browser, "/console/machines?notice=approved").await.body;
    assert!(!page.contains("Needs approval"));
    assert!(page.contains("The machine was approved"));
}

#[tokio::test]
async fn deleting_a_machine_asks_first() {
    let console = console_with_machines().await;
    let browser = console.signed_in().await;
    let id = NodeId(1);
    let confirm = console.get(&browser, "/console/machines/1/delete").await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Delete host-1?"));
    assert!(console.tailnet.node(id).is_some(), "not yet deleted");
    let reply = console.submit(&browser, "/console/machines/1/delete", &[]).await;
    assert_eq!(reply.location(), "/console/machines?notice=deleted");
    assert!(console.tailnet.node(id).is_none());
    assert!(!console
        .get(&browser, "/console/machines")
        .await
        .body
        .contains(r#"data-node-name="host-1""#));
}

#[tokio::test]
async fn unknown_machines_are_404() {
    let console = console_with_machines().await;
    let browser = console.signed_in().await;
    for path in ["/console/machines/99/delete", "/console/machines/x/delete"] {
        assert_eq!(console.get(&browser, path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    for path in [
        "/console/machines/99/approve",
        "/console/machines/99/delete",
        "/console/machines/-/approve",
    ] {
        assert_eq!(
            console.submit(&browser, path, &[]).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_live_state_counts_pending_and_online_machines() {
    let console = console_with_machines().await;
    let browser = console.signed_in().await;
    let live = console.get(&browser, "/console/live").await;
    assert_eq!(live.status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&live.body).unwrap();
    assert_eq!(
        (json["pending"].as_u64(), json["online"].as_u64(), json["machines"].as_u64()),
        (Some(1), Some(0), Some(3))
    );
    let seq = json["seq"].as_u64().unwrap();

    console.tailnet.session_started(NodeId(1)).await;
    let json: serde_json::Value =
        serde_json::from_str(&console.get(&browser, "/console/live").await.body).unwrap();
    assert_eq!(json["online"].as_u64(), Some(1));
    assert!(json["seq"].as_u64().unwrap() > seq, "the change counter moved");
    let page = console.get(&browser, "/console/machines").await.body;
    assert!(page.contains(r#"data-status="online""#));
    assert!(page.contains(&format!(r#"data-seq="{}""#, json["seq"])));
}

#[tokio::test]
async fn an_empty_tailnet_says_how_to_add_a_machine() {
    let console = TestConsole::new().await;
    let browser = console.signed_in().await;
    let page = console.get(&browser, "/console/machines").await.body;
    assert!(page.contains("No machines yet."));
    let _ = Browser::default();
}

#[tokio::test]
async fn tags_are_edited_and_bad_tags_come_back_next_to_the_field() {
    let console = console_with_machines().await;
    let browser = console.signed_in().await;
    let reply = console.submit(&browser, "/console/machines/1/tags", &[("tags", "web")]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    let row = row_of(&reply.body, "host-1");
    assert!(row.contains(r#"<p class="field-error" id="tags-1-error">Invalid tag"#), "{row}");
    assert!(
        row.contains(r#"value="web""#)
            && row.contains("<details class=\"inline tags-editor\" open>")
    );
    // A tagged machine cannot lose its last tag.
    let reply = console.submit(&browser, "/console/machines/3/tags", &[("tags", "")]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(row_of(&reply.body, "host-3").contains("must keep at least one tag"));

    let reply =
        console.submit(&browser, "/console/machines/1/tags", &[("tags", "tag:web, tag:db")]).await;
    assert_eq!(reply.location(), "/console/machines?notice=tags", "{}", reply.body);
    let node = console.tailnet.node(NodeId(1)).unwrap();
    assert_eq!(
        node.node.owner.tags().map(|t| t.to_strings()),
        Some(vec!["tag:db".into(), "tag:web".into()])
    );
    assert_eq!(node.node.key_expiry, None, "tagged machines never expire");
}

#[tokio::test]
async fn key_expiry_is_disabled_and_enabled_again() {
    let console = console_with_machines().await;
    let browser = console.signed_in().await;
    let page = console.get(&browser, "/console/machines").await.body;
    assert!(row_of(&page, "host-1").contains("Disable key expiry of host-1"));
    assert!(!row_of(&page, "host-3").contains("key expiry of host-3"), "tagged: nothing to switch");

    let reply =
        console.submit(&browser, "/console/machines/1/expiry", &[("disabled", "true")]).await;
    assert_eq!(reply.location(), "/console/machines?notice=expiry-off");
    assert_eq!(console.tailnet.node(NodeId(1)).unwrap().node.key_expiry, None);
    let page = console.get(&browser, "/console/machines").await.body;
    assert!(row_of(&page, "host-1").contains("Expiry disabled"));
    assert!(row_of(&page, "host-1").contains("Enable key expiry of host-1"));

    let reply =
        console.submit(&browser, "/console/machines/1/expiry", &[("disabled", "false")]).await;
    assert_eq!(reply.location(), "/console/machines?notice=expiry-on");
    assert!(console.tailnet.node(NodeId(1)).unwrap().node.key_expiry.is_some());

    let bad =
        console.submit(&browser, "/console/machines/1/expiry", &[("disabled", "maybe")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unknown =
        console.submit(&browser, "/console/machines/99/expiry", &[("disabled", "true")]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
