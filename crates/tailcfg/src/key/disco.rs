//! Disco public keys: `discokey:<64 hex>`.

super::public_key_type!(
    /// A node's disco key, text form `discokey:<64 hex>`, used by peers for
    /// NAT-traversal pings. Sent in `MapRequest.DiscoKey`, relayed in
    /// `Node.DiscoKey`. Upstream: `types/key/disco.go` (`DiscoPublic`).
    DiscoPublicKey,
    "discokey:"
);
