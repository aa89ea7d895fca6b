package mssqltarget

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/broker/servicebroker/mssqltest"
	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
)

// TestSLOQueryText pins the statement the SLO sensor sends, once per
// candidate procedure: constant text, the procedure name and the window
// as parameters.
func TestSLOQueryText(t *testing.T) {
	t.Parallel()
	golden(t, "slo.golden", qSLO)
}

// TestSLOCandidates: every candidate is a two-part name that parses (so
// OBJECT_ID resolves it as written), none appears twice, and none is
// spliced into the query text.
func TestSLOCandidates(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, g := range sloGroups {
		if len(g.procs) == 0 || !strings.HasPrefix(g.ms, "slo_") || !strings.HasSuffix(g.ms, "_ms") ||
			g.executions != strings.TrimSuffix(g.ms, "_ms")+"_executions" {
			t.Errorf("group %+v: want candidates and readings slo_<name>_ms, slo_<name>_executions", g)
		}
		for _, p := range g.procs {
			o, err := ParseObject(p)
			if err != nil || o.Part != "" || o.String() != p {
				t.Errorf("candidate %q: %+v, %v; want schema.name", p, o, err)
			}
			if seen[strings.ToLower(p)] {
				t.Errorf("candidate %q in two SLOs", p)
			}
			seen[strings.ToLower(p)] = true
			if strings.Contains(strings.ToLower(qSLO), strings.ToLower(o.Table)) {
				t.Errorf("candidate %q is in the query text", p)
			}
		}
	}
}

func TestSLOReadings(t *testing.T) {
	t.Parallel()
	g := sloGroups[0]
	rs := sloReadings(g, "dbo.sp_HybridSearch", 40, 40*180_500) // 180.5 ms a call, in µs
	if len(rs) != 2 || rs[0].Name != ReadingSLOHybridSearchExecutions || rs[0].Value != 40 ||
		rs[1].Name != ReadingSLOHybridSearchMS || math.Abs(rs[1].Value-180.5) > 1e-9 || rs[1].Unit != "ms" || rs[1].Object != "dbo.sp_HybridSearch" {
		t.Fatalf("readings %+v, want 40 executions and 180.5 ms", rs)
	}
	if none := sloReadings(g, "dbo.sp_HybridSearch", 0, 0); len(none) != 1 || none[0].Name != ReadingSLOHybridSearchExecutions || none[0].Value != 0 {
		t.Fatalf("no executions: %+v, want only executions 0", none)
	}
}

// TestSLONamesMatchTheRules: the readings as this package names them
// trigger the SLO rule of ooda (which spells the names as its own
// strings), one alert per procedure above its threshold.
func TestSLONamesMatchTheRules(t *testing.T) {
	t.Parallel()
	d := ooda.DefaultSQLServerThresholds()
	above := map[string]float64{ // ms just above each threshold
		ReadingSLOHybridSearchMS: d.HybridSearchThresholdMS + 0.01, ReadingSLOSpatialProjectionMS: d.SpatialProjectionThresholdMS + 0.01,
		ReadingSLOEmbeddingInsertMS: d.EmbeddingInsertThresholdMS + 0.01, ReadingSLOBillingInsertMS: d.BillingInsertThresholdMS + 0.01,
	}
	o := store.Observation{Target: Name}
	want := map[string]bool{}
	for _, g := range sloGroups {
		ms, ok := above[g.ms]
		if !ok {
			t.Fatalf("no test value for %s", g.ms)
		}
		for _, p := range g.procs {
			n := int64(d.SLOMinExecutions)
			o.Readings = append(o.Readings, sloReadings(g, p, n, ms*1000*float64(n))...)
			want[p] = true
		}
	}
	for _, h := range ooda.Orient(o, ooda.DefaultThresholds()) {
		if h.Action == ooda.SQLAlertSLOBreached && h.Tier == 0 {
			delete(want, h.Object)
		}
	}
	if len(want) > 0 {
		t.Fatalf("no %s for %v", ooda.SQLAlertSLOBreached, want)
	}
}

// TestSLOAgainstSQLServer: without the procedures, or with Query Store
// off, no readings; with dbo.sp_HybridSearch run three times and
// dbo.sp_RecordUsage never, their executions and the mean duration.
func TestSLOAgainstSQLServer(t *testing.T) {
	dsn := mssqltest.DSN(t)
	db := mssqltest.Open(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tg, err := Open(ctx, Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Close() })
	exec := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	exec(`ALTER DATABASE CURRENT SET QUERY_STORE = ON (OPERATION_MODE = READ_WRITE, QUERY_CAPTURE_MODE = ALL);`)
	if rs, err := tg.senseSLO(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("without the procedures: %+v, %v; want nothing", rs, err)
	}
	exec(`CREATE PROCEDURE dbo.sp_HybridSearch AS BEGIN SET NOCOUNT ON; SELECT COUNT(*) FROM sys.objects; END;`,
		`CREATE PROCEDURE dbo.sp_RecordUsage AS BEGIN SET NOCOUNT ON; SELECT COUNT(*) FROM sys.columns; END;`,
		`EXEC dbo.sp_HybridSearch;`, `EXEC dbo.sp_HybridSearch;`, `EXEC dbo.sp_HybridSearch;`)
	rs, err := tg.senseSLO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range rs {
		got[r.Name+" "+r.Object] = r.Value
	}
	if len(rs) != 3 || got[ReadingSLOHybridSearchExecutions+" dbo.sp_HybridSearch"] != 3 || got[ReadingSLOHybridSearchMS+" dbo.sp_HybridSearch"] <= 0 {
		t.Fatalf("readings %+v: want 3 executions of dbo.sp_HybridSearch with a mean, and dbo.sp_RecordUsage at 0", rs)
	}
	if v, ok := got[ReadingSLOBillingInsertExecutions+" dbo.sp_RecordUsage"]; !ok || v != 0 {
		t.Fatalf("readings %+v: want dbo.sp_RecordUsage at 0 executions", rs)
	}
	exec(`ALTER DATABASE CURRENT SET QUERY_STORE = OFF;`)
	if rs, err := tg.senseSLO(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("Query Store off: %+v, %v; want nothing", rs, err)
	}
}
