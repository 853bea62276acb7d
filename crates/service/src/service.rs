//! The [`Service`] value that every surface holds.

use std::sync::Arc;
use std::time::Duration;

use keygate_domain::{Pepper, Timestamp, UserName};
use keygate_store::Store;

use crate::clock::Clock;
use crate::password_hashing::PasswordHashing;

/// Tunables of the service layer.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// How long revoked, expired and used-up keys stay listed as "recently revoked or expired".
    pub recently_invalid_window: Duration,
    /// The user that keys are created for when an admin names none.
    pub default_user: UserName,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            recently_invalid_window: Duration::from_secs(30 * 86_400),
            default_user: UserName::parse("admin").expect("\"admin\" is a valid user name"),
        }
    }
}

/// All of keygate's use cases, over one store.
#[derive(Clone)]
pub struct Service {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) pepper: Pepper,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: ServiceConfig,
    /// The process-wide cap on concurrent password hashes, shared by every clone.
    pub(crate) password_hashing: Arc<PasswordHashing>,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        pepper: Pepper,
        clock: Arc<dyn Clock>,
        config: ServiceConfig,
    ) -> Self {
        let password_hashing = Arc::new(PasswordHashing::per_core());
        Self { store, pepper, clock, config, password_hashing }
    }

    /// The current time by the service's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The cap on concurrent password hashes (one per core), and its count of hashes run.
    pub fn password_hashing(&self) -> &PasswordHashing {
        &self.password_hashing
    }
}
