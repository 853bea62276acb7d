//! The admin socket serves root and the server's own user only: the data directory must be
//! theirs and closed to other writers, and a connection from another user is dropped on
//! accept whatever the file modes are.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::Command;

use keygate_server::Application;
use tokio::net::UnixStream;

use crate::helpers::{config_in, get, TestDir};

/// `nobody` on Debian: a user other than root and the test's own.
const OTHER_UID: u32 = 65534;

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

#[tokio::test]
async fn a_data_directory_other_users_may_write_is_refused() {
    let dir = TestDir::new("openwr");
    let config = config_in(&dir);
    std::fs::create_dir_all(&config.data_dir).unwrap();
    std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = Application::build(config.clone()).await.err().expect("refused");
    let message = format!("{err:#}");
    assert!(message.contains("is writable by other users (mode 777): chmod 700 it"), "{message}");
    assert!(!config.data_dir.join("pepper").exists(), "nothing was written into it");

    std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(Application::build(config).await.is_ok());
}

#[tokio::test]
async fn a_data_directory_of_another_user_is_refused() {
    if !running_as_root() {
        eprintln!("skipped: changing a directory's owner needs root");
        return;
    }
    let dir = TestDir::new("chown");
    let config = config_in(&dir);
    std::fs::create_dir_all(&config.data_dir).unwrap();
    std::os::unix::fs::chown(&config.data_dir, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    let err = Application::build(config).await.err().expect("refused");
    let message = format!("{err:#}");
    assert!(
        message.contains(&format!(
            "belongs to user id {OTHER_UID}, not to the user running keygate (id 0)"
        )),
        "{message}"
    );
}

#[tokio::test]
async fn another_user_is_not_served_even_when_the_socket_is_opened_up() {
    if !running_as_root() {
        eprintln!("skipped: connecting as another user needs root");
        return;
    }
    let dir = TestDir::new("peercred");
    let app = Application::build(config_in(&dir)).await.unwrap();
    let socket = app.admin_socket_path().to_owned();
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!socket.with_file_name(".s").exists(), "the staging directory is gone");
    let running = tokio::spawn(app.run_until(std::future::pending()));

    // An operator widens every mode by mistake: the peer check still refuses the other user.
    for path in [dir.path(), socket.parent().unwrap(), socket.as_path()] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let request = "GET /health HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n";
    let script = format!(
        "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n\
         try:\n  s.sendall(b'{request}')\n  data=s.recv(64)\n\
         except (BrokenPipeError, ConnectionResetError):\n  data=b''\nprint(repr(data))"
    );
    let socket_path = socket.clone();
    let run_as = move |uid: u32| {
        let output = Command::new("python3")
            .arg("-c")
            .arg(&script)
            .arg(&socket_path)
            .uid(uid)
            .output()
            .expect("python3 runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let other = tokio::task::spawn_blocking(move || run_as(OTHER_UID)).await.unwrap();
    assert_eq!(other, "b''", "the other user's connection is closed unanswered");

    let (status, _) = get(UnixStream::connect(&socket).await.unwrap(), "/health", "").await;
    assert_eq!(status, 200, "root is served");
    running.abort();
}
