// Package mssqltarget is the SQL Server target of the loop (CATALOG: SQL
// Server sensors, hypotheses → actions): sensors that read DMVs, catalog
// views and Query Store into typed readings, and actuators for statistics,
// index maintenance, plan forcing, the loop's own indexes, Query Store size
// and the loop's expired conversations.
//
// Guarantees:
//   - Its own pool (SET XACT_ABORT ON per session), outside the broker's
//     transactions; no statement runs inside a user transaction.
//   - Every sensor is time-boxed (Options.SensorTimeout within the caller's
//     deadline, SET LOCK_TIMEOUT 5000); a failing sensor becomes one
//     sensor_failed reading and the others still report.
//   - Every action re-resolves its object in the catalog with parameterised
//     queries, uses the catalog's spelling of the names, checks whether its
//     effect is already present (and records instead of redoing), and runs
//     under SET LOCK_TIMEOUT and the caller's deadline.
//   - Never automatic, whatever the caller says (ErrNeverAutomatic): dropping
//     an index not named IX_ooda_…, a clustered index, a primary key or
//     unique constraint; offline rebuilds; schema changes; DELETE or
//     TRUNCATE; changes to protected (billing) tables.
//   - SQL text is constant with parameters, except the DDL built by one
//     function, ddl, which splices only names quoted by
//     servicebroker.QuoteName into constant text (its options — lock
//     timeout, low-priority wait, sample — are constants). The Query Store
//     size goes in as a parameter that the server formats.
//
// Object names in readings and actions: "schema.table[.index-or-stats]",
// a part bracket-quoted when it holds '.', '[', ']', '#', ':' or a space
// (ParseObject, Object.String); Query Store plans as "query:<q>:plan:<p>";
// the Query Store as "query_store:max_mb=<n>" in actions.
package mssqltarget
