//! Machine (Noise static) public keys: `mkey:<64 hex>`.

super::public_key_type!(
    /// A machine key, text form `mkey:<64 hex>`: the Noise static key of a
    /// client (`Node.Machine`) or of the control server
    /// (`OverTLSPublicKeyResponse.publicKey`). A client's machine key never
    /// appears in its requests: the server takes it from the Noise handshake.
    /// Upstream: `types/key/machine.go` (`MachinePublic`).
    MachinePublicKey,
    "mkey:"
);
