//! `POST /console/admins` on the admin socket: creates a console admin for
//! `keygate admin create NAME`.
//!
//! Only the local admin socket may serve this: whoever can open that socket is the server's
//! administrator. As a second guard, every request must carry the marker extension `M` that
//! the server puts on requests of that socket (keygate's is `keygate_api::AdminChannel`), so
//! mounting this router on the public listener by mistake still refuses everything.

use std::marker::PhantomData;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http::StatusCode;
use keygate_service::{check_admin_password, parse_admin_name, Actor, Service, ServiceError};
use serde::{Deserialize, Serialize};

/// Body of `POST /console/admins`. (No `Debug`: it holds a password.)
#[derive(Serialize, Deserialize)]
pub struct CreateAdminRequest {
    pub name: String,
    pub password: String,
}

/// Answer of `POST /console/admins`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreatedAdmin {
    pub name: String,
    /// RFC 3339.
    pub created: String,
}

/// The route for the admin socket. `M` is the marker the server inserts on every request of
/// that socket; requests without it are refused with 403.
pub fn admin_socket_router<M>(service: Service) -> Router
where
    M: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/console/admins", post(create::<M>))
        .with_state((service, PhantomData::<fn() -> M>))
}

/// The route's state: the service, and the marker type it requires.
type SocketState<M> = (Service, PhantomData<fn() -> M>);

/// Errors in the API's `{"message": …}` form, which the CLI prints.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "message": message.into() }))).into_response()
}

async fn create<M>(State((service, _)): State<SocketState<M>>, request: Request) -> Response
where
    M: Clone + Send + Sync + 'static,
{
    if request.extensions().get::<M>().is_none() {
        return error(StatusCode::FORBIDDEN, "admins can only be created on the admin socket");
    }
    let body = match axum::body::to_bytes(request.into_body(), crate::REQUEST_BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return error(StatusCode::BAD_REQUEST, "the request body could not be read"),
    };
    let Ok(req) = serde_json::from_slice::<CreateAdminRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "expected {\"name\": …, \"password\": …}");
    };
    if let Err(e) = parse_admin_name(&req.name) {
        return error(StatusCode::BAD_REQUEST, format!("invalid admin name {:?}: {e}", req.name));
    }
    if let Err(e) = check_admin_password(&req.password) {
        return error(StatusCode::BAD_REQUEST, format!("the password is {e}"));
    }
    match service.create_console_admin(&Actor::Admin, &req.name, &req.password).await {
        Ok(admin) => (
            StatusCode::CREATED,
            Json(CreatedAdmin {
                name: admin.name.to_string(),
                created: admin.created.to_rfc3339(),
            }),
        )
            .into_response(),
        Err(e @ ServiceError::AlreadyExists { .. }) => error(StatusCode::CONFLICT, e.to_string()),
        Err(ServiceError::Store(e)) => {
            tracing::error!(error = %e, "creating a console admin failed in storage");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error: see the server log")
        }
        Err(e @ ServiceError::Forbidden(_)) => error(StatusCode::FORBIDDEN, e.to_string()),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}
