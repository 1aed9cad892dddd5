-- Survey of applicants (regulation 9.6): the draws (stored inputs + result, for replay) and the
-- survey tasks they create. A draw and its tasks are written in one transaction.
CREATE TABLE survey_draws (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Half-open period [period_start, period_end) of closing times; each draw starts where the
    -- previous one ended, so both ends are unique: a second draw for a period cannot be stored.
    period_start BIGINT NOT NULL UNIQUE,
    period_end   BIGINT NOT NULL UNIQUE,
    -- u64 seed in decimal (does not fit a signed BIGINT).
    seed         TEXT NOT NULL,
    algorithm    TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    inputs_json  TEXT NOT NULL,
    draw_json    TEXT NOT NULL,
    population   BIGINT NOT NULL,
    sampled      BIGINT NOT NULL,
    -- 'scheduler' or 'cli'.
    triggered_by TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE survey_tasks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    draw_id          BIGINT NOT NULL REFERENCES survey_draws (id),
    request_id       BIGINT NOT NULL REFERENCES requests (id),
    request_number   TEXT NOT NULL,
    applicant_id     BIGINT NOT NULL,
    executor_code    TEXT NOT NULL,
    reason           TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'done', 'closed_unreachable')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_attempt_at  BIGINT,
    outcome          TEXT,
    note             TEXT,
    call_channel_id  TEXT,
    called_at        BIGINT,
    operator_user_id BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (draw_id, request_id)
);
CREATE INDEX survey_tasks_due ON survey_tasks (status, next_attempt_at);
CREATE INDEX survey_tasks_executor ON survey_tasks (executor_code, updated_at);
CREATE INDEX survey_tasks_channel ON survey_tasks (call_channel_id);
