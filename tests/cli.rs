//! The operational subcommands: `calendar deadline|show`, `classifier check|import`, `user add`.
// Test and bench code: a failed setup step should stop the run with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_contactd");

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("CONTACTD_CONFIG")
        .env("CONTACTD_CONFIG", "/nonexistent/contactd.toml")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn calendar_deadline_prints_one_rfc3339_timestamp() {
    let from = "2026-04-10T17:30:00+03:00";
    let peace = run(
        &[
            "calendar",
            "deadline",
            "--from",
            from,
            "--working-days",
            "10",
            "--martial-law",
            "false",
        ],
        None,
    );
    assert!(peace.status.success(), "{}", stderr(&peace));
    assert_eq!(stdout(&peace), "2026-04-27T17:00:00+03:00\n");
    let war = run(
        &[
            "calendar",
            "deadline",
            "--from",
            from,
            "--working-days",
            "10",
        ],
        None,
    );
    assert_eq!(
        stdout(&war),
        "2026-04-24T15:45:00+03:00\n",
        "martial law is the default"
    );
    let hours = run(
        &["calendar", "deadline", "--from", from, "--hours", "6"],
        None,
    );
    assert_eq!(stdout(&hours), "2026-04-10T23:30:00+03:00\n");
    let days = run(
        &[
            "calendar",
            "deadline",
            "--from",
            from,
            "--calendar-days",
            "15",
            "--martial-law",
            "false",
        ],
        None,
    );
    assert_eq!(
        stdout(&days),
        "2026-04-27T17:00:00+03:00\n",
        "15 calendar days end on Saturday 04-25 → next working day"
    );
    let neither = run(&["calendar", "deadline", "--from", from], None);
    assert!(!neither.status.success());
    assert!(
        stderr(&neither).contains("--working-days"),
        "{}",
        stderr(&neither)
    );
}

#[test]
fn calendar_deadline_reads_martial_law_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[database]\nurl = \"sqlite://x.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n[calendar]\nmartial_law = false\n",
    )
    .unwrap();
    let out = run(
        &[
            "calendar",
            "deadline",
            "--config",
            config.to_str().unwrap(),
            "--from",
            "2026-04-10T17:30:00+03:00",
            "--working-days",
            "10",
        ],
        None,
    );
    assert_eq!(
        stdout(&out),
        "2026-04-27T17:00:00+03:00\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn calendar_show_marks_holidays_and_shortened_days() {
    let out = run(
        &["calendar", "show", "2026-05", "--martial-law", "false"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = |date: &str| {
        text.lines()
            .find(|l| l.starts_with(date))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("2026-05-01").contains("holiday"), "{text}");
    assert!(line("2026-05-07").contains("shortened"), "{text}");
    assert!(
        line("2026-05-31").contains("holiday") && line("2026-05-31").contains("Трійця"),
        "{text}"
    );
    let june = stdout(&run(
        &["calendar", "show", "2026-06", "--martial-law", "false"],
        None,
    ));
    let monday = june
        .lines()
        .find(|l| l.starts_with("2026-06-01"))
        .unwrap_or_default();
    assert!(
        monday.contains("transferred day off"),
        "Trinity on Sunday moves the day off to Monday: {june}"
    );
    let war = stdout(&run(&["calendar", "show", "2026-05"], None));
    assert!(
        war.lines()
            .find(|l| l.starts_with("2026-05-01"))
            .unwrap()
            .contains("working"),
        "{war}"
    );
    let bad = run(&["calendar", "show", "May"], None);
    assert!(!bad.status.success() && stderr(&bad).contains("YYYY-MM"));
}

#[test]
fn classifier_check_reports_every_problem_with_its_line() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for file in [
        "classifier.example.toml",
        "classifier.amendment-459.example.toml",
    ] {
        let out = run(
            &["classifier", "check", examples.join(file).to_str().unwrap()],
            None,
        );
        assert!(out.status.success(), "{file}: {}", stderr(&out));
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "record,code,title,executors,area,emergency,ordinary,medium,long\n\
         executor,VODA,Водоканал,,,,,,\n\
         item,22,Житлове господарство,,housing,,,,\n\
         item,22.5,Водопостачання,VODA,,24h,10wd,,\n\
         item,22.5,Дубль,VODA,,24h,10wd,,\n\
         item,23.1,Без розділу,VODA,,24h,10wd,,\n\
         item,22.6,Невідомий виконавець,NOPE,,,10wd,,\n\
         item,22.7,Без строку,VODA,,,,,\n",
    )
    .unwrap();
    let out = run(&["classifier", "check", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for line in [5, 6, 7, 8] {
        assert!(
            err.contains(&format!("bad.csv:{line}:")),
            "line {line} missing from:\n{err}"
        );
    }
}

#[test]
fn import_then_user_add_on_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}/db/contactd.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let base = examples.join("classifier.example.toml");
    let out = run(
        &[
            "classifier",
            "import",
            "--config",
            config,
            base.to_str().unwrap(),
            "--decision",
            "339",
            "--date",
            "2020-07-22",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("revision #0"), "{}", stdout(&out));
    let amendment = examples.join("classifier.amendment-459.example.toml");
    let out = run(
        &[
            "classifier",
            "import",
            "--config",
            config,
            amendment.to_str().unwrap(),
            "--decision",
            "459",
            "--date",
            "2020-09-16",
        ],
        None,
    );
    assert!(
        stdout(&out).contains("revision #1"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    let add = |args: &[&str], password: &str| {
        let mut all = vec!["user", "add", "--config", config];
        all.extend_from_slice(args);
        run(&all, Some(password))
    };
    let ok = add(
        &[
            "--login",
            "op1",
            "--role",
            "operator",
            "--extension",
            "1001",
        ],
        "a long enough password\n",
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let ok = add(
        &[
            "--login",
            "ex1",
            "--role",
            "executor",
            "--executor",
            "KP-VODA",
        ],
        "a long enough password\n",
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let weak = add(&["--login", "op2", "--role", "operator"], "short\n");
    assert!(
        !weak.status.success() && stderr(&weak).contains("too short"),
        "{}",
        stderr(&weak)
    );
    let role = add(
        &["--login", "op3", "--role", "boss"],
        "a long enough password\n",
    );
    assert!(
        !role.status.success() && stderr(&role).contains("--role"),
        "{}",
        stderr(&role)
    );
    let unit = add(
        &["--login", "ex2", "--role", "executor", "--executor", "NOPE"],
        "a long enough password\n",
    );
    assert!(
        stderr(&unit).contains("unknown executor unit `NOPE`"),
        "{}",
        stderr(&unit)
    );
}

#[test]
fn check_config_reports_executor_units_outside_every_area() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let base = format!(
        "[database]\nurl = \"sqlite://{}/db/contactd.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
        dir.path().display()
    );
    let areas = "[escalation]\nhead_of_affairs = { name = \"Голова\", email = \"head@example.gov.ua\" }\n\
                 [[escalation.deputies]]\nid = \"zhkg\"\nname = \"Заступник\"\nemail = \"deputy@example.gov.ua\"\narea = \"ЖКГ\"\nunits = [\"KP-VODA\"]\n";
    std::fs::write(&config, format!("{base}{areas}")).unwrap();
    let config = config.to_str().unwrap();
    // No database yet: nothing to check, and nothing is created.
    let fresh = run(&["check-config", "--config", config], None);
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert!(
        stdout(&fresh).contains("not checked (no database"),
        "{}",
        stdout(&fresh)
    );
    assert!(!dir.path().join("db/contactd.db").exists());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/classifier.example.toml");
    let out = run(
        &[
            "classifier",
            "import",
            "--config",
            config,
            example.to_str().unwrap(),
            "--decision",
            "339",
            "--date",
            "2020-07-22",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let checked = run(&["check-config", "--config", config], None);
    assert_eq!(checked.status.code(), Some(78), "{}", stdout(&checked));
    let err = stderr(&checked);
    assert!(
        err.contains("escalation") && err.contains("`CNAP` belongs to no deputy mayor's area"),
        "the uncovered unit is named: {err}"
    );
}
