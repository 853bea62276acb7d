//! `/api/v2/tailnet/{tailnet}/users`: list users (Tailscale's shape) and create one (a keygate
//! extension, admins only).

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use keygate_domain::{UserId, UserName};
use keygate_service::{Actor, Service};
use serde::{Deserialize, Serialize};

use crate::extract::{Json, Tailnet};
use crate::{ApiError, Caller};

/// A user, in Tailscale's user-object shape (fields keygate has no notion of are fixed:
/// every user is an active member).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The numeric id, as a string (Tailscale's ids are strings).
    pub id: String,
    pub display_name: String,
    /// The name in e-mail form (`alice@keygate`), as Tailscale clients display it.
    pub login_name: String,
    /// keygate's user name (`alice`), as given to `user` fields elsewhere in this API.
    pub name: String,
    pub created: String,
    /// Always `member`.
    pub role: String,
    /// Always `active`.
    pub status: String,
    /// Always `member` (Tailscale distinguishes shared-in users).
    #[serde(rename = "type")]
    pub kind: String,
}

impl User {
    pub(crate) fn from_domain(user: &keygate_domain::User) -> Self {
        Self {
            id: user.id.to_string(),
            display_name: user.name.to_string(),
            login_name: user.name.login_name(),
            name: user.name.to_string(),
            created: user.created.to_rfc3339(),
            role: "member".to_owned(),
            status: "active".to_owned(),
            kind: "member".to_owned(),
        }
    }
}

/// `GET …/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserList {
    pub users: Vec<User>,
}

/// `POST …/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUserRequest {
    pub name: String,
}

pub(crate) fn routes() -> Router<Service> {
    Router::new().route("/tailnet/{tailnet}/users", get(list_users).post(create_user))
}

async fn list_users(
    State(service): State<Service>,
    Caller(actor): Caller,
    _: Tailnet,
) -> Result<axum::Json<UserList>, ApiError> {
    let users = service.list_users(&actor).await?;
    Ok(axum::Json(UserList { users: users.iter().map(User::from_domain).collect() }))
}

async fn create_user(
    State(service): State<Service>,
    Caller(actor): Caller,
    _: Tailnet,
    Json(req): Json<CreateUserRequest>,
) -> Result<axum::Json<User>, ApiError> {
    let user = service.create_user(&actor, &req.name).await?;
    Ok(axum::Json(User::from_domain(&user)))
}

/// The names of the users `actor` can see, by id, to show who owns a key or token.
///
/// The service has no lookup by id, and this costs one query per request; a user token sees
/// only itself, which is all it needs because it sees only its own keys.
pub(crate) async fn user_names(
    service: &Service,
    actor: &Actor,
) -> Result<HashMap<UserId, UserName>, ApiError> {
    let users = service.list_users(actor).await?;
    Ok(users.into_iter().map(|u| (u.id, u.name)).collect())
}
