//! Start-up and the listeners, with the real `Application` on port 0 and a temporary SQLite.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use keygate_server::config::SecretString;
use keygate_server::Application;
use keygate_service::{Actor, TokenSpec};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::oneshot;

use crate::helpers::{config_in, get, TestDir};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).expect("the file exists").permissions().mode() & 0o777
}

/// Runs `app` in the background; the returned sender stops it, the handle reports how it ended.
fn spawn(app: Application) -> (oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    (stop, handle)
}

#[tokio::test]
async fn health_answers_ok_on_the_bound_port() {
    let dir = TestDir::new("health");
    let app = Application::build(config_in(&dir)).await.unwrap();
    let addr = app.local_addr();
    assert_ne!(addr.port(), 0, "port 0 is resolved to the real port");
    assert!(app.banner().starts_with(&format!("listening on http://{addr}\n")), "{}", app.banner());
    let (stop, handle) = spawn(app);

    let (status, body) = get(TcpStream::connect(addr).await.unwrap(), "/health", "").await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"status":"ok"}"#);

    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn data_directory_is_0700_and_pepper_file_is_0600_and_reused_on_restart() {
    let dir = TestDir::new("pepper");
    let app = Application::build(config_in(&dir)).await.unwrap();
    let data = app.config().data_dir.clone();
    assert!(data.is_absolute());
    assert_eq!(mode(&data), 0o700);
    let pepper_path = data.join("pepper");
    assert_eq!(mode(&pepper_path), 0o600);
    let pepper = std::fs::read_to_string(&pepper_path).unwrap();
    assert_eq!(pepper.trim().len(), 64);

    let created =
        app.service().create_api_token(&Actor::Admin, TokenSpec::default()).await.unwrap();
    let secret = created.secret.expose();
    drop(app);

    let app = Application::build(config_in(&dir)).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&pepper_path).unwrap(),
        pepper,
        "the pepper is never rewritten"
    );
    let actor = app.service().authenticate_api_token(&secret).await;
    assert!(actor.is_ok(), "a token made before the restart still verifies: {actor:?}");
}

#[tokio::test]
async fn a_configured_pepper_is_used_and_none_is_written() {
    let dir = TestDir::new("cfgpepper");
    let mut config = config_in(&dir);
    config.pepper = Some(SecretString::new("11".repeat(32)));
    let app = Application::build(config.clone()).await.unwrap();
    assert!(!app.config().data_dir.join("pepper").exists());
    let secret = app
        .service()
        .create_api_token(&Actor::Admin, TokenSpec::default())
        .await
        .unwrap()
        .secret
        .expose();
    drop(app);

    // The same database with a different pepper no longer verifies the token.
    config.pepper = Some(SecretString::new("22".repeat(32)));
    let app = Application::build(config).await.unwrap();
    assert!(app.service().authenticate_api_token(&secret).await.is_err());
}

#[tokio::test]
async fn admin_socket_is_0600_needs_no_token_and_is_removed_on_shutdown() {
    let dir = TestDir::new("socket");
    let app = Application::build(config_in(&dir)).await.unwrap();
    let socket = app.admin_socket_path().to_owned();
    let addr = app.local_addr();
    assert_eq!(mode(&socket), 0o600);
    let (stop, handle) = spawn(app);

    let settings = "/api/v2/tailnet/-/settings";
    let (status, body) = get(UnixStream::connect(&socket).await.unwrap(), settings, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("devicesApprovalOn"), "{body}");
    let (status, _) = get(TcpStream::connect(addr).await.unwrap(), settings, "").await;
    assert_eq!(status, 401, "over TCP the same request needs a token");
    let (status, _) = get(UnixStream::connect(&socket).await.unwrap(), "/health", "").await;
    assert_eq!(status, 200);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), handle).await.unwrap().unwrap().unwrap();
    assert!(!socket.exists(), "the socket is removed on shutdown");
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_is_refused_and_a_stale_socket_replaced() {
    let dir = TestDir::new("twice");
    let first = Application::build(config_in(&dir)).await.unwrap();
    let socket = first.admin_socket_path().to_owned();
    let (stop, handle) = spawn(first);

    let err = Application::build(config_in(&dir)).await.err().expect("a second server is refused");
    assert!(err.to_string().contains("another keygate server is running"), "{err:#}");
    assert!(socket.exists(), "the refused server leaves the live socket alone");

    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();

    // A socket file nobody listens on, as a crashed server leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let app = Application::build(config_in(&dir)).await.unwrap();
    assert_eq!(mode(app.admin_socket_path()), 0o600);
}

#[tokio::test]
async fn an_invalid_config_is_refused_before_anything_is_created() {
    let dir = TestDir::new("invalid");
    let mut config = config_in(&dir);
    config.keys.recently_invalid_days = 0;
    let err = Application::build(config).await.err().expect("refused");
    assert!(err.to_string().starts_with("invalid keys.recently_invalid_days"), "{err:#}");
    assert!(!dir.path().join("data").exists());
}

#[tokio::test]
async fn the_soft_open_file_limit_is_raised_to_the_hard_limit() {
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
    let low = hard.min(1024);
    rlimit::Resource::NOFILE.set(low, hard).unwrap();
    let dir = TestDir::new("nofile");
    let _app = Application::build(config_in(&dir)).await.unwrap();
    let (soft, hard_after) = rlimit::Resource::NOFILE.get().unwrap();
    assert_eq!(hard_after, hard, "the hard limit is the operator's");
    assert_eq!(soft, hard, "the soft limit was raised from {low}");
}
