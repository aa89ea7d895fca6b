-- begin timer
BEGIN CONVERSATION TIMER (@h) TIMEOUT = @seconds;

-- dialog from //Hartonomous/OODA/ActService on //Hartonomous/OODA/ActionContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ActService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ActionContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ActService on //Hartonomous/OODA/ActionContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ActService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ActionContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ActService on //Hartonomous/OODA/DecisionContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ActService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/DecisionContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ActService on //Hartonomous/OODA/DecisionContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ActService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/DecisionContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ActService on //Hartonomous/OODA/ObservationContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ActService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ObservationContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ActService on //Hartonomous/OODA/ObservationContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ActService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ObservationContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ActService on //Hartonomous/OODA/OrientationContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ActService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/OrientationContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ActService on //Hartonomous/OODA/OrientationContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ActService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/OrientationContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ActService on //Hartonomous/OODA/TriggerContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ActService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/TriggerContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ActService on //Hartonomous/OODA/TriggerContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ActService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/TriggerContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/DecideService on //Hartonomous/OODA/ActionContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/DecideService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ActionContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/DecideService on //Hartonomous/OODA/ActionContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/DecideService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ActionContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/DecideService on //Hartonomous/OODA/DecisionContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/DecideService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/DecisionContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/DecideService on //Hartonomous/OODA/DecisionContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/DecideService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/DecisionContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/DecideService on //Hartonomous/OODA/ObservationContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/DecideService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ObservationContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/DecideService on //Hartonomous/OODA/ObservationContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/DecideService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ObservationContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/DecideService on //Hartonomous/OODA/OrientationContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/DecideService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/OrientationContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/DecideService on //Hartonomous/OODA/OrientationContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/DecideService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/OrientationContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/DecideService on //Hartonomous/OODA/TriggerContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/DecideService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/TriggerContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/DecideService on //Hartonomous/OODA/TriggerContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/DecideService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/TriggerContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ObserveService on //Hartonomous/OODA/ActionContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ObserveService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ActionContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ObserveService on //Hartonomous/OODA/ActionContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ObserveService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ActionContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ObserveService on //Hartonomous/OODA/DecisionContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ObserveService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/DecisionContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ObserveService on //Hartonomous/OODA/DecisionContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ObserveService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/DecisionContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ObserveService on //Hartonomous/OODA/ObservationContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ObserveService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ObservationContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ObserveService on //Hartonomous/OODA/ObservationContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ObserveService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ObservationContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ObserveService on //Hartonomous/OODA/OrientationContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ObserveService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/OrientationContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ObserveService on //Hartonomous/OODA/OrientationContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ObserveService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/OrientationContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ObserveService on //Hartonomous/OODA/TriggerContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ObserveService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/TriggerContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/ObserveService on //Hartonomous/OODA/TriggerContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/ObserveService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/TriggerContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/OrientService on //Hartonomous/OODA/ActionContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/OrientService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ActionContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/OrientService on //Hartonomous/OODA/ActionContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/OrientService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ActionContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/OrientService on //Hartonomous/OODA/DecisionContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/OrientService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/DecisionContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/OrientService on //Hartonomous/OODA/DecisionContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/OrientService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/DecisionContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/OrientService on //Hartonomous/OODA/ObservationContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/OrientService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ObservationContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/OrientService on //Hartonomous/OODA/ObservationContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/OrientService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ObservationContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/OrientService on //Hartonomous/OODA/OrientationContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/OrientService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/OrientationContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/OrientService on //Hartonomous/OODA/OrientationContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/OrientService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/OrientationContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/OrientService on //Hartonomous/OODA/TriggerContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/OrientService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/TriggerContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/OrientService on //Hartonomous/OODA/TriggerContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/OrientService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/TriggerContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/TriggerService on //Hartonomous/OODA/ActionContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/TriggerService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ActionContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/TriggerService on //Hartonomous/OODA/ActionContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/TriggerService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ActionContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/TriggerService on //Hartonomous/OODA/DecisionContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/TriggerService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/DecisionContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/TriggerService on //Hartonomous/OODA/DecisionContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/TriggerService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/DecisionContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/TriggerService on //Hartonomous/OODA/ObservationContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/TriggerService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ObservationContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/TriggerService on //Hartonomous/OODA/ObservationContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/TriggerService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/ObservationContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/TriggerService on //Hartonomous/OODA/OrientationContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/TriggerService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/OrientationContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/TriggerService on //Hartonomous/OODA/OrientationContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/TriggerService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/OrientationContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/TriggerService on //Hartonomous/OODA/TriggerContract
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/TriggerService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/TriggerContract] WITH ENCRYPTION = OFF;
SELECT @h;

-- dialog from //Hartonomous/OODA/TriggerService on //Hartonomous/OODA/TriggerContract, related group
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/OODA/TriggerService] TO SERVICE @to ON CONTRACT [//Hartonomous/OODA/TriggerContract] WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;
SELECT @h;

-- end
END CONVERSATION @h;

-- end with error
END CONVERSATION @h WITH ERROR = @code DESCRIPTION = @description;

-- open: broker enabled
SELECT DB_NAME(), is_broker_enabled FROM sys.databases WHERE database_id = DB_ID();

-- open: contracts
SELECT c.name, m.name, u.is_sent_by_initiator, u.is_sent_by_target
FROM sys.service_contracts AS c
LEFT JOIN sys.service_contract_message_usages AS u ON u.service_contract_id = c.service_contract_id
LEFT JOIN sys.service_message_types AS m ON m.message_type_id = u.message_type_id;

-- open: message types
SELECT name FROM sys.service_message_types;

-- open: queues
SELECT SCHEMA_NAME(schema_id), name FROM sys.service_queues;

-- open: services
SELECT s.name, SCHEMA_NAME(q.schema_id), q.name, c.name
FROM sys.services AS s
JOIN sys.service_queues AS q ON q.object_id = s.service_queue_id
LEFT JOIN sys.service_contract_usages AS u ON u.service_id = s.service_id
LEFT JOIN sys.service_contracts AS c ON c.service_contract_id = u.service_contract_id;

-- queue ooda.ActQueue: enable
ALTER QUEUE [ooda].[ActQueue] WITH STATUS = ON;

-- queue ooda.ActQueue: receive, not waiting
RECEIVE TOP (@max) conversation_group_id, conversation_handle, message_sequence_number, message_type_name, service_name, service_contract_name, message_body, message_enqueue_time FROM [ooda].[ActQueue];

-- queue ooda.ActQueue: receive, waiting
WAITFOR (RECEIVE TOP (@max) conversation_group_id, conversation_handle, message_sequence_number, message_type_name, service_name, service_contract_name, message_body, message_enqueue_time FROM [ooda].[ActQueue]), TIMEOUT @timeout;

-- queue ooda.ActQueue: status
SELECT q.is_receive_enabled, d.depth, d.oldest
FROM sys.service_queues AS q
CROSS JOIN (SELECT COUNT_BIG(*) AS depth, MIN(message_enqueue_time) AS oldest FROM [ooda].[ActQueue]) AS d
WHERE q.name = @name AND q.schema_id = SCHEMA_ID(@schema);

-- queue ooda.DecideQueue: enable
ALTER QUEUE [ooda].[DecideQueue] WITH STATUS = ON;

-- queue ooda.DecideQueue: receive, not waiting
RECEIVE TOP (@max) conversation_group_id, conversation_handle, message_sequence_number, message_type_name, service_name, service_contract_name, message_body, message_enqueue_time FROM [ooda].[DecideQueue];

-- queue ooda.DecideQueue: receive, waiting
WAITFOR (RECEIVE TOP (@max) conversation_group_id, conversation_handle, message_sequence_number, message_type_name, service_name, service_contract_name, message_body, message_enqueue_time FROM [ooda].[DecideQueue]), TIMEOUT @timeout;

-- queue ooda.DecideQueue: status
SELECT q.is_receive_enabled, d.depth, d.oldest
FROM sys.service_queues AS q
CROSS JOIN (SELECT COUNT_BIG(*) AS depth, MIN(message_enqueue_time) AS oldest FROM [ooda].[DecideQueue]) AS d
WHERE q.name = @name AND q.schema_id = SCHEMA_ID(@schema);

-- queue ooda.ObserveQueue: enable
ALTER QUEUE [ooda].[ObserveQueue] WITH STATUS = ON;

-- queue ooda.ObserveQueue: receive, not waiting
RECEIVE TOP (@max) conversation_group_id, conversation_handle, message_sequence_number, message_type_name, service_name, service_contract_name, message_body, message_enqueue_time FROM [ooda].[ObserveQueue];

-- queue ooda.ObserveQueue: receive, waiting
WAITFOR (RECEIVE TOP (@max) conversation_group_id, conversation_handle, message_sequence_number, message_type_name, service_name, service_contract_name, message_body, message_enqueue_time FROM [ooda].[ObserveQueue]), TIMEOUT @timeout;

-- queue ooda.ObserveQueue: status
SELECT q.is_receive_enabled, d.depth, d.oldest
FROM sys.service_queues AS q
CROSS JOIN (SELECT COUNT_BIG(*) AS depth, MIN(message_enqueue_time) AS oldest FROM [ooda].[ObserveQueue]) AS d
WHERE q.name = @name AND q.schema_id = SCHEMA_ID(@schema);

-- queue ooda.OrientQueue: enable
ALTER QUEUE [ooda].[OrientQueue] WITH STATUS = ON;

-- queue ooda.OrientQueue: receive, not waiting
RECEIVE TOP (@max) conversation_group_id, conversation_handle, message_sequence_number, message_type_name, service_name, service_contract_name, message_body, message_enqueue_time FROM [ooda].[OrientQueue];

-- queue ooda.OrientQueue: receive, waiting
WAITFOR (RECEIVE TOP (@max) conversation_group_id, conversation_handle, message_sequence_number, message_type_name, service_name, service_contract_name, message_body, message_enqueue_time FROM [ooda].[OrientQueue]), TIMEOUT @timeout;

-- queue ooda.OrientQueue: status
SELECT q.is_receive_enabled, d.depth, d.oldest
FROM sys.service_queues AS q
CROSS JOIN (SELECT COUNT_BIG(*) AS depth, MIN(message_enqueue_time) AS oldest FROM [ooda].[OrientQueue]) AS d
WHERE q.name = @name AND q.schema_id = SCHEMA_ID(@schema);

-- rollback to savepoint
ROLLBACK TRANSACTION @sp;

-- savepoint
SAVE TRANSACTION @sp;

-- send //Hartonomous/OODA/ActionMessage
SEND ON CONVERSATION (@h) MESSAGE TYPE [//Hartonomous/OODA/ActionMessage] (@body);

-- send //Hartonomous/OODA/DecisionMessage
SEND ON CONVERSATION (@h) MESSAGE TYPE [//Hartonomous/OODA/DecisionMessage] (@body);

-- send //Hartonomous/OODA/ObservationMessage
SEND ON CONVERSATION (@h) MESSAGE TYPE [//Hartonomous/OODA/ObservationMessage] (@body);

-- send //Hartonomous/OODA/OrientationMessage
SEND ON CONVERSATION (@h) MESSAGE TYPE [//Hartonomous/OODA/OrientationMessage] (@body);

-- send //Hartonomous/OODA/TriggerMessage
SEND ON CONVERSATION (@h) MESSAGE TYPE [//Hartonomous/OODA/TriggerMessage] (@body);

