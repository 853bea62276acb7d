//! Node (WireGuard) public keys: `nodekey:<64 hex>`.

super::public_key_type!(
    /// A node's WireGuard public key, text form `nodekey:<64 hex>`.
    ///
    /// Sent by clients as `RegisterRequest.NodeKey`/`OldNodeKey` and
    /// `MapRequest.NodeKey`; sent back in `Node.Key`. It rotates (the machine
    /// key does not), so the server binds it 1:1 to a machine key.
    /// Upstream: `types/key/node.go` (`NodePublic`).
    NodePublicKey,
    "nodekey:"
);
