//! Streaming map sessions and the single fan-out that feeds them.
//!
//! Each node with an open `Stream:true` map request has one session: a bounded queue of
//! encoded frames that its HTTP/2 response body drains. A newer session of the same node
//! replaces the older one (whose queue closes, ending its response).
//!
//! One task subscribes to the tailnet's change bus. For each event it renders **one** delta
//! (`PeersChanged` or `PeersChangedPatch`), encodes and compresses it once per compression
//! flavour actually in use, and pushes the same `Bytes` into the queue of every node that sees
//! the changed node under the ACL policy (the event's `effects.peers`); nodes that stopped
//! seeing it get one shared `PeersRemoved`: a join costs O(peers) queue pushes and one
//! encoding, never a map rebuild per peer. Packet filters differ per node, so each node whose
//! filter changed gets its own `PacketFilter` message. A new policy resends every node a full
//! map (rare, and every filter and peer set may differ). The node the event is about gets a `Node` message instead, and only when
//! something it sees of itself changed (approval, expiry, key, name, owner). A session whose
//! queue is full is dropped rather than waited for: that node reconnects and receives a
//! fresh full map, and no slow node ever delays the others.
//!
//! A deleted node's session gets a last `Node` message with its key expired, then ends. The
//! Go client treats an expired self node as logged out (`NeedsLogin`, `nextStateLocked` in
//! `ipn/ipnlocal/local.go`); merely ending the stream would leave it retrying map polls that
//! now fail with 404, forever, as before Headscale's fix for its issue #3410.
//!
//! Consistency: a session is registered and its snapshot taken under the registry lock, and
//! the fan-out delivers each event under the same lock, so every event is either already in
//! the snapshot (`seq <= since`, skipped) or delivered after the full map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use keygate_domain::{Node, NodeId, Timestamp};
use keygate_policy::PacketRule;
use keygate_service::{NodeEntry, PolicyEffects, Tailnet, TailnetChange, TailnetEvent};
use keygate_tailcfg::{encode_map_response, keep_alive_frame, MapResponse};
use rand::Rng as _;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::error::ControlError;
use crate::render;
use crate::ControlConfig;

/// What the map sessions and the map handler share: the live tailnet, the settings maps are
/// rendered with, the open sessions and the keep-alive frames. The control state holds the
/// only strong reference; sessions and the fan-out hold weak ones.
pub(crate) struct Hub {
    pub(crate) tailnet: Tailnet,
    pub(crate) config: ControlConfig,
    pub(crate) sessions: Sessions,
    /// `{"KeepAlive":true}`, framed plain and zstd-compressed.
    pub(crate) keep_alive_plain: Bytes,
    pub(crate) keep_alive_zstd: Bytes,
}

impl Hub {
    pub(crate) fn new(tailnet: Tailnet, config: ControlConfig) -> Self {
        Self {
            tailnet,
            config,
            sessions: Sessions::default(),
            keep_alive_plain: keep_alive_frame(false).expect("the keep-alive message encodes"),
            keep_alive_zstd: keep_alive_frame(true).expect("the keep-alive message compresses"),
        }
    }
}

/// The registry of open sessions, by node.
#[derive(Default)]
pub(crate) struct Sessions {
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    next_serial: u64,
    by_node: HashMap<NodeId, Session>,
}

struct Session {
    serial: u64,
    tx: mpsc::Sender<Bytes>,
    compress: bool,
    cap: i64,
    /// Events up to this sequence number are already in what the node was sent.
    since: u64,
    /// What the node was last told about itself, to send a new `Node` only on a change.
    seen_self: SelfView,
}

/// The parts of its own node a client acts on.
#[derive(Clone, PartialEq, Eq)]
struct SelfView {
    authorized: bool,
    /// Whether its key has expired by then: the passing of the expiry time changes nothing
    /// else, and the client must hear of it.
    expired: bool,
    node: Node,
}

impl SelfView {
    fn of(entry: &NodeEntry, now: Timestamp) -> Self {
        let mut node = entry.node.clone();
        // Changes a node reports itself are not news to it.
        node.hostinfo_json.clear();
        node.endpoints.clear();
        node.hostname.clear();
        node.disco_key = keygate_domain::DiscoKey([0; 32]);
        node.last_seen = None;
        Self { authorized: entry.node.authorized, expired: entry.node.is_key_expired(now), node }
    }
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of open sessions.
    pub(crate) fn len(&self) -> usize {
        self.lock().by_node.len()
    }
}

/// An open map stream, from the handler's point of view.
pub(crate) struct OpenSession {
    /// The first message, already framed.
    pub first: Bytes,
    pub frames: mpsc::Receiver<Bytes>,
    pub guard: SessionGuard,
}

/// Opens the streaming session of node `id` and renders its first (full) map.
pub(crate) fn open(
    shared: &Arc<Hub>,
    id: NodeId,
    compress: bool,
    cap: i64,
) -> Result<OpenSession, ControlError> {
    let (tx, frames) = mpsc::channel(shared.config.session_queue_len.max(1));
    let now = shared.tailnet.service().now();
    let (view, serial) = {
        let mut registry = shared.sessions.lock();
        let view = shared.tailnet.map_view(id).ok_or(ControlError::NodeNotFound)?;
        registry.next_serial += 1;
        let serial = registry.next_serial;
        let session = Session {
            serial,
            tx,
            compress,
            cap,
            since: view.seq,
            seen_self: SelfView::of(&view.me, now),
        };
        if registry.by_node.insert(id, session).is_some() {
            tracing::debug!(node = %id, "a newer map stream replaces the open one");
        }
        (view, serial)
    };
    // Rendered outside the lock: events arriving meanwhile queue up behind it.
    let first = render::full_map(&view, &shared.config, now, cap);
    let first = encode_map_response(&first, compress)?;
    let guard = SessionGuard { shared: Arc::downgrade(shared), node: id, serial };
    Ok(OpenSession { first, frames, guard })
}

/// Closes the session when the response body is dropped (stream finished, client gone, or
/// connection closed), and tells the tailnet the node has one session less.
pub(crate) struct SessionGuard {
    shared: Weak<Hub>,
    node: NodeId,
    serial: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else { return };
        {
            let mut registry = shared.sessions.lock();
            if registry.by_node.get(&self.node).is_some_and(|s| s.serial == self.serial) {
                registry.by_node.remove(&self.node);
            }
        }
        let node = self.node;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { shared.tailnet.session_ended(node).await });
        }
    }
}

/// The fan-out task: runs until the bus closes or the control state is dropped.
pub(crate) async fn fan_out(shared: Weak<Hub>, mut events: broadcast::Receiver<Arc<TailnetEvent>>) {
    loop {
        let event = events.recv().await;
        let Some(shared) = shared.upgrade() else { return };
        match event {
            Ok(event) => deliver(&shared, &event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // Deltas were lost: every node must start over from a full map.
                let mut registry = shared.sessions.lock();
                tracing::warn!(
                    missed,
                    sessions = registry.by_node.len(),
                    "map fan-out fell behind; closing every map stream so nodes resynchronise"
                );
                registry.by_node.clear();
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Delivers one event to every session.
fn deliver(shared: &Hub, event: &TailnetEvent) {
    if matches!(event.change, TailnetChange::PolicyChanged) {
        resend_all(shared, event.seq);
        return;
    }
    let now = shared.tailnet.service().now();
    let subject = event.node_id();
    let effects = &event.effects;
    let delta = render::peer_delta(&event.change, &shared.config, now);
    let mut frames = FrameCache::new(delta);
    let mut removed = FrameCache::new(
        (!effects.peers_removed.is_empty()).then(|| render::peer_removed(subject.0)),
    );
    let filters: HashMap<NodeId, &[PacketRule]> =
        effects.filters.iter().map(|(id, f)| (*id, f.as_slice())).collect();
    let mut registry = shared.sessions.lock();
    let mut dropped = Vec::new();
    for (node, session) in registry.by_node.iter_mut() {
        if event.seq <= session.since {
            continue;
        }
        let mut out = Vec::new();
        if *node == subject {
            match self_message(shared, session, event, now) {
                SelfMessage::Send(message) => out.extend(encode(&message, session.compress)),
                SelfMessage::Nothing => {}
                SelfMessage::Close(farewell) => {
                    if let Some(frame) = encode(&farewell, session.compress) {
                        // Queued before the queue closes, so the client reads it first.
                        let _ = session.tx.try_send(frame);
                    }
                    dropped.push((*node, "its node was deleted"));
                    continue;
                }
            }
        } else {
            if effects.peers.binary_search(node).is_ok() {
                out.extend(frames.get(session.compress));
            } else if effects.peers_removed.binary_search(node).is_ok() {
                out.extend(removed.get(session.compress));
            }
            if let Some(filter) = filters.get(node) {
                out.extend(encode(&filter_message(filter), session.compress));
            }
        }
        if out.into_iter().any(|frame| session.tx.try_send(frame).is_err()) {
            dropped.push((*node, "its queue is full"));
        }
    }
    for (node, why) in dropped {
        registry.by_node.remove(&node);
        tracing::info!(node = %node, reason = why, "map stream closed");
    }
}

/// A new policy: every approved node gets a fresh full map (its new filter and peers).
fn resend_all(shared: &Hub, seq: u64) {
    let now = shared.tailnet.service().now();
    let mut registry = shared.sessions.lock();
    let mut dropped = Vec::new();
    for (node, session) in registry.by_node.iter_mut() {
        if seq <= session.since || !session.seen_self.authorized {
            continue;
        }
        // Deleted meanwhile: the removal event follows and closes the stream.
        let Some(view) = shared.tailnet.map_view(*node) else { continue };
        session.since = view.seq;
        let mut full = render::full_map(&view, &shared.config, now, session.cap);
        // Settings were sent with the first map already.
        full.derp_map = None;
        let Some(frame) = encode(&full, session.compress) else { continue };
        if session.tx.try_send(frame).is_err() {
            dropped.push(*node);
        }
    }
    for node in dropped {
        registry.by_node.remove(&node);
        tracing::info!(node = %node, reason = "its queue is full", "map stream closed");
    }
}

/// A node's new packet filter, alone.
fn filter_message(filter: &[PacketRule]) -> MapResponse {
    MapResponse {
        packet_filter: Some(keygate_policy::to_tailcfg(filter)),
        ..MapResponse::default()
    }
}

enum SelfMessage {
    Send(Box<MapResponse>),
    Nothing,
    /// The node is gone: send this last message, then end the stream.
    Close(Box<MapResponse>),
}

/// What a node is told about a change to itself: its own node when something it sees of
/// itself changed, the peers it gained and lost, and its new filter.
fn self_message(
    shared: &Hub,
    session: &mut Session,
    event: &TailnetEvent,
    now: Timestamp,
) -> SelfMessage {
    let effects = &event.effects;
    let entry = match &event.change {
        TailnetChange::Removed { entry, .. } => {
            let mut gone = (**entry).clone();
            gone.node.key_expiry = Some(gone.node.key_expiry.map_or(now, |e| e.min(now)));
            let node = render::self_node(&gone, &shared.config, now, session.cap);
            return SelfMessage::Close(Box::new(MapResponse {
                node: Some(node),
                ..MapResponse::default()
            }));
        }
        TailnetChange::Changed { entry, .. } => entry,
        // Its own endpoints, online state and enrolment are not news to the node; what the
        // policy changed for it is.
        TailnetChange::Added(entry) | TailnetChange::EndpointsChanged(entry) => {
            return policy_message(shared, entry, effects, None, now);
        }
        TailnetChange::OnlineChanged(_) | TailnetChange::PolicyChanged => {
            return SelfMessage::Nothing
        }
    };
    let view = SelfView::of(entry, now);
    if view == session.seen_self {
        return policy_message(shared, entry, effects, None, now);
    }
    let authorization_changed = view.authorized != session.seen_self.authorized;
    session.seen_self = view;
    if !authorization_changed {
        let node = render::self_node(entry, &shared.config, now, session.cap);
        return policy_message(shared, entry, effects, Some(node), now);
    }
    // Approved: the node now sees its peers; un-approved: it no longer does (it is out of the
    // policy's network, so its effects list every peer it had).
    if entry.visible_to_peers() {
        // From a fresh view, which also covers every event up to its sequence number.
        // Deleted meanwhile: the removal event follows and closes the stream.
        let Some(view) = shared.tailnet.map_view(entry.node.id) else {
            return SelfMessage::Nothing;
        };
        session.since = view.seq;
        session.seen_self = SelfView::of(&view.me, now);
        let mut full = render::full_map(&view, &shared.config, now, session.cap);
        // Settings were sent with the first map already.
        full.derp_map = None;
        SelfMessage::Send(Box::new(full))
    } else {
        let node = render::self_node(entry, &shared.config, now, session.cap);
        policy_message(shared, entry, effects, Some(node), now)
    }
}

/// The node's own message: `node` (if it changed), plus the peers it gained and lost and its
/// new filter under the policy. `Nothing` when all are empty.
fn policy_message(
    shared: &Hub,
    entry: &NodeEntry,
    effects: &PolicyEffects,
    node: Option<keygate_tailcfg::Node>,
    now: Timestamp,
) -> SelfMessage {
    let id = entry.node.id;
    let filter = effects.filters.iter().find(|(n, _)| *n == id).map(|(_, f)| f);
    if node.is_none()
        && filter.is_none()
        && effects.peers_added.is_empty()
        && effects.peers_removed.is_empty()
    {
        return SelfMessage::Nothing;
    }
    // Rendered as they are now: a later change to one of them is delivered after this anyway.
    let added = shared.tailnet.entries(&effects.peers_added);
    let gone: Vec<i64> = effects.peers_removed.iter().map(|p| p.0).collect();
    SelfMessage::Send(Box::new(MapResponse {
        node,
        peers_changed: (!added.is_empty())
            .then(|| added.iter().map(|p| render::node(p, &shared.config, now)).collect()),
        user_profiles: if added.is_empty() {
            Vec::new()
        } else {
            render::profiles(added.iter().map(AsRef::as_ref))
        },
        peers_removed: (!gone.is_empty()).then_some(gone),
        packet_filter: filter.map(|f| keygate_policy::to_tailcfg(f)),
        ..MapResponse::default()
    }))
}

fn encode(message: &MapResponse, compress: bool) -> Option<Bytes> {
    match encode_map_response(message, compress) {
        Ok(frame) => Some(frame),
        Err(e) => {
            tracing::error!(error = %e, "could not encode a map message");
            None
        }
    }
}

/// One delta, encoded at most once per compression flavour.
struct FrameCache {
    message: Option<MapResponse>,
    plain: Option<Option<Bytes>>,
    zstd: Option<Option<Bytes>>,
}

impl FrameCache {
    fn new(message: Option<MapResponse>) -> Self {
        Self { message, plain: None, zstd: None }
    }

    fn get(&mut self, compress: bool) -> Option<Bytes> {
        let message = self.message.as_ref()?;
        let slot = if compress { &mut self.zstd } else { &mut self.plain };
        slot.get_or_insert_with(|| encode(message, compress)).clone()
    }
}

/// The response body of a map stream: the first map, then queued frames, with a
/// keep-alive whenever the stream has been quiet for the interval (plus jitter).
pub(crate) fn body_stream(
    open: OpenSession,
    keep_alive: Bytes,
    interval: Duration,
    jitter: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    struct State {
        first: Option<Bytes>,
        frames: mpsc::Receiver<Bytes>,
        keep_alive: Bytes,
        interval: Duration,
        jitter: Duration,
        next_keep_alive: Instant,
        _guard: SessionGuard,
    }
    fn next_deadline(interval: Duration, jitter: Duration) -> Instant {
        let extra = if jitter.is_zero() {
            Duration::ZERO
        } else {
            rand::thread_rng().gen_range(Duration::ZERO..=jitter)
        };
        Instant::now() + interval + extra
    }
    let state = State {
        first: Some(open.first),
        frames: open.frames,
        keep_alive,
        interval,
        jitter,
        next_keep_alive: next_deadline(interval, jitter),
        _guard: open.guard,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if let Some(first) = st.first.take() {
            return Some((Ok(first), st));
        }
        let frame = tokio::select! {
            frame = st.frames.recv() => frame?,
            () = tokio::time::sleep_until(st.next_keep_alive) => st.keep_alive.clone(),
        };
        st.next_keep_alive = next_deadline(st.interval, st.jitter);
        Some((Ok(frame), st))
    })
}
