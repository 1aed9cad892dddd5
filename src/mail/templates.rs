//! Ukrainian email templates (minijinja), embedded in the binary.
//!
//! Each template `NAME` is three files under `templates/mail/`: `NAME.subject.txt` (one line),
//! `NAME.txt` (plain text) and `NAME.html` (HTML, auto-escaped, extends `base.html`). Undefined
//! context fields are errors, so a caller that forgets one hears about it in its tests, not from
//! a resident. Timestamps are passed as RFC 3339 strings and shown in Kyiv time by the filters
//! `kyiv_time` (`27.04.2026 17:00`) and `kyiv_date` (`27.04.2026`).
//!
//! Templates and their context fields (links: `{console_url}/requests/{number}`):
//! - `test_email`: `server` (SMTP URL, password hidden), `sent_at`.
//! - `executor_new_request`: `console_url`, `executor_name`, `request` {`number`, `category`,
//!   `address` (or null), `summary`, `registered_at`, `due_at`}.
//! - `executor_digest`: `console_url`, `executor_name`, `date`, `requests` [{`number`,
//!   `category`, `status`, `due_at`, `overdue` (bool)}].
//! - `escalation_digest_deputy`: `console_url`, `official_name`, `area`, `date`, `violations`
//!   [{`number`, `category`, `executor_name`, `due_at`, `days_overdue`}].
//! - `escalation_summary_head`: `console_url`, `official_name`, `date`, `total`, `areas`
//!   [{`area`, `deputy_name`, `count`}].

use std::sync::LazyLock;

use chrono::DateTime;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::MailError;

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// One line, whitespace collapsed.
    pub subject: String,
    pub text: String,
    pub html: String,
}

macro_rules! template {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/templates/mail/",
                $name
            )),
        )
    };
}

const FILES: &[(&str, &str)] = &[
    template!("base.html"),
    template!("test_email.subject.txt"),
    template!("test_email.txt"),
    template!("test_email.html"),
    template!("executor_new_request.subject.txt"),
    template!("executor_new_request.txt"),
    template!("executor_new_request.html"),
    template!("executor_digest.subject.txt"),
    template!("executor_digest.txt"),
    template!("executor_digest.html"),
    template!("escalation_digest_deputy.subject.txt"),
    template!("escalation_digest_deputy.txt"),
    template!("escalation_digest_deputy.html"),
    template!("escalation_summary_head.subject.txt"),
    template!("escalation_summary_head.txt"),
    template!("escalation_summary_head.html"),
];

const NAMES: &[&str] = &[
    "test_email",
    "executor_new_request",
    "executor_digest",
    "escalation_digest_deputy",
    "escalation_summary_head",
];

/// The names [`render`] accepts.
pub fn template_names() -> &'static [&'static str] {
    NAMES
}

static ENV: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_filter("kyiv_time", |value: String| kyiv(&value, "%d.%m.%Y %H:%M"));
    env.add_filter("kyiv_date", |value: String| kyiv(&value, "%d.%m.%Y"));
    for (name, source) in FILES {
        env.add_template(name, source)
            .map_err(|err| format!("{name}: {err}"))?;
    }
    Ok(env)
});

fn kyiv(value: &str, format: &str) -> Result<String, minijinja::Error> {
    let t = DateTime::parse_from_rfc3339(value).map_err(|err| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("`{value}` is not an RFC 3339 timestamp: {err}"),
        )
    })?;
    Ok(t.with_timezone(&contactd_calendar::KYIV)
        .format(format)
        .to_string())
}

/// Render the template `name` with `context`: subject, plain text and HTML.
pub fn render(name: &str, context: impl Serialize) -> Result<RenderedEmail, MailError> {
    if !NAMES.contains(&name) {
        return Err(MailError::UnknownTemplate(name.to_owned()));
    }
    let env = ENV.as_ref().map_err(|message| MailError::Template {
        name: name.to_owned(),
        source: minijinja::Error::new(minijinja::ErrorKind::SyntaxError, message.clone()),
    })?;
    let context = minijinja::Value::from_serialize(&context);
    let part = |suffix: &str| -> Result<String, MailError> {
        let file = format!("{name}.{suffix}");
        env.get_template(&file)
            .and_then(|t| t.render(&context))
            .map_err(|source| MailError::Template {
                name: file.clone(),
                source,
            })
    };
    let subject = part("subject.txt")?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(RenderedEmail {
        subject,
        text: part("txt")?,
        html: part("html")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<(&'static str, serde_json::Value)> {
        let request = serde_json::json!({
            "number": "2026-000123", "category": "Відсутність опалення", "address": "вул. Соборності, 12",
            "summary": "У квартирі холодно <з 1 листопада>", "registered_at": "2026-11-02T09:15:00Z",
            "due_at": "2026-11-16T15:00:00Z", "status": "У роботі", "overdue": true,
            "executor_name": "КП «Кривбасводоканал»", "days_overdue": 3,
        });
        vec![
            (
                "test_email",
                serde_json::json!({"server": "smtp://127.0.0.1:25", "sent_at": "2026-11-28T10:00:00Z"}),
            ),
            (
                "executor_new_request",
                serde_json::json!({"console_url": "https://cc.example.gov.ua", "executor_name": "КП «Кривбасводоканал»", "request": request}),
            ),
            (
                "executor_digest",
                serde_json::json!({"console_url": "https://cc.example.gov.ua", "executor_name": "КП «Кривбасводоканал»", "date": "2026-11-28T06:00:00Z", "requests": [request]}),
            ),
            (
                "escalation_digest_deputy",
                serde_json::json!({"console_url": "https://cc.example.gov.ua", "official_name": "Іван Петренко", "area": "житлово-комунальне господарство", "date": "2026-11-28T06:00:00Z", "violations": [request]}),
            ),
            (
                "escalation_summary_head",
                serde_json::json!({"console_url": "https://cc.example.gov.ua", "official_name": "Олена Коваль", "date": "2026-11-28T06:00:00Z", "total": 5, "areas": [{"area": "транспорт", "deputy_name": "Іван Петренко", "count": 5}]}),
            ),
        ]
    }

    #[test]
    fn every_template_renders_in_ukrainian() {
        for (name, context) in samples() {
            let email = render(name, &context).unwrap();
            assert!(
                !email.subject.is_empty() && !email.subject.contains('\n'),
                "{name}"
            );
            assert!(email.html.contains("<html lang=\"uk\">"), "{name}");
            assert!(
                email.text.chars().any(|c| ('а'..='я').contains(&c)),
                "{name}"
            );
        }
        assert_eq!(samples().len(), template_names().len());
    }

    #[test]
    fn html_is_escaped_and_links_point_at_the_console() {
        let (_, context) = samples().remove(1);
        let email = render("executor_new_request", &context).unwrap();
        assert!(
            email.html.contains("&lt;з 1 листопада&gt;"),
            "{}",
            email.html
        );
        assert!(email.text.contains("<з 1 листопада>"), "{}", email.text);
        assert!(email
            .text
            .contains("https://cc.example.gov.ua/requests/2026-000123"));
        assert!(
            email.text.contains("16.11.2026 17:00"),
            "Kyiv time: {}",
            email.text
        );
        assert_eq!(
            email.subject,
            "Нове звернення № 2026-000123: Відсутність опалення"
        );
    }

    #[test]
    fn missing_fields_and_unknown_templates_are_errors() {
        let err = render(
            "executor_new_request",
            serde_json::json!({"console_url": "x"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("executor_new_request"), "{err}");
        assert!(matches!(
            render("nope", serde_json::json!({})),
            Err(MailError::UnknownTemplate(_))
        ));
    }
}
