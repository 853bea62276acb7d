//! Fixtures: a unique temporary directory, a config for it, and a bare HTTP/1.1 GET.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use keygate_server::Config;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A directory removed when dropped (kept when `KEEP_TEST_DIRS` is set, for debugging).
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        // Short: the admin socket's path must stay under the kernel's 107-byte limit.
        let dir = std::env::temp_dir().join(format!("kgs-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The defaults, with port 0 and the data directory inside `dir`.
pub fn config_in(dir: &TestDir) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("a valid address"),
        data_dir: dir.path().join("data"),
        log: "warn".into(),
        ..Config::default()
    }
}

/// Sends `GET path` (with optional extra header lines) and returns the status and the body.
pub async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    path: &str,
    headers: &str,
) -> (u16, String) {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.expect("the request is sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("the response is read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
