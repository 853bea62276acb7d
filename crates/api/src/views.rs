//! The one way a credential becomes its response: what that needs beyond the stored credential
//! (the time, on which its state depends, and the names of the users it belongs to) is fetched
//! once per request and shared by every credential in the answer.

use std::collections::HashMap;

use keygate_domain::{ApiToken, AuthKey, Timestamp, UserId, UserName};
use keygate_service::{Actor, Service};

use crate::error::ApiError;
use crate::keys::Key;
use crate::tokens::Token;

/// Turns stored credentials into the objects the endpoints report (never with a secret).
pub(crate) struct CredentialViews {
    now: Timestamp,
    names: HashMap<UserId, UserName>,
}

impl CredentialViews {
    /// Reads the names of the users `actor` can see, and the time.
    ///
    /// The service has no lookup by id, and this costs one query per request; a user token sees
    /// only itself, which is all it needs because it sees only its own keys.
    pub(crate) async fn load(service: &Service, actor: &Actor) -> Result<Self, ApiError> {
        let users = service.list_users(actor).await?;
        let names = users.into_iter().map(|u| (u.id, u.name)).collect();
        Ok(Self { now: service.now(), names })
    }

    /// An auth key, with its creator's name.
    pub(crate) fn key(&self, key: &AuthKey) -> Key {
        Key::from_domain(key, self.now, key.creator.and_then(|id| self.names.get(&id)))
    }

    /// An API token, with the name of the user it acts as.
    pub(crate) fn token(&self, token: &ApiToken) -> Token {
        Token::from_domain(token, self.now, self.names.get(&token.user))
    }
}
