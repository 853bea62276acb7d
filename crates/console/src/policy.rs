//! The Policy page: the tailnet's ACL policy file in an editor, saved through the live
//! tailnet (so connected nodes get their new packet filters at once) with the revision it was
//! read at as `If-Match`, or only checked. Problems are listed by line and column, with the
//! text kept as typed.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use keygate_service::{Actor, SetPolicyError, MAX_POLICY_BYTES};
use serde::Deserialize;

use crate::csrf::AdminForm;
use crate::error::ConsoleError;
use crate::layout::{html_with_status, Layout, Nav};
use crate::session::CurrentAdmin;
use crate::Console;

/// Largest policy form read: the largest file the service accepts, URL-encoded (up to three
/// bytes per byte), plus the other fields.
const POLICY_FORM_LIMIT: usize = 3 * MAX_POLICY_BYTES + 4096;

/// The editor as posted.
#[derive(Deserialize)]
pub(crate) struct PolicyForm {
    #[serde(default)]
    policy: String,
    /// The revision the text was loaded from (`If-Match`).
    #[serde(default)]
    revision: String,
    /// Which button: `validate` checks only; anything else saves.
    #[serde(default)]
    action: String,
}

/// One problem, placed in the file.
pub(crate) struct ProblemView {
    pub line: usize,
    pub column: usize,
    /// `line L, column C: entry: message`.
    pub text: String,
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    layout: Layout,
    csrf: String,
    text: String,
    revision: String,
    /// A success message.
    notice: Option<String>,
    /// A problem with the save as a whole (stale revision, file too large).
    alert: Option<String>,
    problems: Vec<ProblemView>,
    /// The numbers of the gutter, each with whether a problem is on that line.
    lines: Vec<(usize, bool)>,
}

impl PolicyPage {
    fn rows(&self) -> usize {
        self.lines.len() + 1
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct PageQuery {
    /// The revision just saved.
    saved: Option<i64>,
}

/// `GET /console/policy`
pub(crate) async fn page(
    State(console): State<Console>,
    admin: CurrentAdmin,
    Query(query): Query<PageQuery>,
) -> Result<Response, ConsoleError> {
    let current = console.service().policy(&Actor::Admin).await?;
    let notice = query.saved.map(|n| format!("Policy saved (revision {n})."));
    let page = build(
        &admin,
        current.text().to_owned(),
        current.revision_id().to_string(),
        notice,
        None,
        Vec::new(),
    );
    Ok(html_with_status(StatusCode::OK, &page))
}

/// `POST /console/policy`: saves (or with `action=validate`, checks) the file.
pub(crate) async fn submit(
    State(console): State<Console>,
    AdminForm { admin, form }: AdminForm<PolicyForm, POLICY_FORM_LIMIT>,
) -> Result<Response, ConsoleError> {
    // Browsers send CRLF line ends from a textarea; the file is kept with the user's LFs.
    let text = form.policy.replace("\r\n", "\n");
    let revision = form.revision.trim().to_owned();
    let outcome = if form.action == "validate" {
        console.service().validate_policy(&Actor::Admin, &text).await.map(drop)
    } else {
        let if_match = if revision.is_empty() { "*" } else { revision.as_str() };
        match console.tailnet().set_policy(&Actor::Admin, &text, Some(if_match)).await {
            Ok(saved) => {
                let target = format!("/console/policy?saved={}", saved.revision_id());
                return Ok(Redirect::to(&target).into_response());
            }
            Err(e) => Err(e),
        }
    };
    let (status, notice, alert, problems) = match outcome {
        Ok(()) => {
            (StatusCode::OK, Some("The policy is valid. It was not saved.".into()), None, vec![])
        }
        Err(SetPolicyError::Invalid(errors)) => {
            let problems = errors
                .errors()
                .iter()
                .map(|e| ProblemView { line: e.line, column: e.column, text: e.to_string() })
                .collect();
            let alert = if errors.only_tests_failed() {
                "The policy's tests failed, so it was not saved."
            } else {
                "The policy has problems, so it was not saved."
            };
            (StatusCode::UNPROCESSABLE_ENTITY, None, Some(alert.to_owned()), problems)
        }
        Err(SetPolicyError::PreconditionFailed { current }) => {
            let alert = format!(
                "Someone else saved the policy meanwhile: the current revision is {current}, \
                 and this edit started from revision {revision}. Your text is below, not saved: \
                 copy your changes, reload the page, and apply them again."
            );
            (StatusCode::CONFLICT, None, Some(alert), vec![])
        }
        Err(SetPolicyError::Service(e)) if e.is_invalid() => {
            (StatusCode::UNPROCESSABLE_ENTITY, None, Some(e.to_string()), vec![])
        }
        Err(SetPolicyError::Service(e)) => return Err(e.into()),
    };
    let page = build(&admin, text, revision, notice, alert, problems);
    Ok(html_with_status(status, &page))
}

fn build(
    admin: &CurrentAdmin,
    text: String,
    revision: String,
    notice: Option<String>,
    alert: Option<String>,
    problems: Vec<ProblemView>,
) -> PolicyPage {
    // `lines()` drops a final empty line; the gutter still numbers it.
    let count = text.split('\n').count();
    let lines = (1..=count).map(|n| (n, problems.iter().any(|p| p.line == n))).collect();
    PolicyPage {
        layout: Layout::page("Policy", Nav::Policy, &admin.session),
        csrf: admin.session.csrf.as_str().to_owned(),
        text,
        revision,
        notice,
        alert,
        problems,
        lines,
    }
}
