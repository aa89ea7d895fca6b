package mssqltarget

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/servicebroker"
	"github.com/hartonomous/ooda/store"
)

// Actions of the SQL Server target (CATALOG: hypotheses → actions). The
// rules in ooda name them.
const (
	ActionUpdateStatistics = "update_statistics"          // schema.table.stats, tier 1
	ActionReorganizeIndex  = "reorganize_index"           // schema.table.index, tier 1
	ActionRebuildIndex     = "rebuild_index"              // schema.table.index, tier 2, online and resumable only
	ActionForcePlan        = "force_last_good_plan"       // query:q:plan:p, tier 2, undo: unforce
	ActionCreateIndex      = "create_missing_index"       // schema.table.IX_ooda_…, tier 2, undo: drop it
	ActionDropOodaIndex    = "drop_unused_ooda_index"     // schema.table.IX_ooda_…, tier 2
	ActionRaiseQueryStore  = "raise_query_store_size"     // query_store:max_mb=n, tier 1, undo: restore n
	ActionEndConversations = "end_orphaned_conversations" // service name, tier 1
)

// Tier-0 actions: report only. Execute does nothing for them.
const (
	AlertDisabledQueue   = "alert_disabled_queue"
	AlertTransmission    = "alert_transmission_queue"
	AlertSensorFailed    = "alert_sensor_failed"
	AlertQueryStoreAtCap = "alert_query_store_at_cap"
)

// neverAutomaticActions are action names the catalog puts in tier 3 for
// good: Execute refuses them with ErrNeverAutomatic rather than as unknown,
// so a policy that tries makes the reason plain.
var neverAutomaticActions = []string{
	"drop_index", "drop_clustered_index", "drop_primary_key", "alter_primary_key", "alter_clustered_index",
	"rebuild_index_offline", "alter_table", "drop_table", "truncate_table", "delete_rows",
}

// ReorganizeFloor is the fragmentation (%) below which reorganize and
// rebuild record that their effect is already present (CATALOG: 5 %).
const ReorganizeFloor = 5.0

func isAlert(action string) bool { return strings.HasPrefix(action, "alert_") }

// Describe implements store.Target: what Execute would do, in words and,
// where the statement does not depend on what the database holds, the
// statement itself.
func (t *Target) Describe(action, object string) string {
	if slices.Contains(neverAutomaticActions, action) {
		return fmt.Sprintf("refused: %s on %s is never automatic (CATALOG tier 3)", action, object)
	}
	o, _ := ParseObject(object)
	stmt := func(r ddlRequest) string {
		r.Object = o
		s, err := ddl(r)
		if err != nil {
			return fmt.Sprintf("refused: %v", err)
		}
		return strings.ReplaceAll(s, "\n", " ")
	}
	switch {
	case action == ActionUpdateStatistics:
		return fmt.Sprintf("update statistics %s: %s if the table has at most %d rows, else %s", object,
			stmt(ddlRequest{Kind: ddlUpdateStatsFullscan}), t.opt.FullScanRows, stmt(ddlRequest{Kind: ddlUpdateStatsSample}))
	case action == ActionReorganizeIndex:
		return fmt.Sprintf("reorganize index %s unless it is already below %.0f %% fragmented: %s", object, ReorganizeFloor, stmt(ddlRequest{Kind: ddlReorganize}))
	case action == ActionRebuildIndex:
		return fmt.Sprintf("rebuild index %s online and resumable (resume a paused rebuild instead), on Enterprise, Developer or Azure SQL only: %s", object, stmt(ddlRequest{Kind: ddlRebuildOnline}))
	case action == ActionForcePlan:
		return fmt.Sprintf("force the plan %s with sys.sp_query_store_force_plan, unless automatic tuning FORCE_LAST_GOOD_PLAN is on; undo: sys.sp_query_store_unforce_plan", object)
	case action == ActionCreateIndex:
		return fmt.Sprintf("create the nonclustered index %s from the missing-index suggestion for its table: CREATE NONCLUSTERED INDEX … WITH (ONLINE = ON); undo: drop it", object)
	case action == ActionDropOodaIndex:
		return fmt.Sprintf("drop the unused index %s that the loop created: %s", object, stmt(ddlRequest{Kind: ddlDropIndex}))
	case action == ActionRaiseQueryStore:
		q, err := ParseQueryStoreRef(object)
		if err != nil {
			return fmt.Sprintf("refused: %v", err)
		}
		return fmt.Sprintf("raise Query Store MAX_STORAGE_SIZE_MB from %d to %d and set OPERATION_MODE = READ_WRITE; undo: back to %d", q.BaseMB, t.raiseTo(q), q.BaseMB)
	case action == ActionEndConversations:
		return fmt.Sprintf("END CONVERSATION (never WITH CLEANUP) on up to %d endpoints of %s past their lifetime", t.opt.MaxConversations, object)
	case isAlert(action):
		return fmt.Sprintf("report only: %s on %s", action, object)
	case proposals[action] != "":
		return fmt.Sprintf("proposal only (no actuator): %s", proposals[action])
	}
	return fmt.Sprintf("unknown action %s on %s", action, object)
}

// proposals are the Hartonomous workload's tier-2 hypotheses that the loop
// proposes but cannot carry out yet, with what a DBA would do instead.
var proposals = map[string]string{
	"create_spatial_index":        "run EXEC dbo.sp_ManageHartonomousIndexes @Action = 'CREATE' (or the deployment guide's CREATE SPATIAL INDEX on dbo.AtomEmbeddings(SpatialGeometry))",
	"backfill_spatial_projection": "backfill dbo.AtomEmbeddings.SpatialGeometry in batches with the Hartonomous projection procedure",
}

// Execute implements store.Target. Every action re-resolves its object in
// the catalog before acting, checks whether its effect is already present
// (and records instead of redoing), and refuses what the catalog never
// allows whatever the caller says.
func (t *Target) Execute(ctx context.Context, action, object string) (store.Outcome, error) {
	if slices.Contains(neverAutomaticActions, action) {
		return store.Outcome{}, fmt.Errorf("mssqltarget: %s on %s: %w", action, object, ErrNeverAutomatic)
	}
	switch {
	case action == ActionUpdateStatistics:
		return t.updateStatistics(ctx, object)
	case action == ActionReorganizeIndex:
		return t.defragment(ctx, object, false)
	case action == ActionRebuildIndex:
		return t.defragment(ctx, object, true)
	case action == ActionForcePlan:
		return t.forcePlan(ctx, object)
	case action == ActionCreateIndex:
		return t.createIndex(ctx, object)
	case action == ActionDropOodaIndex:
		return t.dropOodaIndex(ctx, object)
	case action == ActionRaiseQueryStore:
		q, err := ParseQueryStoreRef(object)
		if err != nil {
			return store.Outcome{}, err
		}
		return t.setQueryStoreSize(ctx, t.raiseTo(q), q.BaseMB)
	case action == ActionEndConversations:
		return t.endConversations(ctx, object)
	case isAlert(action):
		return store.Outcome{Detail: "report only: nothing to change"}, nil
	case proposals[action] != "":
		return store.Outcome{}, fmt.Errorf("mssqltarget: %s on %s is a proposal without an actuator: %s", action, object, proposals[action])
	}
	return store.Outcome{}, fmt.Errorf("mssqltarget: unknown action %q", action)
}

// Undo implements store.Undoer for the actions the catalog gives an undo.
func (t *Target) Undo(ctx context.Context, action, object string) (store.Outcome, error) {
	switch action {
	case ActionForcePlan:
		return t.unforcePlan(ctx, object)
	case ActionCreateIndex:
		return t.dropOodaIndex(ctx, object)
	case ActionRaiseQueryStore:
		q, err := ParseQueryStoreRef(object)
		if err != nil {
			return store.Outcome{}, err
		}
		return t.setQueryStoreSize(ctx, q.BaseMB, t.raiseTo(q))
	}
	return store.Outcome{}, fmt.Errorf("mssqltarget: %s has no undo", action)
}

// raiseTo is the size a raise sets: twice the base, at most the cap.
func (t *Target) raiseTo(q QueryStoreRef) int64 { return min(2*q.BaseMB, t.opt.QueryStoreCapMB) }

// indexFacts is what the catalog says about an index, with the names as the
// catalog spells them.
type indexFacts struct {
	Object                       Object
	ObjectID, IndexID            int32
	Type                         uint8 // 1 clustered, 2 nonclustered (sys.indexes.type)
	PrimaryKey, UniqueConstraint bool
	Disabled, AllowPageLocks     bool
}

var errNotFound = errors.New("not found")

const qIndex = shortLockTimeout + `SELECT s.name, t.name, i.name, i.object_id, i.index_id, i.type, i.is_primary_key, i.is_unique_constraint, i.is_disabled, i.allow_page_locks
FROM sys.indexes AS i
JOIN sys.tables AS t ON t.object_id = i.object_id
JOIN sys.schemas AS s ON s.schema_id = t.schema_id
WHERE s.name = @schema AND t.name = @table AND i.name = @index;`

func (t *Target) resolveIndex(ctx context.Context, o Object) (indexFacts, error) {
	var f indexFacts
	n := 0
	err := t.query(ctx, qIndex, func(r *sql.Rows) error {
		n++
		return r.Scan(&f.Object.Schema, &f.Object.Table, &f.Object.Part, &f.ObjectID, &f.IndexID, &f.Type,
			&f.PrimaryKey, &f.UniqueConstraint, &f.Disabled, &f.AllowPageLocks)
	}, sql.Named("schema", o.Schema), sql.Named("table", o.Table), sql.Named("index", o.Part))
	switch {
	case err != nil:
		return f, fmt.Errorf("mssqltarget: resolve %s: %w", o, err)
	case n == 0:
		return f, fmt.Errorf("mssqltarget: index %s: %w", o, errNotFound)
	}
	return f, nil
}

// checkIndexAction applies the catalog's limits to a resolved index. It is
// pure, so each refusal is tested without a server.
func checkIndexAction(action string, f indexFacts, opt Options) error {
	switch action {
	case ActionDropOodaIndex, ActionCreateIndex:
		if opt.protected(f.Object.Table) {
			return fmt.Errorf("mssqltarget: %s on %s: %w: billing and other protected tables are never changed", action, f.Object, ErrNeverAutomatic)
		}
		if action == ActionCreateIndex {
			return nil
		}
		switch {
		case !strings.HasPrefix(f.Object.Part, OodaIndexPrefix):
			return fmt.Errorf("mssqltarget: drop %s: %w: the loop drops only indexes named %s…", f.Object, ErrNeverAutomatic, OodaIndexPrefix)
		case f.PrimaryKey || f.UniqueConstraint:
			return fmt.Errorf("mssqltarget: drop %s: %w: it backs a primary key or unique constraint", f.Object, ErrNeverAutomatic)
		case f.Type != 2:
			return fmt.Errorf("mssqltarget: drop %s: %w: not a nonclustered rowstore index (type %d)", f.Object, ErrNeverAutomatic, f.Type)
		}
	case ActionReorganizeIndex, ActionRebuildIndex:
		switch {
		case f.Type != 1 && f.Type != 2:
			return fmt.Errorf("mssqltarget: %s %s: only rowstore indexes (type %d)", action, f.Object, f.Type)
		case f.Disabled:
			// REBUILD would enable it, and a disabled clustered index cannot
			// be rebuilt online (ALTER INDEX, "Disabling Indexes").
			return fmt.Errorf("mssqltarget: %s %s: the index is disabled; enabling it is an operator's decision", action, f.Object)
		case action == ActionReorganizeIndex && !f.AllowPageLocks:
			return fmt.Errorf("mssqltarget: reorganize %s: ALLOW_PAGE_LOCKS is OFF, which REORGANIZE does not allow", f.Object)
		}
	}
	return nil
}

// execDDL builds the statement through ddl and runs it as one batch.
func (t *Target) execDDL(ctx context.Context, r ddlRequest) (string, error) {
	s, err := ddl(r)
	if err != nil {
		return "", err
	}
	if _, err := t.db.ExecContext(ctx, s); err != nil {
		return s, fmt.Errorf("mssqltarget: %s: %w", strings.ReplaceAll(s, "\n", " "), err)
	}
	return s, nil
}

const qStats = `SELECT s.name, t.name, st.name, sp.rows, sp.modification_counter
FROM sys.stats AS st
JOIN sys.tables AS t ON t.object_id = st.object_id
JOIN sys.schemas AS s ON s.schema_id = t.schema_id
OUTER APPLY sys.dm_db_stats_properties(st.object_id, st.stats_id) AS sp
WHERE s.name = @schema AND t.name = @table AND st.name = @stats;`

func (t *Target) statsState(ctx context.Context, o Object) (Object, int64, int64, error) {
	var c Object
	var rows, mods sql.NullInt64
	n := 0
	err := t.query(ctx, shortLockTimeout+qStats, func(r *sql.Rows) error {
		n++
		return r.Scan(&c.Schema, &c.Table, &c.Part, &rows, &mods)
	}, sql.Named("schema", o.Schema), sql.Named("table", o.Table), sql.Named("stats", o.Part))
	if err == nil && n == 0 {
		err = fmt.Errorf("mssqltarget: statistics %s: %w", o, errNotFound)
	}
	return c, rows.Int64, mods.Int64, err
}

func (t *Target) updateStatistics(ctx context.Context, object string) (store.Outcome, error) {
	o, err := ParseObject(object)
	if err != nil {
		return store.Outcome{}, err
	}
	if o.Part == "" {
		return store.Outcome{}, fmt.Errorf("mssqltarget: update statistics %s: want schema.table.statistics", object)
	}
	c, rows, mods, err := t.statsState(ctx, o)
	if err != nil {
		return store.Outcome{}, err
	}
	before := map[string]float64{ReadingStatsModified: float64(mods)}
	if mods == 0 {
		return store.Outcome{Detail: fmt.Sprintf("statistics %s have no modifications since their last update: nothing to do", c), Before: before, After: before}, nil
	}
	kind := ddlUpdateStatsSample
	if rows <= t.opt.FullScanRows {
		kind = ddlUpdateStatsFullscan
	}
	s, err := t.execDDL(ctx, ddlRequest{Kind: kind, Object: c})
	if err != nil {
		return store.Outcome{}, err
	}
	_, _, after, err := t.statsState(ctx, c)
	if err != nil {
		return store.Outcome{}, err
	}
	return store.Outcome{Detail: "ran " + lastLine(s), Before: before, After: map[string]float64{ReadingStatsModified: float64(after)}}, nil
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// qOnlineEdition: online index operations need Enterprise (3, which
// includes Developer), Azure SQL Database (5) or Managed Instance (8)
// (SERVERPROPERTY EngineEdition; "Editions and supported features").
const qOnlineEdition = `SELECT CASE WHEN CONVERT(int, SERVERPROPERTY('EngineEdition')) IN (3, 5, 8) THEN 1 ELSE 0 END;`

func (t *Target) onlineCapable(ctx context.Context) (bool, error) {
	var ok bool
	err := t.query(ctx, qOnlineEdition, func(r *sql.Rows) error { return r.Scan(&ok) })
	return ok, err
}

// qResumable: a paused or running resumable operation on the index
// (sys.index_resumable_operations: state 0 running, 1 paused).
const qResumable = shortLockTimeout + `SELECT state FROM sys.index_resumable_operations WHERE object_id = @object_id AND index_id = @index_id;`

func (t *Target) defragment(ctx context.Context, object string, rebuild bool) (store.Outcome, error) {
	action := ActionReorganizeIndex
	if rebuild {
		action = ActionRebuildIndex
	}
	o, err := ParseObject(object)
	if err != nil {
		return store.Outcome{}, err
	}
	f, err := t.resolveIndex(ctx, o)
	if err != nil {
		return store.Outcome{}, err
	}
	if err := checkIndexAction(action, f, t.opt); err != nil {
		return store.Outcome{}, err
	}
	frag, _, err := t.fragmentation(ctx, f.ObjectID, f.IndexID)
	if err != nil {
		return store.Outcome{}, err
	}
	before := map[string]float64{ReadingFragmentation: frag.Float64}
	kind := ddlReorganize
	if rebuild {
		online, err := t.onlineCapable(ctx)
		if err != nil {
			return store.Outcome{}, err
		}
		if !online {
			return store.Outcome{}, fmt.Errorf("mssqltarget: rebuild %s: this edition cannot rebuild online, and an offline rebuild is never automatic", f.Object)
		}
		state := int64(-1)
		if err := t.query(ctx, qResumable, func(r *sql.Rows) error { return r.Scan(&state) },
			sql.Named("object_id", f.ObjectID), sql.Named("index_id", f.IndexID)); err != nil {
			return store.Outcome{}, err
		}
		switch state {
		case 0:
			return store.Outcome{}, fmt.Errorf("mssqltarget: rebuild %s: a resumable rebuild of it is already running", f.Object)
		case 1:
			kind = ddlResume
		default:
			kind = ddlRebuildOnline
		}
	}
	if kind != ddlResume && frag.Valid && frag.Float64 < ReorganizeFloor {
		return store.Outcome{Detail: fmt.Sprintf("%s is %.1f %% fragmented, below %.0f %%: nothing to do", f.Object, frag.Float64, ReorganizeFloor), Before: before, After: before}, nil
	}
	s, err := t.execDDL(ctx, ddlRequest{Kind: kind, Object: f.Object})
	if err != nil {
		return store.Outcome{}, err
	}
	after, _, err := t.fragmentation(ctx, f.ObjectID, f.IndexID)
	if err != nil {
		return store.Outcome{}, err
	}
	return store.Outcome{Detail: "ran " + lastLine(s), Before: before, After: map[string]float64{ReadingFragmentation: after.Float64}}, nil
}

const qPlanForced = `SELECT is_forced_plan FROM sys.query_store_plan WHERE query_id = @query_id AND plan_id = @plan_id;`

// Both procedures take their arguments in the documented order
// (sp_query_store_force_plan: "Arguments for extended stored procedures
// must be entered in the specific order").
const (
	qForcePlan   = shortLockTimeout + `EXEC sys.sp_query_store_force_plan @query_id = @query_id, @plan_id = @plan_id;`
	qUnforcePlan = shortLockTimeout + `EXEC sys.sp_query_store_unforce_plan @query_id = @query_id, @plan_id = @plan_id;`
)

func (t *Target) planForced(ctx context.Context, p PlanRef) (bool, error) {
	n, forced := 0, false
	err := t.query(ctx, shortLockTimeout+qPlanForced, func(r *sql.Rows) error { n++; return r.Scan(&forced) },
		sql.Named("query_id", p.QueryID), sql.Named("plan_id", p.PlanID))
	if err == nil && n == 0 {
		err = fmt.Errorf("mssqltarget: plan %s is not in Query Store: %w", p, errNotFound)
	}
	return forced, err
}

func (t *Target) regressionRatio(ctx context.Context, p PlanRef) (float64, bool, error) {
	var ratio float64
	found := false
	err := t.query(ctx, qPlanRegressions, func(r *sql.Rows) error {
		var q PlanRef
		var v, avg float64
		var execs int64
		if err := r.Scan(&q.QueryID, &q.PlanID, &v, &avg, &execs); err != nil {
			return err
		}
		if q == p {
			ratio, found = v, true
		}
		return nil
	}, sql.Named("hours", int32(t.opt.RegressionWindow.Hours())), sql.Named("min_execs", int64(t.opt.MinExecutions)),
		sql.Named("max", int32(1)), sql.Named("query_id", p.QueryID))
	return ratio, found, err
}

func (t *Target) forcePlan(ctx context.Context, object string) (store.Outcome, error) {
	p, err := ParsePlanRef(object)
	if err != nil {
		return store.Outcome{}, err
	}
	auto, err := t.autoForcePlan(ctx)
	if err != nil {
		return store.Outcome{}, err
	}
	if auto {
		return store.Outcome{Detail: "skipped: automatic tuning FORCE_LAST_GOOD_PLAN is on and owns plan forcing"}, nil
	}
	forced, err := t.planForced(ctx, p)
	if err != nil {
		return store.Outcome{}, err
	}
	if forced {
		return store.Outcome{Detail: fmt.Sprintf("plan %s is already forced: nothing to do", p)}, nil
	}
	var before map[string]float64
	if ratio, ok, err := t.regressionRatio(ctx, p); err != nil {
		return store.Outcome{}, err
	} else if ok {
		before = map[string]float64{ReadingRegressionRatio: ratio}
	}
	if _, err := t.db.ExecContext(ctx, qForcePlan, sql.Named("query_id", p.QueryID), sql.Named("plan_id", p.PlanID)); err != nil {
		return store.Outcome{}, fmt.Errorf("mssqltarget: force plan %s: %w", p, err)
	}
	return store.Outcome{Detail: fmt.Sprintf("forced plan %d for query %d", p.PlanID, p.QueryID), Before: before}, nil
}

func (t *Target) unforcePlan(ctx context.Context, object string) (store.Outcome, error) {
	p, err := ParsePlanRef(object)
	if err != nil {
		return store.Outcome{}, err
	}
	forced, err := t.planForced(ctx, p)
	if err != nil {
		return store.Outcome{}, err
	}
	if !forced {
		return store.Outcome{Detail: fmt.Sprintf("plan %s is not forced: nothing to undo", p)}, nil
	}
	if _, err := t.db.ExecContext(ctx, qUnforcePlan, sql.Named("query_id", p.QueryID), sql.Named("plan_id", p.PlanID)); err != nil {
		return store.Outcome{}, fmt.Errorf("mssqltarget: unforce plan %s: %w", p, err)
	}
	return store.Outcome{Detail: fmt.Sprintf("unforced plan %d for query %d", p.PlanID, p.QueryID)}, nil
}

const qTable = `SELECT s.name, t.name, t.object_id FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id
WHERE s.name = @schema AND t.name = @table;`

const qMissingForTable = shortLockTimeout + `SELECT d.equality_columns, d.inequality_columns, d.included_columns,
  gs.avg_total_user_cost * gs.avg_user_impact * (gs.user_seeks + gs.user_scans)
FROM sys.dm_db_missing_index_details AS d
JOIN sys.dm_db_missing_index_groups AS g ON g.index_handle = d.index_handle
JOIN sys.dm_db_missing_index_group_stats AS gs ON gs.group_handle = g.index_group_handle
WHERE d.database_id = DB_ID() AND d.object_id = @object_id;`

const qColumns = `SELECT name FROM sys.columns WHERE object_id = @object_id;`

// resolveColumns checks that every column exists on the table with exactly
// this spelling; the DMV spells them as the catalog does.
func resolveColumns(cols IndexColumns, existing []string) error {
	for _, c := range slices.Concat(cols.Key, cols.Include) {
		if !slices.Contains(existing, c) {
			return fmt.Errorf("mssqltarget: column %q is not on the table", c)
		}
	}
	return nil
}

func (t *Target) createIndex(ctx context.Context, object string) (store.Outcome, error) {
	o, err := ParseObject(object)
	if err != nil {
		return store.Outcome{}, err
	}
	if !strings.HasPrefix(o.Part, OodaIndexPrefix) {
		return store.Outcome{}, fmt.Errorf("mssqltarget: create %s: the loop creates only indexes named %s…", object, OodaIndexPrefix)
	}
	if err := checkIndexAction(ActionCreateIndex, indexFacts{Object: o}, t.opt); err != nil {
		return store.Outcome{}, err
	}
	var tbl Object
	var objectID int32
	n := 0
	if err := t.query(ctx, shortLockTimeout+qTable, func(r *sql.Rows) error { n++; return r.Scan(&tbl.Schema, &tbl.Table, &objectID) },
		sql.Named("schema", o.Schema), sql.Named("table", o.Table)); err != nil {
		return store.Outcome{}, err
	}
	if n == 0 {
		return store.Outcome{}, fmt.Errorf("mssqltarget: table %s: %w", o.TableOnly(), errNotFound)
	}
	ix := Object{Schema: tbl.Schema, Table: tbl.Table, Part: o.Part}
	if err := checkIndexAction(ActionCreateIndex, indexFacts{Object: ix}, t.opt); err != nil {
		return store.Outcome{}, err
	}
	if _, err := t.resolveIndex(ctx, ix); err == nil {
		return store.Outcome{Detail: fmt.Sprintf("index %s already exists: nothing to do", ix)}, nil
	} else if !errors.Is(err, errNotFound) {
		return store.Outcome{}, err
	}
	var cols IndexColumns
	var impact float64
	found := false
	if err := t.query(ctx, qMissingForTable, func(r *sql.Rows) error {
		var eq, ineq, inc sql.NullString
		var imp sql.NullFloat64
		if err := r.Scan(&eq, &ineq, &inc, &imp); err != nil {
			return err
		}
		c, err := missingColumns(eq, ineq, inc)
		if err == nil && !found && len(c.Key) > 0 && OodaIndexName(tbl, c) == o.Part {
			cols, impact, found = c, imp.Float64, true
		}
		return nil
	}, sql.Named("object_id", objectID)); err != nil {
		return store.Outcome{}, err
	}
	if !found {
		return store.Outcome{}, fmt.Errorf("mssqltarget: create %s: the missing-index suggestion is gone (restart, or the table changed)", ix)
	}
	var existing []string
	if err := t.query(ctx, shortLockTimeout+qColumns, func(r *sql.Rows) error {
		var c string
		err := r.Scan(&c)
		existing = append(existing, c)
		return err
	}, sql.Named("object_id", objectID)); err != nil {
		return store.Outcome{}, err
	}
	if err := resolveColumns(cols, existing); err != nil {
		return store.Outcome{}, err
	}
	online, err := t.onlineCapable(ctx)
	if err != nil {
		return store.Outcome{}, err
	}
	if !online {
		return store.Outcome{}, fmt.Errorf("mssqltarget: create %s: this edition cannot create indexes online", ix)
	}
	s, err := t.execDDL(ctx, ddlRequest{Kind: ddlCreateIndex, Object: ix, Columns: cols})
	if err != nil {
		return store.Outcome{}, err
	}
	return store.Outcome{Detail: "ran " + lastLine(s), Before: map[string]float64{ReadingMissingImpact: impact}}, nil
}

func (t *Target) dropOodaIndex(ctx context.Context, object string) (store.Outcome, error) {
	o, err := ParseObject(object)
	if err != nil {
		return store.Outcome{}, err
	}
	// Refuse by name before asking the catalog anything.
	if err := checkIndexAction(ActionDropOodaIndex, indexFacts{Object: o, Type: 2}, t.opt); err != nil {
		return store.Outcome{}, err
	}
	f, err := t.resolveIndex(ctx, o)
	if errors.Is(err, errNotFound) {
		return store.Outcome{Detail: fmt.Sprintf("index %s does not exist: nothing to do", o)}, nil
	}
	if err != nil {
		return store.Outcome{}, err
	}
	if err := checkIndexAction(ActionDropOodaIndex, f, t.opt); err != nil {
		return store.Outcome{}, err
	}
	s, err := t.execDDL(ctx, ddlRequest{Kind: ddlDropIndex, Object: f.Object})
	if err != nil {
		return store.Outcome{}, err
	}
	return store.Outcome{Detail: "ran " + lastLine(s)}, nil
}

// qSetQueryStore: ALTER DATABASE takes no variables in its SET options, so
// the size goes in as a parameter and the server formats it: the text this
// package sends stays constant, and CONVERT of a bigint yields digits only.
// ALTER DATABASE does not honour SET LOCK_TIMEOUT (SET LOCK_TIMEOUT,
// Remarks); the action budget's deadline bounds it instead.
const qSetQueryStore = `DECLARE @stmt nvarchar(200) = N'ALTER DATABASE CURRENT SET QUERY_STORE (OPERATION_MODE = READ_WRITE, MAX_STORAGE_SIZE_MB = '
  + CONVERT(nvarchar(20), CONVERT(bigint, @mb)) + N');';
EXEC sys.sp_executesql @stmt;`

func (t *Target) queryStoreState(ctx context.Context) (full, maxMB int64, err error) {
	err = t.query(ctx, qQueryStore, func(r *sql.Rows) error {
		var state int64
		var cur, mx sql.NullInt64
		if err := r.Scan(&state, &full, &cur, &mx); err != nil {
			return err
		}
		maxMB = mx.Int64
		return nil
	})
	return full, maxMB, err
}

// setQueryStoreSize sets MAX_STORAGE_SIZE_MB to mb; from is the size the
// action expects to find (for the detail only).
func (t *Target) setQueryStoreSize(ctx context.Context, mb, from int64) (store.Outcome, error) {
	if mb < 1 || mb > t.opt.QueryStoreCapMB {
		return store.Outcome{}, fmt.Errorf("mssqltarget: Query Store size %d MB: want 1 to the cap %d MB", mb, t.opt.QueryStoreCapMB)
	}
	full, cur, err := t.queryStoreState(ctx)
	if err != nil {
		return store.Outcome{}, err
	}
	before := map[string]float64{ReadingQSReadOnlyFull: float64(full)}
	if cur == mb && full == 0 {
		return store.Outcome{Detail: fmt.Sprintf("Query Store max size is already %d MB and it is not full: nothing to do", mb), Before: before, After: before}, nil
	}
	if _, err := t.db.ExecContext(ctx, qSetQueryStore, sql.Named("mb", mb)); err != nil {
		return store.Outcome{}, fmt.Errorf("mssqltarget: set Query Store max size %d MB: %w", mb, err)
	}
	afterFull, _, err := t.queryStoreState(ctx)
	if err != nil {
		return store.Outcome{}, err
	}
	return store.Outcome{Detail: fmt.Sprintf("set Query Store MAX_STORAGE_SIZE_MB from %d (expected %d) to %d", cur, from, mb),
		Before: before, After: map[string]float64{ReadingQSReadOnlyFull: float64(afterFull)}}, nil
}

const qExpiredHandles = shortLockTimeout + `SELECT TOP (@max) ce.conversation_handle
FROM sys.conversation_endpoints AS ce
JOIN sys.services AS s ON s.service_id = ce.service_id
WHERE s.name = @service AND ce.state <> 'CD'
  AND ce.lifetime < CASE WHEN GETDATE() < GETUTCDATE() THEN GETDATE() ELSE GETUTCDATE() END;`

// qEndConversation never uses WITH CLEANUP: that is an administrator's tool
// that drops messages without telling the other side (END CONVERSATION).
// The short lock timeout gives up on a conversation group that a receiver
// holds rather than wait behind it.
const qEndConversation = shortLockTimeout + `END CONVERSATION @handle;`

func (t *Target) expiredHandles(ctx context.Context, service string) ([]mssql.UniqueIdentifier, error) {
	var hs []mssql.UniqueIdentifier
	err := t.query(ctx, qExpiredHandles, func(r *sql.Rows) error {
		var h mssql.UniqueIdentifier
		err := r.Scan(&h)
		hs = append(hs, h)
		return err
	}, sql.Named("max", int32(t.opt.MaxConversations)), sql.Named("service", service))
	return hs, err
}

func (t *Target) endConversations(ctx context.Context, service string) (store.Outcome, error) {
	if !slices.Contains(t.opt.Services, service) {
		return store.Outcome{}, fmt.Errorf("mssqltarget: end conversations of %q: not one of the loop's services", service)
	}
	hs, err := t.expiredHandles(ctx, service)
	if err != nil {
		return store.Outcome{}, err
	}
	before := map[string]float64{ReadingEndpointsExpired: float64(len(hs))}
	ended := 0
	for _, h := range hs {
		if _, err := t.db.ExecContext(ctx, qEndConversation, sql.Named("handle", h)); err != nil {
			if conversationGone(err) {
				continue // ended meanwhile: the effect is present
			}
			return store.Outcome{}, fmt.Errorf("mssqltarget: END CONVERSATION on %s: %w", service, err)
		}
		ended++
	}
	after, err := t.expiredHandles(ctx, service)
	if err != nil {
		return store.Outcome{}, err
	}
	return store.Outcome{Detail: fmt.Sprintf("ended %d expired conversations of %s", ended, service),
		Before: before, After: map[string]float64{ReadingEndpointsExpired: float64(len(after))}}, nil
}

// conversationGone: END CONVERSATION met a handle that is gone or already
// closed (8426, 8427): someone ended it meanwhile, so the effect is present.
func conversationGone(err error) bool {
	_, c := servicebroker.Classify(err)
	return errors.Is(c, broker.ErrConversationNotFound) || errors.Is(c, broker.ErrConversationClosed)
}
