-- Why this migration exists: freed tailnet addresses are not handed out again at once
-- (issue 14). The allocator hands out address pairs round-robin, the next free pair after the
-- last one handed out, and this table keeps its position across restarts, so that a restarted
-- server does not give a new node the address of a node deleted just before, and with it the
-- ACL rules written for that address. See crates/service/src/ip_allocator.rs.
--
-- This file and migrations/postgres/0005_address_cursor.sql describe the same table and columns
-- (see 0001_initial.sql for the conventions). Nothing is seeded: without a row, the allocator
-- continues after the highest address in use.

-- Where the address allocator continues: at most one row, id 1.
CREATE TABLE address_cursor (
    id           INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    -- The pool offset (100.64.0.0 + offset, fd7a:115c:a1e0:: + offset) at which the search for
    -- the next free pair starts. Written before each node deletion, not at each enrolment.
    next_offset  BIGINT  NOT NULL
);
