//! Integration tests of the DERP relay: real servers on 127.0.0.1:0 (the axum router and the
//! standalone listener) and in-memory streams for malformed input.

mod admission;
mod http_endpoints;
mod keepalive;
mod malformed;
mod peer_gone;
mod relay;
mod support;
