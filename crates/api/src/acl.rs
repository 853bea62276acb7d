//! `/api/v2/tailnet/{tailnet}/acl`: the policy file, as Tailscale's API serves it.
//!
//! - `GET …/acl`: the file as HuJSON (`Accept: application/hujson`, comments kept) or JSON
//!   (anything else); with `?details=1`, `{"acl": <base64 of the file>, "warnings": [],
//!   "errors": []}`, the shape Tailscale's Go client decodes. An `ETag` header names the
//!   revision.
//! - `POST …/acl`: replaces the file (`Content-Type: application/hujson` or
//!   `application/json`). With `If-Match: <ETag>` (or `ts-default`, "only if nothing was saved
//!   yet"), it is saved only if the policy has not changed since: otherwise 412. A file that
//!   does not parse, names something undefined, or fails its own `tests` is refused with 400
//!   and `{"message": …, "data": [{"user": <test src>, "errors": […]}]}`; every message gives
//!   the line and column.
//! - `POST …/acl/validate`: the same checks without saving, for a whole file or for a JSON
//!   array of `tests` to run against the policy in force. Always 200 for a well-formed
//!   request: `{}` when valid, else `{"message": …, "data": …}` (Tailscale's shape).
//!
//! Admins only (and OAuth tokens with scope `all`, or `all:read` for reading and validating:
//! keygate has no `policy_file` scope yet). The rules live in the service
//! (`Tailnet::set_policy`, which saves through `Service::set_policy` and puts the policy in
//! force for connected nodes); this file translates HTTP.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{ACCEPT, CONTENT_TYPE, ETAG, IF_MATCH};
use http::{HeaderMap, HeaderValue, StatusCode};
use keygate_domain::Scope;
use keygate_policy::{ErrorKind, PolicyErrors};
use keygate_service::{
    Actor, CurrentPolicy, Service, ServiceError, SetPolicyError, Tailnet as LiveTailnet,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Authorized, Requirement};
use crate::error::ApiError;
use crate::extract::{Query, Tailnet};
use crate::openapi::{ReadErrors, TailnetName, WriteErrors};

/// Largest policy file accepted, in bytes (the service's own limit); the API's general body
/// limit is far smaller.
const POLICY_BODY_LIMIT: usize = keygate_service::MAX_POLICY_BYTES;

/// The media type of HuJSON, as Tailscale names it.
const HUJSON: &str = "application/hujson";

/// Reading the policy (and validating one): admins, or OAuth scope `all:read`.
pub(crate) struct PolicyRead;

impl Requirement for PolicyRead {
    fn check(actor: &Actor) -> Result<(), ServiceError> {
        policy_access(actor, Scope::AllRead)
    }
}

/// Changing the policy: admins, or OAuth scope `all`.
pub(crate) struct PolicyWrite;

impl Requirement for PolicyWrite {
    fn check(actor: &Actor) -> Result<(), ServiceError> {
        policy_access(actor, Scope::All)
    }
}

fn policy_access(actor: &Actor, scope: Scope) -> Result<(), ServiceError> {
    match actor {
        Actor::Admin => Ok(()),
        Actor::User(_) => {
            Err(ServiceError::Forbidden("the policy file needs an administrator".into()))
        }
        Actor::OAuth(_) => actor.require_scope(scope, "the policy file"),
    }
}

/// `GET …/acl` query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AclQuery {
    /// `1`: answer `{"acl", "warnings", "errors"}` instead of the file.
    #[serde(default)]
    details: Option<String>,
}

/// `GET …/acl?details=1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AclDetails {
    /// The policy file (HuJSON, or JSON when that was asked for), base64-encoded.
    pub acl: String,
    /// Always empty: keygate has no warnings.
    pub warnings: Vec<String>,
    /// Always empty: a stored policy is valid.
    pub errors: Vec<String>,
}

/// What is wrong with a policy file: the body of a refused `POST …/acl` (400) and of a
/// `POST …/acl/validate` (200; `{}` when nothing is wrong).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyProblems {
    /// Every problem, each with its line and column; `test(s) failed: …` when only `tests`
    /// assertions failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The failed `tests` assertions, by source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<TestFailureSummary>,
}

/// The failed assertions of one test source (Tailscale's `ACLTestFailureSummary`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestFailureSummary {
    /// The test's `src`.
    pub user: String,
    pub errors: Vec<String>,
}

impl From<&PolicyErrors> for PolicyProblems {
    fn from(errors: &PolicyErrors) -> Self {
        let mut by_src: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in errors.errors() {
            if let ErrorKind::TestFailed { src, .. } = &e.kind {
                by_src.entry(src.clone()).or_default().push(e.to_string());
            }
        }
        let message = if errors.only_tests_failed() {
            format!("test(s) failed: {errors}")
        } else {
            errors.to_string()
        };
        Self {
            message: Some(message),
            data: by_src
                .into_iter()
                .map(|(user, errors)| TestFailureSummary { user, errors })
                .collect(),
        }
    }
}

pub(crate) fn routes() -> OpenApiRouter<Service> {
    OpenApiRouter::new()
        .routes(routes!(get_acl, set_acl))
        .routes(routes!(validate_acl))
        .layer(DefaultBodyLimit::max(POLICY_BODY_LIMIT))
}

/// Reads the policy file (admins).
#[utoipa::path(
    get,
    path = "/tailnet/{tailnet}/acl",
    tag = "policy",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)"), AclQuery),
    responses(
        (status = 200, description = "The policy file: HuJSON for `Accept: application/hujson`, else JSON (with `details=1`, an `AclDetails` object)",
            headers(("ETag" = String, description = "The revision, for `If-Match`")),
            content((String = "application/hujson"), (Object = "application/json"))),
        ReadErrors
    )
)]
async fn get_acl(
    Authorized(actor, ..): Authorized<PolicyRead>,
    State(service): State<Service>,
    _: Tailnet,
    Query(query): Query<AclQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let current = service.policy(&actor).await?;
    let format = Format::accepted(&headers);
    if query.details.as_deref().is_some_and(|d| d == "1" || d == "true") {
        let details = AclDetails {
            acl: STANDARD.encode(format.render(&current).as_bytes()),
            warnings: Vec::new(),
            errors: Vec::new(),
        };
        return Ok(with_etag(axum::Json(details).into_response(), &current));
    }
    Ok(format.respond(&current))
}

/// Replaces the policy file (admins); `If-Match` guards against lost updates.
#[utoipa::path(
    post,
    path = "/tailnet/{tailnet}/acl",
    tag = "policy",
    params(
        ("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)"),
        ("If-Match" = Option<String>, Header, description = "The ETag the edit started from, or `ts-default`"),
    ),
    request_body(description = "The policy file", content(("application/hujson"), ("application/json"))),
    responses(
        (status = 200, description = "The saved policy file, as `GET` gives it",
            headers(("ETag" = String, description = "The new revision")),
            content((String = "application/hujson"), (Object = "application/json"))),
        (status = 412, description = "`If-Match` names a revision that is no longer current", body = crate::error::ErrorBody),
        WriteErrors
    )
)]
async fn set_acl(
    Authorized(actor, ..): Authorized<PolicyWrite>,
    _: Tailnet,
    Extension(live): Extension<LiveTailnet>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = policy_text(&headers, &body)?;
    let if_match = match headers.get(IF_MATCH) {
        Some(v) => Some(v.to_str().map_err(|_| ApiError::bad_request("If-Match is not text"))?),
        None => None,
    };
    // Through the live tailnet, so that connected nodes get their new filters and peers.
    match live.set_policy(&actor, text, if_match).await {
        Ok(current) => Ok(Format::accepted(&headers).respond(&current)),
        Err(SetPolicyError::Invalid(errors)) => {
            Ok((StatusCode::BAD_REQUEST, axum::Json(PolicyProblems::from(&errors))).into_response())
        }
        Err(e @ SetPolicyError::PreconditionFailed { .. }) => {
            Err(ApiError::new(StatusCode::PRECONDITION_FAILED, e.to_string()))
        }
        Err(SetPolicyError::Service(e)) => Err(e.into()),
    }
}

/// Checks a policy file, or a JSON array of tests against the policy in force, without
/// saving anything (admins).
#[utoipa::path(
    post,
    path = "/tailnet/{tailnet}/acl/validate",
    tag = "policy",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)")),
    request_body(description = "A policy file, or a JSON array of `tests` entries", content(("application/hujson"), ("application/json"))),
    responses(
        (status = 200, description = "`{}` when valid, else what is wrong", body = PolicyProblems),
        WriteErrors
    )
)]
async fn validate_acl(
    Authorized(actor, ..): Authorized<PolicyRead>,
    State(service): State<Service>,
    _: Tailnet,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<PolicyProblems>, ApiError> {
    let text = policy_text(&headers, &body)?;
    let outcome = if text.trim_start().starts_with('[') {
        service.validate_policy_tests(&actor, text).await
    } else {
        service.validate_policy(&actor, text).await.map(drop)
    };
    match outcome {
        Ok(()) => Ok(axum::Json(PolicyProblems::default())),
        Err(SetPolicyError::Invalid(errors)) => Ok(axum::Json(PolicyProblems::from(&errors))),
        Err(e @ SetPolicyError::PreconditionFailed { .. }) => {
            Err(ApiError::bad_request(e.to_string()))
        }
        Err(SetPolicyError::Service(e)) => Err(e.into()),
    }
}

/// The request body as text, if it is declared HuJSON or JSON. Requiring one of these types
/// also keeps cross-site HTML forms (which can only send `text/plain` and form types without
/// a preflight) from posting a policy with credentials a browser may hold.
fn policy_text<'a>(headers: &HeaderMap, body: &'a Bytes) -> Result<&'a str, ApiError> {
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    if !matches!(media_type.as_deref(), Some(HUJSON | "application/json")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the policy file with Content-Type: application/hujson (or application/json)",
        ));
    }
    std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the policy file is not UTF-8"))
}

/// How the policy file is sent back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// As written, comments and all.
    HuJson,
    /// As plain JSON.
    Json,
}

impl Format {
    /// HuJSON when `Accept` names it, JSON otherwise (Tailscale's default).
    fn accepted(headers: &HeaderMap) -> Self {
        let wants_hujson = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains(HUJSON));
        if wants_hujson {
            Self::HuJson
        } else {
            Self::Json
        }
    }

    fn render(self, current: &CurrentPolicy) -> String {
        match self {
            Self::HuJson => current.text().to_owned(),
            Self::Json => serde_json::to_string_pretty(&current.policy.to_json())
                .unwrap_or_else(|_| "{}".to_owned()),
        }
    }

    fn respond(self, current: &CurrentPolicy) -> Response {
        let content_type = match self {
            Self::HuJson => HUJSON,
            Self::Json => "application/json",
        };
        let mut response = self.render(current).into_response();
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        with_etag(response, current)
    }
}

fn with_etag(mut response: Response, current: &CurrentPolicy) -> Response {
    if let Ok(etag) = HeaderValue::from_str(&current.etag()) {
        response.headers_mut().insert(ETAG, etag);
    }
    response
}
