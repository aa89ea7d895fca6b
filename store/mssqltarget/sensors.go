package mssqltarget

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/hartonomous/ooda/store"
)

// Reading names of the SQL Server sensors. The rules in ooda key off them.
const (
	ReadingFragmentation     = "index_fragmentation_percent"        // schema.table.index, %
	ReadingIndexPages        = "index_pages"                        // schema.table.index
	ReadingIndexClustered    = "index_is_clustered"                 // schema.table.index, 0/1
	ReadingStatsModified     = "stats_modifications"                // schema.table.stats
	ReadingStatsRows         = "stats_rows"                         // schema.table.stats
	ReadingStatsAge          = "stats_age_seconds"                  // schema.table.stats; Never when not updated
	ReadingMissingImpact     = "missing_index_impact"               // schema.table.IX_ooda_… (the index the loop would create)
	ReadingMissingWrites     = "missing_index_table_write_fraction" // same object: updates ÷ all uses of the table
	ReadingOodaIndexReads    = "ooda_index_reads"                   // schema.table.IX_ooda_…: seeks+scans+lookups since start-up
	ReadingOodaIndexWrites   = "ooda_index_writes"                  // same object: updates since start-up
	ReadingUsageWindow       = "index_usage_window_seconds"         // "database": how long usage stats have accumulated
	ReadingQSActualState     = "query_store_actual_state"           // "query_store": 0 OFF, 1 READ_ONLY, 2 READ_WRITE, 3 ERROR
	ReadingQSReadOnlyFull    = "query_store_read_only_full"         // "query_store": 1 when READ_ONLY because full
	ReadingQSCurrentMB       = "query_store_current_mb"             // "query_store"
	ReadingQSMaxMB           = "query_store_max_mb"                 // "query_store"
	ReadingAutoForcePlan     = "auto_force_last_good_plan"          // "database": FORCE_LAST_GOOD_PLAN actual_state
	ReadingRegressionRatio   = "plan_regression_ratio"              // query:q:plan:best — recent plan avg ÷ best plan avg
	ReadingRecentDurationUS  = "plan_recent_avg_duration_us"        // query:q:plan:best
	ReadingRecentExecutions  = "plan_recent_executions"             // query:q:plan:best
	ReadingTuningScore       = "tuning_recommendation_score"        // query:q:plan:recommended, Active recommendations only
	ReadingWaitDelta         = "wait_ms_delta"                      // wait type: ms waited since the last observation
	ReadingQueueEnabled      = "queue_receive_enabled"              // schema.queue, 0/1
	ReadingTransmissionAge   = "transmission_oldest_age_seconds"    // "<to service>: <transmission_status>"
	ReadingTransmissionCount = "transmission_messages"              // same object
	ReadingEndpoints         = "conversation_endpoints"             // "state:<state>" over the loop's services
	ReadingEndpointsExpired  = "conversation_endpoints_expired"     // service name: endpoints past their lifetime
	ReadingSensorFailed      = "sensor_failed"                      // "<sensor>: <error>", value 1
)

// Never stands for "has never happened" in age readings (as in the
// embedded target).
const Never = 1e18

// shortLockTimeout starts every sensor batch and every catalog look-up of
// the actions. They read catalog views and DMVs; a lock they wait on is
// someone else's DDL, and five seconds is plenty. A batch sent with
// parameters runs through sp_executesql, where a SET is undone when the
// batch returns ("SET statements": a SET in sp_executesql or EXECUTE is
// restored afterwards); a plain batch's SET lasts for the session. Either
// way every batch of this package that takes locks starts with its own, so
// none depends on or inherits another's.
const shortLockTimeout = "SET LOCK_TIMEOUT 5000;\n"

type sensor struct {
	name string
	read func(*Target, context.Context) ([]store.Reading, error)
}

func (t *Target) sensors() []sensor {
	return []sensor{
		{"index_fragmentation", (*Target).senseFragmentation},
		{"stale_statistics", (*Target).senseStatistics},
		{"missing_indexes", (*Target).senseMissingIndexes},
		{"ooda_indexes", (*Target).senseOodaIndexes},
		{"query_store", (*Target).senseQueryStore},
		{"plan_regressions", (*Target).sensePlanRegressions},
		{"tuning_recommendations", (*Target).senseTuningRecommendations},
		{"waits", (*Target).senseWaits},
		{"service_broker", (*Target).senseBroker},
	}
}

// Observe implements store.Target. Each sensor runs within its own time box
// (Options.SensorTimeout, inside ctx's deadline). A sensor that fails —
// missing permission, feature off, timeout — adds one sensor_failed reading
// naming it and the error, and the others still report: one unreadable DMV
// must not blind the loop. Observe fails only when every sensor failed
// (the database is unreachable).
func (t *Target) Observe(ctx context.Context) (store.Observation, error) {
	o := store.Observation{Target: Name, TakenAt: t.now().UTC()}
	var errs []error
	ss := t.sensors()
	for _, s := range ss {
		sctx, cancel := context.WithTimeout(ctx, t.opt.SensorTimeout)
		rs, err := s.read(t, sctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
			o.Readings = append(o.Readings, failedReading(s.name, err))
			continue
		}
		o.Readings = append(o.Readings, rs...)
	}
	if len(errs) == len(ss) {
		return o, fmt.Errorf("mssqltarget: every sensor failed: %w", errors.Join(errs...))
	}
	// The Hartonomous workload (workload.go), absent without its tables;
	// it also returns the raw latency series the rules score.
	wctx, cancel := context.WithTimeout(ctx, t.opt.SensorTimeout)
	rs, series, err := t.senseWorkload(wctx)
	cancel()
	o.Readings, o.Series = append(o.Readings, rs...), append(o.Series, series...)
	if err != nil {
		o.Readings = append(o.Readings, failedReading("hartonomous_workload", err))
	}
	// The Hartonomous SLOs from Query Store (slo.go), absent without the
	// procedures or with Query Store off.
	sctx, cancel := context.WithTimeout(ctx, t.opt.SensorTimeout)
	rs, err = t.senseSLO(sctx)
	cancel()
	o.Readings = append(o.Readings, rs...)
	if err != nil {
		o.Readings = append(o.Readings, failedReading("hartonomous_slo", err))
	}
	return o, nil
}

// failedReading is the reading-less warning of a failed sensor: its object
// carries the sensor and the error text (cut to 200 bytes).
func failedReading(sensor string, err error) store.Reading {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return store.Reading{Name: ReadingSensorFailed, Object: sensor + ": " + msg, Value: 1}
}

// query runs a constant statement and hands each row to scan; it reads the
// rows to the end and checks rows.Err (go-mssqldb: closing early sends an
// attention that aborts the batch).
func (t *Target) query(ctx context.Context, q string, scan func(*sql.Rows) error, args ...any) error {
	rows, err := t.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

const qLargeIndexes = shortLockTimeout + `SELECT TOP (@max) s.name, o.name, i.name, i.object_id, i.index_id, i.type, SUM(ps.used_page_count)
FROM sys.dm_db_partition_stats AS ps
JOIN sys.indexes AS i ON i.object_id = ps.object_id AND i.index_id = ps.index_id
JOIN sys.objects AS o ON o.object_id = i.object_id
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
WHERE o.type = 'U' AND o.is_ms_shipped = 0 AND i.type IN (1, 2)
  AND i.is_disabled = 0 AND i.is_hypothetical = 0 AND i.name IS NOT NULL
GROUP BY s.name, o.name, i.name, i.object_id, i.index_id, i.type
HAVING SUM(ps.in_row_data_page_count) >= @min_pages
ORDER BY SUM(ps.used_page_count) DESC;`

// qFragmentation measures one index. LIMITED reads only the parent level
// (sys.dm_db_index_physical_stats, "Scanning modes"); partitions are
// weighted by their page counts.
const qFragmentation = shortLockTimeout + `SELECT SUM(avg_fragmentation_in_percent * page_count) / NULLIF(SUM(page_count), 0), SUM(page_count)
FROM sys.dm_db_index_physical_stats(DB_ID(), @object_id, @index_id, NULL, 'LIMITED')
WHERE alloc_unit_type_desc = N'IN_ROW_DATA' AND index_level = 0;`

type largeIndex struct {
	obj           Object
	objectID, idx int32
	typ           uint8
	usedPages     int64
}

// senseFragmentation lists the indexes of at least MinIndexPages pages from
// sys.dm_db_partition_stats (cheap, no scan) and runs
// sys.dm_db_index_physical_stats on those only, one index per call, largest
// first, until the time box ends.
func (t *Target) senseFragmentation(ctx context.Context) ([]store.Reading, error) {
	var idx []largeIndex
	err := t.query(ctx, qLargeIndexes, func(r *sql.Rows) error {
		var li largeIndex
		if err := r.Scan(&li.obj.Schema, &li.obj.Table, &li.obj.Part, &li.objectID, &li.idx, &li.typ, &li.usedPages); err != nil {
			return err
		}
		idx = append(idx, li)
		return nil
	}, sql.Named("max", int32(t.opt.MaxIndexes)), sql.Named("min_pages", t.opt.MinIndexPages))
	if err != nil {
		return nil, err
	}
	var out []store.Reading
	for _, li := range idx {
		frag, pages, err := t.fragmentation(ctx, li.objectID, li.idx)
		if err != nil {
			if len(out) > 0 && ctx.Err() != nil {
				break // the time box ended: report what was measured
			}
			return out, err
		}
		if !frag.Valid {
			continue
		}
		obj := li.obj.String()
		clustered := 0.0
		if li.typ == 1 {
			clustered = 1
		}
		out = append(out,
			store.Reading{Name: ReadingFragmentation, Object: obj, Value: frag.Float64, Unit: "%"},
			store.Reading{Name: ReadingIndexPages, Object: obj, Value: pages, Unit: "pages"},
			store.Reading{Name: ReadingIndexClustered, Object: obj, Value: clustered})
	}
	return out, nil
}

func (t *Target) fragmentation(ctx context.Context, objectID, indexID int32) (sql.NullFloat64, float64, error) {
	var frag sql.NullFloat64
	var pages sql.NullInt64
	err := t.query(ctx, qFragmentation, func(r *sql.Rows) error { return r.Scan(&frag, &pages) },
		sql.Named("object_id", objectID), sql.Named("index_id", indexID))
	return frag, float64(pages.Int64), err
}

// qStatistics: sys.dm_db_stats_properties returns no row for an empty or
// never-computed statistics object, hence OUTER APPLY and the NULL checks.
// last_updated is in server local time, so the age uses SYSDATETIME().
const qStatistics = shortLockTimeout + `SELECT TOP (@max) sc.name, o.name, st.name, sp.rows, sp.modification_counter,
  DATEDIFF_BIG(second, sp.last_updated, SYSDATETIME())
FROM sys.stats AS st
JOIN sys.objects AS o ON o.object_id = st.object_id
JOIN sys.schemas AS sc ON sc.schema_id = o.schema_id
OUTER APPLY sys.dm_db_stats_properties(st.object_id, st.stats_id) AS sp
WHERE o.type = 'U' AND o.is_ms_shipped = 0 AND sp.modification_counter > 0
ORDER BY sp.modification_counter DESC;`

func (t *Target) senseStatistics(ctx context.Context) ([]store.Reading, error) {
	var out []store.Reading
	err := t.query(ctx, qStatistics, func(r *sql.Rows) error {
		var o Object
		var rows, mods, age sql.NullInt64
		if err := r.Scan(&o.Schema, &o.Table, &o.Part, &rows, &mods, &age); err != nil {
			return err
		}
		a := Never
		if age.Valid {
			a = float64(age.Int64)
		}
		obj := o.String()
		out = append(out,
			store.Reading{Name: ReadingStatsRows, Object: obj, Value: float64(rows.Int64), Unit: "rows"},
			store.Reading{Name: ReadingStatsModified, Object: obj, Value: float64(mods.Int64), Unit: "rows"},
			store.Reading{Name: ReadingStatsAge, Object: obj, Value: a, Unit: "s"})
		return nil
	}, sql.Named("max", int32(t.opt.MaxRows)))
	return out, err
}

// qMissingIndexes: impact score = avg_total_user_cost × avg_user_impact ×
// (user_seeks + user_scans) (CATALOG). The write fraction of the table comes
// from the usage of its heap or clustered index.
const qMissingIndexes = shortLockTimeout + `SELECT TOP (@max) sc.name, o.name, d.equality_columns, d.inequality_columns, d.included_columns,
  gs.avg_total_user_cost * gs.avg_user_impact * (gs.user_seeks + gs.user_scans),
  (SELECT CAST(SUM(u.user_updates) AS float) / NULLIF(SUM(u.user_seeks + u.user_scans + u.user_lookups + u.user_updates), 0)
     FROM sys.dm_db_index_usage_stats AS u
     WHERE u.database_id = DB_ID() AND u.object_id = d.object_id AND u.index_id IN (0, 1))
FROM sys.dm_db_missing_index_details AS d
JOIN sys.dm_db_missing_index_groups AS g ON g.index_handle = d.index_handle
JOIN sys.dm_db_missing_index_group_stats AS gs ON gs.group_handle = g.index_group_handle
JOIN sys.objects AS o ON o.object_id = d.object_id
JOIN sys.schemas AS sc ON sc.schema_id = o.schema_id
WHERE d.database_id = DB_ID() AND o.type = 'U' AND o.is_ms_shipped = 0
ORDER BY gs.avg_total_user_cost * gs.avg_user_impact * (gs.user_seeks + gs.user_scans) DESC;`

// missingColumns turns the three column lists of
// sys.dm_db_missing_index_details into key (equality, then inequality) and
// included columns.
func missingColumns(eq, ineq, inc sql.NullString) (IndexColumns, error) {
	var c IndexColumns
	for _, s := range []string{eq.String, ineq.String} {
		cols, err := ParseColumnList(s)
		if err != nil {
			return c, err
		}
		c.Key = append(c.Key, cols...)
	}
	cols, err := ParseColumnList(inc.String)
	c.Include = cols
	return c, err
}

func (t *Target) senseMissingIndexes(ctx context.Context) ([]store.Reading, error) {
	var out []store.Reading
	seen := map[string]bool{}
	err := t.query(ctx, qMissingIndexes, func(r *sql.Rows) error {
		var tbl Object
		var eq, ineq, inc sql.NullString
		var impact, writes sql.NullFloat64
		if err := r.Scan(&tbl.Schema, &tbl.Table, &eq, &ineq, &inc, &impact, &writes); err != nil {
			return err
		}
		cols, err := missingColumns(eq, ineq, inc)
		if err != nil || len(cols.Key) == 0 {
			return nil // a list we cannot read is not one we would act on
		}
		ix := Object{Schema: tbl.Schema, Table: tbl.Table, Part: OodaIndexName(tbl, cols)}
		obj := ix.String()
		if seen[obj] {
			return nil
		}
		seen[obj] = true
		out = append(out,
			store.Reading{Name: ReadingMissingImpact, Object: obj, Value: impact.Float64},
			store.Reading{Name: ReadingMissingWrites, Object: obj, Value: writes.Float64})
		return nil
	}, sql.Named("max", int32(t.opt.MaxRows)))
	return out, err
}

// qOodaIndexes: usage of the indexes the loop created. Usage stats
// accumulate from start-up (sys.dm_db_index_usage_stats), so the window is
// reported too (needs VIEW SERVER STATE for sys.dm_os_sys_info).
const qOodaIndexes = shortLockTimeout + `SELECT TOP (@max) sc.name, o.name, i.name,
  ISNULL(u.user_seeks + u.user_scans + u.user_lookups, 0), ISNULL(u.user_updates, 0),
  (SELECT DATEDIFF_BIG(second, sqlserver_start_time, SYSDATETIME()) FROM sys.dm_os_sys_info)
FROM sys.indexes AS i
JOIN sys.objects AS o ON o.object_id = i.object_id
JOIN sys.schemas AS sc ON sc.schema_id = o.schema_id
LEFT JOIN sys.dm_db_index_usage_stats AS u ON u.database_id = DB_ID() AND u.object_id = i.object_id AND u.index_id = i.index_id
WHERE o.type = 'U' AND i.type = 2 AND LEFT(i.name, 8) = N'IX_ooda_'
ORDER BY i.name;`

func (t *Target) senseOodaIndexes(ctx context.Context) ([]store.Reading, error) {
	var out []store.Reading
	window := -1.0
	err := t.query(ctx, qOodaIndexes, func(r *sql.Rows) error {
		var o Object
		var reads, writes int64
		var w sql.NullInt64
		if err := r.Scan(&o.Schema, &o.Table, &o.Part, &reads, &writes, &w); err != nil {
			return err
		}
		window = float64(w.Int64)
		out = append(out,
			store.Reading{Name: ReadingOodaIndexReads, Object: o.String(), Value: float64(reads)},
			store.Reading{Name: ReadingOodaIndexWrites, Object: o.String(), Value: float64(writes)})
		return nil
	}, sql.Named("max", int32(t.opt.MaxRows)))
	if window >= 0 {
		out = append(out, store.Reading{Name: ReadingUsageWindow, Object: "database", Value: window, Unit: "s"})
	}
	return out, err
}

// qQueryStore: readonly_reason is a bit map; 65536 means Query Store
// reached MAX_STORAGE_SIZE_MB (sys.database_query_store_options).
const qQueryStore = shortLockTimeout + `SELECT actual_state, CASE WHEN actual_state = 1 AND (readonly_reason & 65536) <> 0 THEN 1 ELSE 0 END,
  current_storage_size_mb, max_storage_size_mb
FROM sys.database_query_store_options;`

const qAutoForcePlan = shortLockTimeout + `SELECT actual_state FROM sys.database_automatic_tuning_options WHERE name = N'FORCE_LAST_GOOD_PLAN';`

func (t *Target) senseQueryStore(ctx context.Context) ([]store.Reading, error) {
	var out []store.Reading
	err := t.query(ctx, qQueryStore, func(r *sql.Rows) error {
		var state, full int64
		var cur, mx sql.NullInt64
		if err := r.Scan(&state, &full, &cur, &mx); err != nil {
			return err
		}
		out = append(out,
			store.Reading{Name: ReadingQSActualState, Object: "query_store", Value: float64(state)},
			store.Reading{Name: ReadingQSReadOnlyFull, Object: "query_store", Value: float64(full)},
			store.Reading{Name: ReadingQSCurrentMB, Object: "query_store", Value: float64(cur.Int64), Unit: "MB"},
			store.Reading{Name: ReadingQSMaxMB, Object: "query_store", Value: float64(mx.Int64), Unit: "MB"})
		return nil
	})
	if err != nil {
		return nil, err
	}
	on, err := t.autoForcePlan(ctx)
	if err != nil {
		return out, err
	}
	v := 0.0
	if on {
		v = 1
	}
	return append(out, store.Reading{Name: ReadingAutoForcePlan, Object: "database", Value: v}), nil
}

// autoForcePlan reports whether automatic tuning FORCE_LAST_GOOD_PLAN is
// actually on (sys.database_automatic_tuning_options, SQL Server 2017+).
func (t *Target) autoForcePlan(ctx context.Context) (bool, error) {
	on := false
	err := t.query(ctx, qAutoForcePlan, func(r *sql.Rows) error {
		var s sql.NullInt64
		if err := r.Scan(&s); err != nil {
			return err
		}
		on = s.Int64 == 1
		return nil
	})
	return on, err
}

// qPlanRegressions (@query_id 0: every query): per query with at least two plans executed
// @min_execs times in the window, the most recently executed plan against
// the plan with the lowest average duration (avg_duration is in
// microseconds, sys.query_store_runtime_stats). start_time is a
// datetimeoffset, compared with SYSDATETIMEOFFSET().
const qPlanRegressions = shortLockTimeout + `WITH per_plan AS (
  SELECT p.query_id, p.plan_id, SUM(rs.count_executions) AS execs,
    SUM(rs.avg_duration * rs.count_executions) / NULLIF(SUM(rs.count_executions), 0) AS avg_us,
    MAX(rs.last_execution_time) AS last_exec
  FROM sys.query_store_plan AS p
  JOIN sys.query_store_runtime_stats AS rs ON rs.plan_id = p.plan_id
  JOIN sys.query_store_runtime_stats_interval AS i ON i.runtime_stats_interval_id = rs.runtime_stats_interval_id
  WHERE i.start_time >= DATEADD(hour, -@hours, SYSDATETIMEOFFSET())
    AND (@query_id = 0 OR p.query_id = @query_id)
  GROUP BY p.query_id, p.plan_id
  HAVING SUM(rs.count_executions) >= @min_execs
), ranked AS (
  SELECT query_id, plan_id, execs, avg_us,
    ROW_NUMBER() OVER (PARTITION BY query_id ORDER BY last_exec DESC) AS recent_rank,
    ROW_NUMBER() OVER (PARTITION BY query_id ORDER BY avg_us ASC) AS best_rank,
    COUNT(*) OVER (PARTITION BY query_id) AS plans
  FROM per_plan
)
SELECT TOP (@max) r.query_id, b.plan_id, r.avg_us / b.avg_us, r.avg_us, r.execs
FROM ranked AS r
JOIN ranked AS b ON b.query_id = r.query_id AND b.best_rank = 1
WHERE r.recent_rank = 1 AND r.plans >= 2 AND b.avg_us > 0
ORDER BY r.avg_us / b.avg_us DESC;`

func (t *Target) sensePlanRegressions(ctx context.Context) ([]store.Reading, error) {
	var out []store.Reading
	err := t.query(ctx, qPlanRegressions, func(r *sql.Rows) error {
		var p PlanRef
		var ratio, avg float64
		var execs int64
		if err := r.Scan(&p.QueryID, &p.PlanID, &ratio, &avg, &execs); err != nil {
			return err
		}
		obj := p.String()
		out = append(out,
			store.Reading{Name: ReadingRegressionRatio, Object: obj, Value: ratio},
			store.Reading{Name: ReadingRecentDurationUS, Object: obj, Value: avg, Unit: "us"},
			store.Reading{Name: ReadingRecentExecutions, Object: obj, Value: float64(execs)})
		return nil
	}, sql.Named("hours", int32(t.opt.RegressionWindow.Hours())), sql.Named("min_execs", int64(t.opt.MinExecutions)), sql.Named("max", int32(t.opt.MaxRows)), sql.Named("query_id", int64(0)))
	return out, err
}

// qTuningRecommendations: state and details are JSON documents
// (sys.dm_db_tuning_recommendations): $.currentValue is the state,
// $.planForceDetails.queryId / recommendedPlanId the plan to force.
const qTuningRecommendations = shortLockTimeout + `SELECT TOP (@max)
  TRY_CONVERT(bigint, JSON_VALUE(details, '$.planForceDetails.queryId')),
  TRY_CONVERT(bigint, JSON_VALUE(details, '$.planForceDetails.recommendedPlanId')),
  score
FROM sys.dm_db_tuning_recommendations
WHERE type = N'FORCE_LAST_GOOD_PLAN' AND JSON_VALUE(state, '$.currentValue') = N'Active'
ORDER BY score DESC;`

func (t *Target) senseTuningRecommendations(ctx context.Context) ([]store.Reading, error) {
	var out []store.Reading
	err := t.query(ctx, qTuningRecommendations, func(r *sql.Rows) error {
		var q, p sql.NullInt64
		var score sql.NullInt64
		if err := r.Scan(&q, &p, &score); err != nil {
			return err
		}
		if q.Int64 <= 0 || p.Int64 <= 0 {
			return nil
		}
		out = append(out, store.Reading{Name: ReadingTuningScore, Object: PlanRef{q.Int64, p.Int64}.String(), Value: float64(score.Int64)})
		return nil
	}, sql.Named("max", int32(t.opt.MaxRows)))
	return out, err
}

const qWaits = shortLockTimeout + `SELECT wait_type, wait_time_ms FROM sys.dm_os_wait_stats WHERE wait_time_ms > 0;`

// benignWaits are idle and background waits that say nothing about the
// workload.
var benignWaits = []string{"BROKER_", "CHECKPOINT_QUEUE", "CLR_", "DIRTY_PAGE_POLL", "DISPATCHER_QUEUE_SEMAPHORE",
	"FT_IFTS", "HADR_", "LAZYWRITER_SLEEP", "LOGMGR_QUEUE", "ONDEMAND_TASK_QUEUE", "PREEMPTIVE_", "PWAIT_",
	"QDS_", "REQUEST_FOR_DEADLOCK_SEARCH", "RESOURCE_QUEUE", "SERVER_IDLE_CHECK", "SLEEP_", "SOS_WORK_DISPATCHER",
	"SP_SERVER_DIAGNOSTICS_SLEEP", "SQLTRACE_", "WAITFOR", "XE_", "KSOURCE_WAKEUP", "PARALLEL_REDO_"}

func benign(w string) bool {
	return slices.ContainsFunc(benignWaits, func(p string) bool { return strings.HasPrefix(w, p) })
}

// senseWaits reports the top waits since the last observation: the DMV is
// cumulative since start-up, so the first observation only takes a
// baseline, and a counter that went down (restart, DBCC SQLPERF CLEAR)
// starts a new one.
func (t *Target) senseWaits(ctx context.Context) ([]store.Reading, error) {
	cur := map[string]float64{}
	err := t.query(ctx, qWaits, func(r *sql.Rows) error {
		var w string
		var ms int64
		if err := r.Scan(&w, &ms); err != nil {
			return err
		}
		if !benign(w) {
			cur[w] = float64(ms)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	prev := t.wait
	t.wait = cur
	t.mu.Unlock()
	return waitDeltas(prev, cur, t.opt.MaxRows), nil
}

// waitDeltas is the pure part of senseWaits: the n largest positive deltas.
func waitDeltas(prev, cur map[string]float64, n int) []store.Reading {
	if prev == nil {
		return nil
	}
	var out []store.Reading
	for w, v := range cur {
		p, ok := prev[w]
		if !ok {
			p = 0
		}
		if v < p { // counters were reset
			return nil
		}
		if d := v - p; d > 0 {
			out = append(out, store.Reading{Name: ReadingWaitDelta, Object: w, Value: d, Unit: "ms"})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Value != out[j].Value {
			return out[i].Value > out[j].Value
		}
		return out[i].Object < out[j].Object
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

const qQueues = shortLockTimeout + `SELECT SCHEMA_NAME(schema_id) + N'.' + name, is_receive_enabled FROM sys.service_queues WHERE is_ms_shipped = 0;`

// qTransmission: enqueue_time is UTC (sys.transmission_queue).
const qTransmission = shortLockTimeout + `SELECT TOP (@max) to_service_name, transmission_status, COUNT(*),
  DATEDIFF_BIG(second, MIN(enqueue_time), GETUTCDATE())
FROM sys.transmission_queue
GROUP BY to_service_name, transmission_status
ORDER BY MIN(enqueue_time);`

// qEndpoints: lifetime is a datetime whose time zone the documentation does
// not state (sys.conversation_endpoints), so an endpoint counts as expired
// only when it is past under both readings, local and UTC. CD (closed)
// endpoints are the broker's to clean up.
const qEndpoints = shortLockTimeout + `SELECT s.name, ce.state, COUNT(*),
  SUM(CASE WHEN ce.state <> 'CD' AND ce.lifetime < CASE WHEN GETDATE() < GETUTCDATE() THEN GETDATE() ELSE GETUTCDATE() END THEN 1 ELSE 0 END)
FROM sys.conversation_endpoints AS ce
JOIN sys.services AS s ON s.service_id = ce.service_id
GROUP BY s.name, ce.state;`

func (t *Target) senseBroker(ctx context.Context) ([]store.Reading, error) {
	var out []store.Reading
	err := t.query(ctx, qQueues, func(r *sql.Rows) error {
		var name string
		var on bool
		if err := r.Scan(&name, &on); err != nil {
			return err
		}
		if slices.Contains(t.opt.Queues, name) {
			v := 0.0
			if on {
				v = 1
			}
			out = append(out, store.Reading{Name: ReadingQueueEnabled, Object: name, Value: v})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = t.query(ctx, qTransmission, func(r *sql.Rows) error {
		var svc, status sql.NullString
		var n, age int64
		if err := r.Scan(&svc, &status, &n, &age); err != nil {
			return err
		}
		obj := svc.String + ": " + strings.Join(strings.Fields(status.String), " ")
		if len(obj) > 300 {
			obj = obj[:300]
		}
		out = append(out,
			store.Reading{Name: ReadingTransmissionAge, Object: obj, Value: float64(age), Unit: "s"},
			store.Reading{Name: ReadingTransmissionCount, Object: obj, Value: float64(n)})
		return nil
	}, sql.Named("max", int32(t.opt.MaxRows)))
	if err != nil {
		return out, err
	}
	byState := map[string]float64{}
	expired := map[string]float64{}
	err = t.query(ctx, qEndpoints, func(r *sql.Rows) error {
		var svc, state string
		var n, exp int64
		if err := r.Scan(&svc, &state, &n, &exp); err != nil {
			return err
		}
		if !slices.Contains(t.opt.Services, svc) {
			return nil
		}
		byState[strings.TrimSpace(state)] += float64(n)
		expired[svc] += float64(exp)
		return nil
	})
	if err != nil {
		return out, err
	}
	for _, st := range slices.Sorted(maps.Keys(byState)) {
		out = append(out, store.Reading{Name: ReadingEndpoints, Object: "state:" + st, Value: byState[st]})
	}
	for _, svc := range t.opt.Services {
		out = append(out, store.Reading{Name: ReadingEndpointsExpired, Object: svc, Value: expired[svc]})
	}
	return out, nil
}
