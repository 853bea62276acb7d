//! The Settings page: device approval, node-key expiry, and API tokens (created with the
//! secret shown once, revocable behind a confirmation).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use keygate_domain::{ApiToken, TailnetSettings, Timestamp, User};
use keygate_service::{Actor, TokenSpec};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::csrf::AdminForm;
use crate::error::ConsoleError;
use crate::format::TimeText;
use crate::forms::{check_description, parse_lifetime, parse_user, NoFields};
use crate::layout::{html, html_with_status, Layout, Nav};
use crate::session::CurrentAdmin;
use crate::widgets::{
    after_revoke, description_fact, user_options, Badge, ConfirmPage, UserOption,
};
use crate::Console;

/// Bounds of the node-key expiry field, in days (the service enforces them too).
const NODE_KEY_EXPIRY_DAYS: std::ops::RangeInclusive<u32> = 1..=180;

/// The tailnet settings form as typed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SettingsForm {
    pub device_approval: Option<String>,
    pub node_key_expiry_days: String,
}

impl SettingsForm {
    fn from_settings(s: &TailnetSettings) -> Self {
        Self {
            device_approval: s.device_approval.then(|| "on".to_owned()),
            node_key_expiry_days: s.node_key_expiry_days.to_string(),
        }
    }

    pub(crate) fn approval_on(&self) -> bool {
        self.device_approval.is_some()
    }
}

/// The "Create API token" form as typed.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub(crate) struct TokenForm {
    pub description: String,
    pub user: String,
    pub expiry_days: String,
}

impl Default for TokenForm {
    fn default() -> Self {
        Self { description: String::new(), user: String::new(), expiry_days: "90".into() }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct TokenErrors {
    pub description: Option<String>,
    pub user: Option<String>,
    pub expiry_days: Option<String>,
}

impl TokenErrors {
    fn any(&self) -> bool {
        self.description.is_some() || self.user.is_some() || self.expiry_days.is_some()
    }
}

/// A token in the table.
pub(crate) struct TokenRow {
    pub id: String,
    pub description: String,
    pub user: String,
    pub created: TimeText,
    pub expires: TimeText,
    pub last_used: Option<TimeText>,
    pub status: Badge,
    pub revocable: bool,
}

/// A token just created.
pub(crate) struct CreatedTokenView {
    pub id: String,
    pub secret: Zeroizing<String>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    csrf: String,
    notice: Option<&'static str>,
    settings: SettingsForm,
    expiry_error: Option<String>,
    token_form: TokenForm,
    token_errors: TokenErrors,
    created: Option<CreatedTokenView>,
    shown_gone: bool,
    tokens: Vec<TokenRow>,
    users: Vec<UserOption>,
    default_user: String,
    admins: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SettingsQuery {
    shown: Option<String>,
    notice: Option<String>,
}

fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    match notice? {
        "saved" => Some("Settings saved."),
        "token-revoked" => Some("The API token was revoked."),
        "token-already-revoked" => Some("That API token had already been revoked."),
        _ => None,
    }
}

/// What a render shows besides the lists.
#[derive(Default)]
struct Forms {
    settings: Option<SettingsForm>,
    expiry_error: Option<String>,
    token_form: TokenForm,
    token_errors: TokenErrors,
    created: Option<CreatedTokenView>,
    shown_gone: bool,
    notice: Option<&'static str>,
}

/// `GET /console/settings`
pub(crate) async fn page(
    State(console): State<Console>,
    admin: CurrentAdmin,
    Query(query): Query<SettingsQuery>,
) -> Result<Response, ConsoleError> {
    let created = query.shown.as_deref().and_then(|key| {
        let waiting = console.inner.once.take(admin.session.csrf.as_str(), key)?;
        Some(CreatedTokenView { id: waiting.id, secret: waiting.secret })
    });
    let forms = Forms {
        shown_gone: query.shown.is_some() && created.is_none(),
        created,
        notice: notice_text(query.notice.as_deref()),
        ..Forms::default()
    };
    render(&console, &admin, forms).await
}

/// `POST /console/settings`: device approval and node-key expiry.
pub(crate) async fn save(
    State(console): State<Console>,
    AdminForm { admin, form }: AdminForm<SettingsForm>,
) -> Result<Response, ConsoleError> {
    let days = match form.node_key_expiry_days.trim().parse::<u32>() {
        Ok(d) if NODE_KEY_EXPIRY_DAYS.contains(&d) => d,
        _ => {
            let forms = Forms {
                expiry_error: Some(format!(
                    "Enter a number of days from {} to {}.",
                    NODE_KEY_EXPIRY_DAYS.start(),
                    NODE_KEY_EXPIRY_DAYS.end()
                )),
                settings: Some(form),
                ..Forms::default()
            };
            return render(&console, &admin, forms).await;
        }
    };
    let service = console.service();
    service.set_device_approval(&Actor::Admin, form.approval_on()).await?;
    service.set_node_key_expiry_days(&Actor::Admin, days).await?;
    Ok(Redirect::to("/console/settings?notice=saved").into_response())
}

/// `POST /console/settings/tokens`: creates a token, then shows it once via a redirect.
pub(crate) async fn create_token(
    State(console): State<Console>,
    AdminForm { admin, form }: AdminForm<TokenForm>,
) -> Result<Response, ConsoleError> {
    let users = console.service().list_users(&Actor::Admin).await?;
    let spec = match parse_token_form(&form, &users) {
        Ok(spec) => spec,
        Err(token_errors) => {
            let forms = Forms { token_form: form, token_errors, ..Forms::default() };
            return render(&console, &admin, forms).await;
        }
    };
    match console.service().create_api_token(&Actor::Admin, spec).await {
        Ok(created) => {
            let key = console.inner.once.put(
                admin.session.csrf.as_str(),
                created.token.id.as_str().to_owned(),
                Zeroizing::new(created.secret.expose()),
            );
            Ok(Redirect::to(&format!("/console/settings?shown={key}")).into_response())
        }
        Err(e) if e.is_invalid() => {
            let token_errors =
                TokenErrors { description: Some(e.to_string()), ..TokenErrors::default() };
            render(&console, &admin, Forms { token_form: form, token_errors, ..Forms::default() })
                .await
        }
        Err(e) => Err(e.into()),
    }
}

fn parse_token_form(form: &TokenForm, users: &[User]) -> Result<TokenSpec, TokenErrors> {
    let mut errors = TokenErrors {
        description: check_description(&form.description).err(),
        ..TokenErrors::default()
    };
    let user = parse_user(&form.user, users).unwrap_or_else(|e| {
        errors.user = Some(e);
        None
    });
    let lifetime = parse_lifetime(&form.expiry_days).unwrap_or_else(|e| {
        errors.expiry_days = Some(e);
        None
    });
    if errors.any() {
        return Err(errors);
    }
    Ok(TokenSpec { user, description: form.description.clone(), lifetime })
}

async fn render(
    console: &Console,
    admin: &CurrentAdmin,
    forms: Forms,
) -> Result<Response, ConsoleError> {
    let service = console.service();
    let users = service.list_users(&Actor::Admin).await?;
    let tokens = service.list_api_tokens(&Actor::Admin).await?;
    let admins = service.list_console_admins(&Actor::Admin).await?;
    let now = service.now();
    let settings = match forms.settings {
        Some(form) => form,
        None => SettingsForm::from_settings(&service.settings().await?),
    };
    let invalid = forms.expiry_error.is_some() || forms.token_errors.any();
    let page = SettingsPage {
        layout: Layout::page("Settings", Nav::Settings, &admin.session),
        csrf: admin.session.csrf.as_str().to_owned(),
        notice: forms.notice,
        settings,
        expiry_error: forms.expiry_error,
        users: user_options(&users, &forms.token_form.user),
        token_form: forms.token_form,
        token_errors: forms.token_errors,
        created: forms.created,
        shown_gone: forms.shown_gone,
        tokens: tokens.iter().map(|t| token_row(t, &users, now)).collect(),
        default_user: service.config().default_user.to_string(),
        admins: admins.iter().map(|a| a.name.to_string()).collect(),
    };
    let status = if invalid { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(html_with_status(status, &page))
}

fn token_row(t: &ApiToken, users: &[User], now: Timestamp) -> TokenRow {
    let (status, revocable) = if t.revoked_at.is_some() {
        (Badge::new("Revoked", "red"), false)
    } else if now >= t.expires {
        (Badge::new("Expired", "amber"), false)
    } else {
        (Badge::new("Active", "green"), true)
    };
    TokenRow {
        id: t.id.as_str().to_owned(),
        description: t.description.as_str().to_owned(),
        user: users
            .iter()
            .find(|u| u.id == t.user)
            .map_or_else(|| format!("user {}", t.user), |u| u.name.to_string()),
        created: TimeText::new(t.created, now),
        expires: TimeText::new(t.expires, now),
        last_used: t.last_used_at.map(|l| TimeText::new(l, now)),
        status,
        revocable,
    }
}

/// `GET /console/settings/tokens/{id}/revoke`
pub(crate) async fn confirm_revoke_token(
    State(console): State<Console>,
    admin: CurrentAdmin,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let tokens = console.service().list_api_tokens(&Actor::Admin).await?;
    let token = tokens.iter().find(|t| t.id.as_str() == id).ok_or(ConsoleError::NotFound)?;
    let page = ConfirmPage {
        layout: Layout::page("Revoke API token", Nav::Settings, &admin.session),
        csrf: admin.session.csrf.as_str().to_owned(),
        heading: format!("Revoke API token {}?", token.id.as_str()),
        message: "Programs using this token lose access at once. This cannot be undone.".into(),
        facts: vec![description_fact(token.description.as_str())],
        action: format!("/console/settings/tokens/{}/revoke", token.id.as_str()),
        button: "Revoke token",
        cancel: "/console/settings",
    };
    Ok(html(&page))
}

/// `POST /console/settings/tokens/{id}/revoke`
pub(crate) async fn revoke_token(
    State(console): State<Console>,
    Path(id): Path<String>,
    AdminForm { .. }: AdminForm<NoFields>,
) -> Result<Response, ConsoleError> {
    let outcome = console.service().revoke_api_token(&Actor::Admin, &id).await?;
    Ok(after_revoke(outcome, "/console/settings", "token-revoked", "token-already-revoked"))
}
