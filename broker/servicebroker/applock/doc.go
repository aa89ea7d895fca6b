// Package applock elects one leader among the oodad processes that share a
// SQL Server state database, so that exactly one of them fires the cron
// schedules (DESIGN.md §3, "Scale-out").
//
// Leadership is an exclusive application lock owned by a session
// (sp_getapplock @LockOwner = 'Session'), taken on a connection the elector
// keeps to itself. SQL Server releases a session lock when the session logs
// out ("sp_getapplock (Transact-SQL)", Remarks), so a crashed, killed or
// partitioned leader loses the lock with its connection and a follower takes
// it at its next attempt.
//
// Guarantees:
//   - Leading() turns false before anything else happens when the lock may be
//     lost: a failed or negative check sets it at once, before the loss is
//     logged and before the connection is dropped. A leader that cannot reach
//     its session stops firing schedules even though the server may still
//     hold the lock for a moment.
//   - A leader learns that the server dropped its session (KILL, failover,
//     network) only at its next check, at most Options.Check later, while a
//     follower that has been waiting asks every Retry (± 20 %). With the
//     defaults (2 s, 15 s) the old leader nearly always stands down first;
//     a schedule tick inside the rare overlap may fire on both, which a
//     trigger keyed by its tick absorbs (DESIGN.md, "Idempotent triggers").
//   - The dedicated connection is never returned to the pool: it is discarded
//     (so the server logs the session out and frees the lock) whenever the
//     elector lets go of it, whatever the reason.
//   - Run returns nil when its context ends, after releasing the lock.
//
// Always is the trivial elector of the embedded (SQLite) state, where one
// daemon owns the data directory and always leads.
package applock
