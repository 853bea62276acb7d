//! Runs the integration tests' fake control server on its own, for manual runs of the
//! `many_nodes` example: `cargo run -p keygate-node --example fake_control` prints its URL
//! (accepts any auth key except the refused one) and serves until killed.

#[allow(dead_code)]
#[path = "../tests/integration/fake_control.rs"]
mod fake_control;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = fake_control::FakeControl::start().await;
    println!("{}", server.url);
    // Serve until killed; Ctrl-C ends the process.
    let _ = tokio::signal::ctrl_c().await;
}
