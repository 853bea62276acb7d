//! keygate's control protocol end to end: a real server on 127.0.0.1:0 over a SQLite file, and
//! nodes from `keygate-node` (the Tailscale node client keygate's benchmark and CLI tests use
//! too). The tests send by hand only what that client would never send: malformed bodies,
//! other endpoints, an old capability version.

mod acl;
mod helpers;
mod lifecycle;
mod map;
mod register;
mod transport;
