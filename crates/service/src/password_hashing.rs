//! Password hashing with argon2id, capped so that hashing cannot exhaust the machine.
//!
//! One argon2id computation takes 19 MiB and tens of milliseconds of one core (the `argon2`
//! crate's defaults, as OWASP recommends). Each runs on a blocking thread, so a sign-in never
//! stalls the runtime; and at most [`PasswordHashing::slots`] run at once (one per core by
//! default), so a flood of sign-in or setup posts costs at most that many cores and
//! `slots × 19 MiB`, however many arrive.
//!
//! A caller first takes a [`HashSlot`]: the public surfaces with
//! [`PasswordHashing::try_reserve`], which refuses at once with [`ServiceError::Busy`] when
//! every slot is taken (the console answers 503 with `Retry-After`); the local admin socket
//! waits for one instead. The slot moves into the blocking task and is given back when the
//! computation ends, even if the request that started it was dropped meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use keygate_store::{PasswordHash, StoreError};
use rand::rngs::OsRng;
use rand::RngCore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use crate::ServiceError;

/// What a refused caller is told to wait before trying again (`Retry-After`): one hash takes
/// tens of milliseconds, so a slot is free again well within it.
pub const PASSWORD_HASH_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The cap on concurrent password hashes, and a count of the hashes run.
#[derive(Debug)]
pub struct PasswordHashing {
    slots: Arc<Semaphore>,
    capacity: usize,
    started: AtomicU64,
}

/// The right to run one password hash; given back on drop.
#[derive(Debug)]
pub struct HashSlot {
    _permit: OwnedSemaphorePermit,
}

impl PasswordHashing {
    /// A cap of `slots` hashes at once (at least one).
    pub fn new(slots: usize) -> Self {
        let capacity = slots.max(1);
        Self { slots: Arc::new(Semaphore::new(capacity)), capacity, started: AtomicU64::new(0) }
    }

    /// A cap of one hash per core this process may use.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// How many hashes may run at once.
    pub fn slots(&self) -> usize {
        self.capacity
    }

    /// How many password hashes and checks this process has started: the cost a flood
    /// actually caused. (The dummy hash, made once on first need, is not counted.)
    pub fn hashes_started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// A free slot now, or [`ServiceError::Busy`] when every slot is taken.
    pub fn try_reserve(&self) -> Result<HashSlot, ServiceError> {
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => Ok(HashSlot { _permit: permit }),
            Err(_) => {
                tracing::warn!(slots = self.capacity, "password hashing busy: request refused");
                Err(ServiceError::Busy { retry_after: PASSWORD_HASH_RETRY_AFTER })
            }
        }
    }

    /// A slot, waiting for one to free up.
    pub(crate) async fn reserve(&self) -> HashSlot {
        let permit =
            self.slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        HashSlot { _permit: permit }
    }

    /// Hashes a new password with argon2id and a random salt, in `slot`.
    pub(crate) async fn hash(
        &self,
        slot: HashSlot,
        password: &str,
    ) -> Result<PasswordHash, ServiceError> {
        let password = Zeroizing::new(password.to_owned());
        self.started.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let mut salt = [0u8; 16];
            OsRng.fill_bytes(&mut salt);
            let salt = SaltString::encode_b64(&salt).map_err(unhashable)?;
            let phc =
                Argon2::default().hash_password(password.as_bytes(), &salt).map_err(unhashable)?;
            Ok(PasswordHash::new(phc.to_string()))
        })
        .await
        .map_err(interrupted)?
    }

    /// Checks `password` against a stored PHC string, in `slot`. With no stored hash (an
    /// unknown name) it checks against [`dummy_hash`] and answers `false`, taking as long.
    pub(crate) async fn verify(
        &self,
        slot: HashSlot,
        password: &str,
        stored: Option<PasswordHash>,
    ) -> Result<bool, ServiceError> {
        let password = Zeroizing::new(password.to_owned());
        self.started.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let known = stored.is_some();
            let phc = stored.as_ref().map_or(dummy_hash(), PasswordHash::as_str);
            let parsed = argon2::PasswordHash::new(phc).map_err(|e| StoreError::Corrupt {
                what: "console_admins.password_hash",
                detail: e.to_string(),
            })?;
            Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && known)
        })
        .await
        .map_err(interrupted)?
    }
}

/// A hash of a password nobody knows, checked when the name is unknown so that the answer
/// takes as long as for a wrong password. Made on first use, inside a slot.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let salt = SaltString::encode_b64(&bytes[..16]).expect("16 bytes make a valid salt");
        Argon2::default()
            .hash_password(&bytes[16..], &salt)
            .map(|h| h.to_string())
            .expect("argon2 with default parameters hashes any input")
    })
}

/// argon2 refuses only inputs beyond its limits (far past the longest password accepted).
fn unhashable(e: argon2::password_hash::Error) -> ServiceError {
    ServiceError::Invalid(format!("the password cannot be hashed: {e}"))
}

/// The blocking task panicked or the runtime is shutting down.
fn interrupted(e: tokio::task::JoinError) -> ServiceError {
    ServiceError::Invalid(format!("password hashing was interrupted: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_cap_refuses_at_once_and_a_freed_slot_is_reused() {
        let hashing = PasswordHashing::new(2);
        let first = hashing.try_reserve().unwrap();
        let _second = hashing.try_reserve().unwrap();
        match hashing.try_reserve() {
            Err(ServiceError::Busy { retry_after }) => {
                assert_eq!(retry_after, PASSWORD_HASH_RETRY_AFTER)
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(first);
        let slot = hashing.try_reserve().expect("the slot is free again");
        let hash = hashing.hash(slot, "correct horse battery staple").await.unwrap();
        // The slot went back when the hash ended.
        let slot = hashing.try_reserve().unwrap();
        assert!(hashing.verify(slot, "correct horse battery staple", Some(hash)).await.unwrap());
        assert_eq!(hashing.hashes_started(), 2);
        assert_eq!(PasswordHashing::new(0).slots(), 1, "never zero");
    }
}
