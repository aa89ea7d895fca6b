package mssqltarget

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
)

// offline is a target without a pool: whatever it does without asking the
// database is testable, and anything that reaches for the pool panics.
func offline() *Target {
	var o Options
	o.withDefaults()
	return &Target{opt: o, now: time.Now}
}

func TestCheckIndexAction(t *testing.T) {
	t.Parallel()
	opt := offline().opt
	ours := Object{"dbo", "Orders", "IX_ooda_Orders_0badcafe"}
	for _, c := range []struct {
		name   string
		action string
		f      indexFacts
		never  bool // ErrNeverAutomatic
		ok     bool
	}{
		{"DropOurs", ActionDropOodaIndex, indexFacts{Object: ours, Type: 2}, false, true},
		{"DropNotNamedOurs", ActionDropOodaIndex, indexFacts{Object: Object{"dbo", "Orders", "IX_Orders_Date"}, Type: 2}, true, false},
		{"DropOursButClustered", ActionDropOodaIndex, indexFacts{Object: ours, Type: 1}, true, false},
		{"DropOursButPrimaryKey", ActionDropOodaIndex, indexFacts{Object: ours, Type: 2, PrimaryKey: true}, true, false},
		{"DropOursButUniqueConstraint", ActionDropOodaIndex, indexFacts{Object: ours, Type: 2, UniqueConstraint: true}, true, false},
		{"DropOnBillingTable", ActionDropOodaIndex, indexFacts{Object: Object{"dbo", "BillingLedger", "IX_ooda_BillingLedger_1"}, Type: 2}, true, false},
		{"CreateOnBillingTable", ActionCreateIndex, indexFacts{Object: Object{"dbo", "tenant_billing", "IX_ooda_x"}}, true, false},
		{"CreateOnOrders", ActionCreateIndex, indexFacts{Object: ours}, false, true},
		{"RebuildClusteredOnline", ActionRebuildIndex, indexFacts{Object: Object{"dbo", "Orders", "PK_Orders"}, Type: 1, PrimaryKey: true, AllowPageLocks: true}, false, true},
		{"RebuildDisabled", ActionRebuildIndex, indexFacts{Object: ours, Type: 2, Disabled: true}, false, false},
		{"RebuildColumnstore", ActionRebuildIndex, indexFacts{Object: ours, Type: 5}, false, false},
		{"ReorganizeNoPageLocks", ActionReorganizeIndex, indexFacts{Object: ours, Type: 2}, false, false},
		{"Reorganize", ActionReorganizeIndex, indexFacts{Object: ours, Type: 2, AllowPageLocks: true}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := checkIndexAction(c.action, c.f, opt)
			if (err == nil) != c.ok || errors.Is(err, ErrNeverAutomatic) != c.never {
				t.Fatalf("checkIndexAction: %v; want ok %v, never-automatic %v", err, c.ok, c.never)
			}
		})
	}
}

// TestNeverAutomaticRefusedWithoutAsking: the refusals need no database: a
// target without a pool refuses them (it would panic on the pool otherwise).
func TestNeverAutomaticRefusedWithoutAsking(t *testing.T) {
	t.Parallel()
	tg := offline()
	ctx := context.Background()
	for _, c := range []struct{ action, object string }{
		{"drop_index", "dbo.Orders.PK_Orders"},
		{"truncate_table", "dbo.Orders"},
		{"delete_rows", "dbo.Orders"},
		{"alter_table", "dbo.Orders"},
		{"rebuild_index_offline", "dbo.Orders.PK_Orders"},
		{"drop_clustered_index", "dbo.Orders.CIX"},
		{ActionDropOodaIndex, "dbo.Orders.PK_Orders"},
		{ActionDropOodaIndex, "dbo.Billing.IX_ooda_Billing_1"},
		{ActionCreateIndex, "dbo.BillingEvents.IX_ooda_BillingEvents_1"},
	} {
		_, err := tg.Execute(ctx, c.action, c.object)
		if !errors.Is(err, ErrNeverAutomatic) {
			t.Errorf("Execute(%s, %s) = %v, want ErrNeverAutomatic", c.action, c.object, err)
		}
		if d := tg.Describe(c.action, c.object); c.action != ActionDropOodaIndex && c.action != ActionCreateIndex && !strings.HasPrefix(d, "refused") {
			t.Errorf("Describe(%s) = %q, want a refusal", c.action, d)
		}
	}
	if _, err := tg.Execute(ctx, "vacuum", "main"); err == nil || errors.Is(err, ErrNeverAutomatic) {
		t.Errorf("an unknown action gave %v, want an unknown-action error", err)
	}
	if _, err := tg.Execute(ctx, ActionCreateIndex, "dbo.Orders.IX_Orders_Date"); err == nil {
		t.Error("creating an index not named IX_ooda_ was accepted")
	}
	if _, err := tg.Execute(ctx, ActionEndConversations, "//Someone/Else/Service"); err == nil {
		t.Error("ending conversations of a service that is not the loop's was accepted")
	}
	if _, err := tg.Undo(ctx, ActionReorganizeIndex, "dbo.T.I"); err == nil {
		t.Error("reorganize has no undo, but Undo accepted it")
	}
	if out, err := tg.Execute(ctx, AlertDisabledQueue, "ooda.ActQueue"); err != nil || out.Before != nil {
		t.Errorf("a tier-0 alert: %+v, %v; want nothing done", out, err)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	tg := offline()
	for _, c := range []struct{ action, object, want string }{
		{ActionReorganizeIndex, "dbo.Orders.IX_Orders_Date", "ALTER INDEX [IX_Orders_Date] ON [dbo].[Orders] REORGANIZE;"},
		{ActionRebuildIndex, "sales.[we]]ird].[IX ]]x]", "ALTER INDEX [IX ]]x] ON [sales].[we]]ird] REBUILD WITH (ONLINE = ON (WAIT_AT_LOW_PRIORITY (MAX_DURATION = 5 MINUTES, ABORT_AFTER_WAIT = SELF)), RESUMABLE = ON);"},
		{ActionUpdateStatistics, "dbo.Orders.ST_Date", "WITH FULLSCAN; if the table has at most 1000000 rows, else SET LOCK_TIMEOUT 30000; UPDATE STATISTICS [dbo].[Orders] ([ST_Date]) WITH SAMPLE 25 PERCENT;"},
		{ActionDropOodaIndex, "dbo.Orders.IX_ooda_Orders_0badcafe", "DROP INDEX [IX_ooda_Orders_0badcafe] ON [dbo].[Orders];"},
		{ActionDropOodaIndex, "dbo.Orders.PK_Orders", "refused"},
		{ActionRaiseQueryStore, "query_store:max_mb=1000", "from 1000 to 2000"},
		{ActionRaiseQueryStore, "query_store:max_mb=8000", "from 8000 to 10240"},
		{ActionForcePlan, "query:7:plan:3", "sp_query_store_force_plan"},
		{ActionCreateIndex, "dbo.Orders.IX_ooda_Orders_0badcafe", "WITH (ONLINE = ON)"},
		{ActionEndConversations, "//Hartonomous/OODA/ActService", "never WITH CLEANUP"},
		{AlertTransmission, "//S: Error", "report only"},
	} {
		if d := tg.Describe(c.action, c.object); !strings.Contains(d, c.want) {
			t.Errorf("Describe(%s, %s) = %q, want it to contain %q", c.action, c.object, d, c.want)
		}
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opt  Options
		want string
	}{
		{"NoDSN", Options{}, "DSN"},
		{"NotSQLServer", Options{DSN: "sqlite:///x"}, "sqlserver://"},
		{"NoIndexes", Options{DSN: "sqlserver://h", MaxIndexes: -1}, "MaxIndexes"},
		{"ShortRegressionWindow", Options{DSN: "sqlserver://h", RegressionWindow: time.Minute}, "RegressionWindow"},
	} {
		_, err := Open(context.Background(), c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Open = %v, want an error naming %s", c.name, err, c.want)
		}
	}
}

func TestWaitDeltas(t *testing.T) {
	t.Parallel()
	if got := waitDeltas(nil, map[string]float64{"LCK_M_X": 10}, 5); got != nil {
		t.Fatalf("first observation gave %v, want a baseline only", got)
	}
	prev := map[string]float64{"LCK_M_X": 100, "PAGEIOLATCH_SH": 50, "WRITELOG": 7}
	cur := map[string]float64{"LCK_M_X": 400, "PAGEIOLATCH_SH": 60, "WRITELOG": 7, "CXPACKET": 30}
	got := waitDeltas(prev, cur, 2)
	if len(got) != 2 || got[0].Object != "LCK_M_X" || got[0].Value != 300 || got[1].Object != "CXPACKET" || got[1].Value != 30 {
		t.Fatalf("deltas %+v, want LCK_M_X 300 then CXPACKET 30", got)
	}
	if got := waitDeltas(prev, map[string]float64{"LCK_M_X": 1}, 5); got != nil {
		t.Fatalf("after a counter reset got %v, want none", got)
	}
	if !benign("SLEEP_TASK") || !benign("BROKER_RECEIVE_WAITFOR") || benign("LCK_M_X") {
		t.Fatal("benign waits misclassified")
	}
}

func TestMissingColumns(t *testing.T) {
	t.Parallel()
	c, err := missingColumns(sql.NullString{String: "[a], [b]", Valid: true}, sql.NullString{String: "[c]", Valid: true}, sql.NullString{})
	if err != nil || strings.Join(c.Key, ",") != "a,b,c" || len(c.Include) != 0 {
		t.Fatalf("missingColumns = %+v, %v; want keys a,b,c (equality before inequality) and no includes", c, err)
	}
	if err := resolveColumns(IndexColumns{Key: []string{"a"}, Include: []string{"z"}}, []string{"a", "b"}); err == nil {
		t.Fatal("a column that is not on the table was accepted")
	}
}

func TestFailedReading(t *testing.T) {
	t.Parallel()
	r := failedReading("waits", errors.New("mssql: VIEW SERVER STATE permission was denied\n"+strings.Repeat("x", 500)))
	if r.Name != ReadingSensorFailed || r.Value != 1 || !strings.HasPrefix(r.Object, "waits: mssql: VIEW SERVER STATE permission was denied x") || len(r.Object) > 220 {
		t.Fatalf("failed reading %+v", r)
	}
}

// TestAgreesWithTheRules: the readings this target emits make ooda's
// rules propose actions this target knows, and its defaults name the
// loop's own queues and services.
func TestAgreesWithTheRules(t *testing.T) {
	t.Parallel()
	const ix, st, mi, q = "dbo.T.IX_T", "dbo.T.ST", "dbo.T.IX_ooda_T_0badcafe", "query:7:plan:3"
	o := store.Observation{Target: Name, Readings: []store.Reading{
		{Name: ReadingFragmentation, Object: ix, Value: 50}, {Name: ReadingIndexPages, Object: ix, Value: 5000},
		{Name: ReadingFragmentation, Object: "dbo.T.IX_U", Value: 10}, {Name: ReadingIndexPages, Object: "dbo.T.IX_U", Value: 5000},
		{Name: ReadingStatsModified, Object: st, Value: 5000}, {Name: ReadingStatsRows, Object: st, Value: 10000},
		{Name: ReadingMissingImpact, Object: mi, Value: 1e6}, {Name: ReadingMissingWrites, Object: mi, Value: 0.1},
		{Name: ReadingOodaIndexReads, Object: "dbo.T.IX_ooda_T_1", Value: 0}, {Name: ReadingOodaIndexWrites, Object: "dbo.T.IX_ooda_T_1", Value: 9},
		{Name: ReadingUsageWindow, Object: "database", Value: 1e7}, {Name: ReadingAutoForcePlan, Object: "database", Value: 0},
		{Name: ReadingRegressionRatio, Object: q, Value: 4}, {Name: ReadingRecentExecutions, Object: q, Value: 100},
		{Name: ReadingTuningScore, Object: "query:8:plan:1", Value: 60},
		{Name: ReadingQSReadOnlyFull, Object: "query_store", Value: 1}, {Name: ReadingQSMaxMB, Object: "query_store", Value: 1000},
		{Name: ReadingQueueEnabled, Object: "ooda.ActQueue", Value: 0},
		{Name: ReadingTransmissionAge, Object: "//S: Error 8489", Value: 9999},
		{Name: ReadingEndpointsExpired, Object: "//Hartonomous/OODA/ActService", Value: 3},
		{Name: ReadingSensorFailed, Object: "waits: denied", Value: 1},
	}}
	hs := ooda.Orient(o, ooda.DefaultThresholds())
	seen := map[string]bool{}
	tg := offline()
	for _, h := range hs {
		seen[h.Action] = true
		if d := tg.Describe(h.Action, h.Object); strings.HasPrefix(d, "unknown") || strings.HasPrefix(d, "refused") {
			t.Errorf("rule %s proposes %s on %s, which the target describes as %q", h.Rule, h.Action, h.Object, d)
		}
	}
	for _, a := range []string{ActionUpdateStatistics, ActionReorganizeIndex, ActionRebuildIndex, ActionForcePlan, ActionCreateIndex,
		ActionDropOodaIndex, ActionRaiseQueryStore, ActionEndConversations, AlertDisabledQueue, AlertTransmission, AlertSensorFailed} {
		if !seen[a] {
			t.Errorf("no rule proposed %s from this target's readings (hypotheses %+v)", a, hs)
		}
	}
	top := ooda.Topology()
	if strings.Join(tg.opt.Queues, ",") != strings.Join(top.Queues, ",") {
		t.Errorf("default queues %v, topology %v", tg.opt.Queues, top.Queues)
	}
	var svcs []string
	for _, s := range top.Services {
		svcs = append(svcs, s.Name)
	}
	if strings.Join(tg.opt.Services, ",") != strings.Join(svcs, ",") {
		t.Errorf("default services %v, topology %v", tg.opt.Services, svcs)
	}
}
