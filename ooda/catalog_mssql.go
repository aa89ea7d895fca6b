package ooda

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/hartonomous/ooda/ooda/anomaly"
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

	// Hartonomous workload (store/mssqltarget/workload.go).
	sqlInferenceP95      = "inference_latency_p95_ms"
	sqlInferenceRequests = "inference_requests"
	sqlInferenceSeries   = "inference_latency" // Series: duration_ms, tokens, unix_seconds
	sqlProjectionCover   = "embedding_projection_coverage"
	sqlEmbeddingRows     = "embedding_rows"
	sqlSpatialIndex      = "spatial_index_present"

	// Hartonomous SLOs from Query Store (store/mssqltarget/slo.go), per
	// procedure: mean duration per call (ms) and calls in the window.
	sqlSLOHybridSearchMS         = "slo_hybrid_search_ms"
	sqlSLOHybridSearchExecs      = "slo_hybrid_search_executions"
	sqlSLOSpatialProjectionMS    = "slo_spatial_projection_ms"
	sqlSLOSpatialProjectionExecs = "slo_spatial_projection_executions"
	sqlSLOEmbeddingInsertMS      = "slo_embedding_insert_ms"
	sqlSLOEmbeddingInsertExecs   = "slo_embedding_insert_executions"
	sqlSLOBillingInsertMS        = "slo_billing_insert_ms"
	sqlSLOBillingInsertExecs     = "slo_billing_insert_executions"
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

	// Hartonomous workload. The tier-2 actions are proposals: the SQL
	// Server target has no actuator for them yet (an operator carries them
	// out: dbo.sp_ManageHartonomousIndexes @Action = 'CREATE', or the
	// deployment guide's grid index; the Hartonomous backfill procedure).
	SQLCreateSpatialIndex    = "create_spatial_index"
	SQLBackfillProjection    = "backfill_spatial_projection"
	SQLAlertInferenceLatency = "alert_inference_latency"
	// SQLAlertSLOBreached: a Hartonomous procedure's mean duration is above
	// its SLO threshold (deployment guide, "Performance Baselines").
	SQLAlertSLOBreached = "alert_slo_breached"
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

	// Performance baselines and thresholds of the Hartonomous deployment
	// guide ("Performance Baselines"), the default SLOs of the workload
	// rules, in milliseconds.
	HybridSearchMS               float64 // 100: hybrid search over 1M embeddings, baseline
	HybridSearchThresholdMS      float64 // 150: … threshold
	SpatialProjectionMS          float64 // 12: spatial projection computation, baseline
	SpatialProjectionThresholdMS float64 // 20: … threshold
	EmbeddingInsertMS            float64 // 5: embedding insertion, baseline
	EmbeddingInsertThresholdMS   float64 // 10: … threshold
	BillingInsertMS              float64 // 0.4: billing record insert, baseline
	BillingInsertThresholdMS     float64 // 1: … threshold
	// SLOMinExecutions: an SLO is judged only on a procedure called at
	// least this many times in the window (Query Store); fewer calls say
	// nothing about its mean. Default 20, as InferenceMinRequests.
	SLOMinExecutions float64

	// InferenceP95MS: inference latency regresses when the window's p95
	// is above this. Default HybridSearchThresholdMS (150 ms): the guide
	// gives no inference SLO, and hybrid search is the end-to-end query an
	// inference request makes.
	InferenceP95MS float64
	// InferenceMinRequests: fewer requests in the window say nothing about
	// a p95 or outliers. Default 20.
	InferenceMinRequests float64
	// InferenceMinOutliers: inference latency also regresses when at least
	// this many requests are outliers (isolation forest above
	// ForestThreshold or LOF above LOFThreshold) and slow (duration above
	// the window's median + InferenceSlowSigmas × 1.4826 × MAD). Default 5.
	InferenceMinOutliers float64
	// InferenceSlowSigmas: 3.5, Iglewicz and Hoaglin's cut-off for the
	// modified z-score 0.6745 (x − median) / MAD.
	InferenceSlowSigmas float64
	ForestThreshold     float64 // 0.7 (anomaly.DefaultForestThreshold)
	LOFThreshold        float64 // 1.5 (anomaly.DefaultLOFThreshold), with k = LOFK
	LOFK                int     // 5 (anomaly.DefaultK)
	// ProjectionCoverage: a projection gap when fewer embeddings than this
	// fraction have a SpatialGeometry. Default 0.99.
	ProjectionCoverage float64
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
	f(&s.HybridSearchMS, 100)
	f(&s.HybridSearchThresholdMS, 150)
	f(&s.SpatialProjectionMS, 12)
	f(&s.SpatialProjectionThresholdMS, 20)
	f(&s.EmbeddingInsertMS, 5)
	f(&s.EmbeddingInsertThresholdMS, 10)
	f(&s.BillingInsertMS, 0.4)
	f(&s.BillingInsertThresholdMS, 1)
	f(&s.SLOMinExecutions, 20)
	f(&s.InferenceP95MS, s.HybridSearchThresholdMS)
	f(&s.InferenceMinRequests, 20)
	f(&s.InferenceMinOutliers, 5)
	f(&s.InferenceSlowSigmas, 3.5)
	f(&s.ForestThreshold, anomaly.DefaultForestThreshold)
	f(&s.LOFThreshold, anomaly.DefaultLOFThreshold)
	if s.LOFK == 0 {
		s.LOFK = anomaly.DefaultK
	}
	f(&s.ProjectionCoverage, 0.99)
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
	hs = append(hs, orientWorkload(o, m, objs, th)...)
	hs = append(hs, orientSLOs(m, objs, th)...)
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

// orientWorkload applies the Hartonomous workload rules (CATALOG: missing
// spatial index, projection gap, inference latency regression).
func orientWorkload(o Observation, m map[string]map[string]float64, objs []string, th SQLServerThresholds) []Hypothesis {
	var hs []Hypothesis
	add := func(rule, object, evidence, action string, tier int, conf float64) {
		hs = append(hs, Hypothesis{ID: rule + ":" + object, Rule: rule, Object: object, Evidence: evidence, Confidence: conf, Action: action, Tier: tier})
	}
	for _, obj := range objs {
		v := m[obj]
		if p, ok := v[sqlSpatialIndex]; ok && p == 0 {
			add("missing_spatial_index", obj, "the geometry column has no spatial index", SQLCreateSpatialIndex, 2, 0.8)
		}
		if c, ok := v[sqlProjectionCover]; ok && v[sqlEmbeddingRows] > 0 && c < th.ProjectionCoverage {
			add("projection_gap", obj, fmt.Sprintf("%.2f %% of %.0f embeddings have a spatial projection (threshold %.2f %%)", 100*c, v[sqlEmbeddingRows], 100*th.ProjectionCoverage), SQLBackfillProjection, 2, 0.8)
		}
		if n, ok := v[sqlInferenceRequests]; ok && n >= th.InferenceMinRequests {
			var why []string
			if p95, ok := v[sqlInferenceP95]; ok && p95 > th.InferenceP95MS {
				why = append(why, fmt.Sprintf("p95 %.1f ms over %.0f requests (threshold %.0f ms)", p95, n, th.InferenceP95MS))
			}
			if slow, count, total := slowOutliers(o, obj, th); count > 0 && float64(count) >= th.InferenceMinOutliers {
				why = append(why, fmt.Sprintf("%d slow outliers of %d requests (threshold %.0f): %s", count, total, th.InferenceMinOutliers, strings.Join(slow, "; ")))
			}
			if len(why) > 0 {
				add("inference_latency_regression", obj, strings.Join(why, "; "), SQLAlertInferenceLatency, 0, 1)
			}
		}
	}
	return hs
}

// slowOutliers scores the inference_latency series of object with
// anomaly.Detect (seed 0: the same observation always gives the same
// outliers) and keeps the outliers slower than the window's median +
// InferenceSlowSigmas robust σ: an anomaly in tokens or time of day at a
// normal latency is no latency regression, and LOF at k = 5 flags a few
// per cent of ordinary requests (ooda/anomaly tests). It returns a
// description of at most five of them, their count and the series' row
// count.
func slowOutliers(o Observation, object string, th SQLServerThresholds) ([]string, int, int) {
	var rows [][]float64
	cols := map[string]int{}
	for _, s := range o.Series {
		if s.Name == sqlInferenceSeries && s.Object == object {
			rows = s.Rows
			for i, c := range s.Columns {
				cols[c] = i
			}
			break
		}
	}
	di, ok1 := cols["duration_ms"]
	ti, ok2 := cols["tokens"]
	ui, ok3 := cols["unix_seconds"]
	if !ok1 || !ok2 || !ok3 {
		return nil, 0, len(rows)
	}
	samples := make([]anomaly.LatencySample, 0, len(rows))
	durs := make([]float64, 0, len(rows))
	for _, r := range rows {
		if len(r) <= max(di, ti, ui) {
			return nil, 0, len(rows) // a malformed series is not evidence
		}
		sec, frac := math.Modf(r[ui])
		samples = append(samples, anomaly.LatencySample{
			Duration: time.Duration(r[di] * float64(time.Millisecond)),
			Tokens:   r[ti],
			At:       time.Unix(int64(sec), int64(frac*1e9)).UTC(),
		})
		durs = append(durs, r[di])
	}
	floor := anomaly.Median(durs) + th.InferenceSlowSigmas*anomaly.MADScale*anomaly.MAD(durs)
	var out []string
	n := 0
	for _, x := range anomaly.Detect(samples, anomaly.DetectOptions{ForestThreshold: th.ForestThreshold, LOFThreshold: th.LOFThreshold, K: th.LOFK}) {
		if d := durs[x.Index]; d > floor {
			n++
			if len(out) < 5 {
				out = append(out, fmt.Sprintf("%.0f ms at %s (forest %.2f, LOF %.2f)", d, samples[x.Index].At.Format(time.RFC3339), x.Forest, x.LOF))
			}
		}
	}
	if n > len(out) {
		out = append(out, fmt.Sprintf("and %d more", n-len(out)))
	}
	return out, n, len(rows)
}

// sloRule is one of the deployment guide's performance baselines as the
// SLO rule reads it: the readings of store/mssqltarget/slo.go and the
// baseline and threshold of SQLServerThresholds.
type sloRule struct {
	name, ms, executions string
	baseline, threshold  float64
}

func sloRules(th SQLServerThresholds) []sloRule {
	return []sloRule{
		{"hybrid search", sqlSLOHybridSearchMS, sqlSLOHybridSearchExecs, th.HybridSearchMS, th.HybridSearchThresholdMS},
		{"spatial projection computation", sqlSLOSpatialProjectionMS, sqlSLOSpatialProjectionExecs, th.SpatialProjectionMS, th.SpatialProjectionThresholdMS},
		{"embedding insertion", sqlSLOEmbeddingInsertMS, sqlSLOEmbeddingInsertExecs, th.EmbeddingInsertMS, th.EmbeddingInsertThresholdMS},
		{"billing record insert", sqlSLOBillingInsertMS, sqlSLOBillingInsertExecs, th.BillingInsertMS, th.BillingInsertThresholdMS},
	}
}

// orientSLOs applies the SLO rule (CATALOG: SLO breached) to each
// procedure with SLO readings: called at least SLOMinExecutions times in
// the window and a mean duration per call above the SLO's threshold → a
// tier-0 alert naming the SLO, its baseline, threshold and the measure.
// A mean above the baseline but not above the threshold is the guide's
// tolerated band: no hypothesis (the baseline is what a healthy system
// does, the threshold what it must not exceed); so is a mean exactly at
// the threshold.
func orientSLOs(m map[string]map[string]float64, objs []string, th SQLServerThresholds) []Hypothesis {
	var hs []Hypothesis
	for _, obj := range objs {
		v := m[obj]
		for _, r := range sloRules(th) {
			ms, ok := v[r.ms]
			n := v[r.executions]
			if !ok || n < th.SLOMinExecutions || ms <= r.threshold {
				continue
			}
			hs = append(hs, Hypothesis{ID: "slo_breached:" + obj, Rule: "slo_breached", Object: obj,
				Evidence: fmt.Sprintf("%s SLO breached: mean %.3f ms per call over %.0f executions (baseline %g ms, threshold %g ms)",
					r.name, ms, n, r.baseline, r.threshold),
				Confidence: 1, Action: SQLAlertSLOBreached, Tier: 0})
		}
	}
	return hs
}
