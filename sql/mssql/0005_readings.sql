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
