//! What every page shares: the header with its navigation, and turning a template into a
//! response.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;
use keygate_service::AdminSession;

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nav {
    None,
    Machines,
    Keys,
    Policy,
    Settings,
}

/// The signed-in part of the header.
pub(crate) struct SignedInHeader {
    pub admin: String,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: String,
}

/// The frame around every page.
pub(crate) struct Layout {
    pub title: &'static str,
    pub nav: Nav,
    pub signed_in: Option<SignedInHeader>,
    /// Appended to asset URLs so a new release is never served an old stylesheet.
    pub version: &'static str,
}

impl Layout {
    /// A page shown without a session (sign-in, setup, errors).
    pub(crate) fn public(title: &'static str) -> Self {
        Self { title, nav: Nav::None, signed_in: None, version: env!("CARGO_PKG_VERSION") }
    }

    /// A page of a signed-in admin.
    pub(crate) fn page(title: &'static str, nav: Nav, session: &AdminSession) -> Self {
        Self {
            title,
            nav,
            signed_in: Some(SignedInHeader {
                admin: session.name.to_string(),
                csrf: session.csrf.as_str().to_owned(),
            }),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    pub(crate) fn is_machines(&self) -> bool {
        self.nav == Nav::Machines
    }

    pub(crate) fn is_keys(&self) -> bool {
        self.nav == Nav::Keys
    }

    pub(crate) fn is_policy(&self) -> bool {
        self.nav == Nav::Policy
    }

    pub(crate) fn is_settings(&self) -> bool {
        self.nav == Nav::Settings
    }
}

/// Renders `page` as an HTML response (500, logged, if the template fails).
pub(crate) fn html<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
        }
    }
}

/// Renders `page` with `status` (forms sent back with errors).
pub(crate) fn html_with_status<T: Template>(status: StatusCode, page: &T) -> Response {
    let mut response = html(page);
    if response.status().is_success() {
        *response.status_mut() = status;
    }
    response
}
