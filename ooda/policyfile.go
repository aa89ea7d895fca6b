package ooda

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
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
//	    "backlog_age": "5m"          // report a queue whose oldest message is older
//	  }
//	}
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
		FreePagesFraction *float64 `json:"free_pages_fraction"`
		FreePagesMin      *float64 `json:"free_pages_min"`
		WALBytes          *float64 `json:"wal_bytes"`
		OptimizeEvery     Duration `json:"optimize_every"`
		BacklogAge        Duration `json:"backlog_age"`
	} `json:"thresholds"`

	windows map[int][]Window // parsed by LoadPolicy
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
	return nil
}

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
// what cfg has. Dry-run is on if either the file or cfg says so.
func (p PolicyFile) Apply(cfg *Config) {
	cfg.DryRun = cfg.DryRun || p.DryRun
	if p.ApprovalTTL != nil {
		cfg.ApprovalTTL = p.ApprovalTTL.Duration
	}
	th := cfg.Thresholds
	if th == (Thresholds{}) {
		th = DefaultThresholds()
	}
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
	cfg.Thresholds = th
	pol := p.Policy()
	pol.DryRun = cfg.DryRun
	if cfg.ApprovalTTL > 0 {
		pol.ApprovalTTL = cfg.ApprovalTTL
	}
	cfg.Policy = pol
}
