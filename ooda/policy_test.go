package ooda_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/ooda"
)

func loadPolicyFile(t *testing.T, path string) ooda.PolicyFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := ooda.LoadPolicy(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// golden compares got with a file under testdata; -update rewrites it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ooda -run Policy -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (run go test ./ooda -run Policy -update after checking):\n got %s\nwant %s", path, got, want)
	}
}

func TestPolicyFileGood(t *testing.T) {
	t.Parallel()
	p := loadPolicyFile(t, "testdata/policy-good.json")
	var cfg ooda.Config
	p.Apply(&cfg)
	want := ooda.DefaultThresholds()
	want.FreePagesFraction, want.WALBytes, want.OptimizeEvery = 0.3, 128<<20, 12*time.Hour
	// The file's sqlserver fields only; the others stay zero, which the
	// rules read as their defaults.
	want.SQLServer = ooda.SQLServerThresholds{StatsMaxAge: 72 * time.Hour, RebuildAbove: 40, HybridSearchThresholdMS: 200, LOFK: 7}
	if !cfg.DryRun || cfg.ApprovalTTL != 2*time.Hour || cfg.Thresholds != want {
		t.Fatalf("applied: dry-run %v, ttl %s, thresholds %+v; want %+v", cfg.DryRun, cfg.ApprovalTTL, cfg.Thresholds, want)
	}
	// Printed, every sqlserver field is present; the inference SLO follows
	// hybrid_search_threshold_ms when the file does not set it.
	out := string(p.Policy().JSON(cfg.Thresholds))
	for _, line := range []string{`"stats_max_age": "72h",`, `"rebuild_above": 40,`, `"reorganize_from": 5,`, `"hybrid_search_threshold_ms": 200,`,
		`"inference_p95_ms": 200,`, `"lof_k": 7,`, `"unused_index_window": "168h",`, `"projection_coverage": 0.99`} {
		if !strings.Contains(out, line) {
			t.Errorf("printed policy lacks %s:\n%s", line, out)
		}
	}
	// Absent fields keep what the configuration has.
	cfg = ooda.Config{Thresholds: ooda.Thresholds{SQLServer: ooda.SQLServerThresholds{ReorganizeFrom: 10, RebuildAbove: 50}}}
	p.Apply(&cfg)
	if s := cfg.Thresholds.SQLServer; s.ReorganizeFrom != 10 || s.RebuildAbove != 40 || s.LOFK != 7 || cfg.Thresholds.FreePagesFraction != 0.3 || cfg.Thresholds.FreePagesMin != 1000 {
		t.Fatalf("applied over a configuration: %+v", cfg.Thresholds)
	}
	wantPol := ooda.DefaultPolicy()
	wantPol.DryRun, wantPol.ApprovalTTL = true, 2*time.Hour
	if got := p.Policy(); !reflect.DeepEqual(got, wantPol) {
		t.Fatalf("policy %+v, want the defaults with dry-run and a 2h TTL: %+v", got, wantPol)
	}
}

// TestPolicyFull: testdata/policy-full.json is the documented format with
// every field at its default — exactly what `oodactl policy` prints for
// the defaults — and it loads back to the same effective policy.
func TestPolicyFull(t *testing.T) {
	t.Parallel()
	out := ooda.DefaultPolicy().JSON(ooda.DefaultThresholds())
	golden(t, "policy-full.json", out)
	p := loadPolicyFile(t, "testdata/policy-full.json")
	var cfg ooda.Config
	p.Apply(&cfg)
	if again := p.Policy().JSON(cfg.Thresholds); !bytes.Equal(again, out) {
		t.Fatalf("loading the printed defaults changed them:\n%s", again)
	}
	want := ooda.DefaultThresholds()
	want.SQLServer = ooda.DefaultSQLServerThresholds() // the file sets every field
	if cfg.Thresholds != want || cfg.ApprovalTTL != 24*time.Hour || cfg.DryRun {
		t.Fatalf("applied %+v", cfg)
	}
	if d := ooda.DefaultPolicy(); d.BudgetPerCycle != 10 || d.BudgetPerHour != 30 || d.Cooldown != 6*time.Hour || d.ApprovalTTL != 24*time.Hour ||
		d.Tier2 != (ooda.Tier2Policy{HighRate: 0.95, HighConfidence: 0.75, LowRate: 0.80, MidConfidence: 0.80, LowConfidence: 0.90, History: 30 * 24 * time.Hour}) {
		t.Fatalf("defaults %+v differ from the CATALOG", d)
	}
}

// TestPolicySQLServerRoundTrip: the thresholds.sqlserver section that
// Policy.JSON prints loads back (LoadPolicy, Apply) to the same thresholds,
// every field of SQLServerThresholds included.
func TestPolicySQLServerRoundTrip(t *testing.T) {
	t.Parallel()
	// Every field away from its default, so that a field the printer or
	// the loader forgets shows as a difference.
	customSQL := ooda.SQLServerThresholds{
		StatsMinModifications: 800, StatsModifiedFraction: 0.15, StatsMaxAge: 90 * time.Hour,
		ReorganizeFrom: 8, RebuildAbove: 45, MinIndexPages: 2500, RegressionRatio: 1.5, MinExecutions: 25,
		MissingIndexImpact: 5000, MaxWriteFraction: 0.35, UnusedIndexWindow: 14 * 24 * time.Hour,
		QueryStoreCapMB: 20480, TransmissionAge: 90 * time.Second,
		HybridSearchMS: 90, HybridSearchThresholdMS: 140, SpatialProjectionMS: 11, SpatialProjectionThresholdMS: 18,
		EmbeddingInsertMS: 4, EmbeddingInsertThresholdMS: 9, BillingInsertMS: 0.3, BillingInsertThresholdMS: 0.9, SLOMinExecutions: 40,
		InferenceP95MS: 250, InferenceMinRequests: 30, InferenceMinOutliers: 3, InferenceSlowSigmas: 3,
		ForestThreshold: 0.65, LOFThreshold: 1.8, LOFK: 8, ProjectionCoverage: 0.995,
	}
	v := reflect.ValueOf(customSQL)
	d := reflect.ValueOf(ooda.DefaultSQLServerThresholds())
	for i := range v.NumField() {
		if v.Field(i).Interface() == d.Field(i).Interface() {
			t.Fatalf("customSQL.%s is its default: give it another value", v.Type().Field(i).Name)
		}
	}
	custom := ooda.Thresholds{FreePagesFraction: 0.25, FreePagesMin: 500, WALBytes: 32 << 20, OptimizeEvery: 6 * time.Hour, BacklogAge: time.Minute, SQLServer: customSQL}
	defaults := ooda.DefaultThresholds()
	defaults.SQLServer = ooda.DefaultSQLServerThresholds()
	partial := defaults
	partial.SQLServer.RebuildAbove = 50
	for name, c := range map[string]struct{ th, want ooda.Thresholds }{
		"Custom":       {custom, custom},
		"Partial":      {ooda.Thresholds{SQLServer: ooda.SQLServerThresholds{RebuildAbove: 50}}, partial},
		"Zero":         {ooda.Thresholds{}, defaults},
		"DefaultsOnly": {ooda.DefaultThresholds(), defaults},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := ooda.DefaultPolicy().JSON(c.th)
			p, err := ooda.LoadPolicy(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var cfg ooda.Config
			p.Apply(&cfg)
			if cfg.Thresholds != c.want {
				t.Fatalf("loaded back\n %+v\nwant\n %+v\nfrom\n%s", cfg.Thresholds, c.want, out)
			}
			if again := p.Policy().JSON(cfg.Thresholds); !bytes.Equal(again, out) {
				t.Fatalf("printed again:\n%s\nwant\n%s", again, out)
			}
		})
	}
}

func TestPolicyWindowsFile(t *testing.T) {
	t.Parallel()
	pf := loadPolicyFile(t, "testdata/policy-windows.json")
	p := pf.Policy()
	t2 := ooda.DefaultTier2Policy()
	t2.HighRate, t2.LowConfidence, t2.History = 0.97, 0.95, 14*24*time.Hour
	if p.DryRun || !reflect.DeepEqual(p.DryRunTypes, []string{"vacuum"}) || !reflect.DeepEqual(p.NeverAutomatic, []string{"rebuild_index"}) ||
		!reflect.DeepEqual(p.ProtectedTables, []string{"invoice"}) || p.BudgetPerCycle != 5 || p.BudgetPerHour != 12 ||
		p.Cooldown != 12*time.Hour || p.ApprovalTTL != 24*time.Hour || p.Tier2 != t2 ||
		len(p.Windows) != 2 || len(p.Windows[2]) != 2 || len(p.Windows[3]) != 1 || p.Windows[2][1].Duration != 90*time.Minute {
		t.Fatalf("policy %+v", p)
	}
	out := p.JSON(ooda.Thresholds{})
	golden(t, "policy-windows.golden", out)
	// What `oodactl policy` prints is a policy file that loads back to the
	// same policy.
	back, err := ooda.LoadPolicy(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if again := back.Policy().JSON(ooda.Thresholds{}); !bytes.Equal(again, out) {
		t.Fatalf("round trip changed the policy:\n%s\nwant\n%s", again, out)
	}
	// The windows act: Saturday 12:30 UTC is 13:30 in Berlin.
	vacuum := []ooda.Hypothesis{hyp("vacuum", "main", 2, 0.99)}
	in := ooda.DecideInput{Stats: map[string]ooda.TypeStats{"vacuum": {Improved: 100}}}
	for _, c := range []struct {
		now    time.Time
		want   string
		reason string
	}{
		{time.Date(2026, 12, 5, 12, 30, 0, 0, time.UTC), ooda.VerdictDryRun, ""},
		{time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC), ooda.VerdictDryRun, ""},
		{time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), ooda.VerdictDeferred,
			"outside the tier-2 maintenance windows 0 2 * * * for 3h, CRON_TZ=Europe/Berlin 30 13 * * 6 for 1h30m; next opens at 2026-12-05 12:30:00 UTC"},
	} {
		in.Now = c.now
		d := ooda.Decide(vacuum, p, in)[0]
		if d.Verdict != c.want || (c.reason != "" && d.Reason != c.reason) {
			t.Errorf("at %s: %s, %q; want %s %q", c.now, d.Verdict, d.Reason, c.want, c.reason)
		}
	}
}

// TestPolicyFileBad: every bad fixture and inline case with its exact
// message, which names the field, the value and the rule.
func TestPolicyFileBad(t *testing.T) {
	t.Parallel()
	builtin := "entries only add; the built-in list (never automatic: " + strings.Join(ooda.BuiltinNeverAutomatic(), ", ") + "; protected: billing) cannot be weakened"
	files := map[string]string{
		"policy-bad-fraction.json":  "invalid policy: thresholds.free_pages_fraction = 2: must be between 0 and 1",
		"policy-bad-cron.json":      `invalid policy: windows."2"[1].cron = "0 25 * * *": end of range (25) above maximum (23): 25`,
		"policy-bad-budget.json":    "invalid policy: budget_per_hour = -1: must be at least 1 (to stop actions, pause the loop or set dry_run)",
		"policy-bad-weaken.json":    `invalid policy: never_automatic[1] = "-truncate_table": ` + builtin,
		"policy-bad-threshold.json": "invalid policy: tier2.high_confidence = 1.5: must be in (0, 1]",
		"policy-bad-tier.json":      `invalid policy: windows = "0": tier 0 changes nothing and has no windows; tiers are "1", "2" or "3"`,
		"policy-bad-sqlserver.json": "invalid policy: thresholds.sqlserver.reorganize_from = 30: must be less than thresholds.sqlserver.rebuild_above (30)",
	}
	matches, _ := filepath.Glob("testdata/policy-bad-*.json")
	if len(matches) != len(files) {
		t.Fatalf("fixtures %v, table %d: give each bad fixture its message", matches, len(files))
	}
	cases := map[string]struct{ body, want string }{}
	for name, want := range files {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		cases[name] = struct{ body, want string }{string(b), want}
	}
	for name, c := range map[string]struct{ body, want string }{
		"UnknownField":       {`{"dry_runn": true}`, `invalid policy: json: unknown field "dry_runn"`},
		"UnknownWindowField": {`{"windows": {"1": [{"cron": "@daily", "hours": 2}]}}`, `invalid policy: json: unknown field "hours"`},
		"NotJSON":            {`dry_run: true`, "invalid policy: invalid character 'd' looking for beginning of value"},
		"Fraction":           {`{"thresholds": {"free_pages_fraction": 1.5}}`, "invalid policy: thresholds.free_pages_fraction = 1.5: must be between 0 and 1"},
		"NegativeMin":        {`{"thresholds": {"free_pages_min": -3}}`, "invalid policy: thresholds.free_pages_min = -3: must not be negative"},
		"SmallWAL":           {`{"thresholds": {"wal_bytes": 10}}`, "invalid policy: thresholds.wal_bytes = 10: must be at least 1048576 (1 MiB)"},
		"BadDuration":        {`{"approval_ttl": "soon"}`, `"soon" is not a duration (such as "15m" or "24h")`},
		"ShortTTL":           {`{"approval_ttl": "5s"}`, "invalid policy: approval_ttl = 5s: must be at least 1m"},
		"ZeroTTL":            {`{"approval_ttl": "0s"}`, "invalid policy: approval_ttl = 0s: must be at least 1m"},
		"NumberForTime":      {`{"thresholds": {"backlog_age": 300}}`, "want a duration string such as \"15m\", got 300"},
		"Trailing":           {`{} {}`, "invalid policy: data after the policy object"},
		"ZeroBudgetCycle":    {`{"budget_per_cycle": 0}`, "invalid policy: budget_per_cycle = 0: must be at least 1 (to stop actions, pause the loop or set dry_run)"},
		"BudgetCycleOverHour": {`{"budget_per_cycle": 40}`,
			"invalid policy: budget_per_cycle = 40: must not exceed budget_per_hour (30)"},
		"FractionalBudget":  {`{"budget_per_hour": 2.5}`, "invalid policy: json: cannot unmarshal number 2.5 into Go struct field PolicyFile.budget_per_hour of type int"},
		"ShortCooldown":     {`{"cooldown": "30s"}`, "invalid policy: cooldown = 30s: must be at least 1m"},
		"NegativeCooldown":  {`{"cooldown": "-1h"}`, "invalid policy: cooldown = -1h: must be at least 1m"},
		"ShortHistory":      {`{"tier2": {"history": "10m"}}`, "invalid policy: tier2.history = 10m: must be at least 1h"},
		"RateZero":          {`{"tier2": {"low_rate": 0}}`, "invalid policy: tier2.low_rate = 0: must be in (0, 1]"},
		"RateAboveOne":      {`{"tier2": {"high_rate": 1.0001}}`, "invalid policy: tier2.high_rate = 1.0001: must be in (0, 1]"},
		"ConfidenceNeg":     {`{"tier2": {"mid_confidence": -0.8}}`, "invalid policy: tier2.mid_confidence = -0.8: must be in (0, 1]"},
		"LowAboveHigh":      {`{"tier2": {"low_rate": 0.96}}`, "invalid policy: tier2.low_rate = 0.96: must not exceed tier2.high_rate (0.95)"},
		"CronFields":        {`{"windows": {"1": [{"cron": "0 2 * *", "duration": "1h"}]}}`, `invalid policy: windows."1"[0].cron = "0 2 * *": expected exactly 5 fields, found 4: [0 2 * *]`},
		"CronEvery":         {`{"windows": {"1": [{"cron": "@every 2h", "duration": "1h"}]}}`, `invalid policy: windows."1"[0].cron = "@every 2h": @every is not anchored to the calendar; use five fields such as "0 2 * * *"`},
		"CronZone":          {`{"windows": {"3": [{"cron": "CRON_TZ=Nowhere/X 0 2 * * *", "duration": "1h"}]}}`, `invalid policy: windows."3"[0].cron = "CRON_TZ=Nowhere/X 0 2 * * *": provided bad location Nowhere/X: unknown time zone Nowhere/X`},
		"WindowNoDuration":  {`{"windows": {"2": [{"cron": "0 2 * * *"}]}}`, `invalid policy: windows."2"[0].duration = 0s: must be at least 1m`},
		"WindowTier4":       {`{"windows": {"4": []}}`, `invalid policy: windows = "4": tiers are "1", "2" or "3"`},
		"WindowTierName":    {`{"windows": {"medium": []}}`, `invalid policy: windows = "medium": tiers are "1", "2" or "3"`},
		"WindowTierPadded":  {`{"windows": {"02": []}}`, `invalid policy: windows = "02": tiers are "1", "2" or "3"`},
		"EmptyNever":        {`{"never_automatic": [""]}`, `invalid policy: never_automatic[0] = "": must not be empty`},
		"NeverPadded":       {`{"never_automatic": [" vacuum"]}`, `invalid policy: never_automatic[0] = " vacuum": must be an action type such as rebuild_index (lower case letters, digits and _)`},
		"DryRunCapital":     {`{"dry_run_types": ["Vacuum"]}`, `invalid policy: dry_run_types[0] = "Vacuum": must be an action type such as rebuild_index (lower case letters, digits and _)`},
		"EmptyDryRunType":   {`{"dry_run_types": ["optimize", " "]}`, `invalid policy: dry_run_types[1] = " ": must not be empty`},
		"WeakenProtected":   {`{"protected_tables": ["!billing"]}`, `invalid policy: protected_tables[0] = "!billing": ` + builtin},
		"NeverAsString":     {`{"never_automatic": "vacuum"}`, "invalid policy: json: cannot unmarshal string into Go struct field PolicyFile.never_automatic of type []string"},
		"UnknownDryRunType": {`{"dry_run_types": ["not_an_action_yet"]}`, ""}, // allowed
	} {
		cases[name] = c
	}
	// thresholds.sqlserver: at, just inside and just outside the edges of
	// the rules. An empty want is a valid file.
	const sq = "invalid policy: thresholds.sqlserver."
	for name, c := range map[string]struct{ fields, want string }{
		"Empty":                  {``, ""},
		"UnknownField":           {`"rebuild": 30`, `invalid policy: json: unknown field "rebuild"`},
		"RebuildAt100":           {`"rebuild_above": 100`, ""},
		"RebuildAbove100":        {`"rebuild_above": 100.5`, sq + "rebuild_above = 100.5: must be in (0, 100]"},
		"RebuildZero":            {`"rebuild_above": 0`, sq + "rebuild_above = 0: must be in (0, 100]"},
		"RebuildAtReorganize":    {`"rebuild_above": 5`, sq + "rebuild_above = 5: must be greater than thresholds.sqlserver.reorganize_from (5)"},
		"RebuildBelowReorganize": {`"rebuild_above": 4.9`, sq + "rebuild_above = 4.9: must be greater than thresholds.sqlserver.reorganize_from (5)"},
		"RebuildJustAbove":       {`"rebuild_above": 5.01`, ""},
		"ReorganizeJustBelow":    {`"reorganize_from": 29.99`, ""},
		"ReorganizeAtRebuild":    {`"reorganize_from": 30`, sq + "reorganize_from = 30: must be less than thresholds.sqlserver.rebuild_above (30)"},
		"ReorganizeBothSet":      {`"reorganize_from": 50, "rebuild_above": 40`, sq + "reorganize_from = 50: must be less than thresholds.sqlserver.rebuild_above (40)"},
		"ReorganizeNegative":     {`"reorganize_from": -1`, sq + "reorganize_from = -1: must be in (0, 100]"},
		"FractionAtOne":          {`"stats_modified_fraction": 1`, ""},
		"FractionAboveOne":       {`"stats_modified_fraction": 1.001`, sq + "stats_modified_fraction = 1.001: must be in (0, 1]"},
		"FractionZero":           {`"max_write_fraction": 0`, sq + "max_write_fraction = 0: must be in (0, 1]"},
		"CoverageAtOne":          {`"projection_coverage": 1`, ""},
		"CoverageAboveOne":       {`"projection_coverage": 1.01`, sq + "projection_coverage = 1.01: must be in (0, 1]"},
		"ForestJustBelowOne":     {`"forest_threshold": 0.999`, ""},
		"ForestAtOne":            {`"forest_threshold": 1`, sq + "forest_threshold = 1: must be in (0, 1)"},
		"ForestZero":             {`"forest_threshold": 0`, sq + "forest_threshold = 0: must be in (0, 1)"},
		"LOFKAtTwo":              {`"lof_k": 2`, ""},
		"LOFKOne":                {`"lof_k": 1`, sq + "lof_k = 1: must be at least 2 (LOF compares a point with its k nearest neighbours)"},
		"LOFKFraction":           {`"lof_k": 2.5`, "invalid policy: json: cannot unmarshal number 2.5 into Go struct field PolicySQLServer.thresholds.sqlserver.lof_k of type int"},
		"LOFThresholdAtOne":      {`"lof_threshold": 1`, sq + "lof_threshold = 1: must be greater than 1 (a local outlier factor near 1 is an inlier)"},
		"LOFThresholdAbove":      {`"lof_threshold": 1.01`, ""},
		"RatioAtOne":             {`"regression_ratio": 1`, sq + "regression_ratio = 1: must be greater than 1 (a ratio of 1 is no regression)"},
		"RatioAbove":             {`"regression_ratio": 1.1`, ""},
		"PagesZero":              {`"min_index_pages": 0`, sq + "min_index_pages = 0: must be greater than 0"},
		"PagesTiny":              {`"min_index_pages": 0.5`, ""},
		"RequestsNegative":       {`"inference_min_requests": -20`, sq + "inference_min_requests = -20: must be greater than 0"},
		"SLOExecutionsZero":      {`"slo_min_executions": 0`, sq + "slo_min_executions = 0: must be greater than 0"},
		"SLOExecutionsOne":       {`"slo_min_executions": 1`, ""},
		"CapZero":                {`"query_store_cap_mb": 0`, sq + "query_store_cap_mb = 0: must be greater than 0"},
		"SigmasZero":             {`"inference_slow_sigmas": 0`, sq + "inference_slow_sigmas = 0: must be greater than 0"},
		"P95Zero":                {`"inference_p95_ms": 0`, sq + "inference_p95_ms = 0: must be greater than 0"},
		"StatsAgeAtHour":         {`"stats_max_age": "1h"`, ""},
		"StatsAgeBelowHour":      {`"stats_max_age": "59m59s"`, sq + "stats_max_age = 59m59s: must be at least 1h"},
		"StatsAgeZero":           {`"stats_max_age": "0s"`, sq + "stats_max_age = 0s: must be at least 1h"},
		"StatsAgeNumber":         {`"stats_max_age": 3600`, "want a duration string such as \"15m\", got 3600"},
		"UnusedAtDay":            {`"unused_index_window": "24h"`, ""},
		"UnusedBelowDay":         {`"unused_index_window": "23h59m"`, sq + "unused_index_window = 23h59m: must be at least 24h"},
		"TransmissionAtMinute":   {`"transmission_age": "1m"`, ""},
		"TransmissionBelow":      {`"transmission_age": "59s"`, sq + "transmission_age = 59s: must be at least 1m"},
		"TransmissionNegative":   {`"transmission_age": "-5m"`, sq + "transmission_age = -5m: must be at least 1m"},
		"BaselineAtThreshold":    {`"hybrid_search_ms": 150`, ""},
		"BaselineAbove":          {`"hybrid_search_ms": 151`, sq + "hybrid_search_ms = 151: must not exceed thresholds.sqlserver.hybrid_search_threshold_ms (150)"},
		"ThresholdBelowBaseline": {`"billing_insert_threshold_ms": 0.3`, sq + "billing_insert_threshold_ms = 0.3: must not be below thresholds.sqlserver.billing_insert_ms (0.4)"},
		"BothBaselineFirst":      {`"embedding_insert_ms": 12, "embedding_insert_threshold_ms": 11`, sq + "embedding_insert_ms = 12: must not exceed thresholds.sqlserver.embedding_insert_threshold_ms (11)"},
		"MovedPairTogether":      {`"spatial_projection_ms": 30, "spatial_projection_threshold_ms": 40, "reorganize_from": 40, "rebuild_above": 60`, ""},
	} {
		cases["SQLServer"+name] = struct{ body, want string }{`{"thresholds": {"sqlserver": {` + c.fields + `}}}`, c.want}
	}
	cases["SQLServerNotObject"] = struct{ body, want string }{`{"thresholds": {"sqlserver": 30}}`,
		"invalid policy: json: cannot unmarshal number into Go struct field .thresholds.sqlserver of type ooda.PolicySQLServer"}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ooda.LoadPolicy(strings.NewReader(c.body))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case c.want == "":
			case !errors.Is(err, ooda.ErrPolicy):
				t.Fatalf("err = %v, want ErrPolicy", err)
			case !strings.HasPrefix(c.want, "invalid policy") && !strings.Contains(err.Error(), c.want):
				t.Fatalf("err = %q, want it to contain %q", err, c.want)
			case strings.HasPrefix(c.want, "invalid policy") && err.Error() != c.want:
				t.Fatalf("err\n %q\nwant\n %q", err, c.want)
			}
		})
	}
}
