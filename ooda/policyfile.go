package ooda

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// PolicyFile is the operator's policy file (JSON), reloaded on SIGHUP.
// Every field is optional; an absent field keeps its default. Unknown
// fields are errors. Durations are strings ("15m", "6h"). What `oodactl
// policy` prints (Policy.JSON) is a complete policy file in this format;
// testdata/policy-full.json shows every field with its default.
//
//	{
//	  "dry_run": false,          // decide, execute nothing (also --dry-run)
//	  "dry_run_types": [],       // action types decided but never executed
//	  "never_automatic": [...],  // action types that always need an operator;
//	                             // adds to the built-in list, which always applies
//	                             // (BuiltinNeverAutomatic), and cannot remove from it
//	  "protected_tables": ["billing"], // tier-2/3 actions on objects whose name
//	                             // contains one of these need an operator; adds to "billing"
//	  "windows": {               // maintenance windows per tier "1", "2", "3":
//	    "2": [{"cron": "0 2 * * *", "duration": "3h"}]
//	                             // an action of a tier with windows runs only while one
//	                             // is open (from each firing, for duration); a tier
//	                             // without windows may act at any time. Default none.
//	                             // Cron: five fields or @daily…, in the daemon's zone
//	                             // unless prefixed CRON_TZ=Zone; not @every.
//	  },
//	  "budget_per_cycle": 10,    // most actions executed in one cycle (≥ 1)
//	  "budget_per_hour": 30,     // most actions executed in any hour (≥ 1)
//	  "cooldown": "6h",          // an object acted on is left alone this long (≥ 1m)
//	  "approval_ttl": "24h",     // how long an approval request stays open (≥ 1m)
//	  "tier2": {                 // tier-2 auto-approval (CATALOG, risk tiers)
//	    "high_rate": 0.95,       // success rate above this …
//	    "high_confidence": 0.75, // … needs this confidence
//	    "low_rate": 0.80,        // from this up to high_rate …
//	    "mid_confidence": 0.80,  // … needs this; below low_rate …
//	    "low_confidence": 0.90,  // … this; no history: always an operator
//	    "history": "720h"        // validations counted over this (30 days, ≥ 1h)
//	  },                         // rates and confidences in (0, 1], low_rate ≤ high_rate
//	  "thresholds": {
//	    "free_pages_fraction": 0.2,  // VACUUM when more than this share of pages is free ...
//	    "free_pages_min": 1000,      // ... and more than this many
//	    "wal_bytes": 67108864,       // checkpoint when the WAL is larger
//	    "optimize_every": "24h",     // PRAGMA optimize at least this often
//	    "backlog_age": "5m",         // report a queue whose oldest message is older
//	    "sqlserver": {               // the SQL Server rules (CATALOG; SQLServerThresholds)
//	      "stats_min_modifications": 500,  // statistics are stale from max(this, … (> 0)
//	      "stats_modified_fraction": 0.2,  // … this × rows) modifications ((0, 1]) …
//	      "stats_max_age": "168h",         // … or when older and modified at all (≥ 1h)
//	      "reorganize_from": 5,            // reorganize an index fragmented from this % …
//	      "rebuild_above": 30,             // … rebuild (tier 2) above this %; both in
//	                                       // (0, 100], reorganize_from < rebuild_above
//	      "min_index_pages": 1000,         // smaller indexes are left alone (> 0)
//	      "regression_ratio": 2,           // force the last good plan when the recent one is
//	                                       // this many times slower (> 1) …
//	      "min_executions": 10,            // … over this many executions (> 0)
//	      "missing_index_impact": 1000,    // create a missing index above this score (> 0) …
//	      "max_write_fraction": 0.5,       // … unless more than this share of the table's
//	                                       // uses are writes ((0, 1])
//	      "unused_index_window": "168h",   // drop an unread IX_ooda_ index after this much
//	                                       // usage history (≥ 24h)
//	      "query_store_cap_mb": 10240,     // the largest Query Store size the loop sets (> 0)
//	      "transmission_age": "5m",        // a message waiting longer is stuck (≥ 1m)
//	      "hybrid_search_ms": 100,         // the Hartonomous baselines and thresholds, ms:
//	      "hybrid_search_threshold_ms": 150, // each > 0, a baseline not above its threshold
//	      "spatial_projection_ms": 12,
//	      "spatial_projection_threshold_ms": 20,
//	      "embedding_insert_ms": 5,
//	      "embedding_insert_threshold_ms": 10,
//	      "billing_insert_ms": 0.4,
//	      "billing_insert_threshold_ms": 1,
//	      "slo_min_executions": 20,        // an SLO is breached above its threshold over at
//	                                       // least this many calls in the window (> 0)
//	      "inference_p95_ms": 150,         // inference regresses above this p95 (> 0;
//	                                       // absent: hybrid_search_threshold_ms)
//	      "inference_min_requests": 20,    // fewer requests say nothing (> 0)
//	      "inference_min_outliers": 5,     // or from this many slow outliers (> 0): slower than
//	      "inference_slow_sigmas": 3.5,    // median + this × robust σ (> 0), and scoring above
//	      "forest_threshold": 0.7,         // this isolation-forest score ((0, 1)) or
//	      "lof_threshold": 1.5,            // this local outlier factor (> 1) …
//	      "lof_k": 5,                      // … over this many neighbours (an integer ≥ 2)
//	      "projection_coverage": 0.99      // a projection gap below this share ((0, 1])
//	    }
//	  }
//	}
//
// An error names the field by its path (thresholds.sqlserver.rebuild_above),
// the value and the rule.
type PolicyFile struct {
	DryRun          bool                      `json:"dry_run"`
	DryRunTypes     []string                  `json:"dry_run_types"`
	NeverAutomatic  []string                  `json:"never_automatic"`
	ProtectedTables []string                  `json:"protected_tables"`
	Windows         map[string][]PolicyWindow `json:"windows"`
	BudgetPerCycle  *int                      `json:"budget_per_cycle"`
	BudgetPerHour   *int                      `json:"budget_per_hour"`
	Cooldown        *Duration                 `json:"cooldown"`
	ApprovalTTL     *Duration                 `json:"approval_ttl"`
	Tier2           struct {
		HighRate       *float64  `json:"high_rate"`
		HighConfidence *float64  `json:"high_confidence"`
		LowRate        *float64  `json:"low_rate"`
		MidConfidence  *float64  `json:"mid_confidence"`
		LowConfidence  *float64  `json:"low_confidence"`
		History        *Duration `json:"history"`
	} `json:"tier2"`
	Thresholds struct {
		FreePagesFraction *float64        `json:"free_pages_fraction"`
		FreePagesMin      *float64        `json:"free_pages_min"`
		WALBytes          *float64        `json:"wal_bytes"`
		OptimizeEvery     Duration        `json:"optimize_every"`
		BacklogAge        Duration        `json:"backlog_age"`
		SQLServer         PolicySQLServer `json:"sqlserver"`
	} `json:"thresholds"`

	windows map[int][]Window // parsed by LoadPolicy
}

// PolicySQLServer is the thresholds.sqlserver section of a policy file:
// SQLServerThresholds, each field optional (see PolicyFile).
type PolicySQLServer struct {
	StatsMinModifications        *float64  `json:"stats_min_modifications"`
	StatsModifiedFraction        *float64  `json:"stats_modified_fraction"`
	StatsMaxAge                  *Duration `json:"stats_max_age"`
	ReorganizeFrom               *float64  `json:"reorganize_from"`
	RebuildAbove                 *float64  `json:"rebuild_above"`
	MinIndexPages                *float64  `json:"min_index_pages"`
	RegressionRatio              *float64  `json:"regression_ratio"`
	MinExecutions                *float64  `json:"min_executions"`
	MissingIndexImpact           *float64  `json:"missing_index_impact"`
	MaxWriteFraction             *float64  `json:"max_write_fraction"`
	UnusedIndexWindow            *Duration `json:"unused_index_window"`
	QueryStoreCapMB              *float64  `json:"query_store_cap_mb"`
	TransmissionAge              *Duration `json:"transmission_age"`
	HybridSearchMS               *float64  `json:"hybrid_search_ms"`
	HybridSearchThresholdMS      *float64  `json:"hybrid_search_threshold_ms"`
	SpatialProjectionMS          *float64  `json:"spatial_projection_ms"`
	SpatialProjectionThresholdMS *float64  `json:"spatial_projection_threshold_ms"`
	EmbeddingInsertMS            *float64  `json:"embedding_insert_ms"`
	EmbeddingInsertThresholdMS   *float64  `json:"embedding_insert_threshold_ms"`
	BillingInsertMS              *float64  `json:"billing_insert_ms"`
	BillingInsertThresholdMS     *float64  `json:"billing_insert_threshold_ms"`
	SLOMinExecutions             *float64  `json:"slo_min_executions"`
	InferenceP95MS               *float64  `json:"inference_p95_ms"`
	InferenceMinRequests         *float64  `json:"inference_min_requests"`
	InferenceMinOutliers         *float64  `json:"inference_min_outliers"`
	InferenceSlowSigmas          *float64  `json:"inference_slow_sigmas"`
	ForestThreshold              *float64  `json:"forest_threshold"`
	LOFThreshold                 *float64  `json:"lof_threshold"`
	LOFK                         *int      `json:"lof_k"`
	ProjectionCoverage           *float64  `json:"projection_coverage"`
}

// PolicyWindow is one maintenance window as the file writes it.
type PolicyWindow struct {
	Cron     string   `json:"cron"`
	Duration Duration `json:"duration"`
}

// Duration is a time.Duration written as a string ("15m", "24h").
type Duration struct{ time.Duration }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"15m\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (such as \"15m\" or \"24h\")", s)
	}
	d.Duration = v
	return nil
}

// MarshalJSON implements json.Marshaler: "6h", not "6h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(fmtDuration(d.Duration)) }

// ErrPolicy marks an invalid policy file.
var ErrPolicy = errors.New("invalid policy")

// parseCron is the one place that knows robfig/cron: a standard five-field
// expression or descriptor, not @every (a window needs calendar times).
func parseCron(spec string) (schedule, error) {
	if strings.HasPrefix(strings.TrimSpace(spec), "@every") {
		return nil, errors.New("@every is not anchored to the calendar; use five fields such as \"0 2 * * *\"")
	}
	return cron.ParseStandard(spec)
}

// LoadPolicy reads a policy file strictly (unknown fields are errors) and
// checks every value; an error wraps ErrPolicy and names the field, the
// value and the rule.
func LoadPolicy(r io.Reader) (PolicyFile, error) {
	var p PolicyFile
	b, err := io.ReadAll(r)
	if err != nil {
		return p, err
	}
	if err := strictJSON(b, &p); errors.Is(err, errTrailing) {
		return p, fmt.Errorf("%w: data after the policy object", ErrPolicy)
	} else if err != nil {
		return p, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	if err := p.validate(); err != nil {
		return PolicyFile{}, err
	}
	return p, nil
}

func (p *PolicyFile) validate() error {
	bad := func(field string, v any, rule string) error {
		return fmt.Errorf("%w: %s = %v: %s", ErrPolicy, field, v, rule)
	}
	atLeast := func(field string, d *Duration, lo time.Duration) error {
		if d != nil && d.Duration < lo {
			return bad(field, fmtDuration(d.Duration), "must be at least "+fmtDuration(lo))
		}
		return nil
	}
	for _, l := range []struct {
		field string
		v     []string
	}{{"dry_run_types", p.DryRunTypes}, {"never_automatic", p.NeverAutomatic}, {"protected_tables", p.ProtectedTables}} {
		for i, s := range l.v {
			f := fmt.Sprintf("%s[%d]", l.field, i)
			switch {
			case strings.TrimSpace(s) == "":
				return bad(f, strconv.Quote(s), "must not be empty")
			case l.field != "dry_run_types" && strings.ContainsAny(s[:1], "-!"):
				return bad(f, strconv.Quote(s), "entries only add; the built-in list (never automatic: "+
					strings.Join(builtinNeverAutomatic, ", ")+"; protected: billing) cannot be weakened")
			case l.field != "protected_tables" && !actionName.MatchString(s):
				return bad(f, strconv.Quote(s), "must be an action type such as rebuild_index (lower case letters, digits and _)")
			}
		}
	}
	for _, c := range []struct {
		field string
		v     *int
	}{{"budget_per_cycle", p.BudgetPerCycle}, {"budget_per_hour", p.BudgetPerHour}} {
		if c.v != nil && *c.v < 1 {
			return bad(c.field, *c.v, "must be at least 1 (to stop actions, pause the loop or set dry_run)")
		}
	}
	if eff := p.Policy(); eff.BudgetPerCycle > eff.BudgetPerHour {
		return bad("budget_per_cycle", eff.BudgetPerCycle, fmt.Sprintf("must not exceed budget_per_hour (%d)", eff.BudgetPerHour))
	}
	for _, err := range []error{atLeast("cooldown", p.Cooldown, time.Minute), atLeast("approval_ttl", p.ApprovalTTL, time.Minute),
		atLeast("tier2.history", p.Tier2.History, time.Hour)} {
		if err != nil {
			return err
		}
	}
	t2 := p.Tier2
	for _, c := range []struct {
		field string
		v     *float64
	}{{"tier2.high_rate", t2.HighRate}, {"tier2.high_confidence", t2.HighConfidence}, {"tier2.low_rate", t2.LowRate},
		{"tier2.mid_confidence", t2.MidConfidence}, {"tier2.low_confidence", t2.LowConfidence}} {
		if c.v != nil && (!(*c.v > 0) || *c.v > 1 || math.IsNaN(*c.v)) {
			return bad(c.field, *c.v, "must be in (0, 1]")
		}
	}
	if eff := p.Policy().Tier2; eff.LowRate > eff.HighRate {
		return bad("tier2.low_rate", eff.LowRate, fmt.Sprintf("must not exceed tier2.high_rate (%v)", eff.HighRate))
	}
	tiers := make([]string, 0, len(p.Windows))
	for k := range p.Windows {
		tiers = append(tiers, k)
	}
	sort.Strings(tiers)
	p.windows = map[int][]Window{}
	for _, k := range tiers {
		tier, err := strconv.Atoi(k)
		switch {
		case err != nil || tier < 0 || tier > 3 || k != strconv.Itoa(tier):
			return bad("windows", strconv.Quote(k), `tiers are "1", "2" or "3"`)
		case tier == 0:
			return bad("windows", strconv.Quote(k), `tier 0 changes nothing and has no windows; tiers are "1", "2" or "3"`)
		}
		for i, w := range p.Windows[k] {
			f := fmt.Sprintf("windows.%q[%d]", k, i)
			win, err := NewWindow(w.Cron, w.Duration.Duration)
			if err != nil {
				return bad(f+".cron", strconv.Quote(w.Cron), err.Error())
			}
			if w.Duration.Duration < time.Minute {
				return bad(f+".duration", fmtDuration(w.Duration.Duration), "must be at least 1m")
			}
			p.windows[tier] = append(p.windows[tier], win)
		}
	}
	t := p.Thresholds
	switch {
	case t.FreePagesFraction != nil && (*t.FreePagesFraction <= 0 || *t.FreePagesFraction >= 1):
		return bad("thresholds.free_pages_fraction", *t.FreePagesFraction, "must be between 0 and 1")
	case t.FreePagesMin != nil && *t.FreePagesMin < 0:
		return bad("thresholds.free_pages_min", *t.FreePagesMin, "must not be negative")
	case t.WALBytes != nil && *t.WALBytes < 1<<20:
		return bad("thresholds.wal_bytes", *t.WALBytes, "must be at least 1048576 (1 MiB)")
	case t.OptimizeEvery.Duration < 0 || (t.OptimizeEvery.Duration > 0 && t.OptimizeEvery.Duration < time.Hour):
		return bad("thresholds.optimize_every", t.OptimizeEvery.Duration, "must be at least 1h")
	case t.BacklogAge.Duration < 0 || (t.BacklogAge.Duration > 0 && t.BacklogAge.Duration < time.Second):
		return bad("thresholds.backlog_age", t.BacklogAge.Duration, "must be at least 1s")
	}
	return p.validateSQLServer(bad, atLeast)
}

// floatRule is the rule of a number of the thresholds.sqlserver section:
// ok says whether a value keeps it, msg says it.
type floatRule struct {
	ok  func(float64) bool
	msg string
}

var (
	ruleFraction = floatRule{func(v float64) bool { return v > 0 && v <= 1 }, "must be in (0, 1]"}
	rulePercent  = floatRule{func(v float64) bool { return v > 0 && v <= 100 }, "must be in (0, 100]"}
	rulePositive = floatRule{func(v float64) bool { return v > 0 }, "must be greater than 0"}
	ruleRatio    = floatRule{func(v float64) bool { return v > 1 }, "must be greater than 1 (a ratio of 1 is no regression)"}
	ruleLOF      = floatRule{func(v float64) bool { return v > 1 }, "must be greater than 1 (a local outlier factor near 1 is an inlier)"}
	ruleScore    = floatRule{func(v float64) bool { return v > 0 && v < 1 }, "must be in (0, 1)"}
)

// sqlFloatField is a number of the thresholds.sqlserver section: its
// path in the file, the file's value (nil when absent), its field of a
// SQLServerThresholds and its rule.
type sqlFloatField struct {
	name   string
	v, dst *float64
	rule   floatRule
}

// sqlDurationField is a duration of the thresholds.sqlserver section, with
// its least value.
type sqlDurationField struct {
	name  string
	v     *Duration
	dst   *time.Duration
	least time.Duration
}

// sqlServerFields lists the thresholds.sqlserver section's numbers and
// durations (lof_k, the one integer, aside) against their fields in dst:
// LoadPolicy checks them, Apply copies them.
func (p *PolicyFile) sqlServerFields(dst *SQLServerThresholds) (floats []sqlFloatField, durations []sqlDurationField) {
	t := &p.Thresholds.SQLServer
	f := func(name string, v, d *float64, rule floatRule) {
		floats = append(floats, sqlFloatField{"thresholds.sqlserver." + name, v, d, rule})
	}
	d := func(name string, v *Duration, d *time.Duration, least time.Duration) {
		durations = append(durations, sqlDurationField{"thresholds.sqlserver." + name, v, d, least})
	}
	f("stats_min_modifications", t.StatsMinModifications, &dst.StatsMinModifications, rulePositive)
	f("stats_modified_fraction", t.StatsModifiedFraction, &dst.StatsModifiedFraction, ruleFraction)
	d("stats_max_age", t.StatsMaxAge, &dst.StatsMaxAge, time.Hour)
	f("reorganize_from", t.ReorganizeFrom, &dst.ReorganizeFrom, rulePercent)
	f("rebuild_above", t.RebuildAbove, &dst.RebuildAbove, rulePercent)
	f("min_index_pages", t.MinIndexPages, &dst.MinIndexPages, rulePositive)
	f("regression_ratio", t.RegressionRatio, &dst.RegressionRatio, ruleRatio)
	f("min_executions", t.MinExecutions, &dst.MinExecutions, rulePositive)
	f("missing_index_impact", t.MissingIndexImpact, &dst.MissingIndexImpact, rulePositive)
	f("max_write_fraction", t.MaxWriteFraction, &dst.MaxWriteFraction, ruleFraction)
	d("unused_index_window", t.UnusedIndexWindow, &dst.UnusedIndexWindow, 24*time.Hour)
	f("query_store_cap_mb", t.QueryStoreCapMB, &dst.QueryStoreCapMB, rulePositive)
	d("transmission_age", t.TransmissionAge, &dst.TransmissionAge, time.Minute)
	f("hybrid_search_ms", t.HybridSearchMS, &dst.HybridSearchMS, rulePositive)
	f("hybrid_search_threshold_ms", t.HybridSearchThresholdMS, &dst.HybridSearchThresholdMS, rulePositive)
	f("spatial_projection_ms", t.SpatialProjectionMS, &dst.SpatialProjectionMS, rulePositive)
	f("spatial_projection_threshold_ms", t.SpatialProjectionThresholdMS, &dst.SpatialProjectionThresholdMS, rulePositive)
	f("embedding_insert_ms", t.EmbeddingInsertMS, &dst.EmbeddingInsertMS, rulePositive)
	f("embedding_insert_threshold_ms", t.EmbeddingInsertThresholdMS, &dst.EmbeddingInsertThresholdMS, rulePositive)
	f("billing_insert_ms", t.BillingInsertMS, &dst.BillingInsertMS, rulePositive)
	f("billing_insert_threshold_ms", t.BillingInsertThresholdMS, &dst.BillingInsertThresholdMS, rulePositive)
	f("slo_min_executions", t.SLOMinExecutions, &dst.SLOMinExecutions, rulePositive)
	f("inference_p95_ms", t.InferenceP95MS, &dst.InferenceP95MS, rulePositive)
	f("inference_min_requests", t.InferenceMinRequests, &dst.InferenceMinRequests, rulePositive)
	f("inference_min_outliers", t.InferenceMinOutliers, &dst.InferenceMinOutliers, rulePositive)
	f("inference_slow_sigmas", t.InferenceSlowSigmas, &dst.InferenceSlowSigmas, rulePositive)
	f("forest_threshold", t.ForestThreshold, &dst.ForestThreshold, ruleScore)
	f("lof_threshold", t.LOFThreshold, &dst.LOFThreshold, ruleLOF)
	f("projection_coverage", t.ProjectionCoverage, &dst.ProjectionCoverage, ruleFraction)
	return floats, durations
}

// withDefaultThresholds is th, or DefaultThresholds when the embedded
// target's fields of th are all zero; th.SQLServer stays as it is (its
// zero fields take their defaults where the rules apply them).
func withDefaultThresholds(th Thresholds) Thresholds {
	rest := th
	rest.SQLServer = SQLServerThresholds{}
	if rest != (Thresholds{}) {
		return th
	}
	d := DefaultThresholds()
	d.SQLServer = th.SQLServer
	return d
}

// overlaySQLServer sets the thresholds.sqlserver values the file has on s;
// absent fields keep what s has.
func (p *PolicyFile) overlaySQLServer(s *SQLServerThresholds) {
	floats, durations := p.sqlServerFields(s)
	for _, f := range floats {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	for _, d := range durations {
		if d.v != nil {
			*d.dst = d.v.Duration
		}
	}
	if k := p.Thresholds.SQLServer.LOFK; k != nil {
		s.LOFK = *k
	}
}

// validateSQLServer checks the thresholds.sqlserver section: each value
// against its rule, then the pairs against each other, over the defaults.
// A pair's error names the field the file sets (the first if both).
func (p *PolicyFile) validateSQLServer(bad func(string, any, string) error, atLeast func(string, *Duration, time.Duration) error) error {
	var scratch SQLServerThresholds
	floats, durations := p.sqlServerFields(&scratch)
	for _, f := range floats {
		if f.v != nil && (math.IsNaN(*f.v) || !f.rule.ok(*f.v)) {
			return bad(f.name, *f.v, f.rule.msg)
		}
	}
	for _, d := range durations {
		if err := atLeast(d.name, d.v, d.least); err != nil {
			return err
		}
	}
	t := p.Thresholds.SQLServer
	if t.LOFK != nil && *t.LOFK < 2 {
		return bad("thresholds.sqlserver.lof_k", *t.LOFK, "must be at least 2 (LOF compares a point with its k nearest neighbours)")
	}
	eff := SQLServerThresholds{}
	p.overlaySQLServer(&eff)
	eff = eff.withDefaults()
	for _, c := range []struct {
		lo, hi       string
		loSet        bool // the file sets lo
		loEff, hiEff float64
		strict       bool // lo < hi, not lo ≤ hi
	}{
		{"reorganize_from", "rebuild_above", t.ReorganizeFrom != nil, eff.ReorganizeFrom, eff.RebuildAbove, true},
		{"hybrid_search_ms", "hybrid_search_threshold_ms", t.HybridSearchMS != nil, eff.HybridSearchMS, eff.HybridSearchThresholdMS, false},
		{"spatial_projection_ms", "spatial_projection_threshold_ms", t.SpatialProjectionMS != nil, eff.SpatialProjectionMS, eff.SpatialProjectionThresholdMS, false},
		{"embedding_insert_ms", "embedding_insert_threshold_ms", t.EmbeddingInsertMS != nil, eff.EmbeddingInsertMS, eff.EmbeddingInsertThresholdMS, false},
		{"billing_insert_ms", "billing_insert_threshold_ms", t.BillingInsertMS != nil, eff.BillingInsertMS, eff.BillingInsertThresholdMS, false},
	} {
		if c.loEff < c.hiEff || (!c.strict && c.loEff == c.hiEff) {
			continue
		}
		lo, hi := "thresholds.sqlserver."+c.lo, "thresholds.sqlserver."+c.hi
		switch {
		case c.strict && !c.loSet:
			return bad(hi, c.hiEff, fmt.Sprintf("must be greater than %s (%v)", lo, c.loEff))
		case c.strict:
			return bad(lo, c.loEff, fmt.Sprintf("must be less than %s (%v)", hi, c.hiEff))
		case !c.loSet:
			return bad(hi, c.hiEff, fmt.Sprintf("must not be below %s (%v)", lo, c.loEff))
		default:
			return bad(lo, c.loEff, fmt.Sprintf("must not exceed %s (%v)", hi, c.hiEff))
		}
	}
	return nil
}

// actionName is how action types are spelt (rebuild_index, vacuum).
var actionName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Policy is the file's policy merged over DefaultPolicy. The caller ORs in
// a --dry-run flag (Apply does so for Config). Windows come from a file
// read by LoadPolicy, which parses and checks them.
func (p PolicyFile) Policy() Policy {
	pol := DefaultPolicy()
	pol.DryRun = p.DryRun
	pol.DryRunTypes = slices.Clone(p.DryRunTypes)
	pol.NeverAutomatic = slices.Clone(p.NeverAutomatic)
	pol.ProtectedTables = slices.Clone(p.ProtectedTables)
	if len(p.windows) > 0 {
		pol.Windows = map[int][]Window{}
		for k, ws := range p.windows {
			pol.Windows[k] = slices.Clone(ws)
		}
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setD := func(dst *time.Duration, v *Duration) {
		if v != nil {
			*dst = v.Duration
		}
	}
	setF := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	setI(&pol.BudgetPerCycle, p.BudgetPerCycle)
	setI(&pol.BudgetPerHour, p.BudgetPerHour)
	setD(&pol.Cooldown, p.Cooldown)
	setD(&pol.ApprovalTTL, p.ApprovalTTL)
	setF(&pol.Tier2.HighRate, p.Tier2.HighRate)
	setF(&pol.Tier2.HighConfidence, p.Tier2.HighConfidence)
	setF(&pol.Tier2.LowRate, p.Tier2.LowRate)
	setF(&pol.Tier2.MidConfidence, p.Tier2.MidConfidence)
	setF(&pol.Tier2.LowConfidence, p.Tier2.LowConfidence)
	setD(&pol.Tier2.History, p.Tier2.History)
	return pol
}

// Apply sets the policy's values on a configuration; absent fields keep
// what cfg has (thresholds.sqlserver's in cfg.Thresholds.SQLServer, where a
// zero field means its default). Dry-run is on if either the file or cfg
// says so.
func (p PolicyFile) Apply(cfg *Config) {
	cfg.DryRun = cfg.DryRun || p.DryRun
	if p.ApprovalTTL != nil {
		cfg.ApprovalTTL = p.ApprovalTTL.Duration
	}
	th := withDefaultThresholds(cfg.Thresholds)
	t := p.Thresholds
	if t.FreePagesFraction != nil {
		th.FreePagesFraction = *t.FreePagesFraction
	}
	if t.FreePagesMin != nil {
		th.FreePagesMin = *t.FreePagesMin
	}
	if t.WALBytes != nil {
		th.WALBytes = *t.WALBytes
	}
	if t.OptimizeEvery.Duration > 0 {
		th.OptimizeEvery = t.OptimizeEvery.Duration
	}
	if t.BacklogAge.Duration > 0 {
		th.BacklogAge = t.BacklogAge.Duration
	}
	p.overlaySQLServer(&th.SQLServer)
	cfg.Thresholds = th
	pol := p.Policy()
	pol.DryRun = cfg.DryRun
	if cfg.ApprovalTTL > 0 {
		pol.ApprovalTTL = cfg.ApprovalTTL
	}
	cfg.Policy = pol
}
