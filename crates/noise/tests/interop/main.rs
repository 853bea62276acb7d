//! Checks against independent implementations and real consumers: the `snow` Noise crate for
//! the handshake, hyper for HTTP/2 over the stream.

mod hyper_h2;
mod snow_handshake;
