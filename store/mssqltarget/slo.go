package mssqltarget

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hartonomous/ooda/store"
)

// Reading names of the Hartonomous SLO sensor (the deployment guide's
// "Performance Baselines": hybrid search, spatial projection computation,
// embedding insertion, billing record insert). Each object is a procedure,
// schema.name as the catalog spells it. The rules in ooda key off them.
const (
	ReadingSLOHybridSearchMS              = "slo_hybrid_search_ms"              // mean duration per call over the window, ms
	ReadingSLOHybridSearchExecutions      = "slo_hybrid_search_executions"      // calls in the window
	ReadingSLOSpatialProjectionMS         = "slo_spatial_projection_ms"         // the same for spatial projection …
	ReadingSLOSpatialProjectionExecutions = "slo_spatial_projection_executions" //
	ReadingSLOEmbeddingInsertMS           = "slo_embedding_insert_ms"           // … embedding insertion …
	ReadingSLOEmbeddingInsertExecutions   = "slo_embedding_insert_executions"   //
	ReadingSLOBillingInsertMS             = "slo_billing_insert_ms"             // … and billing record insert
	ReadingSLOBillingInsertExecutions     = "slo_billing_insert_executions"     //
)

// The Hartonomous procedures behind each SLO, schema-qualified, as they
// are defined in AHartTN/Hartonomous-Sandbox (the repository whose
// docs/DEPLOYMENT.md has the baselines table; the other AHartTN
// repositories define none of them). Several versions exist across its
// history; a candidate that is not in the database is skipped. Only these
// constants reach the query, and only as a parameter (OBJECT_ID(@name)).
var (
	// Hybrid search (guide: "Hybrid search (1M embeddings)"): dbo.sp_HybridSearch —
	// sql/procedures/dbo.VectorSearch.sql, later
	// src/Hartonomous.Database/Procedures/dbo.sp_HybridSearch.sql; called
	// by the API (SqlCommand "dbo.sp_HybridSearch"). dbo.sp_HybridSearchSafe
	// and dbo.sp_HybridSearchGpu appear only as examples in
	// docs/CLR_DEPLOYMENT_STRATEGY.md and are left out.
	sloHybridSearchProcs = []string{"dbo.sp_HybridSearch"}
	// Spatial projection computation: dbo.sp_ComputeSpatialProjection
	// (src/Hartonomous.Database/Procedures/dbo.sp_ComputeSpatialProjection.sql,
	// earlier sql/procedures/Spatial.ProjectionSystem.sql): one vector to
	// 3D per call, what the 12 ms baseline times. Left out:
	// dbo.fn_ProjectTo3D (a CLR function, no T-SQL statements for Query
	// Store) and dbo.sp_RecomputeAllSpatialProjections (a cursor over the
	// whole table: a backfill, not one computation).
	sloSpatialProjectionProcs = []string{"dbo.sp_ComputeSpatialProjection"}
	// Embedding insertion: the procedures that INSERT into
	// dbo.AtomEmbeddings — dbo.sp_AtomIngestion (sql/procedures/
	// dbo.sp_AtomIngestion.sql, src/…/Procedures/dbo.sp_AtomIngestion.sql:
	// an atom with its @Embedding), dbo.sp_IngestAtom
	// (sql/procedures/dbo.AtomIngestion.sql, src/…/Procedures/
	// dbo.sp_IngestAtom.sql) — and dbo.sp_InsertAtomicVector
	// (src/…/Procedures/dbo.sp_InsertAtomicVector.sql: the atomic-vector
	// form of the same insert). The guide's Embedding.*.sql group holds only
	// dbo.sp_TextToEmbedding (Embedding.TextToVector.sql), which computes
	// an embedding and inserts none, so it is left out.
	sloEmbeddingInsertProcs = []string{"dbo.sp_AtomIngestion", "dbo.sp_IngestAtom", "dbo.sp_InsertAtomicVector"}
	// Billing record insert (guide's Billing.*.sql group):
	// dbo.sp_InsertBillingUsageRecord_Native
	// (sql/procedures/Billing.InsertUsageRecord_Native.sql, later
	// src/…/Procedures/dbo.sp_InsertBillingUsageRecord_Native.sql; into
	// dbo.BillingUsageLedger_InMemory) and dbo.sp_RecordUsage
	// (src/…/Procedures/dbo.sp_RecordUsage.sql; into dbo.BillingUsageLedger).
	// The native one is natively compiled: Query Store keeps its runtime
	// statistics only while sys.sp_xtp_control_query_exec_stats is on
	// ("Use the Query Store with In-Memory OLTP"; off after every restart),
	// so without it the procedure reports 0 executions.
	sloBillingInsertProcs = []string{"dbo.sp_InsertBillingUsageRecord_Native", "dbo.sp_RecordUsage"}
)

// sloGroup is one SLO: its readings and its candidate procedures.
type sloGroup struct {
	ms, executions string
	procs          []string
}

var sloGroups = []sloGroup{
	{ReadingSLOHybridSearchMS, ReadingSLOHybridSearchExecutions, sloHybridSearchProcs},
	{ReadingSLOSpatialProjectionMS, ReadingSLOSpatialProjectionExecutions, sloSpatialProjectionProcs},
	{ReadingSLOEmbeddingInsertMS, ReadingSLOEmbeddingInsertExecutions, sloEmbeddingInsertProcs},
	{ReadingSLOBillingInsertMS, ReadingSLOBillingInsertExecutions, sloBillingInsertProcs},
}

// qSLO measures one procedure (@name, resolved with OBJECT_ID) over the
// last @hours hours of Query Store. It returns no row when the procedure
// does not exist or Query Store is OFF or in ERROR (actual_state 1
// READ_ONLY and 2 READ_WRITE can be read; sys.database_query_store_options).
//
// Query Store keeps statistics per statement (a query whose object_id is
// the procedure), per plan and per interval; avg_duration is in
// microseconds (sys.query_store_runtime_stats). Per statement, its
// executions and total time are summed over plans, intervals and execution
// types (aborted and failed executions count: a timed-out call is the
// slowest of all). A call of the procedure is the sum of its statements,
// so the mean duration per call is the procedure's total time ÷ its calls,
// and the calls are estimated by its most executed statement (every call
// runs its unconditional statements once). A statement inside a loop
// would overstate the calls and understate the mean; none of the
// candidates loops. Statements Query Store does not capture (capture mode
// AUTO skips trivial ones) are missing from the total.
const qSLO = shortLockTimeout + `WITH proc_id AS (
  SELECT OBJECT_ID(@name, N'P') AS id
), per_query AS (
  SELECT q.query_id, SUM(rs.count_executions) AS execs,
    SUM(rs.avg_duration * rs.count_executions) AS total_us
  FROM proc_id
  JOIN sys.query_store_query AS q ON q.object_id = proc_id.id
  JOIN sys.query_store_plan AS p ON p.query_id = q.query_id
  JOIN sys.query_store_runtime_stats AS rs ON rs.plan_id = p.plan_id
  JOIN sys.query_store_runtime_stats_interval AS i ON i.runtime_stats_interval_id = rs.runtime_stats_interval_id
  WHERE i.start_time >= DATEADD(hour, -@hours, SYSDATETIMEOFFSET())
  GROUP BY q.query_id
)
SELECT OBJECT_SCHEMA_NAME(proc_id.id), OBJECT_NAME(proc_id.id),
  ISNULL((SELECT MAX(execs) FROM per_query), 0),
  ISNULL((SELECT SUM(total_us) FROM per_query), 0)
FROM proc_id
WHERE proc_id.id IS NOT NULL
  AND EXISTS (SELECT 1 FROM sys.database_query_store_options WHERE actual_state IN (1, 2));`

// sloReadings turns one procedure's measure into readings: its calls in
// the window and, when there were any, the mean duration per call in ms.
func sloReadings(g sloGroup, object string, execs int64, totalUS float64) []store.Reading {
	out := []store.Reading{{Name: g.executions, Object: object, Value: float64(execs)}}
	if execs > 0 {
		out = append(out, store.Reading{Name: g.ms, Object: object, Value: totalUS / float64(execs) / 1000, Unit: "ms"})
	}
	return out
}

// senseSLO reads, for every candidate procedure of every SLO that exists,
// its calls and mean duration over Options.WorkloadWindow from Query Store
// (qSLO). A missing procedure, or Query Store OFF, gives no readings.
func (t *Target) senseSLO(ctx context.Context) ([]store.Reading, error) {
	hours := int32(max(1, t.opt.WorkloadWindow.Hours()))
	var out []store.Reading
	for _, g := range sloGroups {
		for _, name := range g.procs {
			err := t.query(ctx, qSLO, func(r *sql.Rows) error {
				var o Object
				var execs int64
				var total float64
				if err := r.Scan(&o.Schema, &o.Table, &execs, &total); err != nil {
					return err
				}
				out = append(out, sloReadings(g, o.String(), execs, total)...)
				return nil
			}, sql.Named("name", name), sql.Named("hours", hours))
			if err != nil {
				return out, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return out, nil
}
