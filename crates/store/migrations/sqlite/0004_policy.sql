-- Why this migration exists: the tailnet's ACL policy file (issue 7) is stored with its
-- history. Every save adds a revision; the newest is in force; none means keygate's default
-- policy (allow everything), which therefore needs no row.
--
-- This file and migrations/postgres/0004_policy.sql describe the same table and columns (see
-- 0001_initial.sql for the conventions). Nothing is seeded.

-- Revisions of the policy file, oldest first.
CREATE TABLE policies (
    -- Revision number, also the policy's ETag. AUTOINCREMENT: never reused, so an old ETag can
    -- never match a newer revision.
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    -- The revision this one replaced; 0 for the first (it replaced the default policy).
    -- Unique: of two saves made from the same revision, only one can be stored, which is what
    -- turns a lost update into a 412 (see src/policies.rs).
    parent      BIGINT  NOT NULL,
    -- The file as the admin wrote it (HuJSON: comments and trailing commas kept).
    body        TEXT    NOT NULL,
    -- Who saved it, for the history (`admin`, `user 3`, …).
    saved_by    TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    CONSTRAINT policies_parent_key UNIQUE (parent)
);
