//! Store conformance: every `Store` method, on SQLite always and on PostgreSQL when
//! `TEST_POSTGRES_URL` names a server we may create databases on (see `support`).

mod support;

mod api_tokens;
mod auth_keys;
mod connect;
mod consume;
mod nodes;
mod schema;
mod secrets;
mod settings;
mod users;
