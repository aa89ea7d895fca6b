-- Durable intents (DESIGN.md §5): slow work on the target happens between
-- two short transactions. The first records what will be done (the message
-- to resume from), the second takes the intent and records the result; an
-- intent still here after its owner is gone is resumed.
CREATE TABLE ooda_intent (
    id         TEXT PRIMARY KEY,    -- conversation/sequence of the message that carried the work
    cycle_id   TEXT NOT NULL,
    stage      TEXT NOT NULL,
    envelope   BLOB NOT NULL,       -- the message body to resume from, byte for byte
    created_at INTEGER NOT NULL     -- Unix nanoseconds (UTC)
) STRICT;
-- Intents: created before a time, oldest first.
CREATE INDEX ooda_intent_created ON ooda_intent (created_at, id);
