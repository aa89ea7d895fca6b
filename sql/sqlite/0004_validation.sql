-- Validation after a window: the result of each executed action, the
-- validations waiting for their conversation timer, and per-type counts
-- (the learning that the tier-2 threshold will follow).
ALTER TABLE ooda_action ADD COLUMN result TEXT NOT NULL DEFAULT '';  -- improved, neutral, regressed; '' until validated
ALTER TABLE ooda_action ADD COLUMN validated_at INTEGER;

CREATE TABLE ooda_validation (
    handle     TEXT PRIMARY KEY,  -- the conversation whose timer ends the window
    cycle_id   TEXT NOT NULL,
    items      TEXT NOT NULL,     -- JSON: what to check, with the before-values
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE ooda_action_stats (
    type      TEXT PRIMARY KEY,
    improved  INTEGER NOT NULL DEFAULT 0,
    neutral   INTEGER NOT NULL DEFAULT 0,
    regressed INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
