//! Node use cases of the live tailnet, over a real SQLite store and a manual clock.

mod acl;
mod admin;
mod events;
mod lifecycle;
mod register;
mod support;
