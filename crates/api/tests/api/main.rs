//! In-process tests of the `/api/v2` router over a real SQLite store in a temporary file.

mod acl;
mod audit;
mod auth;
mod devices;
mod helpers;
mod keys;
mod oauth;
mod openapi;
mod routing;
mod settings;
mod tokens;
mod users;
