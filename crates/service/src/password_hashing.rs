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
//!
//! Each slot owns the 19 MiB argon2 works in, allocated on the slot's first hash and reused by
//! every later one. Left to the allocator, each hash's block would be freed into the arena of
//! whichever blocking thread ran it, and glibc keeps such blocks (its mmap threshold rises to
//! the size of a freed block), so resident memory grew by 19 MiB per thread that ever hashed;
//! with the memory owned by the slots, hashing holds at most `slots × 19 MiB`, for good.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use keygate_store::{PasswordHash, StoreError};
use rand::rngs::OsRng;
use rand::RngCore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use crate::ServiceError;

/// What a refused caller is told to wait before trying again (`Retry-After`): one hash takes
/// tens of milliseconds, so a slot is free again well within it.
pub const PASSWORD_HASH_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The working memory of one argon2 computation.
type Memory = Vec<Block>;

/// The memories of the slots not in use (at most one per slot: a slot takes one, or makes
/// one on its first hash, and puts it back when it ends).
type MemoryPool = Arc<Mutex<Vec<Memory>>>;

/// The cap on concurrent password hashes, and a count of the hashes run.
#[derive(Debug)]
pub struct PasswordHashing {
    slots: Arc<Semaphore>,
    memories: MemoryPool,
    capacity: usize,
    started: AtomicU64,
}

/// The right to run one password hash, with the memory it runs in; both are given back on
/// drop.
pub struct HashSlot {
    _permit: OwnedSemaphorePermit,
    memory: Option<Memory>,
    pool: MemoryPool,
}

impl std::fmt::Debug for HashSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashSlot")
            .field("memory_blocks", &self.memory.as_ref().map(Vec::len))
            .finish()
    }
}

impl HashSlot {
    fn new(permit: OwnedSemaphorePermit, pool: &MemoryPool) -> Self {
        let memory = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        Self { _permit: permit, memory, pool: pool.clone() }
    }

    /// At least `blocks` blocks of working memory, allocated only the first time (or when a
    /// stored hash asks for more than the defaults).
    fn memory(&mut self, blocks: usize) -> &mut [Block] {
        let memory = self.memory.get_or_insert_with(Vec::new);
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        memory
    }
}

impl Drop for HashSlot {
    fn drop(&mut self) {
        if let Some(memory) = self.memory.take() {
            self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(memory);
        }
    }
}

impl PasswordHashing {
    /// A cap of `slots` hashes at once (at least one).
    pub fn new(slots: usize) -> Self {
        let capacity = slots.max(1);
        Self {
            slots: Arc::new(Semaphore::new(capacity)),
            memories: Arc::default(),
            capacity,
            started: AtomicU64::new(0),
        }
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
            Ok(permit) => Ok(HashSlot::new(permit, &self.memories)),
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
        HashSlot::new(permit, &self.memories)
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
            let mut slot = slot;
            let mut salt = [0u8; 16];
            OsRng.fill_bytes(&mut salt);
            // What `Argon2::default().hash_password` does, in the slot's memory.
            let params = Params::default();
            let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
            Argon2::default()
                .hash_password_into_with_memory(
                    password.as_bytes(),
                    &salt,
                    &mut out,
                    slot.memory(params.block_count()),
                )
                .map_err(|e| unhashable(e.into()))?;
            let salt = SaltString::encode_b64(&salt).map_err(unhashable)?;
            let phc = argon2::PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params).map_err(unhashable)?,
                salt: Some(salt.as_salt()),
                hash: Some(Output::new(&out).map_err(unhashable)?),
            };
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
            let mut slot = slot;
            let known = stored.is_some();
            let phc = stored.as_ref().map_or(dummy_hash(), PasswordHash::as_str);
            let matches = check_in(&mut slot, password.as_bytes(), phc).map_err(|detail| {
                StoreError::Corrupt { what: "console_admins.password_hash", detail }
            })?;
            Ok(matches && known)
        })
        .await
        .map_err(interrupted)?
    }
}

/// Whether `password` matches the PHC string `phc`: the stored hash's own algorithm, version,
/// parameters and salt, computed in `slot`'s memory, compared in constant time.
fn check_in(slot: &mut HashSlot, password: &[u8], phc: &str) -> Result<bool, String> {
    let parsed = argon2::PasswordHash::new(phc).map_err(|e| e.to_string())?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| e.to_string())?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
    let expected = parsed.hash.ok_or("the stored hash has no output")?;
    let salt = parsed.salt.ok_or("the stored hash has no salt")?;
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, slot.memory(blocks))
        .map_err(|e| e.to_string())?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(|e| e.to_string())? == expected)
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

    #[tokio::test]
    async fn hashes_are_the_crates_own_format_and_the_slots_memory_is_reused() {
        let hashing = PasswordHashing::new(2);
        let hash = hashing.hash(hashing.try_reserve().unwrap(), "tr0ub4dor&3").await.unwrap();
        // The same PHC string `Argon2::default().hash_password` makes, so that hashes stored
        // before (and after) verify both ways.
        let parsed = argon2::PasswordHash::new(hash.as_str()).unwrap();
        use argon2::password_hash::PasswordVerifier;
        assert!(Argon2::default().verify_password(b"tr0ub4dor&3", &parsed).is_ok());
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.as_str());
        let salt = SaltString::encode_b64(&[7; 16]).unwrap();
        let old = Argon2::default().hash_password(b"old password", &salt).unwrap().to_string();
        let slot = hashing.try_reserve().unwrap();
        assert!(hashing
            .verify(slot, "old password", Some(PasswordHash::new(old.clone())))
            .await
            .unwrap());
        let slot = hashing.try_reserve().unwrap();
        assert!(!hashing.verify(slot, "Old password", Some(PasswordHash::new(old))).await.unwrap());
        let slot = hashing.try_reserve().unwrap();
        assert!(!hashing.verify(slot, "tr0ub4dor&3", None).await.unwrap(), "no stored hash");

        // Five hashes, one slot at a time: one memory was made, and it went back each time.
        for _ in 0..5 {
            let slot = hashing.try_reserve().unwrap();
            hashing.hash(slot, "again").await.unwrap();
        }
        let memories = hashing.memories.lock().unwrap();
        assert_eq!(memories.len(), 1, "one slot's memory, reused");
        assert_eq!(memories[0].len(), Params::default().block_count());
    }
}
