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
