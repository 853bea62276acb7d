//! Node use cases of the live tailnet, over a real SQLite store and a manual clock.

mod events;
mod register;
mod support;
