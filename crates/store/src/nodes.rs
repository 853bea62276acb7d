//! The `nodes` table: machines enrolled in the tailnet.
//!
//! Storage forms: the three public keys as their 32 raw bytes; addresses as their canonical
//! text (`100.64.0.1`, `fd7a:115c:a1e0::1`), unique each; endpoints joined by newlines (an
//! `ip:port` never contains one); the owner as `user_id` or as comma-joined tags, exactly one
//! of the two, which a `CHECK` constraint enforces beneath the domain's `NodeOwner` type.

use std::net::{Ipv4Addr, Ipv6Addr};

use keygate_domain::{
    AuthKeyId, DiscoKey, MachineKey, NewNode, Node, NodeId, NodeKey, NodeOwner, TagSet, Timestamp,
    UserId,
};

use crate::conn::{Arg, Conn};
use crate::StoreError;

/// A `nodes` row.
#[derive(sqlx::FromRow)]
struct NodeRow {
    id: i64,
    machine_key: Vec<u8>,
    node_key: Vec<u8>,
    disco_key: Vec<u8>,
    hostname: String,
    given_name: String,
    user_id: Option<i64>,
    tags: String,
    auth_key_id: Option<String>,
    ipv4: String,
    ipv6: String,
    hostinfo_json: String,
    endpoints: String,
    created_at: i64,
    last_seen: Option<i64>,
    ephemeral: bool,
    authorized: bool,
    key_expiry: Option<i64>,
}

const WHAT: &str = "nodes";

fn key_bytes(column: &str, bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| {
        StoreError::corrupt(WHAT, format_args!("{column} is {} bytes, not 32", bytes.len()))
    })
}

fn parse<T: std::str::FromStr>(column: &str, text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| StoreError::corrupt(WHAT, format_args!("{column}: {e}")))
}

impl TryFrom<NodeRow> for Node {
    type Error = StoreError;

    fn try_from(row: NodeRow) -> Result<Self, StoreError> {
        let owner = match (row.user_id, row.tags.as_str()) {
            (Some(user), "") => NodeOwner::User(UserId(user)),
            (None, tags) if !tags.is_empty() => NodeOwner::Tags(
                TagSet::parse_list(tags)
                    .map_err(|e| StoreError::corrupt(WHAT, format_args!("tags: {e}")))?,
            ),
            _ => return Err(StoreError::corrupt(WHAT, "not exactly one owner (user_id, tags)")),
        };
        let endpoints = match row.endpoints.as_str() {
            "" => Vec::new(),
            joined => joined.split('\n').map(str::to_owned).collect(),
        };
        Ok(Node {
            id: NodeId(row.id),
            machine_key: MachineKey(key_bytes("machine_key", &row.machine_key)?),
            node_key: NodeKey(key_bytes("node_key", &row.node_key)?),
            disco_key: DiscoKey(key_bytes("disco_key", &row.disco_key)?),
            hostname: row.hostname,
            given_name: row.given_name,
            owner,
            auth_key_id: row.auth_key_id.map(AuthKeyId::from_stored),
            ipv4: parse::<Ipv4Addr>("ipv4", &row.ipv4)?,
            ipv6: parse::<Ipv6Addr>("ipv6", &row.ipv6)?,
            hostinfo_json: row.hostinfo_json,
            endpoints,
            created: Timestamp::from_unix_millis(row.created_at),
            last_seen: row.last_seen.map(Timestamp::from_unix_millis),
            ephemeral: row.ephemeral,
            authorized: row.authorized,
            key_expiry: row.key_expiry.map(Timestamp::from_unix_millis),
        })
    }
}

/// A node's columns in their storage form, in the order of [`INSERT`] (`$1`…`$17`), borrowed
/// from a [`NewNode`] or a [`Node`].
struct NodeColumns<'a> {
    machine_key: &'a [u8],
    node_key: &'a [u8],
    disco_key: &'a [u8],
    hostname: &'a str,
    given_name: &'a str,
    user_id: Option<i64>,
    tags: String,
    auth_key_id: Option<&'a str>,
    ipv4: String,
    ipv6: String,
    hostinfo_json: &'a str,
    endpoints: String,
    created: Timestamp,
    last_seen: Option<Timestamp>,
    ephemeral: bool,
    authorized: bool,
    key_expiry: Option<Timestamp>,
}

/// Builds [`NodeColumns`] from a `NewNode` or a `Node`: both have these fields, under these
/// names, and the domain has no shared view of them.
macro_rules! node_columns {
    ($n:expr) => {{
        let n = $n;
        NodeColumns {
            machine_key: n.machine_key.as_bytes(),
            node_key: n.node_key.as_bytes(),
            disco_key: n.disco_key.as_bytes(),
            hostname: &n.hostname,
            given_name: &n.given_name,
            user_id: n.owner.user().map(|u| u.0),
            tags: n.owner.tags().map(TagSet::to_string).unwrap_or_default(),
            auth_key_id: n.auth_key_id.as_ref().map(AuthKeyId::as_str),
            ipv4: n.ipv4.to_string(),
            ipv6: n.ipv6.to_string(),
            hostinfo_json: &n.hostinfo_json,
            endpoints: n.endpoints.join("\n"),
            created: n.created,
            last_seen: n.last_seen,
            ephemeral: n.ephemeral,
            authorized: n.authorized,
            key_expiry: n.key_expiry,
        }
    }};
}

impl NodeColumns<'_> {
    fn args(&self) -> [Arg<'_>; 17] {
        [
            self.machine_key.into(),
            self.node_key.into(),
            self.disco_key.into(),
            self.hostname.into(),
            self.given_name.into(),
            self.user_id.into(),
            self.tags.as_str().into(),
            self.auth_key_id.into(),
            self.ipv4.as_str().into(),
            self.ipv6.as_str().into(),
            self.hostinfo_json.into(),
            self.endpoints.as_str().into(),
            self.created.into(),
            self.last_seen.into(),
            self.ephemeral.into(),
            self.authorized.into(),
            self.key_expiry.into(),
        ]
    }
}

macro_rules! columns {
    () => {
        "id, machine_key, node_key, disco_key, hostname, given_name, user_id, tags, \
         auth_key_id, ipv4, ipv6, hostinfo_json, endpoints, created_at, last_seen, ephemeral, \
         authorized, key_expiry"
    };
}

const INSERT: &str = "INSERT INTO nodes (machine_key, node_key, disco_key, hostname, \
     given_name, user_id, tags, auth_key_id, ipv4, ipv6, hostinfo_json, endpoints, created_at, \
     last_seen, ephemeral, authorized, key_expiry) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
     RETURNING id";
/// Same argument order as [`INSERT`], with the id last.
const UPDATE: &str = "UPDATE nodes SET machine_key = $1, node_key = $2, disco_key = $3, \
     hostname = $4, given_name = $5, user_id = $6, tags = $7, auth_key_id = $8, ipv4 = $9, \
     ipv6 = $10, hostinfo_json = $11, endpoints = $12, created_at = $13, last_seen = $14, \
     ephemeral = $15, authorized = $16, key_expiry = $17 \
     WHERE id = $18";
const SELECT_BY_ID: &str = concat!("SELECT ", columns!(), " FROM nodes WHERE id = $1");
const SELECT_BY_MACHINE_KEY: &str =
    concat!("SELECT ", columns!(), " FROM nodes WHERE machine_key = $1");
const SELECT_BY_NODE_KEY: &str = concat!("SELECT ", columns!(), " FROM nodes WHERE node_key = $1");
const SELECT_ALL: &str = concat!("SELECT ", columns!(), " FROM nodes ORDER BY id");
const TOUCH: &str = "UPDATE nodes SET last_seen = $2 WHERE id = $1";
const DELETE: &str = "DELETE FROM nodes WHERE id = $1";

/// What a node row refers to, named in [`StoreError::NotFound`] when a reference is dangling
/// (SQLite does not say which of the two it was).
const REFERENCED: &str = "node owner user or auth key";

pub(crate) async fn insert<C: Conn>(c: &mut C, node: &NewNode) -> Result<Node, StoreError> {
    let columns = node_columns!(node);
    let (id,): (i64,) = c
        .fetch_one(INSERT, &columns.args())
        .await
        .map_err(|e| StoreError::from_write(e, REFERENCED))?;
    Ok(node.clone().with_id(NodeId(id)))
}

pub(crate) async fn get<C: Conn>(c: &mut C, id: NodeId) -> Result<Node, StoreError> {
    let row: Option<NodeRow> = c.fetch_optional(SELECT_BY_ID, &[id.0.into()]).await?;
    row.map(Node::try_from).transpose()?.ok_or(StoreError::NotFound("node"))
}

pub(crate) async fn find_by_machine_key<C: Conn>(
    c: &mut C,
    key: &MachineKey,
) -> Result<Option<Node>, StoreError> {
    let row: Option<NodeRow> =
        c.fetch_optional(SELECT_BY_MACHINE_KEY, &[key.as_bytes().as_slice().into()]).await?;
    row.map(Node::try_from).transpose()
}

pub(crate) async fn find_by_node_key<C: Conn>(
    c: &mut C,
    key: &NodeKey,
) -> Result<Option<Node>, StoreError> {
    let row: Option<NodeRow> =
        c.fetch_optional(SELECT_BY_NODE_KEY, &[key.as_bytes().as_slice().into()]).await?;
    row.map(Node::try_from).transpose()
}

pub(crate) async fn list<C: Conn>(c: &mut C) -> Result<Vec<Node>, StoreError> {
    let rows: Vec<NodeRow> = c.fetch_all(SELECT_ALL, &[]).await?;
    rows.into_iter().map(Node::try_from).collect()
}

pub(crate) async fn update<C: Conn>(c: &mut C, node: &Node) -> Result<(), StoreError> {
    let columns = node_columns!(node);
    let mut args = columns.args().to_vec();
    args.push(node.id.0.into());
    match c.execute(UPDATE, &args).await.map_err(|e| StoreError::from_write(e, REFERENCED))? {
        0 => Err(StoreError::NotFound("node")),
        _ => Ok(()),
    }
}

pub(crate) async fn touch<C: Conn>(c: &mut C, id: NodeId, at: Timestamp) -> Result<(), StoreError> {
    match c.execute(TOUCH, &[id.0.into(), at.into()]).await? {
        0 => Err(StoreError::NotFound("node")),
        _ => Ok(()),
    }
}

pub(crate) async fn delete<C: Conn>(c: &mut C, id: NodeId) -> Result<bool, StoreError> {
    Ok(c.execute(DELETE, &[id.0.into()]).await? > 0)
}
