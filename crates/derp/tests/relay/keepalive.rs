//! Idle clients receive keep-alives at the configured interval.

use std::sync::Arc;
use std::time::Duration;

use keygate_derp::client::Received;
use keygate_derp::{AdmitAll, DerpConfig};

use crate::support::{connect, new_key, start_router};

#[tokio::test]
async fn idle_client_receives_keep_alives() {
    let config = DerpConfig {
        keep_alive: Duration::from_millis(100),
        keep_alive_jitter: Duration::ZERO,
        ..DerpConfig::default()
    };
    let relay = start_router(Arc::new(AdmitAll), config).await;
    let (_tx, mut rx) = connect(&relay, &new_key()).await.split();
    let started = tokio::time::Instant::now();
    for _ in 0..3 {
        let message = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;
        assert!(matches!(message, Ok(Ok(Received::KeepAlive))), "{message:?}");
    }
    // Three keep-alives at 100 ms take about 300 ms: not sent back to back, not late.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[test]
fn default_keep_alive_is_upstreams_sixty_seconds() {
    let config = DerpConfig::default();
    assert_eq!(config.keep_alive, Duration::from_secs(60));
    assert_eq!(config.keep_alive_jitter, Duration::from_secs(5));
}
