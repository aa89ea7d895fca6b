// Package embedded is the queue engine of the OODA daemon on SQLite: Service
// Broker's semantics (see package broker) in one database file, with no server.
//
// # Storage
//
// One file, ooda.db, in the data directory, in WAL mode with synchronous=FULL
// by default: a commit returns only after its WAL frames are on disk, so
// messages and timers survive kill -9 and power loss. One process owns a data
// directory at a time (the lock file oodad.lock, holding the owner's PID).
//
// # One writer, group commit
//
// SQLite has one writer at a time, so the engine keeps one writer connection
// and hands it to one logical transaction at a time. Each logical transaction
// runs inside a savepoint of a shared physical transaction; its Commit releases
// the savepoint and waits until a committer goroutine commits the physical
// transaction. Transactions that queued for the writer meanwhile join the same
// physical commit, so N concurrent stage steps cost one fsync, not N; none of
// them returns from Commit before the fsync that made it durable.
//
// A transaction takes the writer only when it first writes (Send, BeginDialog,
// End, BeginTimer, SQL) or at Commit. Receive does not take it: it reads
// through a separate read pool and locks the conversation group in memory, so
// receivers on different groups run side by side. Hold the writer briefly: do
// slow work before the first write, or outside the transaction.
//
// # Waiting without polling
//
// A receiver that finds nothing waits on its queue's in-memory signal, which
// the commit that adds messages (or the end of a transaction that returns
// them) raises. A queue known to be empty is not queried again until such a
// signal, so an idle engine runs no SQL at all. Conversation timers are
// served by one goroutine that sleeps until the next due time.
//
// # Crashes and the poison rule
//
// A transaction that received messages and then rolls back counts toward the
// queue's poison rule, as on SQL Server. So does a transaction cut short by the
// process dying: receives are noted in a small file (inflight) without fsync —
// a killed process's writes survive in the page cache — and on the next Open
// every unfinished receive is counted as a rolled-back one.
package embedded
