//! In-process tests of the `/api/v2` router over a real SQLite store in a temporary file.

mod auth;
mod helpers;
mod keys;
mod routing;
mod settings;
mod tokens;
mod users;
