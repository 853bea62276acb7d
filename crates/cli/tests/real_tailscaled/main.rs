//! End-to-end tests with the **official, unmodified tailscaled 1.96.4** enrolling in a real
//! `keygate serve`.
//!
//! They are `#[ignore]`d because they need two things a plain `cargo test` does not have:
//! - the Tailscale binaries, in the folder named by `TSBIN` (`scripts/fetch-tailscale.sh`
//!   downloads and checks them);
//! - a network namespace with nothing but loopback, so that no Tailscale client can ever reach
//!   the internet. Each test refuses to start a client anywhere else.
//!
//! `scripts/test.sh` runs them as
//! `unshare -n sh -c 'ip link set lo up; cargo test -p keygate-cli --test real_tailscaled -- --ignored'`.

mod acl;
mod derp;
mod enrol;
mod harness;
mod lifecycle;
