//! The policy engine through its public API: parsing and its errors, `tests` assertions, tag
//! ownership, packet filters and peers, and incremental updates.

mod assertions;
mod filters;
mod incremental;
mod parse;
mod support;
mod tag_owners;
