// Package broker is the queue contract of the OODA daemon, modelled on SQL Server
// Service Broker. Every backend (the embedded SQLite engine, SQL Server itself)
// implements [Broker] and passes the shared suite in broker/brokertest.
//
// # Model
//
// A [Service] is an addressable endpoint bound to one queue and to the contracts it
// accepts. A dialog (conversation) joins two services on one [Contract]; each side
// holds its own handle (an [ID]) and belongs to a conversation group of its own.
// Messages carry a message type named by the contract and an opaque body.
//
// # Guarantees
//
//   - Receive returns messages of exactly one conversation group, in the order in
//     which they were sent within each conversation, and locks that group until
//     the transaction ends: no other transaction receives from it meanwhile.
//   - Everything done in a [Tx] — receives, sends, dialog changes, timers and the
//     caller's own SQL through [Tx.SQL] — commits together or not at all. A
//     rollback returns received messages to their queue.
//   - Receive with a wait blocks until a message is available or the wait passes;
//     a timeout returns no messages and no error. It may also return empty early.
//   - Ending a conversation delivers EndDialog (or Error, when ended with an
//     error) to the other side. Conversations never end by themselves.
//   - Conversation timers are durable: a timer set and committed fires once, as a
//     DialogTimer message on the side that set it, even across restarts.
//   - Poison rule: [PoisonThreshold] consecutive rolled-back transactions that
//     received from a queue disable receiving on it ([ErrQueueDisabled]) until
//     [Broker.EnableQueue]. A commit that received from the queue resets the count;
//     a rollback to a savepoint does not count.
//
// # Concurrency
//
// A [Broker] is safe for concurrent use; a [Tx] belongs to one goroutine.
package broker
