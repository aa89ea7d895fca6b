-- ooda schema migration, dry run: nothing below was executed.
-- Database at version 0, this binary installs version 7: 7 script(s), each in one transaction.
-- The driver begins and commits each transaction; batches with parameters go through sp_executesql.
-- A listing for review, not a sqlcmd script: parameters are bound by oodad migrate (shown in
-- comments), and the session settings are go-mssqldb's (QUOTED_IDENTIFIER and ANSI_NULLS ON).

-- 0001_broker.sql (version 1, sha256 37b2baaebff9172dda001cbb645cd76581ecf2becd00457252b834dcbfdf750e)
BEGIN TRANSACTION;
GO
-- parameters: @TimeoutMs int = 60000
DECLARE @Result int;
EXEC @Result = sys.sp_getapplock @Resource = N'ooda.schema-migration', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = @TimeoutMs;
SELECT @Result;
GO
SELECT CASE WHEN OBJECT_ID(N'ooda.SchemaVersion', N'U') IS NULL THEN 0 ELSE 1 END;
GO
-- when ooda.SchemaVersion exists:
SELECT COALESCE(MAX(Version), 0) FROM ooda.SchemaVersion;
GO
-- parameters: @DaemonUser sysname = N'ooda_svc'
-- The loop's Service Broker objects: schema ooda, the schema-version table,
-- message types, contracts, queues and services, each created only when
-- missing so that the script is safe to re-run.
--
-- Parameter (sent by the migrator to the batches that name it, as
-- sp_executesql parameters): @DaemonUser sysname, the daemon's database user.
-- It owns the services (CREATE SERVICE ... AUTHORIZATION) so that it owns
-- both ends of the conversations it must end (END CONVERSATION needs the
-- conversation's owner or db_owner). AUTHORIZATION takes a name, not a
-- variable, so those statements are built here with QUOTENAME and run with
-- sp_executesql: the only dynamic SQL of the scripts.

-- A missing user fails here, before anything is created, naming the fix.
-- DATABASE_PRINCIPAL_ID returns NULL for an unknown name; roles (R) and
-- application roles (A) cannot own the conversations the daemon ends.
IF DATABASE_PRINCIPAL_ID(@DaemonUser) IS NULL
    OR NOT EXISTS (SELECT 1 FROM sys.database_principals
                   WHERE principal_id = DATABASE_PRINCIPAL_ID(@DaemonUser) AND type NOT IN ('R', 'A'))
BEGIN
    DECLARE @Missing nvarchar(2048) = CONCAT(N'ooda migration: database user ', QUOTENAME(@DaemonUser),
        N' does not exist in database ', QUOTENAME(DB_NAME()),
        N'. Create it for the daemon''s login first (CREATE USER ', QUOTENAME(@DaemonUser),
        N' FOR LOGIN <the daemon''s login>;), or pass the user the daemon connects as.');
    -- THROW: "The statement before the THROW statement must be followed by
    -- the semicolon (;) statement terminator." (THROW (Transact-SQL))
    THROW 50001, @Missing, 1;
END;
GO
-- CREATE SCHEMA must be the only statement of its batch, hence EXEC
-- (CREATE SCHEMA (Transact-SQL)).
IF SCHEMA_ID(N'ooda') IS NULL
    EXEC (N'CREATE SCHEMA ooda AUTHORIZATION dbo;');
GO
IF OBJECT_ID(N'ooda.SchemaVersion', N'U') IS NULL
    CREATE TABLE ooda.SchemaVersion (
        Version   int           NOT NULL CONSTRAINT PK_SchemaVersion PRIMARY KEY,
        Name      nvarchar(200) NOT NULL,
        Checksum  char(64)      NOT NULL,   -- sha256 of the script, hex
        AppliedAt datetime2(3)  NOT NULL CONSTRAINT DF_SchemaVersion_AppliedAt DEFAULT SYSUTCDATETIME()
    );
GO
-- Message types: bodies are UTF-8 JSON envelopes that the daemon validates
-- itself, so the server does not (CREATE MESSAGE TYPE: VALIDATION = NONE).
IF NOT EXISTS (SELECT 1 FROM sys.service_message_types WHERE name = N'//Hartonomous/OODA/TriggerMessage')
    CREATE MESSAGE TYPE [//Hartonomous/OODA/TriggerMessage] VALIDATION = NONE;
IF NOT EXISTS (SELECT 1 FROM sys.service_message_types WHERE name = N'//Hartonomous/OODA/ObservationMessage')
    CREATE MESSAGE TYPE [//Hartonomous/OODA/ObservationMessage] VALIDATION = NONE;
IF NOT EXISTS (SELECT 1 FROM sys.service_message_types WHERE name = N'//Hartonomous/OODA/OrientationMessage')
    CREATE MESSAGE TYPE [//Hartonomous/OODA/OrientationMessage] VALIDATION = NONE;
IF NOT EXISTS (SELECT 1 FROM sys.service_message_types WHERE name = N'//Hartonomous/OODA/DecisionMessage')
    CREATE MESSAGE TYPE [//Hartonomous/OODA/DecisionMessage] VALIDATION = NONE;
IF NOT EXISTS (SELECT 1 FROM sys.service_message_types WHERE name = N'//Hartonomous/OODA/ActionMessage')
    CREATE MESSAGE TYPE [//Hartonomous/OODA/ActionMessage] VALIDATION = NONE;
GO
-- Contracts: one per hop, its one message type sent by the initiator
-- (CREATE CONTRACT: message_type_name SENT BY INITIATOR).
IF NOT EXISTS (SELECT 1 FROM sys.service_contracts WHERE name = N'//Hartonomous/OODA/TriggerContract')
    CREATE CONTRACT [//Hartonomous/OODA/TriggerContract] ([//Hartonomous/OODA/TriggerMessage] SENT BY INITIATOR);
IF NOT EXISTS (SELECT 1 FROM sys.service_contracts WHERE name = N'//Hartonomous/OODA/ObservationContract')
    CREATE CONTRACT [//Hartonomous/OODA/ObservationContract] ([//Hartonomous/OODA/ObservationMessage] SENT BY INITIATOR);
IF NOT EXISTS (SELECT 1 FROM sys.service_contracts WHERE name = N'//Hartonomous/OODA/OrientationContract')
    CREATE CONTRACT [//Hartonomous/OODA/OrientationContract] ([//Hartonomous/OODA/OrientationMessage] SENT BY INITIATOR);
IF NOT EXISTS (SELECT 1 FROM sys.service_contracts WHERE name = N'//Hartonomous/OODA/DecisionContract')
    CREATE CONTRACT [//Hartonomous/OODA/DecisionContract] ([//Hartonomous/OODA/DecisionMessage] SENT BY INITIATOR);
IF NOT EXISTS (SELECT 1 FROM sys.service_contracts WHERE name = N'//Hartonomous/OODA/ActionContract')
    CREATE CONTRACT [//Hartonomous/OODA/ActionContract] ([//Hartonomous/OODA/ActionMessage] SENT BY INITIATOR);
GO
-- Queues: on, no retention, no activation (the daemon receives; an
-- activation procedure would compete with it), and the server's poison rule
-- left on: the daemon's savepoints keep it from ever firing in normal
-- operation, and a queue it disables is detected and healed. The options
-- are written in the order of the CREATE QUEUE syntax.
IF OBJECT_ID(N'ooda.ObserveQueue', N'SQ') IS NULL
    CREATE QUEUE ooda.ObserveQueue WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);
IF OBJECT_ID(N'ooda.OrientQueue', N'SQ') IS NULL
    CREATE QUEUE ooda.OrientQueue WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);
IF OBJECT_ID(N'ooda.DecideQueue', N'SQ') IS NULL
    CREATE QUEUE ooda.DecideQueue WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);
IF OBJECT_ID(N'ooda.ActQueue', N'SQ') IS NULL
    CREATE QUEUE ooda.ActQueue WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);
GO
-- parameters: @DaemonUser sysname = N'ooda_svc'
-- Services, as ooda.Topology(): the trigger service only starts dialogs (no
-- contract: it cannot be a target), its EndDialog replies land on the
-- Observe queue. Owned by the daemon's user; a service owned by someone else
-- (the daemon user changed) is handed over with ALTER AUTHORIZATION.
DECLARE @Owner nvarchar(258) = QUOTENAME(@DaemonUser);
DECLARE @OwnerId int = DATABASE_PRINCIPAL_ID(@DaemonUser);
DECLARE @Sql nvarchar(max);

IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/OODA/TriggerService')
BEGIN
    SET @Sql = N'CREATE SERVICE [//Hartonomous/OODA/TriggerService] AUTHORIZATION ' + @Owner
        + N' ON QUEUE ooda.ObserveQueue;';
    EXEC sys.sp_executesql @Sql;
END;
IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/OODA/ObserveService')
BEGIN
    SET @Sql = N'CREATE SERVICE [//Hartonomous/OODA/ObserveService] AUTHORIZATION ' + @Owner
        + N' ON QUEUE ooda.ObserveQueue ([//Hartonomous/OODA/TriggerContract], [//Hartonomous/OODA/ActionContract]);';
    EXEC sys.sp_executesql @Sql;
END;
IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/OODA/OrientService')
BEGIN
    SET @Sql = N'CREATE SERVICE [//Hartonomous/OODA/OrientService] AUTHORIZATION ' + @Owner
        + N' ON QUEUE ooda.OrientQueue ([//Hartonomous/OODA/ObservationContract]);';
    EXEC sys.sp_executesql @Sql;
END;
IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/OODA/DecideService')
BEGIN
    SET @Sql = N'CREATE SERVICE [//Hartonomous/OODA/DecideService] AUTHORIZATION ' + @Owner
        + N' ON QUEUE ooda.DecideQueue ([//Hartonomous/OODA/OrientationContract]);';
    EXEC sys.sp_executesql @Sql;
END;
IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/OODA/ActService')
BEGIN
    SET @Sql = N'CREATE SERVICE [//Hartonomous/OODA/ActService] AUTHORIZATION ' + @Owner
        + N' ON QUEUE ooda.ActQueue ([//Hartonomous/OODA/DecisionContract]);';
    EXEC sys.sp_executesql @Sql;
END;

-- ALTER AUTHORIZATION ON SERVICE::name TO principal (ALTER AUTHORIZATION
-- (Transact-SQL), entity class SERVICE). sys.services.principal_id is the
-- owner.
DECLARE @Service sysname;
DECLARE owned CURSOR LOCAL FAST_FORWARD FOR
    SELECT name FROM sys.services
    WHERE name IN (N'//Hartonomous/OODA/TriggerService', N'//Hartonomous/OODA/ObserveService',
                   N'//Hartonomous/OODA/OrientService', N'//Hartonomous/OODA/DecideService',
                   N'//Hartonomous/OODA/ActService')
      AND principal_id <> @OwnerId;
OPEN owned;
FETCH NEXT FROM owned INTO @Service;
WHILE @@FETCH_STATUS = 0
BEGIN
    SET @Sql = N'ALTER AUTHORIZATION ON SERVICE::' + QUOTENAME(@Service) + N' TO ' + @Owner + N';';
    EXEC sys.sp_executesql @Sql;
    FETCH NEXT FROM owned INTO @Service;
END;
CLOSE owned;
DEALLOCATE owned;
GO
-- parameters: @Version int = 1, @Name nvarchar = N'0001_broker.sql', @Checksum nvarchar = N'37b2baaebff9172dda001cbb645cd76581ecf2becd00457252b834dcbfdf750e'
INSERT INTO ooda.SchemaVersion (Version, Name, Checksum) VALUES (@Version, @Name, @Checksum);
GO
COMMIT TRANSACTION;
GO

-- 0002_state.sql (version 2, sha256 1f98b8e63a39eb1fea9c6623b20510163feba1550d0a4b87908ce524b342ee54)
BEGIN TRANSACTION;
GO
-- parameters: @TimeoutMs int = 60000
DECLARE @Result int;
EXEC @Result = sys.sp_getapplock @Resource = N'ooda.schema-migration', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = @TimeoutMs;
SELECT @Result;
GO
SELECT CASE WHEN OBJECT_ID(N'ooda.SchemaVersion', N'U') IS NULL THEN 0 ELSE 1 END;
GO
-- when ooda.SchemaVersion exists:
SELECT COALESCE(MAX(Version), 0) FROM ooda.SchemaVersion;
GO
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
-- parameters: @Version int = 2, @Name nvarchar = N'0002_state.sql', @Checksum nvarchar = N'1f98b8e63a39eb1fea9c6623b20510163feba1550d0a4b87908ce524b342ee54'
INSERT INTO ooda.SchemaVersion (Version, Name, Checksum) VALUES (@Version, @Name, @Checksum);
GO
COMMIT TRANSACTION;
GO

-- 0003_procedures.sql (version 3, sha256 4c232bd8be54e8a4b4fda5ca69cff452469e16d7d145a1e72ddf9903249f80a1)
BEGIN TRANSACTION;
GO
-- parameters: @TimeoutMs int = 60000
DECLARE @Result int;
EXEC @Result = sys.sp_getapplock @Resource = N'ooda.schema-migration', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = @TimeoutMs;
SELECT @Result;
GO
SELECT CASE WHEN OBJECT_ID(N'ooda.SchemaVersion', N'U') IS NULL THEN 0 ELSE 1 END;
GO
-- when ooda.SchemaVersion exists:
SELECT COALESCE(MAX(Version), 0) FROM ooda.SchemaVersion;
GO
-- Procedures for DBAs: trigger a cycle, approve or reject a pending
-- decision, pause or resume the loop, from SSMS, with the same effects as the
-- daemon's own Engine.Trigger, Approve, Reject and SetPaused: one transaction
-- writes the state, the outbox event and (trigger, approve) the message.
--
-- Each CREATE OR ALTER must be the first statement of its batch, and these
-- batches take no parameters: the migrator sends a batch that does not name
-- @DaemonUser as a plain SQL batch, not through sp_executesql, so nothing
-- wraps the CREATE.
--
-- Message bodies are the daemon's envelope, UTF-8 JSON:
--   {"v":1,"cycle_id":…,"kind":…,"created_at":"…Z","payload":{…}}
-- built with FOR JSON PATH (dotted column names nest, JSON_QUERY output is
-- embedded as JSON, NULL columns are left out: "Format nested JSON output
-- with PATH mode", "JSON_QUERY (Transact-SQL)"), converted to UTF-8 through
-- a _UTF8 collation ("Collation and Unicode support": UTF-8 support, SQL
-- Server 2019 and later). Callers need EXECUTE on the procedure and the
-- Service Broker permissions of BEGIN DIALOG and SEND (members of db_owner
-- or of ooda_daemon have them).

-- RFC 3339 in UTC, which Go's time.Time reads: style 126 is ISO 8601
-- without a zone (CAST and CONVERT (Transact-SQL), date and time styles);
-- the values are UTC, so Z is appended. NULL stays NULL.
CREATE OR ALTER FUNCTION ooda.Rfc3339 (@At datetime2(7))
RETURNS nvarchar(40)
WITH SCHEMABINDING
AS
BEGIN
    RETURN CONVERT(nvarchar(33), @At, 126) + N'Z';
END;
GO
-- The bytes of a JSON text in UTF-8: nvarchar is UTF-16, the daemon reads
-- UTF-8. Converting to varchar under a _UTF8 collation encodes as UTF-8.
CREATE OR ALTER FUNCTION ooda.Utf8 (@Text nvarchar(max))
RETURNS varbinary(max)
WITH SCHEMABINDING
AS
BEGIN
    RETURN CAST(CAST(@Text COLLATE Latin1_General_100_BIN2_UTF8 AS varchar(max)) AS varbinary(max));
END;
GO
-- ooda.usp_TriggerCycle: start a cycle as Engine.Trigger does. With @Key, a
-- cycle with that key still running is returned instead (started = 0).
-- Returns one row (cycle_id, started) and @CycleId.
CREATE OR ALTER PROCEDURE ooda.usp_TriggerCycle
    @Reason  nvarchar(1000),
    @Key     nvarchar(200) = NULL,
    @CycleId nvarchar(100) = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    SET @Reason = COALESCE(@Reason, N'');
    SET @Key = NULLIF(@Key, N'');
    -- The daemon's rule: a key is at most 200 bytes (UTF-8) on one line.
    IF @Key IS NOT NULL
       AND (DATALENGTH(CAST(@Key COLLATE Latin1_General_100_BIN2_UTF8 AS varchar(800))) > 200
            OR CHARINDEX(NCHAR(10), @Key COLLATE Latin1_General_100_BIN2) > 0
            OR CHARINDEX(NCHAR(0), @Key COLLATE Latin1_General_100_BIN2) > 0)
        THROW 50010, N'ooda.usp_TriggerCycle: @Key must be at most 200 bytes on one line.', 1;

    DECLARE @Now datetime2(7) = SYSUTCDATETIME();
    DECLARE @Existing nvarchar(100), @Data nvarchar(max), @Envelope nvarchar(max), @Handle uniqueidentifier;
    DECLARE @Body varbinary(max);

    BEGIN TRY
        BEGIN TRANSACTION;
        IF @Key IS NOT NULL
            -- UPDLOCK, HOLDLOCK: a second trigger with the key waits here
            -- until the first commits, then sees its cycle.
            SELECT @Existing = id FROM ooda.Cycle WITH (UPDLOCK, HOLDLOCK)
            WHERE trigger_key = @Key AND status = N'running';
        IF @Existing IS NOT NULL
        BEGIN
            COMMIT TRANSACTION;
            SET @CycleId = @Existing;
            SELECT @CycleId AS cycle_id, CAST(0 AS bit) AS started;
            RETURN 0;
        END;

        SET @CycleId = LOWER(CONVERT(nchar(36), NEWID()));
        INSERT INTO ooda.Cycle (id, trigger_key, source, reason, status, stage, started_at)
        VALUES (@CycleId, @Key, N'operator', @Reason, N'running', N'trigger', @Now);

        SET @Data = (SELECT @CycleId AS cycle_id, N'operator' AS source, @Reason AS reason, COALESCE(@Key, N'') AS [key]
                     FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
        INSERT INTO ooda.Outbox (event_id, kind, cycle_id, created_at, data)
        VALUES (LOWER(CONVERT(nchar(36), NEWID())), N'cycle.started', @CycleId, @Now, @Data);

        SET @Envelope = (SELECT 1 AS v, @CycleId AS cycle_id, N'trigger' AS kind, ooda.Rfc3339(@Now) AS created_at,
                                N'operator' AS [payload.source], @Reason AS [payload.reason], @Key AS [payload.key]
                         FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
        SET @Body = ooda.Utf8(@Envelope);

        -- Within one database: ENCRYPTION = OFF (BEGIN DIALOG CONVERSATION).
        BEGIN DIALOG CONVERSATION @Handle
            FROM SERVICE [//Hartonomous/OODA/TriggerService]
            TO SERVICE N'//Hartonomous/OODA/ObserveService'
            ON CONTRACT [//Hartonomous/OODA/TriggerContract]
            WITH ENCRYPTION = OFF;
        SEND ON CONVERSATION (@Handle) MESSAGE TYPE [//Hartonomous/OODA/TriggerMessage] (@Body);
        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    SELECT @CycleId AS cycle_id, CAST(1 AS bit) AS started;
    RETURN 0;
END;
GO
-- ooda.usp_DecideApproval: what Approve and Reject share (Engine.decideApproval).
-- Approved: the decision goes to the Act stage as a DecisionMessage on a
-- dialog DecideService → ActService. Rejected: the action is recorded as
-- rejected. Both: the approval.decided event.
CREATE OR ALTER PROCEDURE ooda.usp_DecideApproval
    @ApprovalId nvarchar(400),
    @Status     nvarchar(16),
    @By         nvarchar(256),
    @Reason     nvarchar(1000)
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    IF @Status IS NULL OR @Status NOT IN (N'approved', N'rejected')
        THROW 50020, N'ooda.usp_DecideApproval: @Status must be approved or rejected.', 1;
    SET @By = COALESCE(NULLIF(LTRIM(RTRIM(@By)), N''), ORIGINAL_LOGIN());
    IF @Reason IS NULL OR LTRIM(RTRIM(@Reason)) = N''
        THROW 50021, N'An approval or rejection needs a reason (@Reason): why it may run, or why not.', 1;

    DECLARE @Now datetime2(7) = SYSUTCDATETIME();
    DECLARE @Msg nvarchar(2048), @CycleId nvarchar(100), @Action nvarchar(128), @Object nvarchar(max), @Tier int,
            @Hypothesis nvarchar(max), @Why nvarchar(max), @Current nvarchar(16), @RequestedAt datetime2(7),
            @ExpiresAt datetime2(7), @DecidedBy nvarchar(256), @DecidedAt datetime2(7), @Data nvarchar(max),
            @Decisions nvarchar(max), @Envelope nvarchar(max), @Body varbinary(max), @Handle uniqueidentifier,
            @Detail nvarchar(max);

    BEGIN TRY
        BEGIN TRANSACTION;
        SELECT @CycleId = cycle_id, @Action = action, @Object = object, @Tier = tier, @Hypothesis = hypothesis,
               @Why = reason, @Current = status, @RequestedAt = requested_at, @ExpiresAt = expires_at,
               @DecidedBy = decided_by, @DecidedAt = decided_at
        FROM ooda.Approval WITH (UPDLOCK, HOLDLOCK)
        WHERE id = @ApprovalId;
        IF @CycleId IS NULL
        BEGIN
            SET @Msg = CONCAT(N'No approval "', @ApprovalId, N'".');
            THROW 50022, @Msg, 1;
        END;
        IF @Current <> N'pending'
        BEGIN
            SET @Msg = CONCAT(N'Approval "', @ApprovalId, N'" was already ', @Current, N' by ', @DecidedBy,
                              N' at ', ooda.Rfc3339(@DecidedAt), N'.');
            THROW 50023, @Msg, 1;
        END;
        IF @Now >= @ExpiresAt
        BEGIN
            SET @Msg = CONCAT(N'Approval "', @ApprovalId, N'" expired at ', ooda.Rfc3339(@ExpiresAt), N'.');
            THROW 50024, @Msg, 1;
        END;

        UPDATE ooda.Approval
        SET status = @Status, decided_by = @By, decided_at = @Now, decision_reason = @Reason
        WHERE id = @ApprovalId;

        SET @Data = (SELECT @ApprovalId AS id, @CycleId AS cycle_id, @Action AS action, @Object AS object, @Tier AS tier,
                            JSON_QUERY(@Hypothesis) AS hypothesis, @Why AS reason, @Status AS status,
                            ooda.Rfc3339(@RequestedAt) AS requested_at, ooda.Rfc3339(@ExpiresAt) AS expires_at,
                            @By AS decided_by, ooda.Rfc3339(@Now) AS decided_at, @Reason AS decision_reason
                     FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
        INSERT INTO ooda.Outbox (event_id, kind, cycle_id, created_at, data)
        VALUES (LOWER(CONVERT(nchar(36), NEWID())), N'approval.decided', @CycleId, @Now, @Data);

        IF @Status = N'rejected'
        BEGIN
            SET @Detail = CONCAT(N'rejected by ', @By, N': ', @Reason);
            -- As store.RecordAction: insert, or update what an action's
            -- record may change. HOLDLOCK keeps MERGE from racing.
            MERGE ooda.Action WITH (HOLDLOCK) AS t
            USING (VALUES (@ApprovalId)) AS s (id)
            ON t.id = s.id
            WHEN MATCHED THEN
                UPDATE SET status = N'rejected', detail = @Detail, before = N'{}', after = N'{}', undo = N''
            WHEN NOT MATCHED THEN
                INSERT (id, cycle_id, type, target, tier, status, detail, before, after, undo, created_at)
                VALUES (@ApprovalId, @CycleId, @Action, @Object, @Tier, N'rejected', @Detail, N'{}', N'{}', N'', @RequestedAt);
        END
        ELSE
        BEGIN
            -- The payload of ooda.Decisions: one approved decision.
            SET @Decisions = (SELECT JSON_QUERY(@Hypothesis) AS hypothesis, N'approved' AS verdict,
                                     CONCAT(N'approved by ', @By, N': ', @Reason) AS reason
                              FOR JSON PATH);
            SET @Envelope = (SELECT 1 AS v, @CycleId AS cycle_id, N'decision' AS kind, ooda.Rfc3339(@Now) AS created_at,
                                    JSON_QUERY(@Decisions) AS [payload.decisions], @ApprovalId AS [payload.approval]
                             FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
            SET @Body = ooda.Utf8(@Envelope);
            BEGIN DIALOG CONVERSATION @Handle
                FROM SERVICE [//Hartonomous/OODA/DecideService]
                TO SERVICE N'//Hartonomous/OODA/ActService'
                ON CONTRACT [//Hartonomous/OODA/DecisionContract]
                WITH ENCRYPTION = OFF;
            SEND ON CONVERSATION (@Handle) MESSAGE TYPE [//Hartonomous/OODA/DecisionMessage] (@Body);
        END;
        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    SELECT @ApprovalId AS id, @CycleId AS cycle_id, @Status AS status, @By AS decided_by, @Now AS decided_at;
    RETURN 0;
END;
GO
-- ooda.usp_Approve: as Engine.Approve, refused while the loop is paused (the
-- approval stays pending). @By defaults to the caller's login.
CREATE OR ALTER PROCEDURE ooda.usp_Approve
    @ApprovalId nvarchar(400),
    @By         nvarchar(256) = NULL,
    @Reason     nvarchar(1000)
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    IF EXISTS (SELECT 1 FROM ooda.Setting WHERE name = N'paused' AND value = N'true')
    BEGIN
        DECLARE @Msg nvarchar(2048) = CONCAT(N'The loop is paused: resume it (EXEC ooda.usp_Resume) before approving; approval "',
                                             @ApprovalId, N'" stays pending.');
        THROW 50025, @Msg, 1;
    END;
    EXEC ooda.usp_DecideApproval @ApprovalId = @ApprovalId, @Status = N'approved', @By = @By, @Reason = @Reason;
END;
GO
-- ooda.usp_Reject: as Engine.Reject. @By defaults to the caller's login.
CREATE OR ALTER PROCEDURE ooda.usp_Reject
    @ApprovalId nvarchar(400),
    @By         nvarchar(256) = NULL,
    @Reason     nvarchar(1000)
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    EXEC ooda.usp_DecideApproval @ApprovalId = @ApprovalId, @Status = N'rejected', @By = @By, @Reason = @Reason;
END;
GO
-- ooda.usp_SetPaused: the kill switch, as Engine.SetPaused: the "paused"
-- setting ("true" or "false") and a loop.paused or loop.resumed event.
CREATE OR ALTER PROCEDURE ooda.usp_SetPaused
    @Paused bit,
    @By     nvarchar(256) = NULL,
    @Reason nvarchar(1000) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    IF @Paused IS NULL
        THROW 50030, N'ooda.usp_SetPaused: @Paused must be 0 or 1.', 1;
    SET @By = COALESCE(NULLIF(LTRIM(RTRIM(@By)), N''), ORIGINAL_LOGIN());
    SET @Reason = COALESCE(@Reason, N'');
    DECLARE @Now datetime2(7) = SYSUTCDATETIME();
    DECLARE @Value nvarchar(5) = IIF(@Paused = 1, N'true', N'false');
    DECLARE @Data nvarchar(max) = (SELECT @By AS [by], @Reason AS reason FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);

    BEGIN TRY
        BEGIN TRANSACTION;
        MERGE ooda.Setting WITH (HOLDLOCK) AS t
        USING (VALUES (N'paused', @Value)) AS s (name, value)
        ON t.name = s.name
        WHEN MATCHED THEN UPDATE SET value = s.value
        WHEN NOT MATCHED THEN INSERT (name, value) VALUES (s.name, s.value);
        INSERT INTO ooda.Outbox (event_id, kind, cycle_id, created_at, data)
        VALUES (LOWER(CONVERT(nchar(36), NEWID())), IIF(@Paused = 1, N'loop.paused', N'loop.resumed'), N'', @Now, @Data);
        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;
    SELECT @Value AS paused;
    RETURN 0;
END;
GO
CREATE OR ALTER PROCEDURE ooda.usp_Pause
    @By     nvarchar(256) = NULL,
    @Reason nvarchar(1000) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    EXEC ooda.usp_SetPaused @Paused = 1, @By = @By, @Reason = @Reason;
END;
GO
CREATE OR ALTER PROCEDURE ooda.usp_Resume
    @By     nvarchar(256) = NULL,
    @Reason nvarchar(1000) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    EXEC ooda.usp_SetPaused @Paused = 0, @By = @By, @Reason = @Reason;
END;
GO
-- parameters: @Version int = 3, @Name nvarchar = N'0003_procedures.sql', @Checksum nvarchar = N'4c232bd8be54e8a4b4fda5ca69cff452469e16d7d145a1e72ddf9903249f80a1'
INSERT INTO ooda.SchemaVersion (Version, Name, Checksum) VALUES (@Version, @Name, @Checksum);
GO
COMMIT TRANSACTION;
GO

-- 0004_permissions.sql (version 4, sha256 9b9596a5701f039a0d54d0ec735139a17ddac371c5f8cf738254d62085cee7f5)
BEGIN TRANSACTION;
GO
-- parameters: @TimeoutMs int = 60000
DECLARE @Result int;
EXEC @Result = sys.sp_getapplock @Resource = N'ooda.schema-migration', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = @TimeoutMs;
SELECT @Result;
GO
SELECT CASE WHEN OBJECT_ID(N'ooda.SchemaVersion', N'U') IS NULL THEN 0 ELSE 1 END;
GO
-- when ooda.SchemaVersion exists:
SELECT COALESCE(MAX(Version), 0) FROM ooda.SchemaVersion;
GO
-- The daemon's least-privilege role (SERVICE_BROKER.md, "Least privilege"):
-- RECEIVE on its queues, SEND on its services, REFERENCES on its contracts
-- and message types, EXECUTE and the data permissions on schema ooda, VIEW
-- DATABASE STATE for the DMVs its sensors read, and ALTER only on the queues,
-- which it re-enables when the server's poison rule disabled one. GRANT is
-- idempotent: granting a permission held already changes nothing.
-- Sources: GRANT Service Broker Permissions, GRANT Object Permissions,
-- GRANT Schema Permissions, GRANT Database Permissions (Transact-SQL).

IF DATABASE_PRINCIPAL_ID(N'ooda_daemon') IS NULL
    CREATE ROLE ooda_daemon AUTHORIZATION dbo;
GO
GRANT RECEIVE, ALTER ON OBJECT::ooda.ObserveQueue TO ooda_daemon;
GRANT RECEIVE, ALTER ON OBJECT::ooda.OrientQueue TO ooda_daemon;
GRANT RECEIVE, ALTER ON OBJECT::ooda.DecideQueue TO ooda_daemon;
GRANT RECEIVE, ALTER ON OBJECT::ooda.ActQueue TO ooda_daemon;

GRANT SEND ON SERVICE::[//Hartonomous/OODA/TriggerService] TO ooda_daemon;
GRANT SEND ON SERVICE::[//Hartonomous/OODA/ObserveService] TO ooda_daemon;
GRANT SEND ON SERVICE::[//Hartonomous/OODA/OrientService] TO ooda_daemon;
GRANT SEND ON SERVICE::[//Hartonomous/OODA/DecideService] TO ooda_daemon;
GRANT SEND ON SERVICE::[//Hartonomous/OODA/ActService] TO ooda_daemon;

GRANT REFERENCES ON CONTRACT::[//Hartonomous/OODA/TriggerContract] TO ooda_daemon;
GRANT REFERENCES ON CONTRACT::[//Hartonomous/OODA/ObservationContract] TO ooda_daemon;
GRANT REFERENCES ON CONTRACT::[//Hartonomous/OODA/OrientationContract] TO ooda_daemon;
GRANT REFERENCES ON CONTRACT::[//Hartonomous/OODA/DecisionContract] TO ooda_daemon;
GRANT REFERENCES ON CONTRACT::[//Hartonomous/OODA/ActionContract] TO ooda_daemon;

GRANT REFERENCES ON MESSAGE TYPE::[//Hartonomous/OODA/TriggerMessage] TO ooda_daemon;
GRANT REFERENCES ON MESSAGE TYPE::[//Hartonomous/OODA/ObservationMessage] TO ooda_daemon;
GRANT REFERENCES ON MESSAGE TYPE::[//Hartonomous/OODA/OrientationMessage] TO ooda_daemon;
GRANT REFERENCES ON MESSAGE TYPE::[//Hartonomous/OODA/DecisionMessage] TO ooda_daemon;
GRANT REFERENCES ON MESSAGE TYPE::[//Hartonomous/OODA/ActionMessage] TO ooda_daemon;

GRANT EXECUTE, SELECT, INSERT, UPDATE, DELETE ON SCHEMA::ooda TO ooda_daemon;
-- The schema version belongs to the migrator: the daemon reads it only.
DENY INSERT, UPDATE, DELETE ON OBJECT::ooda.SchemaVersion TO ooda_daemon;

GRANT VIEW DATABASE STATE TO ooda_daemon;
GO
-- parameters: @DaemonUser sysname = N'ooda_svc'
-- The daemon's user joins the role. dbo owns the database and needs no role
-- (and cannot be added to one); ALTER ROLE ... ADD MEMBER takes a name, not a
-- variable, hence QUOTENAME and sp_executesql.
IF DATABASE_PRINCIPAL_ID(@DaemonUser) IS NULL
BEGIN
    DECLARE @Missing nvarchar(2048) = CONCAT(N'ooda migration: database user ', QUOTENAME(@DaemonUser),
        N' does not exist in database ', QUOTENAME(DB_NAME()),
        N'. Create it for the daemon''s login first (CREATE USER ', QUOTENAME(@DaemonUser),
        N' FOR LOGIN <the daemon''s login>;), or pass the user the daemon connects as.');
    THROW 50001, @Missing, 1;
END;

IF DATABASE_PRINCIPAL_ID(@DaemonUser) <> DATABASE_PRINCIPAL_ID(N'dbo')
   AND NOT EXISTS (SELECT 1 FROM sys.database_role_members
                   WHERE role_principal_id = DATABASE_PRINCIPAL_ID(N'ooda_daemon')
                     AND member_principal_id = DATABASE_PRINCIPAL_ID(@DaemonUser))
BEGIN
    DECLARE @Sql nvarchar(max) = N'ALTER ROLE ooda_daemon ADD MEMBER ' + QUOTENAME(@DaemonUser) + N';';
    EXEC sys.sp_executesql @Sql;
END;
GO
-- parameters: @Version int = 4, @Name nvarchar = N'0004_permissions.sql', @Checksum nvarchar = N'9b9596a5701f039a0d54d0ec735139a17ddac371c5f8cf738254d62085cee7f5'
INSERT INTO ooda.SchemaVersion (Version, Name, Checksum) VALUES (@Version, @Name, @Checksum);
GO
COMMIT TRANSACTION;
GO

-- 0005_readings.sql (version 5, sha256 9377370ac2175ebc6e458013ce539ce3c8cefeec1e7419f5eeab87b3c1dab1b0)
BEGIN TRANSACTION;
GO
-- parameters: @TimeoutMs int = 60000
DECLARE @Result int;
EXEC @Result = sys.sp_getapplock @Resource = N'ooda.schema-migration', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = @TimeoutMs;
SELECT @Result;
GO
SELECT CASE WHEN OBJECT_ID(N'ooda.SchemaVersion', N'U') IS NULL THEN 0 ELSE 1 END;
GO
-- when ooda.SchemaVersion exists:
SELECT COALESCE(MAX(Version), 0) FROM ooda.SchemaVersion;
GO
-- Reading history for the baselines (median and MAD per name and object),
-- the "failed" validation result, and the indexes of the windowed reads, as
-- sql/sqlite/0006. One object per batch, each guarded: safe to re-run.

-- One row per numeric reading of an observation. An object name can be
-- longer than an index key may be (a four-part index name, a sensor's error
-- text), so the key is a SHA-256 of name and object, computed here (the
-- length prefix keeps ("ab", "c") apart from ("a", "bc")) and binary: two
-- objects that differ only in case are two keys, as in SQLite, whatever
-- the database's collation. The clustered key orders the table as
-- ReadingHistory partitions it (key, newest first); a reading recorded
-- again for the same cycle and time is the same row.
IF OBJECT_ID(N'ooda.Reading', N'U') IS NULL
    CREATE TABLE ooda.Reading (
        name     nvarchar(128) NOT NULL,
        object   nvarchar(max) NOT NULL,
        taken_at datetime2(7)  NOT NULL,   -- when the observation was taken (UTC)
        cycle_id nvarchar(100) NOT NULL,
        value    float         NOT NULL,   -- finite: NaN and infinities are not recorded
        key_hash AS CAST(HASHBYTES('SHA2_256', CONCAT(CAST(DATALENGTH(name) AS nvarchar(11)), N':', name, object)) AS binary(32)) PERSISTED NOT NULL,
        CONSTRAINT PK_Reading PRIMARY KEY CLUSTERED (key_hash, taken_at DESC, cycle_id)
    );
GO
-- PruneReadings deletes by age.
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Reading') AND name = N'IX_Reading_taken')
    CREATE INDEX IX_Reading_taken ON ooda.Reading (taken_at);
GO
IF COL_LENGTH(N'ooda.ActionStats', N'failed') IS NULL
    ALTER TABLE ooda.ActionStats ADD failed int NOT NULL CONSTRAINT DF_ActionStats_failed DEFAULT 0;
GO
-- ActionsSince: created_at ranges, oldest first.
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Action') AND name = N'IX_Action_created')
    CREATE INDEX IX_Action_created ON ooda.Action (created_at);
GO
-- ActionStatsSince: validated_at ranges, covering the count by type and
-- result; unvalidated actions are not indexed.
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Action') AND name = N'IX_Action_validated')
    CREATE INDEX IX_Action_validated ON ooda.Action (validated_at) INCLUDE (type, result) WHERE validated_at IS NOT NULL;
GO
-- parameters: @Version int = 5, @Name nvarchar = N'0005_readings.sql', @Checksum nvarchar = N'9377370ac2175ebc6e458013ce539ce3c8cefeec1e7419f5eeab87b3c1dab1b0'
INSERT INTO ooda.SchemaVersion (Version, Name, Checksum) VALUES (@Version, @Name, @Checksum);
GO
COMMIT TRANSACTION;
GO

-- 0006_intents.sql (version 6, sha256 ab31551aba0b9ee603d49b82d59df0065f3b2225ce0380582493873af1aa8f15)
BEGIN TRANSACTION;
GO
-- parameters: @TimeoutMs int = 60000
DECLARE @Result int;
EXEC @Result = sys.sp_getapplock @Resource = N'ooda.schema-migration', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = @TimeoutMs;
SELECT @Result;
GO
SELECT CASE WHEN OBJECT_ID(N'ooda.SchemaVersion', N'U') IS NULL THEN 0 ELSE 1 END;
GO
-- when ooda.SchemaVersion exists:
SELECT COALESCE(MAX(Version), 0) FROM ooda.SchemaVersion;
GO
-- Durable intents (DESIGN.md §5), as sql/sqlite/0007: slow work on the
-- target happens between two short transactions. The first records what
-- will be done (the message to resume from), the second takes the intent
-- and records the result; an intent still here after its owner is gone is
-- resumed. One object per batch, each guarded: safe to re-run. The schema
-- grants of 0004_permissions.sql cover the table.

-- id: nvarchar(450) is the widest key an index takes (900 bytes).
IF OBJECT_ID(N'ooda.Intent', N'U') IS NULL
    CREATE TABLE ooda.Intent (
        id         nvarchar(450)  NOT NULL CONSTRAINT PK_Intent PRIMARY KEY,  -- conversation/sequence of the message that carried the work
        cycle_id   nvarchar(100)  NOT NULL,
        stage      nvarchar(32)   NOT NULL,
        envelope   varbinary(max) NOT NULL,   -- the message body to resume from, byte for byte
        created_at datetime2(7)   NOT NULL    -- UTC
    );
GO
-- Intents: created before a time, oldest first (the key rides along).
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Intent') AND name = N'IX_Intent_created')
    CREATE INDEX IX_Intent_created ON ooda.Intent (created_at);
GO
-- parameters: @Version int = 6, @Name nvarchar = N'0006_intents.sql', @Checksum nvarchar = N'ab31551aba0b9ee603d49b82d59df0065f3b2225ce0380582493873af1aa8f15'
INSERT INTO ooda.SchemaVersion (Version, Name, Checksum) VALUES (@Version, @Name, @Checksum);
GO
COMMIT TRANSACTION;
GO

-- 0007_acted_index.sql (version 7, sha256 7afc6b271514f02882f1fd3b63cb36903050cc25d7024f0759c74e6b77c98f77)
BEGIN TRANSACTION;
GO
-- parameters: @TimeoutMs int = 60000
DECLARE @Result int;
EXEC @Result = sys.sp_getapplock @Resource = N'ooda.schema-migration', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = @TimeoutMs;
SELECT @Result;
GO
SELECT CASE WHEN OBJECT_ID(N'ooda.SchemaVersion', N'U') IS NULL THEN 0 ELSE 1 END;
GO
-- when ooda.SchemaVersion exists:
SELECT COALESCE(MAX(Version), 0) FROM ooda.SchemaVersion;
GO
-- As sql/sqlite/0008: the actions that acted (executed, reverted, failed),
-- which the policy reads on every Decide step for its cooldowns and budgets;
-- the deferred, dry-run and pending ones are left out of the read. A
-- filtered index serves a query whose predicate names the same literals.
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Action') AND name = N'IX_Action_acted')
    CREATE INDEX IX_Action_acted ON ooda.Action (created_at) WHERE status IN (N'executed', N'reverted', N'failed');
GO
-- parameters: @Version int = 7, @Name nvarchar = N'0007_acted_index.sql', @Checksum nvarchar = N'7afc6b271514f02882f1fd3b63cb36903050cc25d7024f0759c74e6b77c98f77'
INSERT INTO ooda.SchemaVersion (Version, Name, Checksum) VALUES (@Version, @Name, @Checksum);
GO
COMMIT TRANSACTION;
GO
