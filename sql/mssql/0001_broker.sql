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
