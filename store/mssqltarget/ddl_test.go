package mssqltarget

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestDDLGolden pins the statements the actuators send for a few objects,
// a hostile name among them: what a reviewer reads in testdata/ddl.golden
// is what SQL Server gets.
func TestDDLGolden(t *testing.T) {
	t.Parallel()
	plain := Object{"dbo", "Orders", "IX_Orders_Date"}
	hostile := Object{"sales", "we]ird; DROP TABLE x--", "IX ]evil["}
	ooda := Object{"dbo", "Orders", "IX_ooda_Orders_0badcafe"}
	var b strings.Builder
	for _, c := range []struct {
		name string
		r    ddlRequest
	}{
		{"update statistics, small table", ddlRequest{Kind: ddlUpdateStatsFullscan, Object: Object{"dbo", "Orders", "ST_Date"}}},
		{"update statistics, large table", ddlRequest{Kind: ddlUpdateStatsSample, Object: Object{"dbo", "Orders", "ST_Date"}}},
		{"update statistics, hostile names", ddlRequest{Kind: ddlUpdateStatsFullscan, Object: hostile}},
		{"reorganize", ddlRequest{Kind: ddlReorganize, Object: plain}},
		{"reorganize, hostile names", ddlRequest{Kind: ddlReorganize, Object: hostile}},
		{"rebuild online resumable", ddlRequest{Kind: ddlRebuildOnline, Object: plain}},
		{"rebuild, hostile names", ddlRequest{Kind: ddlRebuildOnline, Object: hostile}},
		{"resume a paused rebuild", ddlRequest{Kind: ddlResume, Object: plain}},
		{"create the loop's index", ddlRequest{Kind: ddlCreateIndex, Object: ooda, Columns: IndexColumns{Key: []string{"CustomerID", "OrderDate"}, Include: []string{"Total"}}}},
		{"create, hostile columns", ddlRequest{Kind: ddlCreateIndex, Object: Object{"sales", "we]ird; DROP TABLE x--", "IX_ooda_weirdDROPTABLEx_12345678"}, Columns: IndexColumns{Key: []string{"a]b", "c d"}}}},
		{"drop the loop's index", ddlRequest{Kind: ddlDropIndex, Object: ooda}},
	} {
		s, err := ddl(c.r)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b.WriteString("-- " + c.name + "\n" + s + "\n\n")
	}
	golden(t, "ddl.golden", b.String())
}

// golden compares generated SQL with testdata/name; -update rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("generated SQL differs from %s (go test -update after review):\n%s", path, got)
	}
}

func TestDDLRefuses(t *testing.T) {
	t.Parallel()
	var ok ddlRequest
	with := func(f func(*ddlRequest)) ddlRequest { r := ok; f(&r); return r }
	for _, c := range []struct {
		name  string
		r     ddlRequest
		never bool
	}{
		{"DropNotOurs", with(func(r *ddlRequest) { r.Kind, r.Object = ddlDropIndex, Object{"dbo", "T", "PK_T"} }), true},
		{"CreateNotOurs", with(func(r *ddlRequest) {
			r.Kind, r.Object, r.Columns = ddlCreateIndex, Object{"dbo", "T", "IX_T"}, IndexColumns{Key: []string{"a"}}
		}), false},
		{"CreateNoKey", with(func(r *ddlRequest) { r.Kind, r.Object = ddlCreateIndex, Object{"dbo", "T", "IX_ooda_T_1"} }), false},
		{"CreateSeventeenKeys", with(func(r *ddlRequest) {
			r.Kind, r.Object, r.Columns = ddlCreateIndex, Object{"dbo", "T", "IX_ooda_T_1"}, IndexColumns{Key: strings.Split("a b c d e f g h i j k l m n o p q", " ")}
		}), false},
		{"NoIndexName", with(func(r *ddlRequest) { r.Kind, r.Object = ddlReorganize, Object{"dbo", "T", ""} }), false},
		{"NULInName", with(func(r *ddlRequest) { r.Kind, r.Object = ddlReorganize, Object{"dbo", "T\x00", "I"} }), false},
		{"UnknownKind", with(func(r *ddlRequest) { r.Object = Object{"dbo", "T", "I"} }), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := ddl(c.r)
			if err == nil {
				t.Fatalf("ddl gave %q, want an error", s)
			}
			if c.never != errors.Is(err, ErrNeverAutomatic) {
				t.Fatalf("error %v: ErrNeverAutomatic %v, want %v", err, errors.Is(err, ErrNeverAutomatic), c.never)
			}
		})
	}
}

// TestNoValueConcatenation: every SQL constant of the package carries its
// values as @parameters; the only text spliced is ddl's. A constant that
// formats or concatenates in Go would show a %, or a quote followed by +.
func TestNoValueConcatenation(t *testing.T) {
	t.Parallel()
	for name, q := range map[string]string{
		"qLargeIndexes": qLargeIndexes, "qFragmentation": qFragmentation, "qStatistics": qStatistics,
		"qMissingIndexes": qMissingIndexes, "qOodaIndexes": qOodaIndexes, "qQueryStore": qQueryStore,
		"qAutoForcePlan": qAutoForcePlan, "qPlanRegressions": qPlanRegressions, "qTuningRecommendations": qTuningRecommendations,
		"qWaits": qWaits, "qQueues": qQueues, "qTransmission": qTransmission, "qEndpoints": qEndpoints,
		"qIndex": qIndex, "qStats": qStats, "qOnlineEdition": qOnlineEdition, "qResumable": qResumable,
		"qPlanForced": qPlanForced, "qForcePlan": qForcePlan, "qUnforcePlan": qUnforcePlan, "qTable": qTable,
		"qMissingForTable": qMissingForTable, "qColumns": qColumns, "qSetQueryStore": qSetQueryStore,
		"qExpiredHandles": qExpiredHandles, "qEndConversation": qEndConversation,
	} {
		if strings.Contains(q, "%") {
			t.Errorf("%s contains %%: a format verb or a LIKE pattern built in Go", name)
		}
		if strings.Contains(q, "WITH CLEANUP") {
			t.Errorf("%s uses END CONVERSATION WITH CLEANUP", name)
		}
	}
	if !strings.Contains(qSetQueryStore, "CONVERT(nvarchar(20), CONVERT(bigint, @mb))") {
		t.Error("qSetQueryStore must format the size on the server from the @mb parameter")
	}
}
