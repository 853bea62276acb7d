//! `/api/v2/tailnet/{tailnet}/users`: list users (Tailscale's shape) and create one (a keygate
//! extension, admins only).

use axum::extract::State;
use keygate_service::Service;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{AdminOnly, Authorized, People};
use crate::error::ApiError;
use crate::extract::{Json, Tailnet};
use crate::openapi::{ReadErrors, TailnetName, WriteErrors};

/// A user, in Tailscale's user-object shape (fields keygate has no notion of are fixed:
/// every user is an active member).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

/// `POST …/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    pub name: String,
}

pub(crate) fn routes() -> OpenApiRouter<Service> {
    OpenApiRouter::new().routes(routes!(list_users, create_user))
}

/// Lists users: all of them for admins, oneself for a user token.
#[utoipa::path(
    get,
    path = "/tailnet/{tailnet}/users",
    tag = "users",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)")),
    responses((status = 200, body = UserList), ReadErrors)
)]
async fn list_users(
    Authorized(actor, ..): Authorized<People>,
    State(service): State<Service>,
    _: Tailnet,
) -> Result<axum::Json<UserList>, ApiError> {
    let users = service.list_users(&actor).await?;
    Ok(axum::Json(UserList { users: users.iter().map(User::from_domain).collect() }))
}

/// Creates a user (admins only).
#[utoipa::path(
    post,
    path = "/tailnet/{tailnet}/users",
    tag = "users",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)")),
    request_body = CreateUserRequest,
    responses((status = 200, body = User), WriteErrors)
)]
async fn create_user(
    Authorized(actor, ..): Authorized<AdminOnly>,
    State(service): State<Service>,
    _: Tailnet,
    Json(req): Json<CreateUserRequest>,
) -> Result<axum::Json<User>, ApiError> {
    let user = service.create_user(&actor, &req.name).await?;
    Ok(axum::Json(User::from_domain(&user)))
}
