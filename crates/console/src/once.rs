//! Secrets shown exactly once: a new pre-auth key or API token, between the POST that made
//! it and the GET that shows it.
//!
//! The POST stores the secret here under a random id and redirects to the page with
//! `?shown=<id>` (POST-redirect-GET, so a reload never re-submits the form); the GET takes it
//! out. A reload finds nothing, so the secret is gone for good. Entries belong to the session
//! that created them, are wiped from memory when taken or dropped, and expire after
//! [`ONCE_TTL`]. They live in this process only, like all live state: one server serves one
//! database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// How long a secret waits to be shown.
pub const ONCE_TTL: Duration = Duration::from_secs(10 * 60);
/// Most secrets waiting at once, across all sessions.
const MAX_WAITING: usize = 1_000;

/// A secret waiting to be shown.
pub(crate) struct Waiting {
    /// The secret itself.
    pub secret: Zeroizing<String>,
    /// The public id of the key or token, for the page.
    pub id: String,
    /// Identifies the session it belongs to (its CSRF token, which is unique per session).
    owner: String,
    created: Instant,
}

/// The secrets waiting to be shown.
#[derive(Default)]
pub(crate) struct OnceSecrets {
    waiting: Mutex<HashMap<String, Waiting>>,
}

impl OnceSecrets {
    /// Keeps `secret` for the session `owner`; the id to redirect to.
    pub(crate) fn put(&self, owner: &str, id: String, secret: Zeroizing<String>) -> String {
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        let key = hex::encode(bytes);
        let now = Instant::now();
        let mut waiting = self.lock();
        waiting.retain(|_, w| now.duration_since(w.created) < ONCE_TTL);
        if waiting.len() >= MAX_WAITING {
            let oldest = waiting.iter().min_by_key(|(_, w)| w.created).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                waiting.remove(&oldest);
            }
        }
        waiting.insert(key.clone(), Waiting { secret, id, owner: owner.to_owned(), created: now });
        key
    }

    /// Takes the secret stored under `key` for `owner`, if it is still there. Another
    /// session's secret stays where it is.
    pub(crate) fn take(&self, owner: &str, key: &str) -> Option<Waiting> {
        let mut waiting = self.lock();
        let entry = waiting.get(key)?;
        let mine = bool::from(entry.owner.as_bytes().ct_eq(owner.as_bytes()));
        if !mine || entry.created.elapsed() >= ONCE_TTL {
            return None;
        }
        waiting.remove(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_taken_once_and_only_by_its_session() {
        let once = OnceSecrets::default();
        let key = once.put("session-a", "k1".into(), Zeroizing::new("s3cret".into()));
        assert!(once.take("session-b", &key).is_none(), "another session cannot take it");
        let got = once.take("session-a", &key).expect("its session takes it");
        assert_eq!((got.id.as_str(), got.secret.as_str()), ("k1", "s3cret"));
        assert!(once.take("session-a", &key).is_none(), "a second look finds nothing");
        assert!(once.take("session-a", "no-such-key").is_none());
    }
}
