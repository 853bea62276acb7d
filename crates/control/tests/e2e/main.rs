//! keygate's control protocol end to end: a real server on 127.0.0.1:0 over a SQLite file, and
//! a minimal Tailscale-like node written here (Noise initiator, HTTP/1.1 upgrade, HTTP/2
//! client, map frame decoder).

mod acl;
mod helpers;
mod lifecycle;
mod map;
mod register;
mod transport;
