//! Policy file history: latest wins, history listable newest first, and saves guarded by the
//! revision they started from.

use keygate_store::{NewPolicyRevision, StoreError, Unique};

use crate::support::{conformance, TestDb, MINUTE, RACERS, T0};

conformance!(
    history_starts_empty_and_the_latest_revision_wins,
    a_save_from_a_stale_revision_is_a_conflict,
    concurrent_saves_from_one_revision_store_exactly_one,
);

/// A policy file with a comment, a trailing comma and non-ASCII text, which must come back
/// byte for byte.
const TEXT: &str = "// Zugriff für alle ✓\n{\n\t\"acls\": [\n\t\t{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]},\n\t],\n}\n";

fn revision(parent: i64, text: &str, minutes: u32) -> NewPolicyRevision {
    NewPolicyRevision {
        parent,
        text: text.to_owned(),
        saved_by: "admin".to_owned(),
        created: T0.plus(MINUTE * minutes),
    }
}

async fn history_starts_empty_and_the_latest_revision_wins(db: TestDb) {
    assert_eq!(db.store.find_latest_policy_revision().await.unwrap(), None);
    assert!(db.store.list_policy_revisions().await.unwrap().is_empty());

    let first = db.store.insert_policy_revision(&revision(0, TEXT, 1)).await.unwrap();
    assert_eq!((first.parent, first.text.as_str(), first.saved_by.as_str()), (0, TEXT, "admin"));
    assert_eq!(first.created, T0.plus(MINUTE));
    assert_eq!(db.store.find_latest_policy_revision().await.unwrap(), Some(first.clone()));

    let second = db.store.insert_policy_revision(&revision(first.id, "{}", 2)).await.unwrap();
    assert!(second.id > first.id, "revision numbers grow");
    assert_eq!(second.parent, first.id);
    assert_eq!(db.store.find_latest_policy_revision().await.unwrap(), Some(second.clone()));
    assert_eq!(db.store.list_policy_revisions().await.unwrap(), vec![second, first]);
}

async fn a_save_from_a_stale_revision_is_a_conflict(db: TestDb) {
    let first = db.store.insert_policy_revision(&revision(0, "{}", 1)).await.unwrap();
    for stale in [0, first.id + 1, -1] {
        let got = db.store.insert_policy_revision(&revision(stale, "{\"acls\": []}", 2)).await;
        assert!(
            matches!(got, Err(StoreError::Conflict(Unique::PolicyRevision))),
            "{stale}: {got:?}"
        );
    }
    assert_eq!(db.store.list_policy_revisions().await.unwrap(), vec![first]);
}

async fn concurrent_saves_from_one_revision_store_exactly_one(db: TestDb) {
    let first = db.store.insert_policy_revision(&revision(0, "{}", 1)).await.unwrap();
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = db.store.clone();
            let rev = revision(first.id, &format!("// racer {i}\n{{}}"), 2);
            tokio::spawn(async move { store.insert_policy_revision(&rev).await })
        })
        .collect();
    let mut stored = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(rev) => stored.push(rev),
            Err(StoreError::Conflict(Unique::PolicyRevision)) => {}
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(stored.len(), 1, "exactly one save from the same revision wins");
    let history = db.store.list_policy_revisions().await.unwrap();
    assert_eq!(history, vec![stored[0].clone(), first]);
}
