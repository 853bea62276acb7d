-- Why this migration exists: the audit log (who did what to which key, token, node, user or
-- setting) and OAuth clients with the access tokens they obtain (client-credentials grant).
--
-- Same tables and columns as migrations/postgres/0002_audit_oauth.sql (a conformance test
-- compares them). Secrets are never stored, only their peppered HMAC, as in 0001.

-- Append-only audit log. Rows are never updated; listing is newest first by id.
CREATE TABLE audit_events (
    -- AUTOINCREMENT: ids only grow, so they order entries even within one millisecond.
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    -- When it happened, unix milliseconds.
    at      BIGINT  NOT NULL,
    -- Who: `admin`, `user:<name>`, `oauth:<client id>`, `node:<id>` or `system`.
    actor   TEXT    NOT NULL,
    -- What: `noun.verb`, e.g. `key.create` (AuditAction in the domain crate).
    action  TEXT    NOT NULL,
    -- The public id or name of what was acted on; never a secret.
    target  TEXT    NOT NULL,
    -- A JSON object of further non-secret facts.
    detail  TEXT    NOT NULL DEFAULT '{}'
);

-- For `?since=` and the filters, which all list newest first.
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_target_idx ON audit_events (target);

-- OAuth clients: tailnet credentials that obtain short-lived access tokens. Never expire.
CREATE TABLE oauth_clients (
    -- Public id, also embedded in the secret (`keygate-client-<id>-<secret>`).
    id            TEXT    NOT NULL,
    -- Granted scopes, space-separated, sorted (e.g. `auth_keys devices:core`).
    scopes        TEXT    NOT NULL,
    -- Tags it may give keys and devices, comma-joined and sorted; '' for none.
    tags          TEXT    NOT NULL DEFAULT '',
    description   TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    revoked_at    BIGINT,
    -- When it last obtained an access token.
    last_used_at  BIGINT,
    -- HMAC-SHA256 of the secret under the server's pepper (32 bytes).
    secret_hash   BLOB    NOT NULL,
    CONSTRAINT oauth_clients_pkey PRIMARY KEY (id)
);

CREATE INDEX oauth_clients_created_at_idx ON oauth_clients (created_at);

-- Access tokens obtained by OAuth clients; one hour each, deleted once expired.
CREATE TABLE oauth_tokens (
    -- Public id, also embedded in the secret (`keygate-oauthtok-<id>-<secret>`).
    id            TEXT    NOT NULL,
    -- Revoking (never deleting) the client is what cuts its tokens off.
    client_id     TEXT    NOT NULL REFERENCES oauth_clients (id),
    -- At most the client's scopes, space-separated.
    scopes        TEXT    NOT NULL,
    -- At most the client's tags, comma-joined; '' for none.
    tags          TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    -- Accepted while now < expires_at.
    expires_at    BIGINT  NOT NULL,
    -- HMAC-SHA256 of the secret under the server's pepper (32 bytes).
    secret_hash   BLOB    NOT NULL,
    CONSTRAINT oauth_tokens_pkey PRIMARY KEY (id)
);

-- For deleting expired tokens, and the foreign key.
CREATE INDEX oauth_tokens_expires_at_idx ON oauth_tokens (expires_at);
CREATE INDEX oauth_tokens_client_id_idx ON oauth_tokens (client_id);
