//! Mail: the outbox (emails written in the same transaction as the change that causes them), the
//! worker that sends them over SMTP with retries, the SMTP transport (built once), and the
//! Ukrainian templates.
//!
//! The flow: a caller opens a transaction, changes its state and calls [`enqueue`] with the same
//! transaction, then commits; nothing is sent if it rolls back. [`OutboxWorker::step`] claims due
//! rows, sends each with [`Mailer`] under the row's stable `Message-ID` (so a resend after a crash
//! between sending and marking is recognisable), and marks it sent, or schedules a retry with
//! capped exponential backoff (server down, 4xx), or marks it failed (5xx, or past its give-up
//! time), logging the cause and counting it in `contactd_mail_failed_total`.

mod mailer;
mod outbox;
mod templates;

pub use mailer::{send_test_email, Mailer};
pub use outbox::{
    enqueue, list, pending_count, EnqueuedEmail, OutboxRow, OutboxStatus, OutboxWorker,
    OutgoingEmail, StepReport, WorkerSettings,
};
pub use templates::{render, template_names, RenderedEmail};

/// A mail failure, worded for the log and the administrator.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("config key `smtp.{key}`: {message}")]
    Config { key: &'static str, message: String },
    #[error("cannot read the SMTP password file {path}: {source} (check smtp.password_file and that the contactd user may read it)")]
    PasswordFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid email address `{address}`: {source} (expected `name@example.org` or `Ім'я <name@example.org>`)")]
    Address {
        address: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("an email needs at least one recipient")]
    NoRecipients,
    #[error("cannot build the email: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("the SMTP server did not accept the email: {0} (check [smtp] url, that the server runs and accepts mail from this host)")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("mail template `{name}`: {source} (the caller's context must provide every field the template documents)")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("unknown mail template `{0}`; known: test_email, executor_new_request, executor_digest, escalation_digest_deputy, escalation_summary_head")]
    UnknownTemplate(String),
    #[error("outbox database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("outbox row {id} is corrupt: {message}")]
    Corrupt { id: i64, message: String },
}
