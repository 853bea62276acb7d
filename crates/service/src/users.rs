//! Users.

use keygate_domain::{AuditAction, User, UserName};
use keygate_store::StoreError;
use serde_json::json;

use crate::{Actor, Service, ServiceError};

impl Service {
    /// Creates a user. Admins only.
    pub async fn create_user(&self, actor: &Actor, name: &str) -> Result<User, ServiceError> {
        require_admin(actor)?;
        let name = UserName::parse(name)?;
        match self.store.insert_user(&name, self.now()).await {
            Ok(user) => {
                tracing::info!(user = %user.name, id = %user.id, "user created");
                self.record_audit(actor, AuditAction::UserCreate, user.name.as_str(), json!({}))
                    .await;
                Ok(user)
            }
            Err(StoreError::Conflict(_)) => {
                Err(ServiceError::AlreadyExists { what: "user", id: name.to_string() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// All users (admins), or just oneself (users).
    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<User>, ServiceError> {
        let users = self.store.list_users().await?;
        Ok(match actor {
            Actor::Admin => users,
            Actor::User(me) => users.into_iter().filter(|u| u.id == *me).collect(),
            // A tailnet credential stands for no user.
            Actor::OAuth(_) => Vec::new(),
        })
    }

    /// The user with id `id`.
    pub async fn user(&self, id: keygate_domain::UserId) -> Result<User, ServiceError> {
        self.store.get_user(id).await.map_err(|e| match e {
            StoreError::NotFound(_) => ServiceError::NotFound { what: "user", id: id.to_string() },
            e => e.into(),
        })
    }

    /// The user called `name`.
    pub async fn user_by_name(&self, name: &str) -> Result<User, ServiceError> {
        let parsed = UserName::parse(name)?;
        self.store
            .find_user_by_name(&parsed)
            .await?
            .ok_or_else(|| ServiceError::NotFound { what: "user", id: name.to_owned() })
    }

    /// The default user (see [`crate::ServiceConfig::default_user`]), created on first use so
    /// that `keygate keys create` works on a fresh server.
    pub(crate) async fn default_user(&self) -> Result<User, ServiceError> {
        let name = &self.config.default_user;
        if let Some(u) = self.store.find_user_by_name(name).await? {
            return Ok(u);
        }
        match self.store.insert_user(name, self.now()).await {
            Ok(u) => {
                tracing::info!(user = %u.name, "default user created");
                Ok(u)
            }
            // Someone else created it a moment ago.
            Err(StoreError::Conflict(_)) => self
                .store
                .find_user_by_name(name)
                .await?
                .ok_or(ServiceError::NotFound { what: "user", id: name.to_string() }),
            Err(e) => Err(e.into()),
        }
    }
}

pub(crate) fn require_admin(actor: &Actor) -> Result<(), ServiceError> {
    match actor {
        Actor::Admin => Ok(()),
        Actor::User(_) | Actor::OAuth(_) => {
            Err(ServiceError::Forbidden("this needs an administrator".into()))
        }
    }
}
