-- The embedded broker: Service Broker's objects as tables.
-- Times are Unix nanoseconds (UTC); IDs are 16-byte blobs.

-- One row per queue of the topology; the poison rule's state is durable.
CREATE TABLE broker_queue (
    name                  TEXT PRIMARY KEY,
    receive_enabled       INTEGER NOT NULL DEFAULT 1,
    consecutive_rollbacks INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One row per conversation endpoint (each dialog has two, both local).
-- state: CO conversing, DI the far side ended, ER the far side ended with an
-- error, CD this side ended (kept until the far side ends too), as in
-- sys.conversation_endpoints.
CREATE TABLE broker_endpoint (
    handle          BLOB PRIMARY KEY,
    far_handle      BLOB NOT NULL,
    group_id        BLOB NOT NULL,
    is_initiator    INTEGER NOT NULL,
    service         TEXT NOT NULL,
    queue           TEXT NOT NULL,
    contract        TEXT NOT NULL,
    state           TEXT NOT NULL,
    send_seq        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Messages waiting in queues. id orders them (a new row always gets a larger
-- rowid than any row present), handle is the receiving side's handle.
CREATE TABLE broker_message (
    id          INTEGER PRIMARY KEY,
    queue       TEXT NOT NULL,
    group_id    BLOB NOT NULL,
    handle      BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    type        TEXT NOT NULL,
    body        BLOB NOT NULL,
    enqueued_at INTEGER NOT NULL
) STRICT;
-- (queue, id, group_id) covers the search for the oldest receivable group.
CREATE INDEX broker_message_queue ON broker_message (queue, id, group_id);
CREATE INDEX broker_message_group ON broker_message (group_id, id);
CREATE INDEX broker_message_handle ON broker_message (handle);

-- One timer per conversation side; re-arming replaces it.
CREATE TABLE broker_timer (
    handle BLOB PRIMARY KEY,
    due_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX broker_timer_due ON broker_timer (due_at);
