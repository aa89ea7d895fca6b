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
