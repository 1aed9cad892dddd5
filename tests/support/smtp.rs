//! A real SMTP server process for the mail tests: aiosmtpd (Python) on a loopback port, writing
//! every accepted message to a directory as an `.eml` file with the envelope prepended as
//! `X-Envelope-From` / `X-Envelope-To` headers. Recipients starting with `reject` get a 550 and
//! recipients starting with `tempfail` a 451, so tests can drive the permanent and transient paths.
//!
//! The interpreter: `/usr/bin/python3` when it has aiosmtpd (Debian's `python3-aiosmtpd`, which
//! `.ci/run` installs), else `python3` on PATH (e.g. after `pip install aiosmtpd`). Without either
//! the tests are skipped with a message, except with `CI=true`, where they fail.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVER_PY: &str = r#"
import os, signal, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

outdir, port = sys.argv[1], int(sys.argv[2])
credentials = (sys.argv[3].encode(), sys.argv[4].encode()) if len(sys.argv) > 4 else None
counter = [0]

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (auth_data.login, auth_data.password) == credentials
    return AuthResult(success=ok, handled=False)

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 No such mailbox here"
        if address.startswith("tempfail"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        counter[0] += 1
        name = "%d-%06d" % (time.time_ns(), counter[0])
        tmp = os.path.join(outdir, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-From: %s\r\n" % envelope.mail_from).encode())
            f.write(("X-Envelope-To: %s\r\n" % ",".join(envelope.rcpt_tos)).encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(outdir, name + ".eml"))
        return "250 Message accepted for delivery"

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
if credentials:
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_required=True, auth_require_tls=False)
else:
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
print("READY", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
controller.stop()
"#;

/// The Python interpreter that has aiosmtpd, if any.
fn python() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub envelope_to: Vec<String>,
    pub raw: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(&self.raw).expect("a parseable message")
    }

    /// A header, RFC 2047-decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        use mailparse::MailHeaderMap;
        self.parsed().headers.get_first_value(name)
    }

    /// The decoded body of the first part of this MIME type (`text/plain`, `text/html`).
    pub fn body(&self, mimetype: &str) -> Option<String> {
        fn find(part: &mailparse::ParsedMail<'_>, mimetype: &str) -> Option<String> {
            if part.subparts.is_empty() {
                return (part.ctype.mimetype == mimetype)
                    .then(|| part.get_body().expect("decodable body"));
            }
            part.subparts.iter().find_map(|p| find(p, mimetype))
        }
        find(&self.parsed(), mimetype)
    }
}

/// aiosmtpd running on `port`; stopped on drop.
pub struct SmtpServer {
    pub port: u16,
    dir: tempfile::TempDir,
    script: PathBuf,
    python: &'static str,
    /// (user, password) the server requires with AUTH PLAIN/LOGIN, if any.
    credentials: Option<(String, String)>,
    child: Option<Child>,
}

impl SmtpServer {
    /// Start on a free loopback port, or `None` (skip) when aiosmtpd is missing outside CI.
    pub fn start() -> Option<Self> {
        Self::start_inner(None)
    }

    /// Like [`SmtpServer::start`], requiring AUTH with these credentials (over plain SMTP, as a
    /// loopback test may).
    pub fn start_with_auth(user: &str, password: &str) -> Option<Self> {
        Self::start_inner(Some((user.to_owned(), password.to_owned())))
    }

    fn start_inner(credentials: Option<(String, String)>) -> Option<Self> {
        let Some(python) = python() else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("aiosmtpd is required in CI: apt-get install python3-aiosmtpd (or pip install aiosmtpd)");
            }
            eprintln!(
                "SKIPPING mail test: no python3 with aiosmtpd (apt-get install python3-aiosmtpd)"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("smtpd.py");
        std::fs::write(&script, SERVER_PY).expect("write the server script");
        std::fs::create_dir(dir.path().join("mail")).expect("mail dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            port,
            dir,
            script,
            python,
            credentials,
            child: None,
        };
        server.resume();
        Some(server)
    }

    /// `smtp://127.0.0.1:PORT` (plain SMTP, no TLS).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Stop the server process (SIGTERM, then wait); the port is closed afterwards.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start (again) on the same port and directory.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new(self.python)
            .arg(&self.script)
            .arg(self.mail_dir())
            .arg(self.port.to_string())
            .args(
                self.credentials
                    .iter()
                    .flat_map(|(u, p)| [u.as_str(), p.as_str()]),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read from aiosmtpd");
        assert_eq!(
            line.trim(),
            "READY",
            "aiosmtpd did not start on port {}",
            self.port
        );
        self.child = Some(child);
    }

    /// Every message received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.mail_dir())
            .expect("mail dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files.iter().map(|p| read_eml(p)).collect()
    }

    /// Wait (up to 10 s) until at least `n` messages arrived, and return them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                assert!(got.len() >= n, "expected {n} messages, got {}", got.len());
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn read_eml(path: &Path) -> Received {
    let raw = std::fs::read(path).expect("read .eml");
    let first = raw
        .split(|b| *b == b'\n')
        .nth(1)
        .map(|l| String::from_utf8_lossy(l).trim().to_owned())
        .unwrap_or_default();
    let envelope_to = first
        .strip_prefix("X-Envelope-To: ")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Received { envelope_to, raw }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
