-- Approvals: decisions that wait for an operator (tier 2 without history, tier 3 always).
CREATE TABLE ooda_approval (
    id              TEXT PRIMARY KEY,   -- the action id: cycle/hypothesis
    cycle_id        TEXT NOT NULL,
    action          TEXT NOT NULL,
    object          TEXT NOT NULL,
    tier            INTEGER NOT NULL,
    hypothesis      TEXT NOT NULL,      -- JSON, replayed to Act on approval
    reason          TEXT NOT NULL,      -- why it needs an operator
    status          TEXT NOT NULL,      -- pending, approved, rejected
    requested_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    decided_by      TEXT NOT NULL DEFAULT '',
    decided_at      INTEGER,
    decision_reason TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX ooda_approval_status ON ooda_approval (status, requested_at);
