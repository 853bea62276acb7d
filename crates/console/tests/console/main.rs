//! The console over HTTP, without a socket: every page and form, and every error path
//! (bad form values, no session, CSRF, reused setup links, locked-out sign-in, floods of
//! password hashing).

mod helpers;

mod admin_socket;
mod csrf;
mod hashing;
mod headers;
mod keys;
mod machines;
mod policy;
mod settings;
mod setup;
mod sign_in;
