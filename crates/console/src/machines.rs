//! The Machines page: every node with its state, and the actions on it (approve, delete).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use keygate_domain::{NodeId, NodeOwner, Timestamp};
use keygate_service::{Actor, NodeEntry, ServiceError};
use serde::Deserialize;

use crate::csrf::AdminForm;
use crate::error::ConsoleError;
use crate::format::TimeText;
use crate::forms::{capitalise, split_tags, NoFields};
use crate::layout::{html, html_with_status, Layout, Nav};
use crate::session::CurrentAdmin;
use crate::widgets::{Badge, ConfirmPage};
use crate::Console;

/// A machine in the table.
pub(crate) struct MachineRow {
    pub id: i64,
    pub name: String,
    /// The host name the machine reported, when it differs from its name.
    pub hostname: Option<String>,
    pub ipv4: String,
    pub ipv6: String,
    /// The owning user, or `None` for a tagged machine.
    pub user: Option<String>,
    pub tags: Vec<String>,
    pub os: String,
    /// The pre-auth key that enrolled it.
    pub key_id: Option<String>,
    pub ephemeral: bool,
    pub authorized: bool,
    pub online: bool,
    pub last_seen: Option<TimeText>,
    pub expiry: Badge,
    pub expiry_time: Option<TimeText>,
    /// User-owned: its key expiry can be turned off (or back on).
    pub expiry_switchable: bool,
    pub expiry_disabled: bool,
    /// The tags field of the "Edit tags" form: as typed after an error, else the current tags.
    pub tags_text: String,
    /// Why the last tag change of this machine was refused.
    pub tags_error: Option<String>,
}

#[derive(Template)]
#[template(path = "machines.html")]
struct MachinesPage {
    layout: Layout,
    csrf: String,
    notice: Option<&'static str>,
    /// The tailnet's change counter when rendered: the live script reloads the table when the
    /// server's differs.
    seq: u64,
    pending: usize,
    online: usize,
    machines: Vec<MachineRow>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct MachinesQuery {
    notice: Option<String>,
}

fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    match notice? {
        "approved" => Some("The machine was approved: it can now reach its peers."),
        "deleted" => Some("The machine was deleted. It must enrol again to rejoin."),
        "tags" => Some("The machine's tags were changed."),
        "expiry-off" => Some("Key expiry was disabled: the machine's key no longer expires."),
        "expiry-on" => Some("Key expiry was enabled again."),
        _ => None,
    }
}

/// `GET /console/machines`
pub(crate) async fn page(
    State(console): State<Console>,
    admin: CurrentAdmin,
    Query(query): Query<MachinesQuery>,
) -> Result<Response, ConsoleError> {
    Ok(render(&console, &admin, notice_text(query.notice.as_deref()), None))
}

/// A refused tag change, shown under that machine's tags field.
struct TagsError {
    id: i64,
    typed: String,
    message: String,
}

fn render(
    console: &Console,
    admin: &CurrentAdmin,
    notice: Option<&'static str>,
    tags_error: Option<TagsError>,
) -> Response {
    let snapshot = console.tailnet().snapshot();
    let now = console.service().now();
    let mut machines: Vec<MachineRow> =
        snapshot.nodes.iter().map(|e| machine_row(e, now)).collect();
    let status = match tags_error {
        Some(e) => {
            if let Some(row) = machines.iter_mut().find(|m| m.id == e.id) {
                row.tags_text = e.typed;
                row.tags_error = Some(e.message);
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
        None => StatusCode::OK,
    };
    let page = MachinesPage {
        layout: Layout::page("Machines", Nav::Machines, &admin.session),
        csrf: admin.session.csrf.as_str().to_owned(),
        notice,
        seq: snapshot.seq,
        pending: machines.iter().filter(|m| !m.authorized).count(),
        online: machines.iter().filter(|m| m.online).count(),
        machines,
    };
    html_with_status(status, &page)
}

pub(crate) fn machine_row(entry: &Arc<NodeEntry>, now: Timestamp) -> MachineRow {
    let node = &entry.node;
    let (user, tags) = match &node.owner {
        NodeOwner::User(id) => (
            Some(entry.user.as_ref().map_or_else(|| format!("user {id}"), |u| u.name.to_string())),
            Vec::new(),
        ),
        NodeOwner::Tags(tags) => (None, tags.to_strings()),
    };
    let (expiry, expiry_time) = match node.key_expiry {
        None if node.owner.is_tagged() => (Badge::new("No expiry (tagged)", "neutral"), None),
        None => (Badge::new("Expiry disabled", "neutral"), None),
        Some(t) if node.is_key_expired(now) => (Badge::new("Expired", "red"), Some(t)),
        Some(t) => (Badge::new("Expires", "neutral"), Some(t)),
    };
    MachineRow {
        id: node.id.0,
        name: node.given_name.clone(),
        hostname: (node.hostname != node.given_name).then(|| node.hostname.clone()),
        ipv4: node.ipv4.to_string(),
        ipv6: node.ipv6.to_string(),
        user,
        os: os_of(&node.hostinfo_json),
        key_id: node.auth_key_id.as_ref().map(|k| k.as_str().to_owned()),
        ephemeral: node.ephemeral,
        authorized: node.authorized,
        online: entry.online,
        last_seen: node.last_seen.map(|t| TimeText::new(t, now)),
        expiry,
        expiry_time: expiry_time.map(|t| TimeText::new(t, now)),
        expiry_switchable: !node.owner.is_tagged(),
        expiry_disabled: node.key_expiry.is_none(),
        tags_text: tags.join(", "),
        tags,
        tags_error: None,
    }
}

/// "linux 6.1", from the client's Hostinfo (`OS`, `OSVersion`); "—" when it said nothing.
fn os_of(hostinfo_json: &str) -> String {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Hostinfo {
        #[serde(rename = "OS")]
        os: String,
        #[serde(rename = "OSVersion")]
        os_version: String,
    }
    let info: Hostinfo = serde_json::from_str(hostinfo_json).unwrap_or_default();
    let text = format!("{} {}", info.os.trim(), info.os_version.trim());
    let text = text.trim();
    if text.is_empty() {
        "—".to_owned()
    } else {
        text.chars().take(60).collect()
    }
}

/// A node id from the path; anything else is "not found".
fn node_id(text: &str) -> Result<NodeId, ConsoleError> {
    text.parse::<i64>().map(NodeId).map_err(|_| ConsoleError::NotFound)
}

/// `POST /console/machines/{id}/approve`
pub(crate) async fn approve(
    State(console): State<Console>,
    Path(id): Path<String>,
    AdminForm { .. }: AdminForm<NoFields>,
) -> Result<Response, ConsoleError> {
    console.tailnet().set_node_authorized(&Actor::Admin, node_id(&id)?, true).await?;
    Ok(Redirect::to("/console/machines?notice=approved").into_response())
}

/// The "Edit tags" form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct TagsForm {
    tags: String,
}

/// `POST /console/machines/{id}/tags`: gives the machine these tags as its identity.
pub(crate) async fn set_tags(
    State(console): State<Console>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<TagsForm>,
) -> Result<Response, ConsoleError> {
    let node = node_id(&id)?;
    let tags = split_tags(&form.tags);
    match console.tailnet().set_node_tags(&Actor::Admin, node, &tags).await {
        Ok(_) => Ok(Redirect::to("/console/machines?notice=tags").into_response()),
        Err(e) if e.is_invalid() || matches!(e, ServiceError::Forbidden(_)) => {
            let error =
                TagsError { id: node.0, typed: form.tags, message: capitalise(&e.to_string()) };
            Ok(render(&console, &admin, None, Some(error)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The key-expiry switch: `disabled=true` turns expiry off, `false` back on.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ExpiryForm {
    disabled: String,
}

/// `POST /console/machines/{id}/expiry`
pub(crate) async fn set_expiry(
    State(console): State<Console>,
    Path(id): Path<String>,
    AdminForm { form, .. }: AdminForm<ExpiryForm>,
) -> Result<Response, ConsoleError> {
    let disabled = match form.disabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(ConsoleError::BadRequest("Choose to disable or enable key expiry.".into()))
        }
    };
    console.tailnet().set_node_key_expiry_disabled(&Actor::Admin, node_id(&id)?, disabled).await?;
    let notice = if disabled { "expiry-off" } else { "expiry-on" };
    Ok(Redirect::to(&format!("/console/machines?notice={notice}")).into_response())
}

/// `GET /console/machines/{id}/delete`
pub(crate) async fn confirm_delete(
    State(console): State<Console>,
    admin: CurrentAdmin,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let entry = console.tailnet().node(node_id(&id)?).ok_or(ConsoleError::NotFound)?;
    let row = machine_row(&entry, console.service().now());
    let owner = match &row.user {
        Some(user) => user.clone(),
        None => row.tags.join(", "),
    };
    let page = ConfirmPage {
        layout: Layout::page("Delete machine", Nav::Machines, &admin.session),
        csrf: admin.session.csrf.as_str().to_owned(),
        heading: format!("Delete {}?", row.name),
        message: "The machine is removed from the tailnet at once and loses its addresses. To \
                  rejoin, it must enrol again with a key."
            .into(),
        facts: vec![("Addresses", format!("{}, {}", row.ipv4, row.ipv6)), ("Owner", owner)],
        action: format!("/console/machines/{}/delete", row.id),
        button: "Delete machine",
        cancel: "/console/machines",
    };
    Ok(html(&page))
}

/// `POST /console/machines/{id}/delete`
pub(crate) async fn delete(
    State(console): State<Console>,
    Path(id): Path<String>,
    AdminForm { .. }: AdminForm<NoFields>,
) -> Result<Response, ConsoleError> {
    console.tailnet().delete_node(&Actor::Admin, node_id(&id)?).await?;
    Ok(Redirect::to("/console/machines?notice=deleted").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_os_comes_from_hostinfo() {
        assert_eq!(
            os_of(r#"{"OS":"linux","OSVersion":"Debian 12.5","Hostname":"a"}"#),
            "linux Debian 12.5"
        );
        assert_eq!(os_of(r#"{"OS":"windows"}"#), "windows");
        assert_eq!(os_of("{}"), "—");
        assert_eq!(os_of("not json"), "—");
    }
}
