//! Console admins, sessions and setup tokens: round trips, unique names, session expiry and
//! deletion, and the one-time use of a setup token.

use std::sync::Arc;

use keygate_domain::{SecretHash, Timestamp, UserName};
use keygate_store::{
    ConsoleAdmin, ConsoleAdminId, ConsoleSession, PasswordHash, SetupOutcome, SetupToken,
    StoreError, Unique,
};

use crate::support::{conformance, TestDb, DAY, MINUTE, RACERS, T0};

conformance!(
    console_admins_round_trip_and_count,
    console_admin_names_are_unique,
    console_sessions_are_found_by_hash_and_deleted,
    expired_console_sessions_are_swept,
    a_session_needs_an_existing_admin,
    a_setup_token_creates_the_first_admin_once,
    an_expired_setup_token_creates_nothing,
    setup_is_refused_once_an_admin_exists,
    concurrent_setups_with_one_token_create_one_admin,
);

fn name(text: &str) -> UserName {
    UserName::parse(text).expect("fixture names are valid")
}

fn phc(n: u8) -> PasswordHash {
    PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${n}"))
}

async fn admin(db: &TestDb, text: &str) -> ConsoleAdmin {
    db.store.insert_console_admin(&name(text), &phc(1), T0).await.expect("the admin is inserted")
}

fn setup_token(n: u8) -> SetupToken {
    SetupToken {
        token_hash: SecretHash([n; 32]),
        created: T0,
        expires: T0.plus(DAY),
        used_at: None,
    }
}

/// Creates the first admin `who` with the token hashed as `hash`, at `at`.
async fn first_admin(db: &TestDb, hash: &SecretHash, at: Timestamp, who: &str) -> SetupOutcome {
    db.store
        .insert_first_console_admin(hash, at, &name(who), &phc(1))
        .await
        .expect("the setup transaction runs")
}

async fn console_admins_round_trip_and_count(db: TestDb) {
    assert_eq!(db.store.count_console_admins().await.unwrap(), 0);
    let alice = admin(&db, "alice").await;
    let bob_name = name("bob@example.com");
    let bob = db.store.insert_console_admin(&bob_name, &phc(2), T0.plus(MINUTE)).await.unwrap();
    assert_eq!((alice.name.as_str(), alice.created), ("alice", T0));
    assert_eq!(bob.password_hash, phc(2));
    assert!(bob.id > alice.id, "ids grow");
    assert_eq!(db.store.count_console_admins().await.unwrap(), 2);
    assert_eq!(db.store.get_console_admin(alice.id).await.unwrap(), alice);
    let found = db.store.find_console_admin_by_name(&name("bob@example.com")).await.unwrap();
    assert_eq!(found, Some(bob.clone()));
    assert_eq!(db.store.find_console_admin_by_name(&name("carol")).await.unwrap(), None);
    assert_eq!(db.store.list_console_admins().await.unwrap(), vec![alice, bob]);
    let missing = db.store.get_console_admin(ConsoleAdminId(4242)).await;
    assert!(matches!(missing, Err(StoreError::NotFound("console admin"))), "{missing:?}");
}

async fn console_admin_names_are_unique(db: TestDb) {
    admin(&db, "alice").await;
    let again = db.store.insert_console_admin(&name("alice"), &phc(2), T0).await;
    assert!(matches!(again, Err(StoreError::Conflict(Unique::ConsoleAdminName))), "{again:?}");
    assert_eq!(db.store.count_console_admins().await.unwrap(), 1);
}

async fn console_sessions_are_found_by_hash_and_deleted(db: TestDb) {
    let alice = admin(&db, "alice").await;
    let session = ConsoleSession {
        id_hash: SecretHash([7; 32]),
        admin: alice.id,
        created: T0,
        expires: T0.plus(DAY),
    };
    db.store.insert_console_session(&session).await.unwrap();
    assert_eq!(
        db.store.find_console_session(&session.id_hash).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(db.store.find_console_session(&SecretHash([8; 32])).await.unwrap(), None);
    assert!(db.store.delete_console_session(&session.id_hash).await.unwrap());
    assert!(!db.store.delete_console_session(&session.id_hash).await.unwrap());
    assert_eq!(db.store.find_console_session(&session.id_hash).await.unwrap(), None);
}

async fn expired_console_sessions_are_swept(db: TestDb) {
    let alice = admin(&db, "alice").await;
    for n in 1..=3u8 {
        let session = ConsoleSession {
            id_hash: SecretHash([n; 32]),
            admin: alice.id,
            created: T0,
            expires: T0.plus(DAY * u32::from(n)),
        };
        db.store.insert_console_session(&session).await.unwrap();
    }
    // "Expired at or before now": the session expiring exactly at 2 days goes too.
    assert_eq!(db.store.delete_expired_console_sessions(T0.plus(2 * DAY)).await.unwrap(), 2);
    assert!(db.store.find_console_session(&SecretHash([3; 32])).await.unwrap().is_some());
    assert_eq!(db.store.delete_expired_console_sessions(T0.plus(2 * DAY)).await.unwrap(), 0);
}

async fn a_session_needs_an_existing_admin(db: TestDb) {
    let session = ConsoleSession {
        id_hash: SecretHash([7; 32]),
        admin: ConsoleAdminId(4242),
        created: T0,
        expires: T0.plus(DAY),
    };
    let got = db.store.insert_console_session(&session).await;
    assert!(matches!(got, Err(StoreError::NotFound("console admin"))), "{got:?}");
}

async fn a_setup_token_creates_the_first_admin_once(db: TestDb) {
    let token = setup_token(1);
    db.store.insert_console_setup_token(&token).await.unwrap();
    assert_eq!(
        db.store.find_console_setup_token(&token.token_hash).await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(db.store.find_console_setup_token(&SecretHash([9; 32])).await.unwrap(), None);

    let at = T0.plus(MINUTE);
    let SetupOutcome::Created(alice) = first_admin(&db, &token.token_hash, at, "alice").await
    else {
        panic!("the admin is created")
    };
    assert_eq!((alice.name.as_str(), alice.created), ("alice", at));
    let used = db.store.find_console_setup_token(&token.token_hash).await.unwrap().unwrap();
    assert_eq!(used.used_at, Some(at));
    assert!(!used.is_usable(at));

    let again = first_admin(&db, &token.token_hash, at, "bob").await;
    assert_eq!(again, SetupOutcome::TokenRejected);
    let unknown = first_admin(&db, &SecretHash([9; 32]), at, "bob").await;
    assert_eq!(unknown, SetupOutcome::TokenRejected);
    assert_eq!(db.store.count_console_admins().await.unwrap(), 1);
}

async fn an_expired_setup_token_creates_nothing(db: TestDb) {
    let token = setup_token(1);
    db.store.insert_console_setup_token(&token).await.unwrap();
    assert!(token.is_usable(T0) && !token.is_usable(token.expires));
    let late = first_admin(&db, &token.token_hash, token.expires, "alice").await;
    assert_eq!(late, SetupOutcome::TokenRejected);
    assert_eq!(db.store.count_console_admins().await.unwrap(), 0);
}

async fn setup_is_refused_once_an_admin_exists(db: TestDb) {
    admin(&db, "alice").await;
    let token = setup_token(1);
    db.store.insert_console_setup_token(&token).await.unwrap();
    let got = first_admin(&db, &token.token_hash, T0, "bob").await;
    assert_eq!(got, SetupOutcome::AdminExists);
    // The refusal rolled the token's use back.
    let stored = db.store.find_console_setup_token(&token.token_hash).await.unwrap().unwrap();
    assert_eq!(stored.used_at, None);
    assert_eq!(db.store.count_console_admins().await.unwrap(), 1);
}

async fn concurrent_setups_with_one_token_create_one_admin(db: TestDb) {
    let token = setup_token(1);
    db.store.insert_console_setup_token(&token).await.unwrap();
    let hash = Arc::new(token.token_hash);
    let racers: Vec<_> = (0..RACERS)
        .map(|n| {
            let (store, hash) = (db.store.clone(), hash.clone());
            tokio::spawn(async move {
                let who = name(&format!("admin{n}"));
                store.insert_first_console_admin(&hash, T0, &who, &phc(1)).await
            })
        })
        .collect();
    let mut created = 0;
    for racer in racers {
        match racer.await.unwrap().unwrap() {
            SetupOutcome::Created(_) => created += 1,
            SetupOutcome::TokenRejected => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(db.store.count_console_admins().await.unwrap(), 1);
}
