-- Reading history for the baselines (median and MAD per name and object),
-- the "failed" validation result, and the indexes of the windowed reads:
-- actions created since (budgets, cooldowns) and validated since (the
-- success rate the tier-2 threshold follows).

-- One row per numeric reading of an observation. The key orders the table
-- as ReadingHistory partitions it (name, object, newest first), so the
-- window function reads it without a sort; a reading recorded again for the
-- same cycle and time is the same row.
CREATE TABLE ooda_reading (
    name     TEXT NOT NULL,
    object   TEXT NOT NULL,
    taken_at INTEGER NOT NULL,   -- when the observation was taken
    cycle_id TEXT NOT NULL,
    value    REAL NOT NULL,      -- finite: NaN and infinities are not recorded
    PRIMARY KEY (name, object, taken_at DESC, cycle_id)
) STRICT, WITHOUT ROWID;
-- PruneReadings deletes by age.
CREATE INDEX ooda_reading_taken ON ooda_reading (taken_at);

ALTER TABLE ooda_action_stats ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;

-- ActionsSince: created_at ranges, oldest first.
CREATE INDEX ooda_action_created ON ooda_action (created_at);
-- ActionStatsSince: validated_at ranges; unvalidated actions are not indexed.
CREATE INDEX ooda_action_validated ON ooda_action (validated_at, type) WHERE validated_at IS NOT NULL;
