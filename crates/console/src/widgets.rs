//! What several pages show: coloured badges, the choice of a user, and the confirmation page
//! before a destructive action with the redirect after it.

use askama::Template;
use axum::response::{IntoResponse, Redirect, Response};
use keygate_domain::User;
use keygate_service::RevokeOutcome;

use crate::layout::Layout;

/// A coloured label.
#[derive(Clone, Debug)]
pub(crate) struct Badge {
    pub text: String,
    /// One of the badge classes in console.css (`neutral`, `blue`, `violet`, `green`,
    /// `amber`, `red`, `tag`).
    pub class: &'static str,
}

impl Badge {
    pub(crate) fn new(text: impl Into<String>, class: &'static str) -> Self {
        Self { text: text.into(), class }
    }
}

/// A user to choose from.
pub(crate) struct UserOption {
    pub name: String,
    pub selected: bool,
}

/// Every user as a choice; `selected` names the one chosen (empty: the default user).
pub(crate) fn user_options(users: &[User], selected: &str) -> Vec<UserOption> {
    users
        .iter()
        .map(|u| UserOption { name: u.name.to_string(), selected: u.name.as_str() == selected })
        .collect()
}

/// The confirmation page before a destructive action.
#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct ConfirmPage {
    pub layout: Layout,
    pub csrf: String,
    pub heading: String,
    pub message: String,
    /// Facts about the item, as label/value pairs.
    pub facts: Vec<(&'static str, String)>,
    pub action: String,
    pub button: &'static str,
    pub cancel: &'static str,
}

/// A description as a fact of the confirmation page ("(no description)" when empty).
pub(crate) fn description_fact(description: &str) -> (&'static str, String) {
    let text = if description.is_empty() { "(no description)" } else { description };
    ("Description", text.to_owned())
}

/// After a revocation: back to `page` with the notice `revoked`, or `already` when it had
/// been revoked before.
pub(crate) fn after_revoke<T>(
    outcome: RevokeOutcome<T>,
    page: &str,
    revoked: &str,
    already: &str,
) -> Response {
    let notice = match outcome {
        RevokeOutcome::Revoked(_) => revoked,
        RevokeOutcome::AlreadyRevoked(_) => already,
    };
    Redirect::to(&format!("{page}?notice={notice}")).into_response()
}
