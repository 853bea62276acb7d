-- Why this migration exists: the first schema of keygate's store (users, pre-authentication
-- keys, API tokens, nodes, tailnet settings).
--
-- This file and migrations/sqlite/0001_initial.sql describe the same tables and columns,
-- in portable types: integer ids, BIGINT times in unix milliseconds, TEXT, BYTEA (BLOB there),
-- BOOLEAN. A conformance test compares the two schemas. The store tells which unique value
-- conflicted from the constraint name, so every unique constraint is named explicitly (see
-- UNIQUES in src/error.rs). Migrations are forward-only: never edit this file once released;
-- add the next one.
--
-- Nothing is seeded: the first user and every credential are created at run time.

-- People who own keys, tokens and untagged nodes.
CREATE TABLE users (
    -- Identity: ids are never reused, as they travel on the wire as Tailscale user ids.
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Login name, e.g. `alice` or `alice@example.com`.
    name        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    CONSTRAINT users_name_key UNIQUE (name)
);

-- Pre-authentication keys. Only a hash of each secret is kept.
CREATE TABLE auth_keys (
    -- Public id, also embedded in the secret (`keygate-auth-<id>-<secret>`).
    id            TEXT    NOT NULL,
    -- The user who generated it; NULL for keys minted by an OAuth client (always tagged).
    creator       BIGINT  REFERENCES users (id),
    reusable      BOOLEAN NOT NULL,
    -- Most enrolments a reusable key allows; NULL: unlimited (always NULL for one-off keys).
    usage_limit   BIGINT,
    -- Enrolments so far; raised only by the guarded update in src/auth_keys.rs.
    use_count     BIGINT  NOT NULL DEFAULT 0,
    ephemeral     BOOLEAN NOT NULL,
    preauthorized BOOLEAN NOT NULL,
    -- Tags given to enrolled nodes, comma-joined and sorted (tags cannot contain commas);
    -- '' for none.
    tags          TEXT    NOT NULL DEFAULT '',
    description   TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    -- The key is usable while now < expires_at.
    expires_at    BIGINT  NOT NULL,
    revoked_at    BIGINT,
    last_used_at  BIGINT,
    -- HMAC-SHA256 of the secret under the server's pepper (32 bytes).
    secret_hash   BYTEA   NOT NULL,
    CONSTRAINT auth_keys_pkey PRIMARY KEY (id)
);

-- Keys are listed newest first.
CREATE INDEX auth_keys_created_at_idx ON auth_keys (created_at);

-- API access tokens. Only a hash of each secret is kept.
CREATE TABLE api_tokens (
    -- Public id, also embedded in the secret (`keygate-api-<id>-<secret>`).
    id            TEXT    NOT NULL,
    -- The token acts with this user's permissions.
    user_id       BIGINT  NOT NULL REFERENCES users (id),
    description   TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    revoked_at    BIGINT,
    last_used_at  BIGINT,
    -- HMAC-SHA256 of the secret under the server's pepper (32 bytes).
    secret_hash   BYTEA   NOT NULL,
    CONSTRAINT api_tokens_pkey PRIMARY KEY (id)
);

CREATE INDEX api_tokens_created_at_idx ON api_tokens (created_at);

-- Machines enrolled in the tailnet.
CREATE TABLE nodes (
    -- Identity: ids are never reused, as they travel on the wire as tailcfg.NodeID.
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The three Curve25519 public keys, 32 raw bytes each.
    machine_key   BYTEA   NOT NULL,
    node_key      BYTEA   NOT NULL,
    disco_key     BYTEA   NOT NULL,
    -- Host name as the client reported it.
    hostname      TEXT    NOT NULL,
    -- The node's unique DNS label in the tailnet.
    given_name    TEXT    NOT NULL,
    -- Owner: a user (tags = '') or, for tagged nodes, its tags (user_id NULL); see the check.
    user_id       BIGINT  REFERENCES users (id),
    -- Comma-joined, sorted tags; '' for user-owned nodes.
    tags          TEXT    NOT NULL DEFAULT '',
    -- The key that enrolled it; the node outlives the key.
    auth_key_id   TEXT    REFERENCES auth_keys (id) ON DELETE SET NULL,
    -- Tailnet addresses in canonical text form (`100.64.0.1`, `fd7a:115c:a1e0::1`).
    ipv4          TEXT    NOT NULL,
    ipv6          TEXT    NOT NULL,
    -- The client's last Hostinfo, as JSON text.
    hostinfo_json TEXT    NOT NULL,
    -- The client's last reported endpoints (`ip:port`), newline-joined; '' for none.
    endpoints     TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    last_seen     BIGINT,
    ephemeral     BOOLEAN NOT NULL,
    -- Approved by an admin, by a pre-approved key, or because approval is off.
    authorized    BOOLEAN NOT NULL,
    -- When the node key expires; NULL: never.
    key_expiry    BIGINT,
    CONSTRAINT nodes_machine_key_key UNIQUE (machine_key),
    CONSTRAINT nodes_node_key_key UNIQUE (node_key),
    CONSTRAINT nodes_ipv4_key UNIQUE (ipv4),
    CONSTRAINT nodes_ipv6_key UNIQUE (ipv6),
    CONSTRAINT nodes_given_name_key UNIQUE (given_name),
    -- A node belongs to a user or to its tags, never both and never neither.
    CONSTRAINT nodes_owner_check CHECK (
        (user_id IS NOT NULL AND tags = '') OR (user_id IS NULL AND tags <> '')
    )
);

-- For the foreign keys: finding a user's nodes, and ON DELETE SET NULL of a key.
CREATE INDEX nodes_user_id_idx ON nodes (user_id);
CREATE INDEX nodes_auth_key_id_idx ON nodes (auth_key_id);

-- The tailnet's settings: at most one row, id 1; absent until first saved (the store then
-- returns the domain's defaults).
CREATE TABLE settings (
    id                    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    -- New nodes wait for an admin unless their key was pre-approved.
    device_approval       BOOLEAN NOT NULL,
    -- Node-key lifetime of user-owned nodes, in days.
    node_key_expiry_days  BIGINT  NOT NULL
);
