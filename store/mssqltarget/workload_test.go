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

// Shapes of dbo.InferenceRequests found in the Hartonomous repositories.
var (
	sandboxShape = []column{ // Hartonomous-Sandbox sql/tables/dbo.InferenceRequests.sql, read by sp_Analyze
		{"InferenceRequests", "InferenceId", "bigint"}, {"InferenceRequests", "RequestTimestamp", "datetime2"},
		{"InferenceRequests", "InputData", "nvarchar"}, {"InferenceRequests", "OutputData", "nvarchar"},
		{"InferenceRequests", "TotalDurationMs", "int"}, {"InferenceRequests", "Status", "nvarchar"},
	}
	trackingShape = []column{ // docs: sql/tables/dbo.InferenceTracking.sql
		{"InferenceRequests", "InferenceRequestId", "bigint"}, {"InferenceRequests", "DurationMs", "int"},
		{"InferenceRequests", "TokensProcessed", "int"}, {"InferenceRequests", "Timestamp", "datetime2"},
	}
	snakeShape = []column{ // the snake-case script, JSON columns
		{"InferenceRequests", "request_timestamp", "datetime2"}, {"InferenceRequests", "input_data", "json"},
		{"InferenceRequests", "output_data", "json"}, {"InferenceRequests", "total_duration_ms", "int"},
	}
)

func TestPlanInference(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		cols []column
		want inferencePlan
		ok   bool
	}{
		{"Sandbox", sandboxShape, inferencePlan{table: "InferenceRequests", at: "RequestTimestamp", duration: "TotalDurationMs", text: [2]string{"InputData", "OutputData"}}, true},
		{"Tracking", trackingShape, inferencePlan{table: "InferenceRequests", at: "Timestamp", duration: "DurationMs", tokens: "TokensProcessed"}, true},
		{"SnakeCase", snakeShape, inferencePlan{table: "InferenceRequests", at: "request_timestamp", duration: "total_duration_ms", text: [2]string{"input_data", "output_data"}}, true},
		{"SingularTableCatalogCase", []column{{"inferencerequest", "requestedat", "datetime"}, {"inferencerequest", "durationms", "float"}},
			inferencePlan{table: "InferenceRequest", at: "requestedat", duration: "durationms"}, true},
		{"DateTimeOffset", []column{{"InferenceRequest", "CreatedAt", "datetimeoffset"}, {"InferenceRequest", "duration_ms", "bigint"}},
			inferencePlan{table: "InferenceRequest", at: "CreatedAt", atOffset: true, duration: "duration_ms"}, true},
		{"NoDuration", []column{{"InferenceRequests", "RequestTimestamp", "datetime2"}}, inferencePlan{}, false},
		{"DurationNotNumeric", []column{{"InferenceRequests", "RequestTimestamp", "datetime2"}, {"InferenceRequests", "DurationMs", "nvarchar"}}, inferencePlan{}, false},
		{"OnlyEmbeddings", []column{{"AtomEmbeddings", "SpatialGeometry", "geometry"}}, inferencePlan{}, false},
		{"NoTables", nil, inferencePlan{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, ok := planInference(c.cols)
			if ok != c.ok || got != c.want {
				t.Fatalf("planInference = %+v, %v; want %+v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

// TestInferenceQueryGolden pins the statements the sensor sends for each
// known shape: what a reviewer reads in testdata/workload.golden is what
// SQL Server gets.
func TestInferenceQueryGolden(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for _, c := range []struct {
		name string
		cols []column
	}{{"sandbox: tokens estimated from the text", sandboxShape}, {"tracking: a token column", trackingShape}, {"snake case", snakeShape},
		{"no tokens at all, datetimeoffset", []column{{"InferenceRequest", "CreatedAt", "datetimeoffset"}, {"InferenceRequest", "duration_ms", "bigint"}}}} {
		p, ok := planInference(c.cols)
		if !ok {
			t.Fatalf("%s: no plan", c.name)
		}
		q, err := inferenceQuery(p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b.WriteString("-- " + c.name + "\n" + q + "\n\n")
	}
	b.WriteString("-- projection coverage and spatial index\n" + qProjection + "\n")
	golden(t, "workload.golden", b.String())
	if _, err := inferenceQuery(inferencePlan{table: "InferenceRequests"}); err == nil {
		t.Fatal("a plan without time and duration columns gave a query")
	}
}

func TestLatencyReadings(t *testing.T) {
	t.Parallel()
	val := func(rs []store.Reading, name string) float64 {
		for _, r := range rs {
			if r.Name == name {
				return r.Value
			}
		}
		return math.NaN()
	}
	var d []float64
	for i := 100; i >= 1; i-- { // newest first, unsorted
		d = append(d, float64(i))
	}
	rs := latencyReadings("dbo.InferenceRequests", d)
	for name, want := range map[string]float64{ReadingInferenceP50: 50.5, ReadingInferenceP95: 95.05, ReadingInferenceMean: 50.5, ReadingInferenceRequests: 100} {
		if got := val(rs, name); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if d[0] != 100 {
		t.Fatal("latencyReadings sorted its input")
	}
	one := latencyReadings("x", []float64{42})
	if val(one, ReadingInferenceP95) != 42 || val(one, ReadingInferenceP50) != 42 {
		t.Fatalf("one request: %+v", one)
	}
	if none := latencyReadings("x", nil); len(none) != 1 || val(none, ReadingInferenceRequests) != 0 {
		t.Fatalf("no requests: %+v, want only inference_requests 0", none)
	}
}

// TestWorkloadAgainstSQLServer: without the Hartonomous tables the
// workload readings are absent and nothing fails; with them (the Sandbox
// shape and AtomEmbeddings with a geometry column, half projected, no
// spatial index) the readings and the series appear.
func TestWorkloadAgainstSQLServer(t *testing.T) {
	dsn := mssqltest.DSN(t)
	db := mssqltest.Open(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tg, err := Open(ctx, Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Close() })
	rs, series, err := tg.senseWorkload(ctx)
	if err != nil || len(rs) != 0 || len(series) != 0 {
		t.Fatalf("without the tables: %+v, %+v, %v; want nothing", rs, series, err)
	}
	for _, q := range []string{
		`CREATE TABLE dbo.InferenceRequests (InferenceId bigint IDENTITY PRIMARY KEY, RequestTimestamp datetime2 NOT NULL DEFAULT SYSUTCDATETIME(),
  InputData nvarchar(max) NULL, OutputData nvarchar(max) NULL, TotalDurationMs int NULL);`,
		`INSERT dbo.InferenceRequests (RequestTimestamp, InputData, OutputData, TotalDurationMs) VALUES
  (DATEADD(hour, -1, SYSUTCDATETIME()), REPLICATE(N'a', 400), REPLICATE(N'b', 400), 100),
  (DATEADD(hour, -2, SYSUTCDATETIME()), N'', N'', 300),
  (DATEADD(hour, -48, SYSUTCDATETIME()), N'', N'', 9999),
  (SYSUTCDATETIME(), N'', N'', NULL);`,
		`CREATE TABLE dbo.AtomEmbeddings (AtomEmbeddingId bigint IDENTITY PRIMARY KEY, SpatialGeometry geometry NULL);`,
		`INSERT dbo.AtomEmbeddings (SpatialGeometry) VALUES (geometry::Point(1, 2, 0)), (NULL);`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rs, series, err = tg.senseWorkload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range rs {
		got[r.Name+" "+r.Object] = r.Value
	}
	want := map[string]float64{
		"inference_requests dbo.InferenceRequests":        2, // 48 h old and NULL duration left out
		"inference_latency_mean_ms dbo.InferenceRequests": 200,
		"embedding_rows dbo.AtomEmbeddings":               2, "embedding_projection_coverage dbo.AtomEmbeddings": 0.5,
		"spatial_index_present dbo.AtomEmbeddings.SpatialGeometry": 0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (found %v), want %v", k, g, ok, v)
		}
	}
	if len(series) != 1 || len(series[0].Rows) != 2 || series[0].Rows[0][0] != 100 || series[0].Rows[0][1] != 200 {
		t.Fatalf("series %+v: want two rows, newest first: 100 ms with (400 + 400) / 4 = 200 tokens", series)
	}
}

// TestWorkloadNamesMatchTheRules: the readings as this package names them
// are the ones the rules in ooda act on (ooda spells them as strings of
// its own; the domain does not import a backend).
func TestWorkloadNamesMatchTheRules(t *testing.T) {
	t.Parallel()
	geo := Object{Schema: "dbo", Table: "AtomEmbeddings", Part: "SpatialGeometry"}.String()
	o := store.Observation{Target: Name, Readings: []store.Reading{
		{Name: ReadingSpatialIndex, Object: geo, Value: 0},
		{Name: ReadingEmbeddingRows, Object: "dbo.AtomEmbeddings", Value: 10},
		{Name: ReadingProjectionCoverage, Object: "dbo.AtomEmbeddings", Value: 0.5},
	}}
	o.Readings = append(o.Readings, latencyReadings("dbo.InferenceRequests", []float64{900, 1000, 1100, 950, 1050, 1000, 980, 1020, 990, 1010,
		900, 1000, 1100, 950, 1050, 1000, 980, 1020, 990, 1010})...)
	want := map[string]string{ooda.SQLCreateSpatialIndex: geo, ooda.SQLBackfillProjection: "dbo.AtomEmbeddings", ooda.SQLAlertInferenceLatency: "dbo.InferenceRequests"}
	for _, h := range ooda.Orient(o, ooda.DefaultThresholds()) {
		if want[h.Action] == h.Object {
			delete(want, h.Action)
		}
	}
	if len(want) > 0 {
		t.Fatalf("no hypotheses for %v", want)
	}
}

// TestWorkloadProposalsSayWhatToDo: the workload's tier-2 proposals have
// no actuator; approving one fails with what a DBA would run instead, not
// with "unknown action".
func TestWorkloadProposalsSayWhatToDo(t *testing.T) {
	t.Parallel()
	var tg Target
	for _, action := range []string{ooda.SQLCreateSpatialIndex, ooda.SQLBackfillProjection} {
		_, err := tg.Execute(context.Background(), action, "dbo.AtomEmbeddings")
		if err == nil || !strings.Contains(err.Error(), "proposal without an actuator") || !strings.Contains(err.Error(), "AtomEmbeddings") {
			t.Errorf("%s: %v", action, err)
		}
		if d := tg.Describe(action, "dbo.AtomEmbeddings"); !strings.HasPrefix(d, "proposal only") {
			t.Errorf("%s: Describe = %q", action, d)
		}
	}
}
