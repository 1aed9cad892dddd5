-- Outbox: every email is a row written in the same transaction as the change that causes it; the
-- outbox worker sends it and marks it. message_id is the Message-ID header, stable across resends.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    recipients      TEXT NOT NULL,              -- JSON list of addresses
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,            -- UTC microseconds; also the claim lease
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    give_up_at      BIGINT                      -- NULL: created_at + smtp.give_up_after_h
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
