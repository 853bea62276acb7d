//! `keygate audit`: the audit log (who created, revoked or used which key, token, client,
//! node, user or setting), newest first.

use clap::Args;
use keygate_api::AuditLog;

use crate::client::{Client, TAILNET};
use crate::output::{self, short_time, Table};
use crate::GlobalArgs;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Only entries by this actor: admin, user:NAME, oauth:CLIENT_ID, node:ID.
    #[arg(long, value_name = "ACTOR")]
    actor: Option<String>,
    /// Only entries of this action, e.g. key.create, key.revoke, key.use, token.create.
    #[arg(long, value_name = "ACTION")]
    action: Option<String>,
    /// Only entries about this key, token, client, node or user.
    #[arg(long, value_name = "ID")]
    target: Option<String>,
    /// Only entries at or after this time (RFC 3339, e.g. 2025-06-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// At most this many entries, 1 to 1000 [default: 100].
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
}

pub async fn run(global: &GlobalArgs, args: AuditArgs) -> anyhow::Result<()> {
    let client = Client::from_args(global)?;
    let mut query = Vec::new();
    for (name, value) in [
        ("actor", args.actor),
        ("action", args.action),
        ("target", args.target),
        ("since", args.since),
        ("limit", args.limit.map(|n| n.to_string())),
    ] {
        if let Some(value) = value {
            query.push(format!("{name}={}", query_escape(&value)));
        }
    }
    let mut path = format!("{TAILNET}/audit");
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let reply = client.get::<AuditLog>(&path).await?;
    if global.json {
        return output::print_json(&reply.text);
    }
    if reply.value.events.is_empty() {
        return output::print("No audit entries.\n");
    }
    let mut table = Table::new(&["TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"]);
    for e in &reply.value.events {
        let detail = match e.detail.as_object() {
            Some(o) if o.is_empty() => "-".to_owned(),
            _ => e.detail.to_string(),
        };
        table.row(vec![
            short_time(&e.at),
            e.actor.clone(),
            e.action.clone(),
            e.target.clone(),
            detail,
        ]);
    }
    output::print(&table.render())
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for a query value.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_escape("user:alice"), "user:alice");
        assert_eq!(query_escape("2025-06-01T00:00:00+02:00"), "2025-06-01T00:00:00%2B02:00");
        assert_eq!(query_escape("a b&c"), "a%20b%26c");
    }
}
