//! Mail against a real SMTP server process (aiosmtpd on loopback), on SQLite and PostgreSQL: the
//! outbox written in the caller's transaction, the worker's step, retries while the server is
//! down, permanent failures, a crash between commit and send, `send-test-email`, and the leader
//! lease. Time moves only through the injected `ManualClock`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/smtp.rs"]
mod smtp;
mod support;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use contactd::clock::{Clock, ManualClock};
use contactd::mail::{
    self, enqueue, EnqueuedEmail, Mailer, OutboxStatus, OutboxWorker, OutgoingEmail, WorkerSettings,
};
use contactd::metrics::MetricsRegistry;
use contactd::scheduler::Lease;
use contactd::storage::Storage;
use smtp::SmtpServer;
use support::{engines, Engine, TestDb};

const SUBJECT: &str = "Нове звернення № 2026-000123: Відсутність опалення — терміново";
const BODY: &str = "Шановні колеги! У квартирі холодно з 1 листопада. Ґанок, їжак, «лапки».";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T09:00:00+02:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn smtp_toml(url: &str) -> String {
    format!("[smtp]\nurl = \"{url}\"\nfrom = \"Контакт-центр Кривого Рогу <cc@example.gov.ua>\"\nconsole_url = \"https://cc.example.gov.ua\"\npoll_interval_ms = 50\n")
}

struct Rig {
    _db: TestDb,
    storage: Storage,
    clock: ManualClock,
    metrics: MetricsRegistry,
    worker: OutboxWorker,
}

async fn rig(engine: Engine, smtp_url: &str) -> Rig {
    let db = TestDb::new(engine).await;
    let config = db.config_with(&smtp_toml(smtp_url));
    let storage = contactd::app::open_storage(&config).await.unwrap();
    let clock = ManualClock::new(t0());
    let metrics = MetricsRegistry::new();
    let smtp = config.smtp.as_ref().unwrap();
    let worker = OutboxWorker::new(
        storage.clone(),
        Arc::new(Mailer::from_config(smtp).unwrap()),
        Arc::new(clock.clone()),
        metrics.clone(),
        WorkerSettings::from_config(smtp),
    );
    Rig {
        _db: db,
        storage,
        clock,
        metrics,
        worker,
    }
}

fn email(to: &[&str]) -> OutgoingEmail {
    OutgoingEmail {
        kind: "executor_new_request".to_owned(),
        to: to.iter().map(|s| s.to_string()).collect(),
        subject: SUBJECT.to_owned(),
        text: format!("{BODY}\n"),
        html: Some(format!("<p>{BODY}</p>")),
        give_up_at: None,
    }
}

async fn enqueue_committed(rig: &Rig, email: &OutgoingEmail) -> EnqueuedEmail {
    let mut tx = rig.storage.writer().begin().await.unwrap();
    let queued = enqueue(&mut tx, email, rig.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    queued
}

#[tokio::test]
async fn committed_email_is_delivered_intact_and_rolled_back_one_never() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    for engine in engines().await {
        let before = server.received().len();
        let rig = rig(engine, &server.url()).await;
        let to = ["Іван Петренко <ivan@example.org>", "olena@example.org"];
        let queued = enqueue_committed(&rig, &email(&to)).await;
        assert!(queued.message_id.starts_with('<') && queued.message_id.ends_with('>'));

        // The same in a transaction that rolls back: nothing is queued.
        let mut tx = rig.storage.writer().begin().await.unwrap();
        enqueue(
            &mut tx,
            &email(&["rolled-back@example.org"]),
            rig.clock.now(),
        )
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(mail::pending_count(&rig.storage).await.unwrap(), 1);

        let report = rig.worker.step().await.unwrap();
        assert_eq!(
            (report.sent, report.retried, report.failed),
            (1, 0, 0),
            "{engine:?}"
        );
        let got = server.wait_for(before + 1).await;
        assert_eq!(
            got.len(),
            before + 1,
            "only the committed email: {engine:?}"
        );
        let msg = &got[before];
        let mut rcpt = msg.envelope_to.clone();
        rcpt.sort();
        assert_eq!(rcpt, ["ivan@example.org", "olena@example.org"]);
        assert_eq!(msg.header("Subject").unwrap(), SUBJECT);
        assert_eq!(msg.header("Message-ID").unwrap(), queued.message_id);
        let to_header = msg.header("To").unwrap();
        assert!(
            to_header.contains("Іван Петренко") && to_header.contains("ivan@example.org"),
            "{to_header}"
        );
        assert!(msg
            .header("From")
            .unwrap()
            .contains("Контакт-центр Кривого Рогу"));
        assert_eq!(msg.parsed().ctype.mimetype, "multipart/alternative");
        assert_eq!(msg.body("text/plain").unwrap().trim_end(), BODY);
        assert!(msg.body("text/html").unwrap().contains(BODY));
        // The raw subject is RFC 2047-encoded ASCII, not raw UTF-8.
        let raw = String::from_utf8_lossy(&msg.raw);
        let raw_subject = raw.lines().find(|l| l.starts_with("Subject:")).unwrap();
        assert!(
            raw_subject.is_ascii() && raw_subject.contains("=?utf-8?"),
            "{raw_subject}"
        );

        let sent = mail::list(&rig.storage, OutboxStatus::Sent, 10)
            .await
            .unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].message_id, queued.message_id);
        assert_eq!(sent[0].sent_at, Some(t0()));
        assert_eq!(sent[0].attempts, 1);
        assert_eq!(rig.metrics.metrics.mail_sent.get(), 1);
        assert_eq!(rig.metrics.metrics.mail_pending.get(), 0);
        assert!(rig.metrics.render().contains("contactd_mail_sent_total 1"));
        assert_eq!(
            rig.worker.step().await.unwrap().handled(),
            0,
            "sent once only"
        );
    }
}

#[tokio::test]
async fn smtp_down_keeps_rows_pending_then_delivers_all_exactly_once() {
    let Some(mut server) = SmtpServer::start() else {
        return;
    };
    for engine in engines().await {
        let before = server.received().len();
        server.stop();
        let rig = rig(engine, &server.url()).await;
        let mut ids = HashSet::new();
        for i in 0..5 {
            let queued = enqueue_committed(&rig, &email(&[&format!("user{i}@example.org")])).await;
            ids.insert(queued.message_id);
        }
        let report = rig.worker.step().await.unwrap();
        assert_eq!((report.sent, report.retried), (0, 5), "{engine:?}");
        let pending = mail::list(&rig.storage, OutboxStatus::Pending, 10)
            .await
            .unwrap();
        assert_eq!(pending.len(), 5);
        for row in &pending {
            assert_eq!(row.attempts, 1);
            assert_eq!(row.next_attempt_at, t0() + Duration::seconds(30), "backoff");
            assert!(row.last_error.is_some());
        }
        assert_eq!(rig.metrics.metrics.mail_pending.get(), 5);
        // Not due yet: nothing is tried.
        assert_eq!(rig.worker.step().await.unwrap().handled(), 0);
        // Still down at the second attempt: the delay doubles.
        rig.clock.advance(Duration::seconds(30));
        assert_eq!(rig.worker.step().await.unwrap().retried, 5);
        let pending = mail::list(&rig.storage, OutboxStatus::Pending, 10)
            .await
            .unwrap();
        assert!(pending
            .iter()
            .all(|r| r.attempts == 2 && r.next_attempt_at == t0() + Duration::seconds(90)));

        server.resume();
        assert_eq!(
            rig.worker.step().await.unwrap().handled(),
            0,
            "waits for its backoff"
        );
        rig.clock.advance(Duration::seconds(60));
        let report = rig.worker.step().await.unwrap();
        assert_eq!((report.sent, report.retried, report.failed), (5, 0, 0));
        let got = server.wait_for(before + 5).await;
        let delivered: Vec<String> = got[before..]
            .iter()
            .map(|m| m.header("Message-ID").unwrap())
            .collect();
        assert_eq!(delivered.len(), 5, "none twice");
        assert_eq!(
            delivered.into_iter().collect::<HashSet<_>>(),
            ids,
            "none lost"
        );
        assert_eq!(mail::pending_count(&rig.storage).await.unwrap(), 0);
        assert_eq!(rig.metrics.metrics.mail_retries.get(), 10);
        assert_eq!(rig.metrics.metrics.mail_failed.get(), 0);
    }
}

#[tokio::test]
async fn permanent_refusal_fails_and_transient_one_gives_up_after_the_configured_time() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    for engine in engines().await {
        let before = server.received().len();
        let rig = rig(engine, &server.url()).await;
        enqueue_committed(&rig, &email(&["reject@example.org"])).await;
        let report = rig.worker.step().await.unwrap();
        assert_eq!((report.sent, report.failed), (0, 1), "{engine:?}");
        let failed = mail::list(&rig.storage, OutboxStatus::Failed, 10)
            .await
            .unwrap();
        assert_eq!(failed.len(), 1);
        assert!(
            failed[0].last_error.as_deref().unwrap().contains("550"),
            "{failed:?}"
        );
        assert_eq!(rig.metrics.metrics.mail_failed.get(), 1);
        assert!(rig
            .metrics
            .render()
            .contains("contactd_mail_failed_total 1"));

        // 451 is transient: retried with backoff until give_up_after_h (48 h by default).
        enqueue_committed(&rig, &email(&["tempfail@example.org"])).await;
        assert_eq!(rig.worker.step().await.unwrap().retried, 1);
        for _ in 0..12 {
            rig.clock.advance(Duration::minutes(15));
            assert_eq!(rig.worker.step().await.unwrap().retried, 1, "15 min cap");
        }
        rig.clock
            .set(t0() + Duration::hours(47) + Duration::minutes(50));
        assert_eq!(rig.worker.step().await.unwrap().retried, 1);
        let row = mail::list(&rig.storage, OutboxStatus::Pending, 10)
            .await
            .unwrap();
        assert_eq!(
            row[0].next_attempt_at,
            t0() + Duration::hours(48),
            "last try at the deadline"
        );
        rig.clock.set(t0() + Duration::hours(48));
        assert_eq!(rig.worker.step().await.unwrap().failed, 1);
        let failed = mail::list(&rig.storage, OutboxStatus::Failed, 10)
            .await
            .unwrap();
        assert_eq!(failed.len(), 2);
        assert!(
            failed[1].last_error.as_deref().unwrap().contains("gave up"),
            "{failed:?}"
        );
        assert_eq!(rig.metrics.metrics.mail_failed.get(), 2);
        assert_eq!(server.received().len(), before, "nothing delivered");
    }
}

#[tokio::test]
async fn email_committed_before_a_crash_is_sent_by_the_next_daemon() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    for engine in engines().await {
        let before = server.received().len();
        let db = TestDb::new(engine).await;
        let config = db.config_with(&smtp_toml(&server.url()));
        // The first "daemon" commits the email and dies before its worker runs.
        let queued = {
            let storage = contactd::app::open_storage(&config).await.unwrap();
            let mut tx = storage.writer().begin().await.unwrap();
            let queued = enqueue(&mut tx, &email(&["after-crash@example.org"]), t0())
                .await
                .unwrap();
            tx.commit().await.unwrap();
            storage.close().await;
            queued
        };
        // A row claimed by a worker that died mid-send is taken again once its claim runs out.
        let claimed = {
            let storage = contactd::app::open_storage(&config).await.unwrap();
            let mut tx = storage.writer().begin().await.unwrap();
            let claimed = enqueue(&mut tx, &email(&["claimed@example.org"]), t0())
                .await
                .unwrap();
            tx.commit().await.unwrap();
            sqlx::query("UPDATE outbox SET attempts = 1, next_attempt_at = $1 WHERE id = $2")
                .bind(contactd::storage::to_db_time(t0() + Duration::seconds(120)))
                .bind(claimed.id)
                .execute(storage.writer())
                .await
                .unwrap();
            storage.close().await;
            claimed
        };
        // The next daemon's worker sends the committed one at once.
        let clock = ManualClock::new(t0() + Duration::seconds(1));
        let app = support::spawn_app_with_clock(config.clone(), Arc::new(clock.clone())).await;
        let got = server.wait_for(before + 1).await;
        assert_eq!(
            got[before].header("Message-ID").unwrap(),
            queued.message_id,
            "{engine:?}"
        );
        assert_eq!(got[before].envelope_to, ["after-crash@example.org"]);
        clock.advance(Duration::seconds(120));
        let got = server.wait_for(before + 2).await;
        assert_eq!(
            got[before + 1].header("Message-ID").unwrap(),
            claimed.message_id
        );
        // The server has the message a moment before the worker marks the row and counts it.
        let mut metrics = String::new();
        for _ in 0..100 {
            metrics = app.metrics().await;
            if metrics.contains("contactd_mail_sent_total 2") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(metrics.contains("contactd_mail_sent_total 2"), "{metrics}");
        app.stop().await.unwrap();
        let storage = contactd::app::open_storage(&config).await.unwrap();
        assert_eq!(mail::pending_count(&storage).await.unwrap(), 0);
        assert_eq!(
            mail::list(&storage, OutboxStatus::Sent, 10)
                .await
                .unwrap()
                .len(),
            2
        );
        storage.close().await;
        assert_eq!(server.received().len(), before + 2, "each exactly once");
    }
}

#[tokio::test]
async fn send_test_email_subcommand_delivers_a_ukrainian_message() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contactd.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"sqlite://{}/never-opened.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n{}",
            dir.path().display(),
            smtp_toml(&server.url())
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args([
            "send-test-email",
            "--config",
            path.to_str().unwrap(),
            "--to",
            "admin@example.org",
        ])
        .env_remove("CONTACTD_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("admin@example.org"), "{stdout}");
    let got = server.wait_for(1).await;
    let msg = &got[0];
    assert_eq!(msg.envelope_to, ["admin@example.org"]);
    assert_eq!(
        msg.header("Subject").unwrap(),
        "Перевірка пошти контакт-центру — тестовий лист"
    );
    assert!(
        stdout.contains(&msg.header("Message-ID").unwrap()),
        "{stdout}"
    );
    assert!(msg
        .body("text/plain")
        .unwrap()
        .contains("Це тестовий лист від contactd"));
    assert!(msg
        .body("text/html")
        .unwrap()
        .contains("<html lang=\"uk\">"));

    // Without [smtp] the command says what is missing and exits 78 (EX_CONFIG).
    std::fs::write(
        &path,
        "[database]\nurl = \"sqlite://x.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args([
            "send-test-email",
            "--config",
            path.to_str().unwrap(),
            "--to",
            "admin@example.org",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[smtp]"));
    // A server that is down: a clear error, exit 1.
    drop(server);
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"sqlite://x.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n{}",
            smtp_toml("smtp://127.0.0.1:1")
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args([
            "send-test-email",
            "--config",
            path.to_str().unwrap(),
            "--to",
            "admin@example.org",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("smtp"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn bad_recipient_fails_the_callers_transaction() {
    for engine in engines().await {
        let rig = rig(engine, "smtp://127.0.0.1:1").await;
        let mut tx = rig.storage.writer().begin().await.unwrap();
        let err = enqueue(&mut tx, &email(&["not an address"]), t0())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not an address"), "{err}");
        let err = enqueue(&mut tx, &email(&[]), t0()).await.unwrap_err();
        assert!(err.to_string().contains("recipient"), "{err}");
        tx.rollback().await.unwrap();
    }
}

#[tokio::test]
async fn leader_lease_is_held_by_one_renewed_and_taken_over_after_expiry() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let storage = contactd::app::open_storage(&db.config()).await.unwrap();
        let ttl = Duration::seconds(10);
        let mut a = Lease::try_acquire(&storage, "digest", "a", ttl, t0())
            .await
            .unwrap()
            .expect("a takes the free lease");
        assert!(
            Lease::try_acquire(&storage, "digest", "b", ttl, t0())
                .await
                .unwrap()
                .is_none(),
            "{engine:?}"
        );
        assert!(
            Lease::try_acquire(&storage, "other-job", "b", ttl, t0())
                .await
                .unwrap()
                .is_some(),
            "leases are per job"
        );
        // Renewed before expiry: b still cannot take it after the first term.
        assert!(a
            .renew(&storage, ttl, t0() + Duration::seconds(5))
            .await
            .unwrap());
        assert_eq!(a.expires_at(), t0() + Duration::seconds(15));
        assert!(
            Lease::try_acquire(&storage, "digest", "b", ttl, t0() + Duration::seconds(12))
                .await
                .unwrap()
                .is_none()
        );
        // a dies (stops renewing): b takes over as soon as the lease expires.
        let mut b = Lease::try_acquire(&storage, "digest", "b", ttl, t0() + Duration::seconds(15))
            .await
            .unwrap()
            .expect("b takes over the expired lease");
        assert_eq!(
            Lease::current(&storage, "digest").await.unwrap().unwrap().0,
            "b"
        );
        assert!(
            !a.renew(&storage, ttl, t0() + Duration::seconds(16))
                .await
                .unwrap(),
            "a learns it lost"
        );
        assert!(b
            .renew(&storage, ttl, t0() + Duration::seconds(16))
            .await
            .unwrap());
        // Released at shutdown: free at once.
        b.release(&storage).await.unwrap();
        assert!(
            Lease::try_acquire(&storage, "digest", "a", ttl, t0() + Duration::seconds(17))
                .await
                .unwrap()
                .is_some()
        );

        // Many contenders at the same instant: exactly one wins.
        let now = t0() + Duration::hours(1);
        let tries = (0..8).map(|i| {
            let storage = storage.clone();
            async move {
                Lease::try_acquire(&storage, "survey", &format!("h{i}"), ttl, now)
                    .await
                    .unwrap()
            }
        });
        let won = futures_util::future::join_all(tries)
            .await
            .into_iter()
            .flatten()
            .count();
        assert_eq!(won, 1, "{engine:?}");
        storage.close().await;
    }
}

#[tokio::test]
async fn two_workers_on_one_database_send_each_email_once() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    for engine in engines().await {
        let before = server.received().len();
        let rig = rig(engine, &server.url()).await;
        // A second daemon on the same database: its own pools, mailer and metrics.
        let config = rig._db.config_with(&smtp_toml(&server.url()));
        let storage_b = contactd::app::open_storage(&config).await.unwrap();
        let smtp = config.smtp.as_ref().unwrap();
        let worker_b = OutboxWorker::new(
            storage_b.clone(),
            Arc::new(Mailer::from_config(smtp).unwrap()),
            Arc::new(rig.clock.clone()),
            MetricsRegistry::new(),
            WorkerSettings::from_config(smtp),
        );
        let mut ids = HashSet::new();
        for i in 0..30 {
            let queued = enqueue_committed(&rig, &email(&[&format!("u{i}@example.org")])).await;
            ids.insert(queued.message_id);
        }
        let drain = |worker: OutboxWorker| async move {
            let mut sent = 0;
            loop {
                let report = worker.step().await.unwrap();
                sent += report.sent;
                if report.handled() == 0 {
                    return sent;
                }
            }
        };
        let (a, b) = tokio::join!(drain(rig.worker.clone()), drain(worker_b));
        assert_eq!(a + b, 30, "{engine:?}: a sent {a}, b sent {b}");
        let got = server.wait_for(before + 30).await;
        let delivered: Vec<String> = got[before..]
            .iter()
            .map(|m| m.header("Message-ID").unwrap())
            .collect();
        assert_eq!(delivered.len(), 30, "{engine:?}: none twice");
        assert_eq!(delivered.into_iter().collect::<HashSet<_>>(), ids);
        storage_b.close().await;
    }
}

#[tokio::test]
async fn credentials_come_from_the_url_or_a_password_file_and_rejected_ones_keep_the_mail() {
    let password = "s3cr#t/пароль";
    let Some(server) = SmtpServer::start_with_auth("contactd", password) else {
        return;
    };
    // The password from a file (as systemd credentials supply it), through the binary.
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("smtp-password");
    std::fs::write(&secret, format!("{password}\n")).unwrap();
    let path = dir.path().join("contactd.toml");
    let smtp = smtp_toml(&format!("smtp://contactd@127.0.0.1:{}", server.port));
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"sqlite://x.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n{smtp}password_file = \"{}\"\n",
            secret.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args([
            "send-test-email",
            "--config",
            path.to_str().unwrap(),
            "--to",
            "admin@example.org",
        ])
        .output()
        .unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{shown}");
    assert!(
        !shown.contains("s3cr"),
        "the password is never shown: {shown}"
    );
    assert_eq!(server.wait_for(1).await.len(), 1);

    // The password in the URL (percent-encoded); a wrong one keeps the email pending.
    let url_with = |pass: &str| {
        let mut url = url::Url::parse(&format!("smtp://127.0.0.1:{}", server.port)).unwrap();
        url.set_username("contactd").unwrap();
        url.set_password(Some(pass)).unwrap();
        url.to_string()
    };
    let rig_ok = rig(Engine::Sqlite, &url_with(password)).await;
    enqueue_committed(&rig_ok, &email(&["ok@example.org"])).await;
    assert_eq!(rig_ok.worker.step().await.unwrap().sent, 1);
    assert_eq!(server.wait_for(2).await.len(), 2);

    let rig_bad = rig(Engine::Sqlite, &url_with("wrong")).await;
    enqueue_committed(&rig_bad, &email(&["kept@example.org"])).await;
    let report = rig_bad.worker.step().await.unwrap();
    assert_eq!((report.sent, report.retried, report.failed), (0, 1, 0));
    let pending = mail::list(&rig_bad.storage, OutboxStatus::Pending, 10)
        .await
        .unwrap();
    let error = pending[0].last_error.clone().unwrap();
    assert!(
        error.contains("535") && error.contains("smtp.password_file"),
        "{error}"
    );
    assert!(!error.contains("wrong"), "{error}");
}

#[test]
fn smtp_config_errors_name_their_key() {
    let base = "[database]\nurl = \"sqlite://x.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n[smtp]\nurl = \"smtp://127.0.0.1:25\"\n";
    let load = |extra: &str| {
        contactd::config::Config::from_toml(
            &format!("{base}{extra}"),
            std::path::Path::new("t.toml"),
            &[],
        )
    };
    let config = load("from = \"Контакт-центр <cc@example.gov.ua>\"\n").unwrap();
    let smtp = config.smtp.unwrap();
    assert_eq!(
        (smtp.give_up_after_h, smtp.retry_initial_s, smtp.retry_max_s),
        (48, 30, 900)
    );
    let err = load("from = \"not an address\"\n").unwrap_err().to_string();
    assert!(err.contains("smtp.from"), "{err}");
    let err = load("from = \"cc@example.gov.ua\"\ngive_up_after_h = 0\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("smtp.give_up_after_h"), "{err}");
    let err = load("from = \"cc@example.gov.ua\"\nconsole_url = \"cc.example\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("smtp.console_url"), "{err}");
    let err = load("from = \"cc@example.gov.ua\"\npassword_file = \"/nonexistent/smtp\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("smtp.password_file"), "{err}");
}

#[tokio::test]
async fn transport_is_built_for_plain_starttls_and_implicit_tls_urls() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("pw");
    std::fs::write(&secret, "pw\n").unwrap();
    let build = |url: &str, password_file: Option<&std::path::Path>| {
        let mut text = format!(
            "[database]\nurl = \"sqlite://x.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n[smtp]\nurl = \"{url}\"\nfrom = \"cc@example.gov.ua\"\n"
        );
        if let Some(path) = password_file {
            text.push_str(&format!("password_file = \"{}\"\n", path.display()));
        }
        let config =
            contactd::config::Config::from_toml(&text, std::path::Path::new("t.toml"), &[])
                .unwrap();
        Mailer::from_config(config.smtp.as_ref().unwrap())
    };
    for url in [
        "smtp://127.0.0.1:25",
        "smtp://mail.example.gov.ua:587?tls=required",
        "smtp://mail.example.gov.ua:587?tls=opportunistic",
        "smtps://mail.example.gov.ua:465",
        "smtps://cc:p%40ss@mail.example.gov.ua:465",
    ] {
        let mailer = build(url, None).unwrap_or_else(|err| panic!("{url}: {err}"));
        assert!(
            !mailer.server().contains("p%40ss"),
            "password hidden: {}",
            mailer.server()
        );
    }
    let mailer = build("smtps://cc@mail.example.gov.ua:465", Some(&secret)).unwrap();
    assert!(!format!("{mailer:?}").contains("pw\""));
    let err = build("smtps://mail.example.gov.ua:465", Some(&secret)).unwrap_err();
    assert!(err.to_string().contains("smtp.password_file"), "{err}");
}
