//! The `contactd` binary as an administrator meets it: configuration errors, a port in use,
//! start-up with READY sent to systemd, SIGHUP, and SIGTERM.
// Test and bench code: a failed setup step should stop the run with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_contactd");

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("contactd.toml");
    std::fs::write(&path, body).unwrap();
    path
}

fn sqlite_config(dir: &Path, listen: &str) -> String {
    format!(
        "[database]\nurl = \"sqlite://{}/data/contactd.db\"\n[http]\nlisten = \"{listen}\"\n[log]\nformat = \"text\"\n[daemon]\nshutdown_deadline_s = 5\n",
        dir.display()
    )
}

fn contactd(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("CONTACTD_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap()
}

/// Runs `check-config` and returns (exit code, stderr).
fn check(dir: &Path, body: &str) -> (i32, String) {
    let path = write_config(dir, body);
    let out = contactd(&["check-config", "--config", path.to_str().unwrap()]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_prints_effective_config_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{}[pbx]\nari_url = \"http://127.0.0.1:8088/ari\"\nusername = \"cc\"\npassword = \"ariSecret\"\n",
        sqlite_config(dir.path(), "127.0.0.1:8080")
    );
    let path = write_config(dir.path(), &body);
    let out = contactd(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("listen = \"127.0.0.1:8080\""), "{stdout}");
    assert!(
        stdout.contains("[redacted]") && !stdout.contains("ariSecret"),
        "{stdout}"
    );
}

#[test]
fn invalid_configs_give_one_clear_line_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let good = sqlite_config(dir.path(), "127.0.0.1:8080");
    let cases: Vec<(String, &[&str])> = vec![
        (format!("{good}\n[http]\nbogus = 1\n"), &["line"]),
        (good.replace("listen =", "listn ="), &["http.listn", "unknown field"]),
        (good.replace("sqlite://", "mysql://"), &["database.url", "mysql"]),
        (good.replace("sqlite://", "postgres://[::1"), &["database.url"]),
        (
            format!("{good}[smtp]\nurl = \"smtp://127.0.0.1:25\"\nfrom = \"cc@example.org\"\npassword_file = \"/nonexistent/smtp-password\"\n"),
            &["smtp.password_file", "/nonexistent/smtp-password"],
        ),
        (good.replace("[http]\n", "[http\n"), &["line 3"]),
        (good.replace("127.0.0.1:8080", "not-an-address"), &["http.listen", "not-an-address"]),
    ];
    for (body, needles) in cases {
        let (code, stderr) = check(dir.path(), &body);
        assert_eq!(
            code, 78,
            "expected EX_CONFIG for:\n{body}\nstderr: {stderr}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "one line, got: {stderr}"
        );
        for needle in needles {
            assert!(stderr.contains(needle), "`{needle}` missing from: {stderr}");
        }
    }
    let out = contactd(&["check-config", "--config", "/nonexistent/contactd.toml"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/contactd.toml"));
}

#[test]
fn port_in_use_is_reported_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let path = write_config(dir.path(), &sqlite_config(dir.path(), &addr));
    let out = contactd(&["run", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("contactd: error:"))
        .unwrap_or_default();
    assert!(
        line.contains("http.listen") && line.contains(&addr) && line.contains("in use"),
        "{stderr}"
    );
}

#[test]
fn version_and_help() {
    let out = contactd(&["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("contactd "));
    let out = contactd(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["run", "migrate", "check-config"] {
        assert!(help.contains(sub), "{help}");
    }
}

#[test]
fn migrate_subcommand_applies_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &sqlite_config(dir.path(), "127.0.0.1:0"));
    let out = contactd(&["migrate", "--config", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("schema version"));
    assert!(dir.path().join("data/contactd.db").exists());
}

/// Start with NOTIFY_SOCKET, wait for READY=1, check /readyz, SIGHUP, then SIGTERM → exit 0.
#[test]
fn run_notifies_ready_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let path = write_config(dir.path(), &sqlite_config(dir.path(), &addr));
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config", path.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &socket_path)
        .env_remove("CONTACTD_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let mut buf = [0u8; 4096];
    let mut messages = String::new();
    while !messages.contains("READY=1") {
        let n = socket.recv(&mut buf).expect("READY=1 within 30 s");
        messages.push_str(&String::from_utf8_lossy(&buf[..n]));
        messages.push('\n');
    }
    // READY only after migrations ran and the listener is bound.
    assert!(
        messages.contains("STATUS=applying database migrations"),
        "{messages}"
    );
    let body = http_get(&addr, "/readyz");
    assert!(body.contains("\"ready\":true"), "{body}");

    kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP).unwrap();
    let mut reloaded = String::new();
    while !reloaded.contains("READY=1") {
        let n = socket.recv(&mut buf).expect("READY=1 after reload");
        reloaded.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(reloaded.contains("RELOADING=1"), "{reloaded}");
    assert!(
        http_get(&addr, "/healthz").contains("ok"),
        "still serving after SIGHUP"
    );

    let stopped_at = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(5),
            "did not stop within the 5 s deadline"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopped cleanly"), "{stderr}");
    assert!(stderr.contains("configuration reloaded"), "{stderr}");
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn shipped_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for file in ["contactd.example.toml", "dev.toml"] {
        let out = contactd(&[
            "check-config",
            "--config",
            root.join(file).to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
