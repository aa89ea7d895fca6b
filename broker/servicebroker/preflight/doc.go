// Package preflight checks, before the daemon starts its loops, that a SQL
// Server state database is ready for it: Service Broker enabled, every
// message type, contract, queue and service of the topology in place and
// wired together, no internal activation competing with the daemon, the
// permissions the daemon's user needs (RECEIVE, SEND, and ownership of the
// services so that it may END CONVERSATION), the schema version, and the
// Query Store state where the catalog needs it (SERVICE_BROKER.md, "Start-up
// checks"). `oodad verify` prints the same report for operators.
//
// Check never stops at the first problem: it reads the catalog with a few
// constant queries, then judges every object and returns one Finding per
// (check, object), passed or failed, each failed one naming the object, the
// problem and the fix. The judging is pure (evaluate) and tested without a
// server; only the queries need one.
//
// Catalog views show only the objects the caller owns or holds some
// permission on ("Metadata Visibility Configuration"), so an object the
// daemon's user may not touch looks missing; the fixes say so.
package preflight
