//! What a stolen SQLite file gives away about a key: its hash, and nothing of the secret.
//! (That the service never hands the store a secret is tested at the service level.)

use keygate_domain::{AuthKey, Pepper, SecretKind, SecretToken};

use crate::support::{auth_key, one_off, TestDb};

/// The database file and its write-ahead log, where fresh writes sit until a checkpoint.
fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_sqlite_file_holds_the_key_hash_and_not_the_secret() {
    let (db, file) = TestDb::sqlite().await;
    let template = auth_key(1, None, one_off());
    let secret = SecretToken::new(SecretKind::Auth, template.id.as_str(), &[0x5e; 32]);
    let hash = Pepper::from_bytes([7; 32]).hash(&secret);
    let key = AuthKey { secret_hash: hash.clone(), ..template };
    db.store.insert_credential(&key).await.unwrap();

    let bytes = file_bytes(file.path());
    assert!(contains(&bytes, &hash.0), "the hash is stored as its raw bytes");
    let exposed = secret.expose();
    let secret_part = exposed.rsplit('-').next().unwrap();
    assert!(!contains(&bytes, exposed.as_bytes()));
    assert!(!contains(&bytes, secret_part.as_bytes()), "no trace of the secret");
}
