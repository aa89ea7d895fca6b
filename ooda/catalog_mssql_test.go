package ooda

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/store"
)

type rd struct {
	name, object string
	value        float64
}

func sqlObs(rs ...rd) Observation {
	o := Observation{Target: SQLServerTarget}
	for _, r := range rs {
		o.Readings = append(o.Readings, Reading{Name: r.name, Object: r.object, Value: r.value})
	}
	return o
}

// TestSQLServerRulesAtTheirThresholds checks every SQL Server rule just
// below, at and just above its threshold, with the catalog's tiers.
func TestSQLServerRulesAtTheirThresholds(t *testing.T) {
	t.Parallel()
	const ix, st, q = "dbo.Orders.IX_Orders_Date", "dbo.Orders.ST_Date", "query:7:plan:3"
	day := (24 * time.Hour).Seconds()
	stats := func(mods, rows, age float64) []rd {
		return []rd{{sqlStatsModified, st, mods}, {sqlStatsRows, st, rows}, {sqlStatsAge, st, age}}
	}
	frag := func(pct, pages float64) []rd { return []rd{{sqlFragmentation, ix, pct}, {sqlIndexPages, ix, pages}} }
	regr := func(ratio, execs, auto float64) []rd {
		return []rd{{sqlRegression, q, ratio}, {sqlRecentExecs, q, execs}, {sqlAutoForcePlan, "database", auto}}
	}
	const mi = "dbo.Orders.IX_ooda_Orders_0badcafe"
	missing := func(impact, writes float64) []rd {
		return []rd{{sqlMissingImpact, mi, impact}, {sqlMissingWrites, mi, writes}}
	}
	unused := func(reads, writes, window float64) []rd {
		return []rd{{sqlOodaReads, mi, reads}, {sqlOodaWrites, mi, writes}, {sqlUsageWindow, "database", window}}
	}
	qs := func(full, maxMB float64) []rd {
		return []rd{{sqlQSReadOnlyFull, "query_store", full}, {sqlQSMaxMB, "query_store", maxMB}}
	}
	for _, c := range []struct {
		name     string
		readings []rd
		action   string // "" = no hypothesis
		tier     int
		object   string // "" = the readings' first object
	}{
		{"StatsBelowMinimum", stats(499, 1000, 0), "", 0, ""},
		{"StatsAtMinimum", stats(500, 1000, 0), SQLUpdateStatistics, 1, st},
		{"StatsBelowFraction", stats(1999, 10000, 0), "", 0, ""},
		{"StatsAtFraction", stats(2000, 10000, 0), SQLUpdateStatistics, 1, st},
		{"StatsYoungerThanPolicy", stats(1, 1e6, 7*day-1), "", 0, ""},
		{"StatsAtPolicyAge", stats(1, 1e6, 7*day), SQLUpdateStatistics, 1, st},
		{"StatsNeverUpdatedButUnmodified", stats(0, 1e6, 1e18), "", 0, ""},
		{"StatsNeverUpdatedAndModified", stats(1, 1e6, 1e18), SQLUpdateStatistics, 1, st},
		{"FragBelowReorganize", frag(4.99, 5000), "", 0, ""},
		{"FragAtReorganize", frag(5, 5000), SQLReorganizeIndex, 1, ix},
		{"FragAtRebuildBoundary", frag(30, 5000), SQLReorganizeIndex, 1, ix},
		{"FragAboveRebuild", frag(30.01, 5000), SQLRebuildIndex, 2, ix},
		{"FragSmallIndex", frag(90, 999), "", 0, ""},
		{"FragAtMinPages", frag(90, 1000), SQLRebuildIndex, 2, ix},
		{"RegressionBelow", regr(1.99, 100, 0), "", 0, ""},
		{"RegressionAt", regr(2, 100, 0), SQLForcePlan, 2, q},
		{"RegressionFewExecutions", regr(5, 9, 0), "", 0, ""},
		{"RegressionAtMinExecutions", regr(5, 10, 0), SQLForcePlan, 2, q},
		{"RegressionAutoTuningOn", regr(5, 100, 1), "", 0, ""},
		{"MissingAtThreshold", missing(1000, 0.1), "", 0, ""},
		{"MissingAbove", missing(1000.5, 0.1), SQLCreateIndex, 2, mi},
		{"MissingWriteHeavyAtLimit", missing(5000, 0.5), SQLCreateIndex, 2, mi},
		{"MissingWriteHeavyAbove", missing(5000, 0.51), "", 0, ""},
		{"UnusedShortWindow", unused(0, 5, 7*day-1), "", 0, ""},
		{"UnusedAtWindow", unused(0, 5, 7*day), SQLDropOodaIndex, 2, mi},
		{"UnusedButRead", unused(1, 5, 30*day), "", 0, ""},
		{"UnusedNoWrites", unused(0, 0, 30*day), "", 0, ""},
		{"QueryStoreNotFull", qs(0, 1000), "", 0, ""},
		{"QueryStoreFull", qs(1, 1000), SQLRaiseQueryStore, 1, "query_store:max_mb=1000"},
		{"QueryStoreFullJustBelowCap", qs(1, 10239), SQLRaiseQueryStore, 1, "query_store:max_mb=10239"},
		{"QueryStoreFullAtCap", qs(1, 10240), SQLAlertQueryStoreAtCap, 0, "query_store"},
		{"QueueEnabled", []rd{{sqlQueueEnabled, "ooda.ActQueue", 1}}, "", 0, ""},
		{"QueueDisabled", []rd{{sqlQueueEnabled, "ooda.ActQueue", 0}}, SQLAlertDisabledQueue, 0, "ooda.ActQueue"},
		{"TransmissionAtAge", []rd{{sqlTransmissionAge, "//S: Error 8489", 300}}, "", 0, ""},
		{"TransmissionAboveAge", []rd{{sqlTransmissionAge, "//S: Error 8489", 301}}, SQLAlertTransmission, 0, "//S: Error 8489"},
		{"TransmissionInFlight", []rd{{sqlTransmissionAge, "//S: ", 3000}}, "", 0, ""},
		{"EndpointsNone", []rd{{sqlExpired, "//Hartonomous/OODA/ActService", 0}}, "", 0, ""},
		{"EndpointsExpired", []rd{{sqlExpired, "//Hartonomous/OODA/ActService", 1}}, SQLEndConversations, 1, "//Hartonomous/OODA/ActService"},
		{"SensorFailed", []rd{{sqlSensorFailed, "waits: permission denied", 1}}, SQLAlertSensorFailed, 0, "waits: permission denied"},
		{"TuningRecommendation", []rd{{sqlTuningScore, q, 80}}, SQLForcePlan, 2, q},
		{"TuningRecommendationAutoOn", []rd{{sqlTuningScore, q, 80}, {sqlAutoForcePlan, "database", 1}}, "", 0, ""},
		{"TuningAndRegressionSamePlan", append(regr(3, 100, 0), rd{sqlTuningScore, q, 80}), SQLForcePlan, 2, q},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hs := Orient(sqlObs(c.readings...), DefaultThresholds())
			if c.action == "" {
				if len(hs) != 0 {
					t.Fatalf("hypotheses %+v, want none", hs)
				}
				return
			}
			if len(hs) != 1 {
				t.Fatalf("hypotheses %+v, want one %s", hs, c.action)
			}
			h := hs[0]
			if h.Action != c.action || h.Tier != c.tier || h.Object != c.object || h.Evidence == "" || h.Confidence <= 0 || h.Confidence > 1 {
				t.Fatalf("hypothesis %+v, want %s tier %d on %s with evidence and a confidence in (0, 1]", h, c.action, c.tier, c.object)
			}
		})
	}
}

// TestSQLServerRulesAreNotEmbeddedRules: the embedded rules never fire on a
// SQL Server observation and the SQL Server rules never on an embedded one,
// even when reading names could collide.
func TestSQLServerRulesAreNotEmbeddedRules(t *testing.T) {
	t.Parallel()
	o := sqlObs(rd{"wal_bytes", "main", 1e12}, rd{"cycles_beyond_retention", "cycles", 5})
	if hs := Orient(o, DefaultThresholds()); len(hs) != 0 {
		t.Fatalf("embedded rules fired on a SQL Server observation: %+v", hs)
	}
	e := Observation{Target: "embedded", Readings: []Reading{{Name: sqlExpired, Object: "//S", Value: 9}}}
	if hs := Orient(e, DefaultThresholds()); len(hs) != 0 {
		t.Fatalf("SQL Server rules fired on an embedded observation: %+v", hs)
	}
}

func TestSQLServerThresholdsFromPolicy(t *testing.T) {
	t.Parallel()
	th := DefaultThresholds()
	th.SQLServer.RebuildAbove = 50 // everything else stays at its default
	hs := Orient(sqlObs(rd{sqlFragmentation, "dbo.T.IX", 40}, rd{sqlIndexPages, "dbo.T.IX", 2000}), th)
	if len(hs) != 1 || hs[0].Action != SQLReorganizeIndex {
		t.Fatalf("with rebuild above 50 %%, 40 %% gave %+v, want reorganize", hs)
	}
	if d := DefaultSQLServerThresholds(); d.RebuildAbove != 30 || d.ReorganizeFrom != 5 || d.StatsMinModifications != 500 || d.MissingIndexImpact != 1000 {
		t.Fatalf("defaults %+v differ from the catalog", d)
	}
}

// TestValueForMatchesTheActionsObject: per-object readings are compared
// for the object the action changed, never another object's reading.
func TestValueForMatchesTheActionsObject(t *testing.T) {
	t.Parallel()
	o := sqlObs(rd{sqlFragmentation, "dbo.A.IX", 40}, rd{sqlFragmentation, "dbo.B.IX", 3}, rd{sqlQSReadOnlyFull, "query_store", 0})
	for _, c := range []struct {
		name, object string
		want         float64
		found        bool
	}{
		{sqlFragmentation, "dbo.B.IX", 3, true},
		{sqlFragmentation, "dbo.A.IX", 40, true},
		{sqlFragmentation, "dbo.C.IX", 0, false},
		{sqlQSReadOnlyFull, "query_store:max_mb=1000", 0, true},
		{sqlFragmentation, "", 40, true},
	} {
		v, ok := valueFor(o, c.name, c.object)
		if v != c.want || ok != c.found {
			t.Errorf("valueFor(%s, %q) = %v, %v; want %v, %v", c.name, c.object, v, ok, c.want, c.found)
		}
	}
}

// inferenceObs is a SQL Server observation of the Hartonomous workload:
// inference readings (requests, p95) and a latency series of n ordinary
// requests (uniform 90–110 ms: bounded jitter, so that no ordinary request
// is a true tail and the count of slow outliers is exactly the planted
// one; 200–400 tokens; spread over a day) followed by slow ones of 1, 2,
// 4, 8, … s.
func inferenceObs(requests, p95 float64, n, slow int) Observation {
	const obj = "dbo.InferenceRequests"
	o := sqlObs(rd{sqlInferenceRequests, obj, requests}, rd{sqlInferenceP95, obj, p95})
	rng := rand.New(rand.NewSource(11))
	start := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC).Unix()
	s := store.Series{Name: sqlInferenceSeries, Object: obj, Columns: []string{"duration_ms", "tokens", "unix_seconds"}}
	for i := range n + slow {
		d := 90 + 20*rng.Float64()
		if i >= n {
			d = 1000 * math.Pow(2, float64(i-n))
		}
		s.Rows = append(s.Rows, []float64{d, 200 + 200*rng.Float64(), float64(start + rng.Int63n(86400))})
	}
	o.Series = []store.Series{s}
	return o
}

// TestWorkloadRulesAtTheirThresholds checks the Hartonomous workload rules
// just below, at and just above each threshold, with the catalog's tiers.
func TestWorkloadRulesAtTheirThresholds(t *testing.T) {
	t.Parallel()
	const ae, geo, ir = "dbo.AtomEmbeddings", "dbo.AtomEmbeddings.SpatialGeometry", "dbo.InferenceRequests"
	cover := func(c, rows float64) Observation {
		return sqlObs(rd{sqlProjectionCover, ae, c}, rd{sqlEmbeddingRows, ae, rows})
	}
	for _, c := range []struct {
		name   string
		obs    Observation
		action string // "" = no hypothesis
		tier   int
		object string
		inEv   string // in the evidence
	}{
		{"SpatialIndexPresent", sqlObs(rd{sqlSpatialIndex, geo, 1}), "", 0, "", ""},
		{"SpatialIndexMissing", sqlObs(rd{sqlSpatialIndex, geo, 0}), SQLCreateSpatialIndex, 2, geo, "no spatial index"},
		{"CoverageFull", cover(1, 1000), "", 0, "", ""},
		{"CoverageAtThreshold", cover(0.99, 1000), "", 0, "", ""},
		{"CoverageJustBelow", cover(0.9899, 1000), SQLBackfillProjection, 2, ae, "98.99 % of 1000"},
		{"CoverageNone", cover(0, 1000), SQLBackfillProjection, 2, ae, "0.00 %"},
		{"CoverageEmptyTable", cover(0, 0), "", 0, "", ""},
		{"P95BelowThreshold", inferenceObs(100, 149.9, 0, 0), "", 0, "", ""},
		{"P95AtThreshold", inferenceObs(100, 150, 0, 0), "", 0, "", ""},
		{"P95AboveThreshold", inferenceObs(100, 150.1, 0, 0), SQLAlertInferenceLatency, 0, ir, "p95 150.1 ms"},
		{"P95TooFewRequests", inferenceObs(19, 1000, 0, 0), "", 0, "", ""},
		{"P95AtMinRequests", inferenceObs(20, 1000, 0, 0), SQLAlertInferenceLatency, 0, ir, "threshold 150 ms"},
		{"NoSlowOutliers", inferenceObs(300, 100, 300, 0), "", 0, "", ""},
		{"SlowOutliersBelow", inferenceObs(304, 100, 300, 4), "", 0, "", ""},
		{"SlowOutliersAt", inferenceObs(305, 100, 300, 5), SQLAlertInferenceLatency, 0, ir, "5 slow outliers of 305 requests"},
		{"SlowOutliersAbove", inferenceObs(306, 100, 300, 6), SQLAlertInferenceLatency, 0, ir, "6 slow outliers of 306 requests"},
		{"SlowOutliersAndP95", inferenceObs(306, 200, 300, 6), SQLAlertInferenceLatency, 0, ir, "p95 200.0 ms"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hs := Orient(c.obs, DefaultThresholds())
			if c.action == "" {
				if len(hs) != 0 {
					t.Fatalf("hypotheses %+v, want none", hs)
				}
				return
			}
			if len(hs) != 1 {
				t.Fatalf("hypotheses %+v, want one %s", hs, c.action)
			}
			h := hs[0]
			if h.Action != c.action || h.Tier != c.tier || h.Object != c.object || !strings.Contains(h.Evidence, c.inEv) || h.Confidence <= 0 || h.Confidence > 1 {
				t.Fatalf("hypothesis %+v, want %s tier %d on %s with %q in the evidence", h, c.action, c.tier, c.object, c.inEv)
			}
		})
	}
}

// TestInferenceRuleIsPure: the same observation gives the same hypothesis
// (the detectors are seeded), and a series whose columns are missing is
// no evidence.
func TestInferenceRuleIsPure(t *testing.T) {
	t.Parallel()
	o := inferenceObs(306, 100, 300, 6)
	a, b := Orient(o, DefaultThresholds()), Orient(o, DefaultThresholds())
	if len(a) != 1 || len(b) != 1 || a[0] != b[0] {
		t.Fatalf("two runs: %+v and %+v", a, b)
	}
	o.Series[0].Columns = []string{"duration_ms", "tokens"}
	if hs := Orient(o, DefaultThresholds()); len(hs) != 0 {
		t.Fatalf("series without unix_seconds gave %+v, want none", hs)
	}
}

func TestWorkloadDefaultsFromTheGuide(t *testing.T) {
	t.Parallel()
	d := DefaultSQLServerThresholds()
	got := []float64{d.HybridSearchMS, d.HybridSearchThresholdMS, d.SpatialProjectionMS, d.SpatialProjectionThresholdMS,
		d.EmbeddingInsertMS, d.EmbeddingInsertThresholdMS, d.BillingInsertMS, d.BillingInsertThresholdMS, d.InferenceP95MS, d.ProjectionCoverage}
	want := []float64{100, 150, 12, 20, 5, 10, 0.4, 1, 150, 0.99}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("defaults %v, want %v (deployment guide, performance baselines)", got, want)
		}
	}
	th := DefaultThresholds()
	th.SQLServer.HybridSearchThresholdMS = 300 // the inference SLO follows unless set
	if hs := Orient(inferenceObs(100, 250, 0, 0), th); len(hs) != 0 {
		t.Fatalf("p95 250 ms with a 300 ms hybrid-search threshold gave %+v", hs)
	}
}

// TestSLORulesAtTheirThresholds checks the SLO rule of each of the
// deployment guide's baselines at, just below and just above its
// threshold, between baseline and threshold, and at and just below the
// execution minimum (20).
func TestSLORulesAtTheirThresholds(t *testing.T) {
	t.Parallel()
	const proc = "dbo.sp_Proc"
	for _, s := range []struct {
		slo, ms, execs      string
		baseline, threshold float64
		below, above        float64 // just below and just above the threshold
	}{
		{"hybrid search", sqlSLOHybridSearchMS, sqlSLOHybridSearchExecs, 100, 150, 149.999, 150.001},
		{"spatial projection computation", sqlSLOSpatialProjectionMS, sqlSLOSpatialProjectionExecs, 12, 20, 19.999, 20.001},
		{"embedding insertion", sqlSLOEmbeddingInsertMS, sqlSLOEmbeddingInsertExecs, 5, 10, 9.999, 10.001},
		{"billing record insert", sqlSLOBillingInsertMS, sqlSLOBillingInsertExecs, 0.4, 1, 0.999, 1.001},
	} {
		obs := func(ms, n float64) Observation { return sqlObs(rd{s.ms, proc, ms}, rd{s.execs, proc, n}) }
		for _, c := range []struct {
			name   string
			obs    Observation
			breach bool
		}{
			{"AtBaseline", obs(s.baseline, 1000), false},
			{"BetweenBaselineAndThreshold", obs((s.baseline+s.threshold)/2, 1000), false},
			{"JustBelowThreshold", obs(s.below, 1000), false},
			{"AtThreshold", obs(s.threshold, 1000), false},
			{"JustAboveThreshold", obs(s.above, 1000), true},
			{"FarAbove", obs(10*s.threshold, 1000), true},
			{"AboveWithTooFewExecutions", obs(10*s.threshold, 19), false},
			{"AboveAtMinExecutions", obs(s.above, 20), true},
			{"NoExecutionsReading", sqlObs(rd{s.ms, proc, 10 * s.threshold}), false},
			{"OnlyExecutions", sqlObs(rd{s.execs, proc, 1000}), false},
		} {
			t.Run(strings.ReplaceAll(s.slo, " ", "_")+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				hs := Orient(c.obs, DefaultThresholds())
				if !c.breach {
					if len(hs) != 0 {
						t.Fatalf("hypotheses %+v, want none", hs)
					}
					return
				}
				if len(hs) != 1 {
					t.Fatalf("hypotheses %+v, want one %s", hs, SQLAlertSLOBreached)
				}
				h := hs[0]
				if h.Action != SQLAlertSLOBreached || h.Tier != 0 || h.Object != proc || h.Rule != "slo_breached" || h.Confidence != 1 {
					t.Fatalf("hypothesis %+v, want %s tier 0 on %s", h, SQLAlertSLOBreached, proc)
				}
				for _, want := range []string{s.slo + " SLO breached", fmt.Sprintf("baseline %g ms", s.baseline), fmt.Sprintf("threshold %g ms", s.threshold),
					fmt.Sprintf("mean %.3f ms", c.obs.Readings[0].Value), fmt.Sprintf("over %.0f executions", c.obs.Readings[1].Value)} {
					if !strings.Contains(h.Evidence, want) {
						t.Errorf("evidence %q lacks %q", h.Evidence, want)
					}
				}
			})
		}
	}
}

// TestSLORulesFromPolicy: the thresholds and the execution minimum are
// policy settings; each procedure is judged on its own readings.
func TestSLORulesFromPolicy(t *testing.T) {
	t.Parallel()
	o := sqlObs(rd{sqlSLOHybridSearchMS, "dbo.sp_HybridSearch", 180}, rd{sqlSLOHybridSearchExecs, "dbo.sp_HybridSearch", 10},
		rd{sqlSLOEmbeddingInsertMS, "dbo.sp_IngestAtom", 12}, rd{sqlSLOEmbeddingInsertExecs, "dbo.sp_IngestAtom", 500},
		rd{sqlSLOEmbeddingInsertMS, "dbo.sp_AtomIngestion", 6}, rd{sqlSLOEmbeddingInsertExecs, "dbo.sp_AtomIngestion", 500})
	hs := Orient(o, DefaultThresholds())
	if len(hs) != 1 || hs[0].Object != "dbo.sp_IngestAtom" {
		t.Fatalf("defaults: %+v, want only dbo.sp_IngestAtom (hybrid search has 10 < 20 executions)", hs)
	}
	th := DefaultThresholds()
	th.SQLServer.SLOMinExecutions = 10
	th.SQLServer.EmbeddingInsertThresholdMS = 15
	hs = Orient(o, th)
	if len(hs) != 1 || hs[0].Object != "dbo.sp_HybridSearch" || !strings.Contains(hs[0].Evidence, "threshold 150 ms") {
		t.Fatalf("10 executions, embedding threshold 15 ms: %+v, want only dbo.sp_HybridSearch", hs)
	}
	if d := DefaultSQLServerThresholds(); d.SLOMinExecutions != 20 {
		t.Fatalf("SLOMinExecutions default %v, want 20", d.SLOMinExecutions)
	}
}
