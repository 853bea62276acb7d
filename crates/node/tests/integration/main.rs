//! Integration tests of the node client against a fake control server (no keygate server
//! needed). One test binary; each module is one area.

mod cli;
mod connect_errors;
mod fake_control;
mod map_stream;
mod register;
