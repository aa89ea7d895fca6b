IF SCHEMA_ID(N'ooda') IS NULL
    EXEC(N'CREATE SCHEMA [ooda];');

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

IF NOT EXISTS (SELECT 1 FROM sys.service_queues WHERE name = N'ObserveQueue' AND schema_id = SCHEMA_ID(N'ooda'))
    CREATE QUEUE [ooda].[ObserveQueue] WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);

IF NOT EXISTS (SELECT 1 FROM sys.service_queues WHERE name = N'OrientQueue' AND schema_id = SCHEMA_ID(N'ooda'))
    CREATE QUEUE [ooda].[OrientQueue] WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);

IF NOT EXISTS (SELECT 1 FROM sys.service_queues WHERE name = N'DecideQueue' AND schema_id = SCHEMA_ID(N'ooda'))
    CREATE QUEUE [ooda].[DecideQueue] WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);

IF NOT EXISTS (SELECT 1 FROM sys.service_queues WHERE name = N'ActQueue' AND schema_id = SCHEMA_ID(N'ooda'))
    CREATE QUEUE [ooda].[ActQueue] WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);

IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/OODA/TriggerService')
    CREATE SERVICE [//Hartonomous/OODA/TriggerService] AUTHORIZATION [ooda_daemon] ON QUEUE [ooda].[ObserveQueue];

IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/OODA/ObserveService')
    CREATE SERVICE [//Hartonomous/OODA/ObserveService] AUTHORIZATION [ooda_daemon] ON QUEUE [ooda].[ObserveQueue] ([//Hartonomous/OODA/TriggerContract], [//Hartonomous/OODA/ActionContract]);

IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/OODA/OrientService')
    CREATE SERVICE [//Hartonomous/OODA/OrientService] AUTHORIZATION [ooda_daemon] ON QUEUE [ooda].[OrientQueue] ([//Hartonomous/OODA/ObservationContract]);

IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/OODA/DecideService')
    CREATE SERVICE [//Hartonomous/OODA/DecideService] AUTHORIZATION [ooda_daemon] ON QUEUE [ooda].[DecideQueue] ([//Hartonomous/OODA/OrientationContract]);

IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = N'//Hartonomous/OODA/ActService')
    CREATE SERVICE [//Hartonomous/OODA/ActService] AUTHORIZATION [ooda_daemon] ON QUEUE [ooda].[ActQueue] ([//Hartonomous/OODA/DecisionContract]);
