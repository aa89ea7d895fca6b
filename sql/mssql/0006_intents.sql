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
