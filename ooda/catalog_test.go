package ooda_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
)

func obs(readings map[string]float64) store.Observation {
	o := store.Observation{Target: "embedded"}
	for n, v := range readings {
		o.Readings = append(o.Readings, store.Reading{Name: n, Object: "main", Value: v})
	}
	return o
}

// TestRulesAtTheirThresholds checks each embedded rule just below, at and
// just above its threshold.
func TestRulesAtTheirThresholds(t *testing.T) {
	t.Parallel()
	th := ooda.DefaultThresholds()
	day := (24 * time.Hour).Seconds()
	for _, c := range []struct {
		name     string
		readings map[string]float64
		action   string // "" = no hypothesis
	}{
		{"FreePagesBelowFraction", map[string]float64{"page_count": 10000, "freelist_pages": 1999.5}, ""},
		{"FreePagesAtFraction", map[string]float64{"page_count": 10000, "freelist_pages": 2000}, ""}, // more than 20 %
		{"FreePagesAboveFraction", map[string]float64{"page_count": 10000, "freelist_pages": 2000.5}, "vacuum"},
		{"FreePagesIncremental", map[string]float64{"page_count": 10000, "freelist_pages": 2000.5, "auto_vacuum_mode": 2}, "incremental_vacuum"},
		{"FreePagesFullMode", map[string]float64{"page_count": 10000, "freelist_pages": 2000.5, "auto_vacuum_mode": 1}, "vacuum"},
		{"FreePagesFewPages", map[string]float64{"page_count": 1200, "freelist_pages": 1000}, ""},
		{"FreePagesJustEnough", map[string]float64{"page_count": 1200, "freelist_pages": 1001}, "vacuum"},
		{"WALBelow", map[string]float64{"wal_bytes": 64 << 20}, ""},
		{"WALAbove", map[string]float64{"wal_bytes": 64<<20 + 1}, "wal_checkpoint"},
		{"OptimizeBelow", map[string]float64{"optimize_age_seconds": day - 1}, ""},
		{"OptimizeAt", map[string]float64{"optimize_age_seconds": day}, "optimize"},
		{"OptimizeNever", map[string]float64{"optimize_age_seconds": 1e18}, "optimize"},
		{"BacklogAt", map[string]float64{"oldest_message_age_seconds": 300}, ""},
		{"BacklogAbove", map[string]float64{"oldest_message_age_seconds": 301}, "alert_backlog"},
		{"RetentionNone", map[string]float64{"cycles_beyond_retention": 0}, ""},
		{"RetentionSome", map[string]float64{"cycles_beyond_retention": 1}, "prune_history"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hs := ooda.Orient(obs(c.readings), th)
			switch {
			case c.action == "" && len(hs) != 0:
				t.Fatalf("hypotheses %+v, want none", hs)
			case c.action != "" && (len(hs) != 1 || hs[0].Action != c.action):
				t.Fatalf("hypotheses %+v, want one for %s", hs, c.action)
			}
		})
	}
}

func TestPolicyVerdicts(t *testing.T) {
	t.Parallel()
	h := func(tier int) ooda.Hypothesis { return ooda.Hypothesis{ID: "x", Action: "a", Tier: tier} }
	for _, c := range []struct {
		name string
		tier int
		p    ooda.Policy
		want string
	}{
		{"Tier0", 0, ooda.Policy{}, ooda.VerdictObserve},
		{"Tier0Paused", 0, ooda.Policy{}, ooda.VerdictObserve},
		{"Tier1", 1, ooda.Policy{}, ooda.VerdictExecute},
		{"Tier1DryRun", 1, ooda.Policy{DryRun: true}, ooda.VerdictDryRun},
		{"Tier1Paused", 1, ooda.Policy{DryRun: true}, ooda.VerdictPaused},
		{"Tier2", 2, ooda.Policy{}, ooda.VerdictNeedsApproval},
		{"Tier2Paused", 2, ooda.Policy{}, ooda.VerdictPaused},
		{"Tier3DryRun", 3, ooda.Policy{DryRun: true}, ooda.VerdictNeedsApproval},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ds := ooda.Decide([]ooda.Hypothesis{h(c.tier)}, c.p, ooda.DecideInput{Paused: strings.HasSuffix(c.name, "Paused")})
			if len(ds) != 1 || ds[0].Verdict != c.want || ds[0].Reason == "" {
				t.Fatalf("got %+v, want %s with a reason", ds, c.want)
			}
		})
	}
}

// TestActionIDsFitTheStateKey: action ids (also approval ids) stay readable
// for short hypotheses and within the SQL Server key of 400 characters for
// any object name, distinct per object.
func TestActionIDsFitTheStateKey(t *testing.T) {
	t.Parallel()
	cycle := "9e4ffb14-3297-469e-b083-857738ad1cd4"
	short := ooda.Hypothesis{ID: "free_pages:main", Rule: "free_pages"}
	if got := ooda.ActionID(cycle, short); got != cycle+"/free_pages:main" {
		t.Fatalf("short id: %s", got)
	}
	long := func(o string) ooda.Hypothesis {
		return ooda.Hypothesis{ID: "fragmented_index:" + o, Rule: "fragmented_index", Object: o}
	}
	name := "[" + strings.Repeat("x", 128) + "]"
	a := ooda.ActionID(cycle, long(name+"."+name+"."+name+"."+name))
	b := ooda.ActionID(cycle, long(name+"."+name+"."+name+".[y]"))
	if len(a) > 400 || len(b) > 400 || a == b || !strings.HasPrefix(a, cycle+"/fragmented_index:") {
		t.Fatalf("long ids: %s (%d), %s (%d)", a, len(a), b, len(b))
	}
}
