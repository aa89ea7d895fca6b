IF NOT EXISTS (SELECT 1 FROM sys.service_message_types WHERE name = N'//Hartonomous/Test/Request')
    CREATE MESSAGE TYPE [//Hartonomous/Test/Request] VALIDATION = NONE;

IF NOT EXISTS (SELECT 1 FROM sys.service_message_types WHERE name = N'//Hartonomous/Test/Reply')
    CREATE MESSAGE TYPE [//Hartonomous/Test/Reply] VALIDATION = NONE;

IF NOT EXISTS (SELECT 1 FROM sys.service_message_types WHERE name = N'//Hartonomous/Test/Any')
    CREATE MESSAGE TYPE [//Hartonomous/Test/Any] VALIDATION = NONE;

IF NOT EXISTS (SELECT 1 FROM sys.service_contracts WHERE name = N'//Hartonomous/Test/Contract')
    CREATE CONTRACT [//Hartonomous/Test/Contract] ([//Hartonomous/Test/Any] SENT BY ANY, [//Hartonomous/Test/Reply] SENT BY TARGET, [//Hartonomous/Test/Request] SENT BY INITIATOR);

IF NOT EXISTS (SELECT 1 FROM sys.service_queues WHERE name = N'TestInitiatorQueue' AND schema_id = SCHEMA_ID(N'dbo'))
    CREATE QUEUE [dbo].[TestInitiatorQueue] WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);

IF NOT EXISTS (SELECT 1 FROM sys.service_queues WHERE name = N'TestTargetQueue' AND schema_id = SCHEMA_ID(N'dbo'))
    CREATE QUEUE [dbo].[TestTargetQueue] WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);

IF NOT EXISTS (SELECT 1 FROM sys.service_queues WHERE name = N'TestOtherQueue' AND schema_id = SCHEMA_ID(N'dbo'))
    CREATE QUEUE [dbo].[TestOtherQueue] WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);

IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/Test/Initiator')
    CREATE SERVICE [//Hartonomous/Test/Initiator] AUTHORIZATION [ooda_daemon] ON QUEUE [dbo].[TestInitiatorQueue];

IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/Test/Target')
    CREATE SERVICE [//Hartonomous/Test/Target] AUTHORIZATION [ooda_daemon] ON QUEUE [dbo].[TestTargetQueue] ([//Hartonomous/Test/Contract]);

IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/Test/Other')
    CREATE SERVICE [//Hartonomous/Test/Other] AUTHORIZATION [ooda_daemon] ON QUEUE [dbo].[TestOtherQueue];
