// Package servicebroker implements the broker contract (package broker) over
// SQL Server Service Broker with go-mssqldb. It passes the same contract
// suite as the embedded engine (brokertest) when OODA_TEST_MSSQL_DSN points
// at a server; without one, what needs no server is tested here: row
// decoding, every statement's text (testdata/statements_ooda.sql), the
// topology DDL, DSN checks, the Begin retry policy, error classification and
// name quoting.
//
// # What it guarantees
//
//   - Open refuses a DSN with "connection timeout" (go-mssqldb makes it a
//     deadline on every read, which would break a long WAITFOR), checks that
//     Service Broker is enabled in the database (ErrBrokerNotEnabled) and that
//     every message type, contract, queue and service of the topology exists
//     as the topology says (ErrTopologyMismatch, one error per object, each
//     naming the fix). It creates nothing: TopologyDDL / `oodad migrate` do.
//   - Every connection runs SET XACT_ABORT ON (Connector.SessionInitSQL): an
//     error or an attention rolls the whole transaction back on the server.
//     The Tx mirrors that: its first error dooms it, later calls return it,
//     Commit rolls back and reports it.
//   - One Receive returns messages of exactly one conversation group, one
//     conversation after another, each in sequence order, and the group stays
//     locked by the transaction until it commits or rolls back (RECEIVE).
//     An empty result is not an error: the wait passed, or the server ended
//     it early.
//   - Each open transaction holds one pooled connection, and so does each
//     pending WAITFOR (RECEIVE): Options.MaxOpenConns bounds receivers plus
//     other work. Transactions are begun with a context the caller's
//     cancellation does not reach; a statement's own context does reach the
//     server (a TDS attention), which aborts the transaction.
//   - A Receive's server TIMEOUT ends a second before the caller's deadline,
//     so that a deadline ends a wait as an empty receive instead of aborting
//     the transaction.
//   - Begin retries transient failures (Classify) with jittered exponential
//     backoff, bounded in tries and time and by ctx. Nothing inside a
//     transaction is retried: the engine retries the whole step.
//   - Close makes Begin fail with ErrClosed, ends pending receives, makes
//     every later call of an open transaction fail with ErrClosed (Rollback
//     still releases it) and closes the pool that DB returned.
//   - BeginTimer counts whole seconds: a duration is rounded up, so a
//     sub-second timer fires after about one second, never earlier.
//   - QueueStatus reports ConsecutiveRollbacks as 0: SQL Server does not
//     expose the poison rule's count. The rule itself applies (five
//     rolled-back receiving transactions disable the queue; EnableQueue turns
//     it back on); savepoints (Savepoint/RollbackTo) keep failures from
//     counting.
//
// # Taken from the documentation only
//
// No SQL Server runs where this was written. These behaviours come from
// Microsoft's T-SQL reference and the go-mssqldb source, not from a run:
// TOP (@max) and TIMEOUT @timeout as parameters of WAITFOR (RECEIVE) (the
// syntax shows n and timeout; Microsoft's SqlDependency sends TIMEOUT @p2);
// message_enqueue_time as datetime (CREATE QUEUE, queue columns); TO SERVICE
// @to as an nvarchar parameter compared byte for byte and
// RELATED_CONVERSATION_GROUP = @group (BEGIN DIALOG CONVERSATION);
// END CONVERSATION ... WITH ERROR = @code DESCRIPTION = @description;
// BEGIN CONVERSATION TIMER (@h) TIMEOUT = @seconds; SAVE TRANSACTION @sp and
// ROLLBACK TRANSACTION @sp with savepoint variables; the error numbers of
// Classify; and the poison rule's count being reset by a committed receive.
// Sources: SERVICE_BROKER.md (../shared), the reference pages named beside
// each statement in statements.go, go-mssqldb v1.11.2 (msdsn, mssql.go,
// uniqueidentifier.go).
package servicebroker
