-- Why this migration exists: the admin web console signs people in with local accounts
-- (argon2id passwords), keeps their sessions server-side so that signing out revokes them,
-- and lets the very first account be created through a one-time setup link.
--
-- This file and migrations/postgres/0003_console_admins.sql describe the same tables and
-- columns (see 0001_initial.sql for the conventions). Nothing is seeded: there is no default
-- account or password; the first admin comes from the setup link or `keygate admin create`.

-- People who may sign in to the console. Unrelated to `users` (who own keys and nodes).
CREATE TABLE console_admins (
    -- AUTOINCREMENT: an id is never reused, so a stale session can never name a new admin.
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    -- Sign-in name, with the same syntax as user names (`alice`, `ops@example.com`).
    name          TEXT    NOT NULL,
    -- The password as an argon2id PHC string (`$argon2id$v=19$m=…$salt$hash`); never the
    -- password itself.
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    CONSTRAINT console_admins_name_key UNIQUE (name)
);

-- Signed-in console sessions. The cookie holds a 256-bit random secret; only its SHA-256 is
-- kept, so a copy of the database cannot be used to take over a session.
CREATE TABLE console_sessions (
    -- SHA-256 of the session secret (32 bytes).
    id_hash       BLOB    NOT NULL,
    -- Deleting an admin ends their sessions.
    admin_id      BIGINT  NOT NULL REFERENCES console_admins (id) ON DELETE CASCADE,
    created_at    BIGINT  NOT NULL,
    -- The session is valid while now < expires_at; signing out deletes the row.
    expires_at    BIGINT  NOT NULL,
    CONSTRAINT console_sessions_pkey PRIMARY KEY (id_hash)
);

-- For the foreign key, and for sweeping expired sessions.
CREATE INDEX console_sessions_admin_id_idx ON console_sessions (admin_id);
CREATE INDEX console_sessions_expires_at_idx ON console_sessions (expires_at);

-- One-time links that let the first admin be created on a server that has none.
CREATE TABLE console_setup_tokens (
    -- SHA-256 of the token in the link (32 bytes).
    token_hash    BLOB    NOT NULL,
    created_at    BIGINT  NOT NULL,
    -- Usable while now < expires_at (24 hours after creation) and unused.
    expires_at    BIGINT  NOT NULL,
    -- Set by the guarded update that creates the first admin; NULL while unused.
    used_at       BIGINT,
    CONSTRAINT console_setup_tokens_pkey PRIMARY KEY (token_hash)
);
