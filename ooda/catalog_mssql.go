package ooda

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// SQLServerTarget is the Name of the SQL Server target (store/mssqltarget);
// Orient applies the SQL Server rules to its observations.
const SQLServerTarget = "sqlserver"

// Reading and action names of the SQL Server target. They are the strings
// of store/mssqltarget (whose tests check that the two agree); the domain
// does not import a backend.
const (
	sqlFragmentation   = "index_fragmentation_percent"
	sqlIndexPages      = "index_pages"
	sqlStatsModified   = "stats_modifications"
	sqlStatsRows       = "stats_rows"
	sqlStatsAge        = "stats_age_seconds"
	sqlMissingImpact   = "missing_index_impact"
	sqlMissingWrites   = "missing_index_table_write_fraction"
	sqlOodaReads       = "ooda_index_reads"
	sqlOodaWrites      = "ooda_index_writes"
	sqlUsageWindow     = "index_usage_window_seconds"
	sqlQSReadOnlyFull  = "query_store_read_only_full"
	sqlQSMaxMB         = "query_store_max_mb"
	sqlAutoForcePlan   = "auto_force_last_good_plan"
	sqlRegression      = "plan_regression_ratio"
	sqlRecentExecs     = "plan_recent_executions"
	sqlTuningScore     = "tuning_recommendation_score"
	sqlQueueEnabled    = "queue_receive_enabled"
	sqlTransmissionAge = "transmission_oldest_age_seconds"
	sqlExpired         = "conversation_endpoints_expired"
	sqlSensorFailed    = "sensor_failed"
)

// SQL Server actions (CATALOG: hypotheses → actions).
const (
	SQLUpdateStatistics = "update_statistics"
	SQLReorganizeIndex  = "reorganize_index"
	SQLRebuildIndex     = "rebuild_index"
	SQLForcePlan        = "force_last_good_plan"
	SQLCreateIndex      = "create_missing_index"
	SQLDropOodaIndex    = "drop_unused_ooda_index"
	SQLRaiseQueryStore  = "raise_query_store_size"
	SQLEndConversations = "end_orphaned_conversations"

	SQLAlertDisabledQueue   = "alert_disabled_queue"
	SQLAlertTransmission    = "alert_transmission_queue"
	SQLAlertSensorFailed    = "alert_sensor_failed"
	SQLAlertQueryStoreAtCap = "alert_query_store_at_cap"
)

// SQLServerThresholds are the SQL Server rules' thresholds (CATALOG). A zero
// field takes the default shown.
type SQLServerThresholds struct {
	StatsMinModifications float64       // 500: stale when modifications ≥ max(this, fraction × rows)
	StatsModifiedFraction float64       // 0.20
	StatsMaxAge           time.Duration // 7 days: also stale when older and modified at all
	ReorganizeFrom        float64       // 5 %: reorganize from here up to RebuildAbove
	RebuildAbove          float64       // 30 %: rebuild (tier 2) above
	MinIndexPages         float64       // 1000 pages
	RegressionRatio       float64       // 2: recent plan this many times slower than the best
	MinExecutions         float64       // 10 executions of the recent plan in the window
	MissingIndexImpact    float64       // 1000: impact score above this (the classic improvement measure 10, with impact in %)
	MaxWriteFraction      float64       // 0.5: no index on a table whose uses are more than half writes
	UnusedIndexWindow     time.Duration // 7 days of usage statistics before an unread IX_ooda_ index counts as unused
	QueryStoreCapMB       float64       // 10240: the largest Query Store size the loop sets
	TransmissionAge       time.Duration // 5 min: a message with a transmission_status older than this is stuck
}

func (s SQLServerThresholds) withDefaults() SQLServerThresholds {
	f := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	d := func(v *time.Duration, x time.Duration) {
		if *v == 0 {
			*v = x
		}
	}
	f(&s.StatsMinModifications, 500)
	f(&s.StatsModifiedFraction, 0.20)
	d(&s.StatsMaxAge, 7*24*time.Hour)
	f(&s.ReorganizeFrom, 5)
	f(&s.RebuildAbove, 30)
	f(&s.MinIndexPages, 1000)
	f(&s.RegressionRatio, 2)
	f(&s.MinExecutions, 10)
	f(&s.MissingIndexImpact, 1000)
	f(&s.MaxWriteFraction, 0.5)
	d(&s.UnusedIndexWindow, 7*24*time.Hour)
	f(&s.QueryStoreCapMB, 10240)
	d(&s.TransmissionAge, 5*time.Minute)
	return s
}

// DefaultSQLServerThresholds are the catalog's defaults.
func DefaultSQLServerThresholds() SQLServerThresholds { return SQLServerThresholds{}.withDefaults() }

// byObject groups readings: object → name → value.
func byObject(o Observation) (map[string]map[string]float64, []string) {
	m := map[string]map[string]float64{}
	for _, r := range o.Readings {
		if m[r.Object] == nil {
			m[r.Object] = map[string]float64{}
		}
		m[r.Object][r.Name] = r.Value
	}
	objs := make([]string, 0, len(m))
	for k := range m {
		objs = append(objs, k)
	}
	sort.Strings(objs)
	return m, objs
}

// OrientSQLServer applies the SQL Server rules (CATALOG: hypotheses →
// actions) to an observation of the SQL Server target. It is pure.
func OrientSQLServer(o Observation, th SQLServerThresholds) []Hypothesis {
	th = th.withDefaults()
	var hs []Hypothesis
	add := func(rule, object, evidence, action string, tier int, conf float64) {
		hs = append(hs, Hypothesis{ID: rule + ":" + object, Rule: rule, Object: object, Evidence: evidence, Confidence: conf, Action: action, Tier: tier})
	}
	m, objs := byObject(o)
	db := m["database"]
	autoForce := db[sqlAutoForcePlan] == 1
	forced := map[string]bool{}
	for _, obj := range objs {
		v := m[obj]
		has := func(n string) bool { _, ok := v[n]; return ok }

		if has(sqlStatsModified) {
			mods, rows, age := v[sqlStatsModified], v[sqlStatsRows], v[sqlStatsAge]
			need := max(th.StatsMinModifications, th.StatsModifiedFraction*rows)
			switch {
			case mods >= need:
				add("stale_statistics", obj, fmt.Sprintf("%.0f modifications on %.0f rows, threshold %.0f", mods, rows, need), SQLUpdateStatistics, 1, 0.9)
			case mods > 0 && age >= th.StatsMaxAge.Seconds():
				ev := fmt.Sprintf("last updated %.0f s ago (policy %s), %.0f modifications since", age, th.StatsMaxAge, mods)
				if age >= 1e15 {
					ev = fmt.Sprintf("never updated, %.0f modifications", mods)
				}
				add("stale_statistics", obj, ev, SQLUpdateStatistics, 1, 0.7)
			}
		}

		if has(sqlFragmentation) && v[sqlIndexPages] >= th.MinIndexPages {
			frag, pages := v[sqlFragmentation], v[sqlIndexPages]
			switch {
			case frag > th.RebuildAbove:
				add("fragmented_index", obj, fmt.Sprintf("%.1f %% fragmented over %.0f pages (rebuild above %.0f %%)", frag, pages, th.RebuildAbove), SQLRebuildIndex, 2, 0.85)
			case frag >= th.ReorganizeFrom:
				add("fragmented_index", obj, fmt.Sprintf("%.1f %% fragmented over %.0f pages (reorganize from %.0f %%)", frag, pages, th.ReorganizeFrom), SQLReorganizeIndex, 1, 0.9)
			}
		}

		if has(sqlRegression) && !autoForce {
			ratio, execs := v[sqlRegression], v[sqlRecentExecs]
			if ratio >= th.RegressionRatio && execs >= th.MinExecutions {
				add("plan_regression", obj, fmt.Sprintf("recent plan %.1f× slower than the best plan over %.0f executions (threshold %.1f×)", ratio, execs, th.RegressionRatio), SQLForcePlan, 2, 0.8)
				forced[obj] = true
			}
		}

		if has(sqlMissingImpact) {
			impact, writes := v[sqlMissingImpact], v[sqlMissingWrites]
			if impact > th.MissingIndexImpact && writes <= th.MaxWriteFraction {
				add("missing_index", obj, fmt.Sprintf("impact score %.0f (threshold %.0f), writes %.0f %% of the table's use", impact, th.MissingIndexImpact, 100*writes), SQLCreateIndex, 2, 0.7)
			}
		}

		if has(sqlOodaReads) && v[sqlOodaReads] == 0 && v[sqlOodaWrites] > 0 && db[sqlUsageWindow] >= th.UnusedIndexWindow.Seconds() {
			add("unused_ooda_index", obj, fmt.Sprintf("no reads and %.0f writes in %.0f s of usage statistics", v[sqlOodaWrites], db[sqlUsageWindow]), SQLDropOodaIndex, 2, 0.7)
		}

		if v[sqlQSReadOnlyFull] == 1 {
			mb := v[sqlQSMaxMB]
			if mb > 0 && mb < th.QueryStoreCapMB {
				ref := fmt.Sprintf("query_store:max_mb=%.0f", mb)
				add("query_store_read_only", ref, fmt.Sprintf("Query Store is READ_ONLY because it reached its %.0f MB maximum", mb), SQLRaiseQueryStore, 1, 0.95)
			} else {
				add("query_store_read_only", obj, fmt.Sprintf("Query Store is READ_ONLY at %.0f MB, the policy cap is %.0f MB: clean it up", mb, th.QueryStoreCapMB), SQLAlertQueryStoreAtCap, 0, 1)
			}
		}

		if has(sqlQueueEnabled) && v[sqlQueueEnabled] == 0 {
			add("disabled_queue", obj, "is_receive_enabled = 0 (the engine heals it: head message to dead letters, STATUS = ON)", SQLAlertDisabledQueue, 0, 1)
		}

		if age, ok := v[sqlTransmissionAge]; ok && age > th.TransmissionAge.Seconds() {
			if _, status, _ := strings.Cut(obj, ": "); strings.TrimSpace(status) != "" {
				add("stuck_transmission", obj, fmt.Sprintf("oldest message waiting %.0f s: %s", age, status), SQLAlertTransmission, 0, 1)
			}
		}

		if v[sqlExpired] > 0 {
			add("endpoint_leak", obj, fmt.Sprintf("%.0f conversation endpoints past their lifetime", v[sqlExpired]), SQLEndConversations, 1, 0.9)
		}

		if has(sqlSensorFailed) {
			add("sensor_failed", obj, "a sensor failed: "+obj, SQLAlertSensorFailed, 0, 1)
		}
	}
	// Automatic tuning's own recommendations, where the loop's regression
	// rule has not already proposed the same plan.
	if !autoForce {
		for _, obj := range objs {
			if s, ok := m[obj][sqlTuningScore]; ok && !forced[obj] && s > 0 {
				add("tuning_recommendation", obj, fmt.Sprintf("automatic tuning recommends forcing this plan (score %.0f of 100)", s), SQLForcePlan, 2, min(s/100, 1))
			}
		}
	}
	return hs
}

// valueFor is the value of reading name for an action's object: the
// reading of that object, or of the object the action's refines
// ("query_store" for "query_store:max_mb=1000"); with no object, the first
// reading of that name. Validation should use it instead of value, which
// ignores objects and so compares per-object readings of different objects.
func valueFor(o Observation, name, object string) (float64, bool) {
	if object == "" {
		return value(o, name)
	}
	for _, r := range o.Readings {
		if r.Name == name && (r.Object == object || strings.HasPrefix(object, r.Object+":")) {
			return r.Value, true
		}
	}
	return 0, false
}
