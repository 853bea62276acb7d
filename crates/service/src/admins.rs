//! Console admin accounts, their sign-in sessions, and the one-time setup link that creates
//! the first account on a server that has none.
//!
//! Passwords are hashed with argon2id, at most one hash per core at once
//! ([`crate::password_hashing`]); a setup post's token is checked before its password is
//! hashed, so posts with made-up tokens cost nothing but a lookup.
//! Session secrets and setup tokens are 256 random bits: a plain SHA-256 is all they need at
//! rest (there is nothing to guess), so only that is stored. Each session also has a CSRF
//! token, derived from its secret under a different label, so it needs no storage and reveals
//! nothing about the secret.

use std::fmt;
use std::time::Duration;

use keygate_domain::{SecretHash, Timestamp, UserName};
/// Re-exported so surfaces can name admins without depending on the store.
pub use keygate_store::{ConsoleAdmin, ConsoleAdminId};
use keygate_store::{ConsoleSession, SetupOutcome, SetupToken, StoreError};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::users::require_admin;
use crate::{Actor, Service, ServiceError};

/// Shortest password accepted, in characters.
pub const ADMIN_PASSWORD_MIN_CHARS: usize = 12;
/// Longest password accepted, in characters: argon2 takes any length, but a cap keeps a
/// client from making the server hash megabytes.
pub const ADMIN_PASSWORD_MAX_CHARS: usize = 256;
/// How long a console session lasts after signing in, whatever happens in between.
pub const CONSOLE_SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// How long a setup link stays usable (unless used first).
pub const SETUP_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Random bytes in a session secret or setup token.
const SECRET_BYTES: usize = 32;
/// Labels that keep the hashes of one secret apart (stored id vs. CSRF token).
const SESSION_LABEL: &[u8] = b"keygate console session\0";
const CSRF_LABEL: &[u8] = b"keygate console csrf\0";
const SETUP_LABEL: &[u8] = b"keygate console setup\0";

/// A secret handed out once: a session cookie's value or a setup link's token. 64 lowercase
/// hex characters. `Debug` does not show it; the memory is wiped on drop.
pub struct ConsoleSecret(Zeroizing<String>);

impl ConsoleSecret {
    fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        OsRng.fill_bytes(bytes.as_mut());
        Self(Zeroizing::new(hex::encode(bytes.as_ref())))
    }

    /// The secret, for the one place it goes (a `Set-Cookie` header, a printed link).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ConsoleSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsoleSecret(***)")
    }
}

/// A session's CSRF token: put in every form, compared on every POST. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken(String);

impl CsrfToken {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken(***)")
    }
}

/// A valid console session: who it is, until when, and its CSRF token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminSession {
    pub admin: ConsoleAdminId,
    pub name: UserName,
    pub expires: Timestamp,
    pub csrf: CsrfToken,
}

/// A session just started: its secret (for the cookie, shown nowhere else) and the session.
#[derive(Debug)]
pub struct SignedIn {
    pub secret: ConsoleSecret,
    pub session: AdminSession,
}

/// Checks an admin name: the syntax of user names.
pub fn parse_admin_name(text: &str) -> Result<UserName, ServiceError> {
    UserName::parse(text.trim()).map_err(|_| {
        ServiceError::Invalid(
            "use 1 to 63 lowercase letters, digits, '.', '_', '-' or '@', starting with a \
             letter or digit"
                .into(),
        )
    })
}

/// Checks a new password's length (the only rule: long passphrases beat composition rules).
pub fn check_admin_password(password: &str) -> Result<(), ServiceError> {
    let chars = password.chars().count();
    if chars < ADMIN_PASSWORD_MIN_CHARS {
        return Err(ServiceError::Invalid(format!(
            "too short: use at least {ADMIN_PASSWORD_MIN_CHARS} characters"
        )));
    }
    if chars > ADMIN_PASSWORD_MAX_CHARS {
        return Err(ServiceError::Invalid(format!(
            "too long: use at most {ADMIN_PASSWORD_MAX_CHARS} characters"
        )));
    }
    Ok(())
}

impl Service {
    /// How many console admins exist.
    pub async fn console_admin_count(&self) -> Result<u64, ServiceError> {
        Ok(self.store.count_console_admins().await?)
    }

    /// Creates a console admin. Admins only (the local admin socket, whose caller is the
    /// server's administrator: it waits for a free hashing slot rather than being refused).
    pub async fn create_console_admin(
        &self,
        actor: &Actor,
        name: &str,
        password: &str,
    ) -> Result<ConsoleAdmin, ServiceError> {
        require_admin(actor)?;
        let name = parse_admin_name(name)?;
        check_admin_password(password)?;
        let slot = self.password_hashing.reserve().await;
        let hash = self.password_hashing.hash(slot, password).await?;
        match self.store.insert_console_admin(&name, &hash, self.now()).await {
            Ok(admin) => {
                tracing::info!(admin = %admin.name, "console admin created");
                Ok(admin)
            }
            Err(StoreError::Conflict(_)) => {
                Err(ServiceError::AlreadyExists { what: "console admin", id: name.to_string() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every console admin, by id. Admins only.
    pub async fn list_console_admins(
        &self,
        actor: &Actor,
    ) -> Result<Vec<ConsoleAdmin>, ServiceError> {
        require_admin(actor)?;
        Ok(self.store.list_console_admins().await?)
    }

    /// A new setup token for the first admin, or `None` when an admin exists already.
    pub async fn create_setup_token(&self) -> Result<Option<ConsoleSecret>, ServiceError> {
        if self.console_admin_count().await? > 0 {
            return Ok(None);
        }
        let secret = ConsoleSecret::generate();
        let now = self.now();
        let token = SetupToken {
            token_hash: digest(SETUP_LABEL, secret.expose()),
            created: now,
            expires: now.plus(SETUP_TOKEN_LIFETIME),
            used_at: None,
        };
        self.store.insert_console_setup_token(&token).await?;
        tracing::info!(expires = %token.expires, "console setup link created");
        Ok(Some(secret))
    }

    /// Whether `token` could create the first admin now: known, unused, unexpired, and no
    /// admin exists yet.
    pub async fn setup_token_is_usable(&self, token: &str) -> Result<bool, ServiceError> {
        if !is_secret_text(token) || self.console_admin_count().await? > 0 {
            return Ok(false);
        }
        let found = self.store.find_console_setup_token(&digest(SETUP_LABEL, token)).await?;
        Ok(found.is_some_and(|t| t.is_usable(self.now())))
    }

    /// Creates the first admin with a setup token, and signs them in. The token is used up;
    /// a used, expired or unknown token, or an existing admin, is [`ServiceError::Forbidden`].
    ///
    /// The token and "no admin yet" are checked before the password is hashed, so a made-up
    /// token costs one lookup, never a hash; the insert checks both again, atomically, for
    /// two posts of one link racing. With every hashing slot taken: [`ServiceError::Busy`].
    pub async fn complete_console_setup(
        &self,
        token: &str,
        name: &str,
        password: &str,
    ) -> Result<SignedIn, ServiceError> {
        let name = parse_admin_name(name)?;
        check_admin_password(password)?;
        let refused = || {
            ServiceError::Forbidden(
                "this setup link is invalid, used or expired: start `keygate serve` again for a \
                 new one, or run `keygate admin create NAME`"
                    .into(),
            )
        };
        if self.console_admin_count().await? > 0 {
            return Err(admin_exists());
        }
        if !self.setup_token_is_usable(token).await? {
            return Err(refused());
        }
        let slot = self.password_hashing.try_reserve()?;
        let hash = self.password_hashing.hash(slot, password).await?;
        let now = self.now();
        let outcome = self
            .store
            .insert_first_console_admin(&digest(SETUP_LABEL, token), now, &name, &hash)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    ServiceError::AlreadyExists { what: "console admin", id: name.to_string() }
                }
                e => e.into(),
            })?;
        match outcome {
            SetupOutcome::Created(admin) => {
                tracing::info!(admin = %admin.name, "first console admin created with the setup link");
                self.start_session(admin).await
            }
            SetupOutcome::TokenRejected => Err(refused()),
            SetupOutcome::AdminExists => Err(admin_exists()),
        }
    }

    /// Checks a name and password and starts a session. Every failure is the same
    /// [`ServiceError::Unauthenticated`], and an unknown name costs the same hashing time as
    /// a wrong password, so a caller cannot tell which names exist. (Rate limiting is the
    /// surface's job: it knows the client's address.) With every hashing slot taken:
    /// [`ServiceError::Busy`], before any lookup.
    pub async fn console_sign_in(
        &self,
        name: &str,
        password: &str,
    ) -> Result<SignedIn, ServiceError> {
        let slot = self.password_hashing.try_reserve()?;
        let admin = match UserName::parse(name.trim()) {
            Ok(name) => self.store.find_console_admin_by_name(&name).await?,
            Err(_) => None,
        };
        let stored = admin.as_ref().map(|a| a.password_hash.clone());
        let password_ok = self.password_hashing.verify(slot, password, stored).await?;
        match admin {
            Some(admin) if password_ok => {
                tracing::info!(admin = %admin.name, "console sign-in");
                self.start_session(admin).await
            }
            Some(_) => {
                tracing::info!("console sign-in refused: wrong password");
                Err(ServiceError::Unauthenticated)
            }
            None => {
                tracing::info!("console sign-in refused: unknown admin");
                Err(ServiceError::Unauthenticated)
            }
        }
    }

    /// The session whose cookie holds `secret`; [`ServiceError::Unauthenticated`] when it is
    /// malformed, unknown, expired, or its admin is gone.
    pub async fn console_session(&self, secret: &str) -> Result<AdminSession, ServiceError> {
        if !is_secret_text(secret) {
            return Err(ServiceError::Unauthenticated);
        }
        let stored = self
            .store
            .find_console_session(&digest(SESSION_LABEL, secret))
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        if self.now() >= stored.expires {
            return Err(ServiceError::Unauthenticated);
        }
        let admin = match self.store.get_console_admin(stored.admin).await {
            Ok(admin) => admin,
            Err(StoreError::NotFound(_)) => return Err(ServiceError::Unauthenticated),
            Err(e) => return Err(e.into()),
        };
        Ok(AdminSession {
            admin: admin.id,
            name: admin.name,
            expires: stored.expires,
            csrf: csrf_token(secret),
        })
    }

    /// Ends the session whose cookie holds `secret` (nothing happens when there is none).
    pub async fn console_sign_out(&self, secret: &str) -> Result<(), ServiceError> {
        if is_secret_text(secret)
            && self.store.delete_console_session(&digest(SESSION_LABEL, secret)).await?
        {
            tracing::info!("console sign-out");
        }
        Ok(())
    }

    /// Stores a new session for `admin`, sweeping expired ones on the way (sign-ins are rare,
    /// so this keeps the table small without a background task).
    async fn start_session(&self, admin: ConsoleAdmin) -> Result<SignedIn, ServiceError> {
        let now = self.now();
        self.store.delete_expired_console_sessions(now).await?;
        let secret = ConsoleSecret::generate();
        let session = ConsoleSession {
            id_hash: digest(SESSION_LABEL, secret.expose()),
            admin: admin.id,
            created: now,
            expires: now.plus(CONSOLE_SESSION_LIFETIME),
        };
        self.store.insert_console_session(&session).await?;
        let csrf = csrf_token(secret.expose());
        Ok(SignedIn {
            session: AdminSession {
                admin: admin.id,
                name: admin.name,
                expires: session.expires,
                csrf,
            },
            secret,
        })
    }
}

fn admin_exists() -> ServiceError {
    ServiceError::Forbidden("an admin exists already: sign in instead".into())
}

/// Whether `text` has the shape of a [`ConsoleSecret`] (checked before any lookup).
fn is_secret_text(text: &str) -> bool {
    text.len() == SECRET_BYTES * 2 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// SHA-256 of `label` and `secret`.
fn digest(label: &[u8], secret: &str) -> SecretHash {
    let mut h = Sha256::new();
    h.update(label);
    h.update(secret.as_bytes());
    SecretHash(h.finalize().into())
}

fn csrf_token(secret: &str) -> CsrfToken {
    CsrfToken(hex::encode(digest(CSRF_LABEL, secret).0))
}
