//! The Keys page: generate pre-auth keys (the secret shown once), list valid and recently
//! invalid keys, revoke behind a confirmation.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use keygate_domain::{AuthKey, KeyState, TagSet, Timestamp, User};
use keygate_service::{Actor, NewKeyRequest, ServiceError};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::csrf::AdminForm;
use crate::error::ConsoleError;
use crate::format::TimeText;
use crate::forms::{
    capitalise, check_description, parse_lifetime, parse_user, split_tags, NoFields,
};
use crate::layout::{html, html_with_status, Layout, Nav};
use crate::session::CurrentAdmin;
use crate::widgets::{
    after_revoke, description_fact, user_options, Badge, ConfirmPage, UserOption,
};
use crate::Console;

/// Default of the expiry field, in days.
const DEFAULT_EXPIRY_DAYS: &str = "90";

/// The "Generate auth key" form as typed (sent back as it was when a field is wrong).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub(crate) struct KeyForm {
    /// `one-off` or `reusable`.
    pub kind: String,
    pub usage_limit: String,
    pub ephemeral: Option<String>,
    pub preauthorized: Option<String>,
    pub tags: String,
    pub expiry_days: String,
    pub description: String,
    pub user: String,
}

impl Default for KeyForm {
    fn default() -> Self {
        Self {
            kind: "one-off".into(),
            usage_limit: String::new(),
            ephemeral: None,
            preauthorized: None,
            tags: String::new(),
            expiry_days: DEFAULT_EXPIRY_DAYS.into(),
            description: String::new(),
            user: String::new(),
        }
    }
}

impl KeyForm {
    pub(crate) fn is_reusable(&self) -> bool {
        self.kind == "reusable"
    }

    pub(crate) fn is_ephemeral(&self) -> bool {
        self.ephemeral.is_some()
    }

    pub(crate) fn is_preauthorized(&self) -> bool {
        self.preauthorized.is_some()
    }
}

/// Messages shown next to the fields of the form.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyErrors {
    pub usage_limit: Option<String>,
    pub tags: Option<String>,
    pub expiry_days: Option<String>,
    pub description: Option<String>,
    pub user: Option<String>,
    /// A problem with the form as a whole.
    pub general: Option<String>,
}

impl KeyErrors {
    fn any(&self) -> bool {
        self.usage_limit.is_some()
            || self.tags.is_some()
            || self.expiry_days.is_some()
            || self.description.is_some()
            || self.user.is_some()
            || self.general.is_some()
    }
}

/// A key in a table.
pub(crate) struct KeyRow {
    pub id: String,
    pub description: String,
    pub badges: Vec<Badge>,
    pub tags: Vec<String>,
    pub creator: String,
    pub created: TimeText,
    pub expires: TimeText,
    pub uses: String,
    pub last_used: Option<TimeText>,
    /// Why it is invalid, and since when (the "recently revoked or expired" table).
    pub state: Option<Badge>,
    pub ended: Option<TimeText>,
}

/// A key just generated.
pub(crate) struct CreatedKeyView {
    pub id: String,
    pub secret: Zeroizing<String>,
    pub command: String,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    layout: Layout,
    csrf: String,
    notice: Option<&'static str>,
    created: Option<CreatedKeyView>,
    /// `?shown=` named a secret that is gone (the page was reloaded).
    shown_gone: bool,
    form: KeyForm,
    errors: KeyErrors,
    users: Vec<UserOption>,
    default_user: String,
    /// The tags the policy's `tagOwners` defines, offered in the tags field; empty while the
    /// policy has no `tagOwners` (then any well-formed tag goes).
    policy_tags: Vec<String>,
    valid: Vec<KeyRow>,
    invalid: Vec<KeyRow>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct PageQuery {
    /// The id of a secret waiting to be shown once.
    pub shown: Option<String>,
    /// One of the fixed notices ([`notice_text`]).
    pub notice: Option<String>,
}

fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    match notice? {
        "revoked" => Some("The key was revoked. Machines it enrolled stay enrolled."),
        "already-revoked" => Some("That key had already been revoked."),
        "welcome" => {
            Some("Welcome! Your admin account is ready. Generate a key to enrol the first machine.")
        }
        _ => None,
    }
}

/// `GET /console/keys`
pub(crate) async fn page(
    State(console): State<Console>,
    admin: CurrentAdmin,
    Query(query): Query<PageQuery>,
) -> Result<Response, ConsoleError> {
    let created = match &query.shown {
        Some(key) => console.inner.once.take(admin.session.csrf.as_str(), key).map(|w| {
            let command = format!(
                "tailscale up --login-server {} --authkey {}",
                console.config().server_url.trim_end_matches('/'),
                w.secret.as_str()
            );
            CreatedKeyView { id: w.id, secret: w.secret, command }
        }),
        None => None,
    };
    let shown_gone = query.shown.is_some() && created.is_none();
    let notice = notice_text(query.notice.as_deref());
    render(&console, &admin, KeyForm::default(), KeyErrors::default(), created, shown_gone, notice)
        .await
}

/// `POST /console/keys`: generates a key, then shows its secret once via a redirect.
pub(crate) async fn create(
    State(console): State<Console>,
    AdminForm { admin, form }: AdminForm<KeyForm>,
) -> Result<Response, ConsoleError> {
    let users = console.service().list_users(&Actor::Admin).await?;
    let request = match parse(&form, &users) {
        Ok(request) => request,
        Err(errors) => return render(&console, &admin, form, *errors, None, false, None).await,
    };
    match console.service().create_auth_key(&Actor::Admin, request).await {
        Ok(created) => {
            let secret = Zeroizing::new(created.secret.expose());
            let key = console.inner.once.put(
                admin.session.csrf.as_str(),
                created.key.id.as_str().to_owned(),
                secret,
            );
            Ok(Redirect::to(&format!("/console/keys?shown={key}")).into_response())
        }
        // The service refuses tags the key's user does not own, naming them: shown at the field.
        Err(ServiceError::Invalid(message)) if message.starts_with("requested tags") => {
            let errors = KeyErrors { tags: Some(capitalise(&message)), ..KeyErrors::default() };
            render(&console, &admin, form, errors, None, false, None).await
        }
        Err(e) if e.is_invalid() => {
            let errors = KeyErrors { general: Some(e.to_string()), ..KeyErrors::default() };
            render(&console, &admin, form, errors, None, false, None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Checks every field; all problems at once, each next to its field.
fn parse(form: &KeyForm, users: &[User]) -> Result<NewKeyRequest, Box<KeyErrors>> {
    let mut errors = KeyErrors::default();
    let reusable = form.is_reusable();
    if !matches!(form.kind.as_str(), "one-off" | "reusable") {
        errors.general = Some("Choose one-off or reusable.".into());
    }
    let usage_limit = match form.usage_limit.trim() {
        "" => None,
        text => match text.parse::<u32>() {
            Ok(0) | Err(_) => {
                errors.usage_limit = Some(
                    "Enter a whole number of at least 1, or leave it empty for no limit.".into(),
                );
                None
            }
            Ok(_) if !reusable => {
                errors.usage_limit =
                    Some("A usage limit needs a reusable key: a one-off key is used once.".into());
                None
            }
            Ok(n) => Some(n),
        },
    };
    let tags: Vec<String> = split_tags(&form.tags);
    if let Err(e) = TagSet::parse(tags.iter().map(String::as_str)) {
        errors.tags = Some(capitalise(&e.to_string()));
    }
    let lifetime = parse_lifetime(&form.expiry_days).unwrap_or_else(|e| {
        errors.expiry_days = Some(e);
        None
    });
    errors.description = check_description(&form.description).err();
    let user = parse_user(&form.user, users).unwrap_or_else(|e| {
        errors.user = Some(e);
        None
    });
    if errors.any() {
        return Err(Box::new(errors));
    }
    Ok(NewKeyRequest {
        user,
        reusable,
        usage_limit,
        ephemeral: form.is_ephemeral(),
        preauthorized: form.is_preauthorized(),
        tags,
        description: form.description.clone(),
        lifetime,
    })
}

async fn render(
    console: &Console,
    admin: &CurrentAdmin,
    form: KeyForm,
    errors: KeyErrors,
    created: Option<CreatedKeyView>,
    shown_gone: bool,
    notice: Option<&'static str>,
) -> Result<Response, ConsoleError> {
    let service = console.service();
    let users = service.list_users(&Actor::Admin).await?;
    let listing = service.list_auth_keys(&Actor::Admin).await?;
    let now = service.now();
    let policy_tags = policy_tags(&service.current_policy().await?.policy.to_json());
    let row = |k: &AuthKey| key_row(k, &users, now);
    let page = KeysPage {
        layout: Layout::page("Keys", Nav::Keys, &admin.session),
        csrf: admin.session.csrf.as_str().to_owned(),
        notice,
        created,
        shown_gone,
        users: user_options(&users, &form.user),
        default_user: service.config().default_user.to_string(),
        policy_tags,
        valid: listing.valid.iter().map(row).collect(),
        invalid: listing.recently_invalid.iter().map(row).collect(),
        form,
        errors,
    };
    let status = if page.errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(html_with_status(status, &page))
}

/// The tags named under the policy file's `tagOwners`, sorted.
fn policy_tags(file: &serde_json::Value) -> Vec<String> {
    let mut tags: Vec<String> = file
        .get("tagOwners")
        .and_then(serde_json::Value::as_object)
        .map(|owners| owners.keys().cloned().collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

fn key_row(k: &AuthKey, users: &[User], now: Timestamp) -> KeyRow {
    let mut badges = vec![if k.reusable {
        Badge::new("Reusable", "blue")
    } else {
        Badge::new("One-off", "neutral")
    }];
    if k.ephemeral {
        badges.push(Badge::new("Ephemeral", "violet"));
    }
    if k.preauthorized {
        badges.push(Badge::new("Pre-approved", "green"));
    }
    let creator = k
        .creator
        .and_then(|id| users.iter().find(|u| u.id == id))
        .map_or_else(|| "—".to_owned(), |u| u.name.to_string());
    let uses = match (k.reusable, k.usage_limit) {
        (true, Some(limit)) => format!("{} / {limit}", k.use_count),
        (true, None) => format!("{} / ∞", k.use_count),
        (false, _) => format!("{} / 1", k.use_count),
    };
    let (state, ended) = match k.state(now) {
        KeyState::Valid => (None, None),
        KeyState::Revoked => (Some(Badge::new("Revoked", "red")), k.revoked_at),
        KeyState::Expired => (Some(Badge::new("Expired", "amber")), Some(k.expires)),
        KeyState::UsedUp => (Some(Badge::new("Used up", "neutral")), k.last_used_at),
    };
    KeyRow {
        id: k.id.as_str().to_owned(),
        description: k.description.as_str().to_owned(),
        badges,
        tags: k.tags.to_strings(),
        creator,
        created: TimeText::new(k.created, now),
        expires: TimeText::new(k.expires, now),
        uses,
        last_used: k.last_used_at.map(|t| TimeText::new(t, now)),
        state,
        ended: ended.map(|t| TimeText::new(t, now)),
    }
}

/// `GET /console/keys/{id}/revoke`
pub(crate) async fn confirm_revoke(
    State(console): State<Console>,
    admin: CurrentAdmin,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let key = console.service().auth_key(&Actor::Admin, &id).await?;
    let now = console.service().now();
    let page = ConfirmPage {
        layout: Layout::page("Revoke key", Nav::Keys, &admin.session),
        csrf: admin.session.csrf.as_str().to_owned(),
        heading: format!("Revoke key {}?", key.id.as_str()),
        message: "Nobody will be able to enrol a machine with this key any more. Machines it \
                  already enrolled stay enrolled. This cannot be undone."
            .into(),
        facts: vec![
            description_fact(key.description.as_str()),
            ("Uses", key.use_count.to_string()),
            ("Expires", TimeText::new(key.expires, now).absolute),
        ],
        action: format!("/console/keys/{}/revoke", key.id.as_str()),
        button: "Revoke key",
        cancel: "/console/keys",
    };
    Ok(html(&page))
}

/// `POST /console/keys/{id}/revoke`
pub(crate) async fn revoke(
    State(console): State<Console>,
    Path(id): Path<String>,
    AdminForm { .. }: AdminForm<NoFields>,
) -> Result<Response, ConsoleError> {
    let outcome = console.service().revoke_auth_key(&Actor::Admin, &id).await?;
    Ok(after_revoke(outcome, "/console/keys", "revoked", "already-revoked"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_domain::KeyLifetime;

    #[test]
    fn the_offered_tags_are_those_of_tag_owners() {
        let file = serde_json::json!({"tagOwners": {"tag:web": [], "tag:ci": ["alice"]}});
        assert_eq!(policy_tags(&file), ["tag:ci", "tag:web"]);
        assert!(policy_tags(&serde_json::json!({"acls": []})).is_empty());
    }

    #[test]
    fn every_bad_field_gets_its_own_message() {
        let form = KeyForm {
            kind: "one-off".into(),
            usage_limit: "5".into(),
            tags: "web".into(),
            expiry_days: "91".into(),
            description: "x".repeat(51),
            user: "nobody".into(),
            ..KeyForm::default()
        };
        let errors = parse(&form, &[]).unwrap_err();
        assert!(errors.usage_limit.unwrap().contains("needs a reusable key"));
        assert!(errors.tags.unwrap().starts_with("Invalid tag \"web\""));
        assert_eq!(errors.expiry_days.unwrap(), "Enter a number of days from 1 to 90.");
        assert!(errors.description.unwrap().contains("at most 50"));
        assert_eq!(errors.user.unwrap(), "Choose a user from the list.");
        assert!(errors.general.is_none());
    }

    #[test]
    fn a_good_form_becomes_a_request() {
        let form = KeyForm {
            kind: "reusable".into(),
            usage_limit: "10".into(),
            ephemeral: Some("on".into()),
            tags: "tag:ci tag:web".into(),
            expiry_days: "30".into(),
            ..KeyForm::default()
        };
        let request = parse(&form, &[]).unwrap();
        assert!(request.reusable && request.ephemeral && !request.preauthorized);
        assert_eq!(request.usage_limit, Some(10));
        assert_eq!(request.tags, ["tag:ci", "tag:web"]);
        assert_eq!(request.lifetime, Some(KeyLifetime::from_days(30).unwrap()));
        assert_eq!(request.user, None);
    }
}
