package mssql

// Every statement of the store: constant T-SQL, one statement each, values
// as named parameters (@name, passed with sql.Named). queries_test.go checks
// that each call passes exactly the parameters its statement names.

const cycleColumns = `id, COALESCE(trigger_key, N''), source, reason, status, stage, error, started_at, finished_at`

const deadLetterColumns = `id, queue, message_type, conversation, body, reason, attempts, created_at, redriven_at`

const actionColumns = `id, cycle_id, type, target, tier, status, detail, before, after, undo, created_at, result, validated_at`

const approvalColumns = `id, cycle_id, action, object, tier, hypothesis, reason, status, requested_at, expires_at, decided_by, decided_at, decision_reason`

const (
	// UPDLOCK, HOLDLOCK: a concurrent trigger with the same key waits for
	// this transaction instead of missing the row and inserting a second
	// running cycle (the filtered unique index would refuse it anyway).
	qRunningCycle = `SELECT ` + cycleColumns + ` FROM ooda.Cycle WITH (UPDLOCK, HOLDLOCK) WHERE trigger_key = @key AND status = N'running'`

	qInsertCycle = `INSERT INTO ooda.Cycle (id, trigger_key, source, reason, status, stage, started_at)
VALUES (@id, @key, @source, @reason, @status, @stage, @started_at)`

	// OUTPUT instead of RowsAffected: with SET NOCOUNT ON (a server or
	// login default some DBAs set) no row count comes back.
	qAdvanceCycle = `UPDATE ooda.Cycle SET stage = @stage, status = @status, error = @error, finished_at = @finished_at
OUTPUT inserted.id
WHERE id = @id`

	// MERGE must end with a semicolon (MERGE (Transact-SQL)).
	qRecordStep = `MERGE ooda.Step WITH (HOLDLOCK) AS t
USING (VALUES (@cycle_id, @stage)) AS s (cycle_id, stage)
ON t.cycle_id = s.cycle_id AND t.stage = s.stage
WHEN MATCHED THEN UPDATE SET payload = @payload, created_at = @created_at
WHEN NOT MATCHED THEN INSERT (cycle_id, stage, payload, created_at) VALUES (@cycle_id, @stage, @payload, @created_at);`

	qRecordAction = `MERGE ooda.Action WITH (HOLDLOCK) AS t
USING (VALUES (@id)) AS s (id)
ON t.id = s.id
WHEN MATCHED THEN UPDATE SET status = @status, detail = @detail, before = @before, after = @after, undo = @undo,
    created_at = CASE WHEN @status IN (N'executed', N'failed') THEN @created_at ELSE t.created_at END
WHEN NOT MATCHED THEN INSERT (id, cycle_id, type, target, tier, status, detail, before, after, undo, created_at)
VALUES (@id, @cycle_id, @type, @target, @tier, @status, @detail, @before, @after, @undo, @created_at);`

	qAddEvent = `INSERT INTO ooda.Outbox (event_id, kind, cycle_id, created_at, data) VALUES (@event_id, @kind, @cycle_id, @created_at, @data)`

	// READCOMMITTEDLOCK: even with READ_COMMITTED_SNAPSHOT on, the relay
	// waits for an event still being written instead of skipping it. An
	// IDENTITY seq is taken at insert, so a transaction that commits later
	// can hold a smaller seq than one already committed; read past, that
	// event could be skipped (table hints, READCOMMITTEDLOCK); DeleteEvents
	// removes only the seqs published, never a range.
	qEvents = `SELECT TOP (@n) seq, event_id, kind, cycle_id, created_at, data FROM ooda.Outbox WITH (READCOMMITTEDLOCK) ORDER BY seq`

	// The published seqs as a JSON array (OPENJSON, SQL Server 2016+: one
	// parameter whatever their number).
	qDeleteEvents = `DELETE FROM ooda.Outbox WHERE seq IN (SELECT CAST([value] AS bigint) FROM OPENJSON(@seqs))`

	qFailedAttempt = `MERGE ooda.Attempt WITH (HOLDLOCK) AS t
USING (VALUES (@key)) AS s (message_key)
ON t.message_key = s.message_key
WHEN MATCHED THEN UPDATE SET attempts = t.attempts + 1, last_error = @error
WHEN NOT MATCHED THEN INSERT (message_key, attempts, last_error) VALUES (@key, 1, @error)
OUTPUT inserted.attempts;`

	qClearAttempts = `DELETE FROM ooda.Attempt WHERE message_key = @key`

	qAttempts = `SELECT attempts, last_error FROM ooda.Attempt WHERE message_key = @key`

	qAddDeadLetter = `INSERT INTO ooda.DeadLetter (queue, message_type, conversation, body, reason, attempts, created_at)
OUTPUT inserted.id
VALUES (@queue, @message_type, @conversation, @body, @reason, @attempts, @created_at)`

	// UPDLOCK: two redrives of one dead letter serialise; the second sees
	// redriven_at set.
	qDeadLetterForUpdate = `SELECT ` + deadLetterColumns + ` FROM ooda.DeadLetter WITH (UPDLOCK, HOLDLOCK) WHERE id = @id`

	qMarkRedriven = `UPDATE ooda.DeadLetter SET redriven_at = @redriven_at WHERE id = @id`

	qSetSetting = `MERGE ooda.Setting WITH (HOLDLOCK) AS t
USING (VALUES (@name)) AS s (name)
ON t.name = s.name
WHEN MATCHED THEN UPDATE SET value = @value
WHEN NOT MATCHED THEN INSERT (name, value) VALUES (@name, @value);`

	// Requested again: no change (ON CONFLICT DO NOTHING in SQLite).
	qRequestApproval = `INSERT INTO ooda.Approval (id, cycle_id, action, object, tier, hypothesis, reason, status, requested_at, expires_at)
SELECT @id, @cycle_id, @action, @object, @tier, @hypothesis, @reason, N'pending', @requested_at, @expires_at
WHERE NOT EXISTS (SELECT 1 FROM ooda.Approval WITH (UPDLOCK, HOLDLOCK) WHERE id = @id)`

	qApprovalForUpdate = `SELECT ` + approvalColumns + ` FROM ooda.Approval WITH (UPDLOCK, HOLDLOCK) WHERE id = @id`

	qDecideApproval = `UPDATE ooda.Approval SET status = @status, decided_by = @decided_by, decided_at = @decided_at, decision_reason = @decision_reason WHERE id = @id`

	qAwaitValidation = `INSERT INTO ooda.Validation (handle, cycle_id, items, created_at)
SELECT @handle, @cycle_id, @items, @created_at
WHERE NOT EXISTS (SELECT 1 FROM ooda.Validation WITH (UPDLOCK, HOLDLOCK) WHERE handle = @handle)`

	// DELETE … OUTPUT deleted.* is SQLite's DELETE … RETURNING.
	qTakeValidation = `DELETE FROM ooda.Validation OUTPUT deleted.cycle_id, deleted.items WHERE handle = @handle`

	qRecordResult = `UPDATE ooda.Action SET result = @result, validated_at = @validated_at WHERE id = @id`

	qRevertAction = `UPDATE ooda.Action SET status = N'reverted', detail = CONCAT(detail, N'; reverted: ', @detail) WHERE id = @id`

	// One constant statement for the four counters (SQLite splices the
	// column name): the result picks the counter with IIF.
	qCountResult = `MERGE ooda.ActionStats WITH (HOLDLOCK) AS t
USING (VALUES (@type)) AS s (type)
ON t.type = s.type
WHEN MATCHED THEN UPDATE SET
    improved = t.improved + IIF(@result = N'improved', 1, 0),
    neutral = t.neutral + IIF(@result = N'neutral', 1, 0),
    regressed = t.regressed + IIF(@result = N'regressed', 1, 0),
    failed = t.failed + IIF(@result = N'failed', 1, 0)
WHEN NOT MATCHED THEN INSERT (type, improved, neutral, regressed, failed)
VALUES (@type, IIF(@result = N'improved', 1, 0), IIF(@result = N'neutral', 1, 0), IIF(@result = N'regressed', 1, 0), IIF(@result = N'failed', 1, 0));`

	qCycle = `SELECT ` + cycleColumns + ` FROM ooda.Cycle WHERE id = @id`

	qSteps = `SELECT stage, payload, created_at FROM ooda.Step WHERE cycle_id = @cycle_id ORDER BY created_at, stage`

	qActions = `SELECT ` + actionColumns + ` FROM ooda.Action WHERE cycle_id = @cycle_id ORDER BY created_at, id`

	qActionsSince = `SELECT ` + actionColumns + ` FROM ooda.Action WHERE created_at >= CAST(@since AS datetime2(7)) ORDER BY created_at, id`

	// The literals are the filtered index's (0007_acted_index.sql).
	qActedSince = `SELECT ` + actionColumns + ` FROM ooda.Action WHERE status IN (N'executed', N'reverted', N'failed') AND created_at >= CAST(@since AS datetime2(7)) ORDER BY created_at, id`

	qCycles = `SELECT TOP (@n) ` + cycleColumns + ` FROM ooda.Cycle ORDER BY started_at DESC`

	qDeadLetters = `SELECT TOP (@n) ` + deadLetterColumns + ` FROM ooda.DeadLetter ORDER BY id DESC`

	qSetting = `SELECT value FROM ooda.Setting WHERE name = @name`

	qDeadLetterCount = `SELECT COUNT_BIG(*) FROM ooda.DeadLetter WHERE redriven_at IS NULL`

	qOutboxDepth = `SELECT COUNT_BIG(*) FROM ooda.Outbox`

	qLastStart = `SELECT MAX(started_at) FROM ooda.Cycle WHERE source = @source`

	qApprovals = `SELECT TOP (@n) ` + approvalColumns + ` FROM ooda.Approval
ORDER BY CASE WHEN status = N'pending' THEN 0 ELSE 1 END, requested_at DESC`

	qActionStats = `SELECT type, improved, neutral, regressed, failed FROM ooda.ActionStats ORDER BY type`

	// Counted from the actions' results (IX_Action_validated covers it).
	qActionStatsSince = `SELECT type,
    SUM(IIF(result = N'improved', 1, 0)), SUM(IIF(result = N'neutral', 1, 0)),
    SUM(IIF(result = N'regressed', 1, 0)), SUM(IIF(result = N'failed', 1, 0))
FROM ooda.Action WHERE validated_at >= CAST(@since AS datetime2(7)) AND result <> N'' GROUP BY type ORDER BY type`

	// Recorded again (same key, time and cycle): no change, as SQLite's
	// ON CONFLICT DO NOTHING. The key is computed as the table's computed
	// column key_hash computes it, from values typed as the columns (a
	// varchar parameter would hash other bytes); the lock keeps two
	// writers of one reading from both inserting. Times are compared as
	// datetime2(7), the columns' type, so that an index seeks them (a
	// time.Time parameter arrives as datetimeoffset).
	qRecordReading = `INSERT INTO ooda.Reading (name, object, taken_at, cycle_id, value)
SELECT @name, @object, @at, @cycle_id, @value
WHERE NOT EXISTS (SELECT 1 FROM ooda.Reading WITH (UPDLOCK, HOLDLOCK)
    WHERE key_hash = CAST(HASHBYTES('SHA2_256', CONCAT(CAST(DATALENGTH(CAST(@name AS nvarchar(128))) AS nvarchar(11)), N':',
            CAST(@name AS nvarchar(128)), CAST(@object AS nvarchar(max)))) AS binary(32))
      AND taken_at = CAST(@at AS datetime2(7)) AND cycle_id = @cycle_id)`

	// OUTPUT instead of a row count (SET NOCOUNT ON would hide it); the
	// caller counts the rows.
	// The count comes from the DONE token (RowsAffected): the daemon's
	// sessions never SET NOCOUNT ON (SessionInitSQL sets only XACT_ABORT),
	// and no row per deleted reading travels back.
	qPruneReadings = `DELETE FROM ooda.Reading WHERE taken_at < CAST(@before AS datetime2(7))`

	// ROW_NUMBER numbers each key's readings newest first (ties: the later
	// cycle id first) in the clustered key's order. The final order by name
	// and object is the collation's; store.go re-sorts it to byte order.
	qReadingHistory = `SELECT name, object, value, taken_at FROM (
    SELECT name, object, value, taken_at, cycle_id,
        ROW_NUMBER() OVER (PARTITION BY key_hash ORDER BY taken_at DESC, cycle_id DESC) AS n
    FROM ooda.Reading WHERE taken_at >= CAST(@since AS datetime2(7))
) AS r WHERE n <= @n ORDER BY name, object, taken_at DESC, cycle_id DESC`

	qPendingValidation = `SELECT items FROM ooda.Validation WHERE handle = @handle`

	// A recorded id is skipped, not refused by the primary key: with
	// XACT_ABORT ON a constraint error would doom the caller's transaction.
	// The lock makes a concurrent record of the same id wait and skip;
	// OUTPUT says whether the row went in (no row: already recorded).
	qRecordIntent = `INSERT INTO ooda.Intent (id, cycle_id, stage, envelope, created_at)
OUTPUT inserted.id
SELECT @id, @cycle_id, @stage, @envelope, @created_at
WHERE NOT EXISTS (SELECT 1 FROM ooda.Intent WITH (UPDLOCK, HOLDLOCK) WHERE id = @id)`

	// DELETE … OUTPUT: a row back means this transaction took the intent; a
	// concurrent taker waits for the row's lock and then finds nothing.
	qTakeIntent = `DELETE FROM ooda.Intent OUTPUT deleted.id WHERE id = @id`

	// IX_Intent_created holds (created_at, id): read in order, no sort.
	qIntents = `SELECT id, cycle_id, stage, envelope, created_at FROM ooda.Intent
WHERE created_at < CAST(@before AS datetime2(7)) ORDER BY created_at, id`
)
