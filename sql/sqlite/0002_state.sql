-- The loop's state: cycles and their steps, actions, the outbox, dead letters,
-- delivery attempts and settings. Times are Unix nanoseconds (UTC).

CREATE TABLE ooda_cycle (
    id          TEXT PRIMARY KEY,
    trigger_key TEXT,             -- idempotency key of the trigger, if any
    source      TEXT NOT NULL,    -- schedule, operator, event, timer
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL,    -- running, completed, failed
    stage       TEXT NOT NULL,    -- the last stage that finished
    error       TEXT NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
) STRICT;
-- One running cycle per key: a second trigger with the key starts nothing.
CREATE UNIQUE INDEX ooda_cycle_running_key ON ooda_cycle (trigger_key) WHERE status = 'running' AND trigger_key IS NOT NULL;
CREATE INDEX ooda_cycle_started ON ooda_cycle (started_at);

-- What each stage concluded: the observation, the hypotheses, the decisions.
CREATE TABLE ooda_step (
    cycle_id   TEXT NOT NULL,
    stage      TEXT NOT NULL,
    payload    TEXT NOT NULL,     -- JSON
    created_at INTEGER NOT NULL,
    PRIMARY KEY (cycle_id, stage)
) STRICT;

CREATE TABLE ooda_action (
    id          TEXT PRIMARY KEY,
    cycle_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    target      TEXT NOT NULL,
    tier        INTEGER NOT NULL,
    status      TEXT NOT NULL,    -- executed, dry_run, skipped, failed, awaiting_approval
    detail      TEXT NOT NULL DEFAULT '',
    before      TEXT NOT NULL DEFAULT '{}',
    after       TEXT NOT NULL DEFAULT '{}',
    undo        TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX ooda_action_cycle ON ooda_action (cycle_id);

-- Events waiting for NATS; written in the stage transaction, deleted once published.
CREATE TABLE ooda_outbox (
    seq        INTEGER PRIMARY KEY,
    event_id   TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    cycle_id   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data       TEXT NOT NULL
) STRICT;

CREATE TABLE ooda_dead_letter (
    id            INTEGER PRIMARY KEY,
    queue         TEXT NOT NULL,
    message_type  TEXT NOT NULL,
    conversation  TEXT NOT NULL,
    body          BLOB NOT NULL,
    reason        TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    redriven_at   INTEGER
) STRICT;

-- Failed deliveries of one message, counted durably across rollbacks.
CREATE TABLE ooda_attempt (
    message_key TEXT PRIMARY KEY,   -- conversation handle / sequence
    attempts    INTEGER NOT NULL,
    last_error  TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE ooda_setting (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
