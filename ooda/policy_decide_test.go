package ooda_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hartonomous/ooda/ooda"
)

// t0 is a Friday, 22:00 UTC.
var t0 = time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)

func hyp(action, object string, tier int, conf float64) ooda.Hypothesis {
	return ooda.Hypothesis{ID: action + ":" + object, Rule: "r", Object: object, Action: action, Tier: tier, Confidence: conf}
}

// decideOne decides one hypothesis and returns its decision.
func decideOne(t *testing.T, h ooda.Hypothesis, p ooda.Policy, in ooda.DecideInput) ooda.Decision {
	t.Helper()
	ds := ooda.Decide([]ooda.Hypothesis{h}, p, in)
	if len(ds) != 1 || ds[0].Hypothesis != h {
		t.Fatalf("Decide gave %+v for one hypothesis %+v", ds, h)
	}
	return ds[0]
}

// rated: 998 validations whose Beta posterior mean is exactly
// (successes+1)/1000, so rate 0.950 is successes 949.
func rated(rate1000 int) ooda.TypeStats {
	s := rate1000 - 1
	return ooda.TypeStats{Improved: s / 2, Neutral: s - s/2, Regressed: (998 - s) / 2, Failed: 998 - s - (998-s)/2}
}

func TestSuccessRate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s    ooda.TypeStats
		n    int
		want float64
	}{
		{ooda.TypeStats{}, 0, 0.5},
		{ooda.TypeStats{Improved: 1}, 1, 2.0 / 3},
		{ooda.TypeStats{Neutral: 1}, 1, 2.0 / 3}, // neutral is a success
		{ooda.TypeStats{Regressed: 1}, 1, 1.0 / 3},
		{ooda.TypeStats{Failed: 2}, 2, 0.25},
		{ooda.TypeStats{Improved: 3, Neutral: 5, Regressed: 1, Failed: 1}, 10, 9.0 / 12},
		{ooda.TypeStats{Improved: 18}, 18, 0.95},
		{rated(950), 998, 0.95},
		{rated(800), 998, 0.80},
	} {
		if got := c.s.SuccessRate(); got != c.want || c.s.N() != c.n {
			t.Errorf("%+v: rate %v over %d, want %v over %d", c.s, got, c.s.N(), c.want, c.n)
		}
	}
}

// TestTier2Thresholds: the CATALOG's thresholds at, just below and just
// above each success-rate boundary (0.80, 0.95) and each confidence
// threshold (0.75, 0.80, 0.90).
func TestTier2Thresholds(t *testing.T) {
	t.Parallel()
	const ok, ask = ooda.VerdictExecute, ooda.VerdictNeedsApproval
	for _, c := range []struct {
		name  string
		stats ooda.TypeStats
		conf  float64
		want  string
	}{
		{"Rate0951Conf07499", rated(951), 0.7499, ask},
		{"Rate0951Conf075", rated(951), 0.75, ok},
		{"Rate0951Conf07501", rated(951), 0.7501, ok},
		{"Rate0950Conf075", rated(950), 0.75, ask}, // 0.95 is not above 0.95
		{"Rate0950Conf07999", rated(950), 0.7999, ask},
		{"Rate0950Conf080", rated(950), 0.80, ok},
		{"Rate0949Conf07999", rated(949), 0.7999, ask},
		{"Rate0949Conf080", rated(949), 0.80, ok},
		{"Rate0949Conf08001", rated(949), 0.8001, ok},
		{"Rate0801Conf080", rated(801), 0.80, ok},
		{"Rate0800Conf07999", rated(800), 0.7999, ask},
		{"Rate0800Conf080", rated(800), 0.80, ok},
		{"Rate0799Conf080", rated(799), 0.80, ask}, // below 0.80 needs 0.90
		{"Rate0799Conf08999", rated(799), 0.8999, ask},
		{"Rate0799Conf090", rated(799), 0.90, ok},
		{"Rate0799Conf09001", rated(799), 0.9001, ok},
		{"NoHistoryConf1", ooda.TypeStats{}, 1, ask},
		{"Perfect18Conf075", ooda.TypeStats{Improved: 18}, 0.75, ask}, // 19/20 = 0.95, not above
		{"Perfect19Conf075", ooda.TypeStats{Improved: 19}, 0.75, ok},  // 20/21 > 0.95
		{"AllRegressedConf1", ooda.TypeStats{Regressed: 50}, 1, ask},  // more harm than help: never automatic
		{"AllFailedConf089", ooda.TypeStats{Failed: 50}, 0.89, ask},
		// The floor at its edge: harmed as often as helped asks; one more help clears it.
		{"HarmEqualsHelpConf1", ooda.TypeStats{Improved: 5, Regressed: 3, Failed: 2}, 1, ask},
		{"HelpOneAheadConf09", ooda.TypeStats{Improved: 6, Regressed: 3, Failed: 2}, 0.9, ok}, // rate 7/13 = 0.54 needs 0.90
		{"HelpOneAheadConf089", ooda.TypeStats{Improved: 6, Regressed: 3, Failed: 2}, 0.89, ask},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := ooda.DecideInput{Now: t0, Stats: map[string]ooda.TypeStats{"vacuum": c.stats, "other": {Improved: 1000}}}
			d := decideOne(t, hyp("vacuum", "main", 2, c.conf), ooda.DefaultPolicy(), in)
			if d.Verdict != c.want {
				t.Fatalf("verdict %s (%s), want %s", d.Verdict, d.Reason, c.want)
			}
		})
	}
}

func TestTier2Reasons(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		stats ooda.TypeStats
		conf  float64
		want  string
	}{
		{rated(951), 0.82, "tier 2: success rate 0.951 (above 0.95) over 998 validations; confidence 0.82 ≥ 0.75: automatic"},
		{rated(950), 0.7999, "tier 2: success rate 0.950 (between 0.8 and 0.95) over 998 validations; confidence 0.7999 < 0.8: an operator must approve"},
		{rated(799), 0.85, "tier 2: success rate 0.799 (below 0.8) over 998 validations; confidence 0.85 < 0.9: an operator must approve"},
		{ooda.TypeStats{}, 1, "tier 2: no validated history for vacuum in the last 720h; an operator must approve"},
	} {
		d := decideOne(t, hyp("vacuum", "main", 2, c.conf), ooda.DefaultPolicy(), ooda.DecideInput{Now: t0, Stats: map[string]ooda.TypeStats{"vacuum": c.stats}})
		if d.Reason != c.want {
			t.Errorf("reason\n %q\nwant\n %q", d.Reason, c.want)
		}
	}
}

// TestWindows: a tier's action runs only while one of its windows is open,
// from the instant the cron fires up to, not including, fire + duration.
func TestWindows(t *testing.T) {
	t.Parallel()
	night := mustWindow(t, "0 2 * * *", 3*time.Hour)
	sat := mustWindow(t, "30 13 * * 6", time.Hour)
	ny := mustWindow(t, "CRON_TZ=America/New_York 0 2 * * *", time.Hour) // 07:00 UTC in December
	day := func(d, h, m, s, ns int) time.Time { return time.Date(2026, 12, d, h, m, s, ns, time.UTC) }
	const run, later = ooda.VerdictExecute, ooda.VerdictDeferred
	for _, c := range []struct {
		name       string
		ws         []ooda.Window
		now        time.Time
		want       string
		wantReason string
	}{
		{"JustBeforeOpen", []ooda.Window{night}, day(5, 1, 59, 59, 999999999), later,
			"outside the tier-1 maintenance window 0 2 * * * for 3h; next opens at 2026-12-05 02:00:00 UTC"},
		{"AtOpen", []ooda.Window{night}, day(5, 2, 0, 0, 0), run, ""},
		{"JustAfterOpen", []ooda.Window{night}, day(5, 2, 0, 0, 1), run, ""},
		{"JustBeforeClose", []ooda.Window{night}, day(5, 4, 59, 59, 999999999), run, ""},
		{"AtClose", []ooda.Window{night}, day(5, 5, 0, 0, 0), later,
			"outside the tier-1 maintenance window 0 2 * * * for 3h; next opens at 2026-12-06 02:00:00 UTC"},
		{"JustAfterClose", []ooda.Window{night}, day(5, 5, 0, 0, 1), later, ""},
		{"SecondWindowOpen", []ooda.Window{night, sat}, day(5, 13, 30, 0, 0), run, ""}, // Saturday
		{"SecondWindowClosed", []ooda.Window{night, sat}, day(5, 14, 30, 0, 0), later, // the earliest next opening
			"outside the tier-1 maintenance windows 0 2 * * * for 3h, 30 13 * * 6 for 1h; next opens at 2026-12-06 02:00:00 UTC"},
		{"ZoneOpen", []ooda.Window{ny}, day(5, 7, 0, 0, 0), run, ""},
		{"ZoneClosed", []ooda.Window{ny}, day(5, 2, 30, 0, 0), later, ""},
		{"NoWindows", nil, day(5, 12, 0, 0, 0), run, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := ooda.DefaultPolicy()
			p.Windows = map[int][]ooda.Window{1: c.ws, 3: {night}}
			d := decideOne(t, hyp("optimize", "main", 1, 0.8), p, ooda.DecideInput{Now: c.now})
			if d.Verdict != c.want || (c.wantReason != "" && d.Reason != c.wantReason) {
				t.Fatalf("%s, %q; want %s, %q", d.Verdict, d.Reason, c.want, c.wantReason)
			}
			// Tier 2 has no windows: always allowed.
			in := ooda.DecideInput{Now: c.now, Stats: map[string]ooda.TypeStats{"vacuum": {Improved: 100}}}
			if d := decideOne(t, hyp("vacuum", "main", 2, 0.9), p, in); d.Verdict != run {
				t.Fatalf("tier 2 without windows: %s, %q", d.Verdict, d.Reason)
			}
		})
	}
}

func mustWindow(t *testing.T, spec string, d time.Duration) ooda.Window {
	t.Helper()
	w, err := ooda.NewWindow(spec, d)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestCooldown(t *testing.T) {
	t.Parallel()
	acted := t0.Add(-time.Hour)
	recent := []ooda.RecentAction{{Type: "reorganize_index", Object: "dbo.T.IX", At: acted, CycleID: "old"},
		{Type: "reorganize_index", Object: "dbo.T.IX", At: acted.Add(-3 * time.Hour), CycleID: "older"}}
	for _, c := range []struct {
		name   string
		object string
		now    time.Time
		want   string
	}{
		{"JustInside", "dbo.T.IX", acted.Add(6*time.Hour - time.Nanosecond), ooda.VerdictDeferred},
		{"AtEnd", "dbo.T.IX", acted.Add(6 * time.Hour), ooda.VerdictExecute},
		{"JustOutside", "dbo.T.IX", acted.Add(6*time.Hour + time.Nanosecond), ooda.VerdictExecute},
		{"OtherObject", "dbo.T.IX2", acted.Add(time.Minute), ooda.VerdictExecute},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := decideOne(t, hyp("update_statistics", c.object, 1, 0.9), ooda.DefaultPolicy(), ooda.DecideInput{Now: c.now, Recent: recent})
			if d.Verdict != c.want {
				t.Fatalf("%s, %q; want %s", d.Verdict, d.Reason, c.want)
			}
		})
	}
	p := ooda.DefaultPolicy()
	p.Cooldown = 2 * time.Hour
	d := decideOne(t, hyp("update_statistics", "dbo.T.IX", 1, 0.9), p, ooda.DecideInput{Now: t0, Recent: recent})
	want := "cooldown: dbo.T.IX was acted on at 2026-12-04 21:00:00 UTC (reorganize_index), within the 2h cooldown; allowed again at 2026-12-04 23:00:00 UTC"
	if d.Verdict != ooda.VerdictDeferred || d.Reason != want {
		t.Fatalf("%s, %q; want deferred, %q", d.Verdict, d.Reason, want)
	}
}

// TestBudgets: with budget n, n−1 earlier executions leave room for one,
// n or n+1 leave none; earlier executions of the same call count.
func TestBudgets(t *testing.T) {
	t.Parallel()
	const n = 3
	past := func(k int, cycle string, at time.Time) []ooda.RecentAction {
		var rs []ooda.RecentAction
		for i := range k {
			rs = append(rs, ooda.RecentAction{Type: "optimize", Object: fmt.Sprint("o", i), At: at, CycleID: cycle})
		}
		return rs
	}
	for _, c := range []struct {
		name   string
		recent []ooda.RecentAction
		want   string
		reason string
	}{
		{"CycleNMinus1", past(n-1, "c1", t0.Add(-2*time.Hour)), ooda.VerdictExecute, ""},
		{"CycleN", past(n, "c1", t0.Add(-2*time.Hour)), ooda.VerdictDeferred, "budget: 3 actions already executed this cycle, budget_per_cycle 3"},
		{"CycleNPlus1", past(n+1, "c1", t0.Add(-2*time.Hour)), ooda.VerdictDeferred, ""},
		{"OtherCycle", past(n+1, "c0", t0.Add(-2*time.Hour)), ooda.VerdictExecute, ""},
		{"HourNMinus1", past(2*n-1, "c0", t0.Add(-time.Minute)), ooda.VerdictExecute, ""},
		{"HourN", past(2*n, "c0", t0.Add(-time.Hour+time.Nanosecond)), ooda.VerdictDeferred, "budget: 6 actions executed since 2026-12-04 21:00:00 UTC, budget_per_hour 6"},
		{"HourNPlus1", past(2*n+1, "c0", t0), ooda.VerdictDeferred, ""},
		{"HourNAnHourAgo", past(2*n, "c0", t0.Add(-time.Hour)), ooda.VerdictExecute, ""}, // (now − 1h, now]
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := ooda.DefaultPolicy()
			p.BudgetPerCycle, p.BudgetPerHour = n, 2*n
			d := decideOne(t, hyp("optimize", "fresh", 1, 0.9), p, ooda.DecideInput{Now: t0, CycleID: "c1", Recent: c.recent})
			if d.Verdict != c.want || (c.reason != "" && d.Reason != c.reason) {
				t.Fatalf("%s, %q; want %s %q", d.Verdict, d.Reason, c.want, c.reason)
			}
		})
	}
	t.Run("SameCall", func(t *testing.T) {
		t.Parallel()
		p := ooda.DefaultPolicy()
		p.BudgetPerCycle = n
		hs := []ooda.Hypothesis{hyp("optimize", "a", 1, 1), hyp("drop_table", "x", 1, 1), hyp("optimize", "b", 1, 1),
			hyp("retrain", "m", 3, 1), hyp("optimize", "c", 1, 1), hyp("optimize", "d", 1, 1), hyp("optimize", "e", 1, 1)}
		got := verdicts(ooda.Decide(hs, p, ooda.DecideInput{Now: t0}))
		want := []string{"execute", "needs_approval", "execute", "needs_approval", "execute", "deferred", "deferred"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("verdicts %v, want %v", got, want)
		}
		// A dry run shows what a live run would defer.
		p.DryRun = true
		got = verdicts(ooda.Decide(hs, p, ooda.DecideInput{Now: t0}))
		want = []string{"dry_run", "needs_approval", "dry_run", "needs_approval", "dry_run", "deferred", "deferred"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("dry-run verdicts %v, want %v", got, want)
		}
	})
}

func verdicts(ds []ooda.Decision) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Verdict)
	}
	return out
}

// TestNeverAutomatic: the built-in list needs an operator whatever the
// policy says: tier 1, perfect history, full confidence, no dry-run.
func TestNeverAutomatic(t *testing.T) {
	t.Parallel()
	p := ooda.DefaultPolicy()
	p.NeverAutomatic = []string{"vacuum"}
	p.ProtectedTables = []string{"Invoice"}
	p.Tier2 = ooda.Tier2Policy{HighRate: 0.01, HighConfidence: 0.01, LowRate: 0.01, MidConfidence: 0.01, LowConfidence: 0.01}
	perfect := map[string]ooda.TypeStats{}
	for _, a := range append(ooda.BuiltinNeverAutomatic(), "vacuum", "create_missing_index", "update_statistics") {
		perfect[a] = ooda.TypeStats{Improved: 1000}
	}
	in := ooda.DecideInput{Now: t0, Stats: perfect}
	if len(ooda.BuiltinNeverAutomatic()) < 8 {
		t.Fatalf("built-in list %v is missing the CATALOG's entries", ooda.BuiltinNeverAutomatic())
	}
	for _, a := range ooda.BuiltinNeverAutomatic() {
		for tier := 1; tier <= 2; tier++ {
			d := decideOne(t, hyp(a, "dbo.T", tier, 1), p, in)
			want := "never automatic: " + a + " is on the never-automatic list; an operator must approve"
			if d.Verdict != ooda.VerdictNeedsApproval || d.Reason != want {
				t.Errorf("%s tier %d: %s, %q", a, tier, d.Verdict, d.Reason)
			}
		}
	}
	for _, c := range []struct {
		h    ooda.Hypothesis
		want string
	}{
		{hyp("vacuum", "main", 1, 1), ooda.VerdictNeedsApproval},                                      // the policy's own list
		{hyp("create_missing_index", "dbo.BillingLedger.IX_ooda_1", 2, 1), ooda.VerdictNeedsApproval}, // billing, built in
		{hyp("create_missing_index", "dbo.tenant_billing.IX_ooda_1", 2, 1), ooda.VerdictNeedsApproval},
		{hyp("create_missing_index", "sales.INVOICES.IX_ooda_1", 2, 1), ooda.VerdictNeedsApproval}, // the policy's protected table
		{hyp("update_statistics", "dbo.BillingLedger.stats", 1, 1), ooda.VerdictExecute},           // tier 1 does not change the table
		{hyp("create_missing_index", "dbo.Orders.IX_ooda_1", 2, 1), ooda.VerdictExecute},
		{hyp(ooda.ActionTruncateTable, "dbo.T", 0, 1), ooda.VerdictObserve}, // tier 0 changes nothing
	} {
		if d := decideOne(t, c.h, p, in); d.Verdict != c.want {
			t.Errorf("%s on %s: %s, %q; want %s", c.h.Action, c.h.Object, d.Verdict, d.Reason, c.want)
		}
	}
	d := decideOne(t, hyp("create_missing_index", "dbo.BillingLedger.IX_ooda_1", 2, 1), p, in)
	if want := `never automatic: create_missing_index changes dbo.BillingLedger.IX_ooda_1, a protected table (matches "billing"); an operator must approve`; d.Reason != want {
		t.Errorf("reason %q, want %q", d.Reason, want)
	}
}

func TestDryRunAndPause(t *testing.T) {
	t.Parallel()
	stats := map[string]ooda.TypeStats{"vacuum": {Improved: 100}}
	for _, c := range []struct {
		name   string
		h      ooda.Hypothesis
		dryRun bool
		types  []string
		paused bool
		want   string
		reason string
	}{
		{"TypeListed", hyp("optimize", "main", 1, 1), false, []string{"optimize"}, false, ooda.VerdictDryRun,
			"dry-run for optimize (dry_run_types); would execute (tier 1: automatic)"},
		{"TypeNotListed", hyp("wal_checkpoint", "main", 1, 1), false, []string{"optimize"}, false, ooda.VerdictExecute, "tier 1: automatic"},
		{"UnknownTypeListed", hyp("wal_checkpoint", "main", 1, 1), false, []string{"no_such_action"}, false, ooda.VerdictExecute, ""},
		{"Tier2TypeListed", hyp("vacuum", "main", 2, 0.9), false, []string{"vacuum"}, false, ooda.VerdictDryRun, ""},
		{"Global", hyp("wal_checkpoint", "main", 1, 1), true, nil, false, ooda.VerdictDryRun,
			"dry-run is on; would execute (tier 1: automatic)"},
		{"GlobalTier3", hyp("retrain", "m", 3, 1), true, nil, false, ooda.VerdictNeedsApproval, "tier 3: an operator must always approve"},
		{"GlobalTier2NoHistory", hyp("rebuild_index", "x", 2, 1), true, nil, false, ooda.VerdictNeedsApproval, ""},
		{"PausedTier0", hyp("alert_backlog", "queues", 0, 1), false, nil, true, ooda.VerdictObserve, "tier 0: report only"},
		{"PausedTier1", hyp("optimize", "main", 1, 1), true, nil, true, ooda.VerdictPaused, "the loop is paused (kill switch)"},
		{"PausedTier2", hyp("vacuum", "main", 2, 1), false, nil, true, ooda.VerdictPaused, ""},
		{"PausedTier3", hyp("retrain", "m", 3, 1), false, nil, true, ooda.VerdictPaused, ""},
		{"PausedNeverAutomatic", hyp(ooda.ActionDropTable, "t", 1, 1), false, nil, true, ooda.VerdictPaused, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := ooda.DefaultPolicy()
			p.DryRun, p.DryRunTypes = c.dryRun, c.types
			d := decideOne(t, c.h, p, ooda.DecideInput{Now: t0, Paused: c.paused, Stats: stats})
			if d.Verdict != c.want || (c.reason != "" && d.Reason != c.reason) {
				t.Fatalf("%s, %q; want %s %q", d.Verdict, d.Reason, c.want, c.reason)
			}
		})
	}
}

// TestCheckOrder: when several rules apply, the first in the documented
// order names the verdict.
func TestCheckOrder(t *testing.T) {
	t.Parallel()
	p := ooda.DefaultPolicy()
	p.Windows = map[int][]ooda.Window{1: {mustWindow(t, "0 2 * * *", time.Hour)}, 2: {mustWindow(t, "0 2 * * *", time.Hour)}}
	p.BudgetPerCycle, p.DryRun = 1, true
	in := ooda.DecideInput{Now: t0, CycleID: "c", Stats: map[string]ooda.TypeStats{"vacuum": {Improved: 5}},
		Recent: []ooda.RecentAction{{Type: "optimize", Object: "main", At: t0.Add(-time.Minute), CycleID: "c"}}}
	for _, c := range []struct {
		h      ooda.Hypothesis
		prefix string
	}{
		{hyp("vacuum", "main", 2, 0.5), "tier 2: success rate"},       // threshold before window
		{hyp("optimize", "main", 1, 1), "outside the tier-1"},         // window before cooldown
		{hyp("optimize", "other", 1, 1), "outside the tier-1"},        // window before budget
		{hyp(ooda.ActionDeleteRows, "main", 3, 1), "never automatic"}, // never before tier 3
	} {
		d := decideOne(t, c.h, p, in)
		if len(d.Reason) < len(c.prefix) || d.Reason[:len(c.prefix)] != c.prefix {
			t.Errorf("%s: %s, %q; want a reason starting %q", c.h.ID, d.Verdict, d.Reason, c.prefix)
		}
	}
	p.Windows = nil
	if d := decideOne(t, hyp("optimize", "main", 1, 1), p, in); d.Reason[:9] != "cooldown:" { // cooldown before budget
		t.Errorf("cooldown and budget: %q", d.Reason)
	}
	if d := decideOne(t, hyp("optimize", "other", 1, 1), p, in); d.Reason[:7] != "budget:" { // budget before dry-run
		t.Errorf("budget and dry-run: %q", d.Reason)
	}
}

// TestDecideIsPure: the same input gives the same decisions, in
// hypothesis order, and Decide changes none of its inputs.
func TestDecideIsPure(t *testing.T) {
	t.Parallel()
	hs := []ooda.Hypothesis{hyp("a", "1", 1, 1), hyp("b", "2", 2, 0.9), hyp("c", "3", 0, 1), hyp("d", "4", 3, 1)}
	p := ooda.DefaultPolicy()
	p.DryRunTypes = []string{"a"}
	in := ooda.DecideInput{Now: t0, Stats: map[string]ooda.TypeStats{"b": {Improved: 40}}, Recent: []ooda.RecentAction{{Type: "x", Object: "9", At: t0}}}
	first := ooda.Decide(hs, p, in)
	for range 5 {
		if again := ooda.Decide(hs, p, in); !reflect.DeepEqual(first, again) {
			t.Fatalf("decisions differ: %+v vs %+v", first, again)
		}
	}
	for i, d := range first {
		if d.Hypothesis != hs[i] {
			t.Fatalf("decision %d is for %s, want %s", i, d.Hypothesis.ID, hs[i].ID)
		}
	}
	if got := verdicts(first); !reflect.DeepEqual(got, []string{"dry_run", "execute", "observe", "needs_approval"}) {
		t.Fatalf("verdicts %v", got)
	}
	if len(p.NeverAutomatic) != 0 || len(in.Recent) != 1 || len(ooda.Decide(nil, p, in)) != 0 || ooda.Decide(nil, p, in) == nil {
		t.Fatal("Decide changed its inputs or returned nil for no hypotheses")
	}
}
