//! The SMTP side: one lettre transport per daemon, built once from `[smtp]` and reused (it keeps a
//! small pool of connections), and the messages it sends.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use url::Url;

use super::{render, MailError};
use crate::config::SmtpConfig;

/// The configured SMTP transport and sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `[smtp] url` with any password replaced, for logs and messages.
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.email.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Build the transport from `[smtp]`: `smtp://` (no TLS), `smtp://…?tls=required` (STARTTLS),
    /// `smtps://` (implicit TLS); user and password from the URL, or the password from
    /// `smtp.password_file` (then the user must be in the URL). Call it inside the Tokio runtime:
    /// the connection pool starts its idle-connection reaper task here.
    pub fn from_config(config: &SmtpConfig) -> Result<Self, MailError> {
        let mut url = Url::parse(config.url.expose()).map_err(|err| MailError::Config {
            key: "url",
            message: format!("not a URL ({err}); example: smtp://127.0.0.1:25"),
        })?;
        if let Some(path) = &config.password_file {
            let text = std::fs::read_to_string(path).map_err(|source| MailError::PasswordFile {
                path: path.display().to_string(),
                source,
            })?;
            let password = text.trim_end_matches(['\n', '\r']);
            if url.username().is_empty() {
                return Err(MailError::Config {
                    key: "password_file",
                    message: "needs a user name in smtp.url, e.g. smtp://contactd@mail.example.gov.ua:587?tls=required".to_owned(),
                });
            }
            url.set_password(Some(password))
                .map_err(|()| MailError::Config {
                    key: "url",
                    message: "this URL cannot carry a password".to_owned(),
                })?;
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
            .map_err(|err| MailError::Config {
                key: "url",
                message: format!("{err} (examples: smtp://127.0.0.1:25, smtp://host:587?tls=required, smtps://host:465)"),
            })?
            .timeout(Some(Duration::from_secs(config.timeout_s.max(1))))
            .build();
        let from = parse_mailbox(&config.from).map_err(|err| MailError::Config {
            key: "from",
            message: err.to_string(),
        })?;
        Ok(Self {
            transport,
            from,
            server: config.url.redacted(),
        })
    }

    /// The sender (`smtp.from`).
    pub fn from_mailbox(&self) -> &Mailbox {
        &self.from
    }

    /// `[smtp] url` with the password hidden.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Build one message: plain text, plus an HTML alternative when given; the subject and display
    /// names are RFC 2047-encoded by lettre, bodies are UTF-8.
    pub fn build_message(
        &self,
        to: &[Mailbox],
        message_id: &str,
        date: DateTime<Utc>,
        subject: &str,
        text: &str,
        html: Option<&str>,
    ) -> Result<Message, MailError> {
        if to.is_empty() {
            return Err(MailError::NoRecipients);
        }
        let mut builder = Message::builder()
            .from(self.from.clone())
            .message_id(Some(message_id.to_owned()))
            .date(SystemTime::from(date))
            .subject(subject);
        for mailbox in to {
            builder = builder.to(mailbox.clone());
        }
        let message = match html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                text.to_owned(),
                html.to_owned(),
            ))?,
            None => builder.singlepart(SinglePart::plain(text.to_owned()))?,
        };
        Ok(message)
    }

    /// Send one message over the shared transport.
    pub async fn send(&self, message: Message) -> Result<(), lettre::transport::smtp::Error> {
        self.transport.send(message).await.map(|_| ())
    }
}

/// Parse `name@example.org` or `Ім'я <name@example.org>`.
pub(crate) fn parse_mailbox(address: &str) -> Result<Mailbox, MailError> {
    address
        .trim()
        .parse::<Mailbox>()
        .map_err(|source| MailError::Address {
            address: address.to_owned(),
            source,
        })
}

/// `contactd send-test-email`: send the `test_email` template to `to` directly (not through the
/// outbox, so it works without a database) and return its Message-ID.
pub async fn send_test_email(
    config: &SmtpConfig,
    to: &str,
    now: DateTime<Utc>,
) -> Result<String, MailError> {
    let mailer = Mailer::from_config(config)?;
    let to = parse_mailbox(to)?;
    let rendered = render(
        "test_email",
        serde_json::json!({
            "server": mailer.server(),
            "sent_at": now.to_rfc3339(),
        }),
    )?;
    let message_id = format!("<test-{}@contactd>", uuid::Uuid::new_v4().simple());
    let message = mailer.build_message(
        &[to],
        &message_id,
        now,
        &rendered.subject,
        &rendered.text,
        Some(&rendered.html),
    )?;
    mailer.send(message).await?;
    Ok(message_id)
}
