-- As sql/sqlite/0008: the actions that acted (executed, reverted, failed),
-- which the policy reads on every Decide step for its cooldowns and budgets;
-- the deferred, dry-run and pending ones are left out of the read. A
-- filtered index serves a query whose predicate names the same literals.
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'ooda.Action') AND name = N'IX_Action_acted')
    CREATE INDEX IX_Action_acted ON ooda.Action (created_at) WHERE status IN (N'executed', N'reverted', N'failed');
GO
