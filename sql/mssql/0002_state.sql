-- The loop's state, as sql/sqlite/0002–0005 but in T-SQL: cycles and their
-- steps, actions, the event outbox, dead letters, delivery attempts,
-- settings, approvals, validations and per-type results. Column names are the
-- SQLite ones so that the two stores read alike. Times are datetime2(7) in
-- UTC (100 ns: the Go side's nanoseconds are truncated to that). JSON is
-- nvarchar(max); message bodies are varbinary(max), byte for byte.
-- One object per batch: a batch that creates a table and then its index
-- would be compiled before the table exists.

IF OBJECT_ID(N'ooda.Cycle', N'U') IS NULL
    CREATE TABLE ooda.Cycle (
        id          nvarchar(100)  NOT NULL CONSTRAINT PK_Cycle PRIMARY KEY,
        trigger_key nvarchar(200)  NULL,       -- idempotency key of the trigger, if any
        source      nvarchar(64)   NOT NULL,   -- schedule, operator, event, timer
        reason      nvarchar(2000) NOT NULL,   -- 1000 characters, some of them two UTF-16 units
        status      nvarchar(16)   NOT NULL,   -- running, completed, failed
        stage       nvarchar(32)   NOT NULL,   -- the last stage that finished
        error       nvarchar(max)  NOT NULL CONSTRAINT DF_Cycle_error DEFAULT N'',
        started_at  datetime2(7)   NOT NULL,
        finished_at datetime2(7)   NULL
    );
GO

-- One running cycle per key: a second trigger with the key starts nothing.
-- (A filtered index: CREATE INDEX, WHERE <filter_predicate>.)
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Cycle') AND name = N'UX_Cycle_running_key')
    CREATE UNIQUE INDEX UX_Cycle_running_key ON ooda.Cycle (trigger_key)
        WHERE status = N'running' AND trigger_key IS NOT NULL;
GO

IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Cycle') AND name = N'IX_Cycle_started')
    CREATE INDEX IX_Cycle_started ON ooda.Cycle (started_at);
GO

-- LastStart: the newest cycle of one source.
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Cycle') AND name = N'IX_Cycle_source_started')
    CREATE INDEX IX_Cycle_source_started ON ooda.Cycle (source, started_at);
GO

-- The history-retention sensor counts finished cycles older than the retention.
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Cycle') AND name = N'IX_Cycle_finished')
    CREATE INDEX IX_Cycle_finished ON ooda.Cycle (finished_at) WHERE finished_at IS NOT NULL;
GO

-- What each stage concluded: the observation, the hypotheses, the decisions.
IF OBJECT_ID(N'ooda.Step', N'U') IS NULL
    CREATE TABLE ooda.Step (
        cycle_id   nvarchar(100) NOT NULL,
        stage      nvarchar(32)  NOT NULL,
        payload    nvarchar(max) NOT NULL,   -- JSON
        created_at datetime2(7)  NOT NULL,
        CONSTRAINT PK_Step PRIMARY KEY (cycle_id, stage)
    );
GO

IF OBJECT_ID(N'ooda.Action', N'U') IS NULL
    CREATE TABLE ooda.Action (
        id           nvarchar(400) NOT NULL CONSTRAINT PK_Action PRIMARY KEY,  -- cycle/hypothesis
        cycle_id     nvarchar(100) NOT NULL,
        type         nvarchar(128) NOT NULL,
        target       nvarchar(max)  NOT NULL,   -- a quoted four-part name can pass 1000
        tier         int           NOT NULL,
        status       nvarchar(32)  NOT NULL,   -- executed, dry_run, skipped, failed, awaiting_approval, rejected, reverted
        detail       nvarchar(max) NOT NULL CONSTRAINT DF_Action_detail DEFAULT N'',
        before       nvarchar(max) NOT NULL CONSTRAINT DF_Action_before DEFAULT N'{}',
        after        nvarchar(max) NOT NULL CONSTRAINT DF_Action_after DEFAULT N'{}',
        undo         nvarchar(max) NOT NULL CONSTRAINT DF_Action_undo DEFAULT N'',
        created_at   datetime2(7)  NOT NULL,
        result       nvarchar(16)  NOT NULL CONSTRAINT DF_Action_result DEFAULT N'',  -- improved, neutral, regressed; '' until validated
        validated_at datetime2(7)  NULL
    );
GO

IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Action') AND name = N'IX_Action_cycle')
    CREATE INDEX IX_Action_cycle ON ooda.Action (cycle_id);
GO

-- Events waiting for NATS; written in the stage transaction, deleted once
-- published. seq orders them: an IDENTITY, taken at insert, so a later
-- commit may hold a smaller seq than an event already committed; the relay
-- reads in seq order with READCOMMITTEDLOCK (store/mssql), waiting for such
-- an event rather than reading past it, and trims up to what it published.
IF OBJECT_ID(N'ooda.Outbox', N'U') IS NULL
    CREATE TABLE ooda.Outbox (
        seq        bigint IDENTITY(1, 1) NOT NULL CONSTRAINT PK_Outbox PRIMARY KEY,
        event_id   nvarchar(100) NOT NULL CONSTRAINT UQ_Outbox_event UNIQUE,
        kind       nvarchar(64)  NOT NULL,
        cycle_id   nvarchar(100) NOT NULL,
        created_at datetime2(7)  NOT NULL,
        data       nvarchar(max) NOT NULL
    );
GO

IF OBJECT_ID(N'ooda.DeadLetter', N'U') IS NULL
    CREATE TABLE ooda.DeadLetter (
        id           bigint IDENTITY(1, 1) NOT NULL CONSTRAINT PK_DeadLetter PRIMARY KEY,
        queue        nvarchar(256)  NOT NULL,
        message_type nvarchar(256)  NOT NULL,
        conversation nvarchar(100)  NOT NULL,
        body         varbinary(max) NOT NULL,
        reason       nvarchar(max)  NOT NULL,
        attempts     int            NOT NULL,
        created_at   datetime2(7)   NOT NULL,
        redriven_at  datetime2(7)   NULL
    );
GO

-- Failed deliveries of one message, counted durably across rollbacks.
IF OBJECT_ID(N'ooda.Attempt', N'U') IS NULL
    CREATE TABLE ooda.Attempt (
        message_key nvarchar(200) NOT NULL CONSTRAINT PK_Attempt PRIMARY KEY,  -- conversation handle / sequence
        attempts    int           NOT NULL,
        last_error  nvarchar(max) NOT NULL
    );
GO

IF OBJECT_ID(N'ooda.Setting', N'U') IS NULL
    CREATE TABLE ooda.Setting (
        name  nvarchar(128) NOT NULL CONSTRAINT PK_Setting PRIMARY KEY,
        value nvarchar(max) NOT NULL
    );
GO

-- Approvals: decisions that wait for an operator (tier 2 without history, tier 3 always).
IF OBJECT_ID(N'ooda.Approval', N'U') IS NULL
    CREATE TABLE ooda.Approval (
        id              nvarchar(400)  NOT NULL CONSTRAINT PK_Approval PRIMARY KEY,  -- the action id
        cycle_id        nvarchar(100)  NOT NULL,
        action          nvarchar(128)  NOT NULL,
        object          nvarchar(max)  NOT NULL,
        tier            int            NOT NULL,
        hypothesis      nvarchar(max)  NOT NULL,   -- JSON, replayed to Act on approval
        reason          nvarchar(max)  NOT NULL,   -- why it needs an operator
        status          nvarchar(16)   NOT NULL,   -- pending, approved, rejected
        requested_at    datetime2(7)   NOT NULL,
        expires_at      datetime2(7)   NOT NULL,
        decided_by      nvarchar(256)  NOT NULL CONSTRAINT DF_Approval_decided_by DEFAULT N'',
        decided_at      datetime2(7)   NULL,
        decision_reason nvarchar(max)  NOT NULL CONSTRAINT DF_Approval_decision_reason DEFAULT N''
    );
GO

IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Approval') AND name = N'IX_Approval_status')
    CREATE INDEX IX_Approval_status ON ooda.Approval (status, requested_at);
GO

-- Validations waiting for their conversation timer.
IF OBJECT_ID(N'ooda.Validation', N'U') IS NULL
    CREATE TABLE ooda.Validation (
        handle     nvarchar(100) NOT NULL CONSTRAINT PK_Validation PRIMARY KEY,  -- the conversation whose timer ends the window
        cycle_id   nvarchar(100) NOT NULL,
        items      nvarchar(max) NOT NULL,   -- JSON: what to check, with the before-values
        created_at datetime2(7)  NOT NULL
    );
GO

-- Per-type validation results: the learning the tier-2 threshold follows.
IF OBJECT_ID(N'ooda.ActionStats', N'U') IS NULL
    CREATE TABLE ooda.ActionStats (
        type      nvarchar(128) NOT NULL CONSTRAINT PK_ActionStats PRIMARY KEY,
        improved  int NOT NULL CONSTRAINT DF_ActionStats_improved DEFAULT 0,
        neutral   int NOT NULL CONSTRAINT DF_ActionStats_neutral DEFAULT 0,
        regressed int NOT NULL CONSTRAINT DF_ActionStats_regressed DEFAULT 0
    );
GO
