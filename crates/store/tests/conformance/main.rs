//! Store conformance: every `Store` method, on SQLite always and on PostgreSQL when
//! `TEST_POSTGRES_URL` names a server we may create databases on (see `support`).

mod support;

mod address_cursor;
mod api_tokens;
mod audit;
mod auth_keys;
mod connect;
mod console_admins;
mod consume;
mod hold;
mod node_lifecycle;
mod nodes;
mod oauth;
mod policies;
mod schema;
mod secrets;
mod settings;
mod users;
