-- The policy reads the actions that acted (executed, reverted, failed) in
-- the last hours for its cooldowns and budgets, on every Decide step. The
-- others (deferred, dry-run, awaiting approval) can pile up by the
-- thousand under a backlog; this index leaves them out of the read.
CREATE INDEX IF NOT EXISTS ooda_action_acted ON ooda_action (created_at) WHERE status IN ('executed', 'reverted', 'failed');
