package ooda

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// PolicyFile is the operator's policy file (JSON). Every field is optional;
// an absent field keeps its default. Issue #5 extends it (windows, budgets,
// cooldowns, per-type dry-run, reload on SIGHUP).
//
//	{
//	  "dry_run": false,            // decide, execute nothing (also --dry-run)
//	  "approval_ttl": "24h",       // how long an approval request stays open
//	  "thresholds": {
//	    "free_pages_fraction": 0.2,  // VACUUM when more than this share of pages is free ...
//	    "free_pages_min": 1000,      // ... and more than this many
//	    "wal_bytes": 67108864,       // checkpoint when the WAL is larger
//	    "optimize_every": "24h",     // PRAGMA optimize at least this often
//	    "backlog_age": "5m"          // report a queue whose oldest message is older
//	  }
//	}
type PolicyFile struct {
	DryRun      bool     `json:"dry_run"`
	ApprovalTTL Duration `json:"approval_ttl"`
	Thresholds  struct {
		FreePagesFraction *float64 `json:"free_pages_fraction"`
		FreePagesMin      *float64 `json:"free_pages_min"`
		WALBytes          *float64 `json:"wal_bytes"`
		OptimizeEvery     Duration `json:"optimize_every"`
		BacklogAge        Duration `json:"backlog_age"`
	} `json:"thresholds"`
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

// ErrPolicy marks an invalid policy file.
var ErrPolicy = errors.New("invalid policy")

// LoadPolicy reads a policy file strictly (unknown fields are errors) and
// checks every value; an error names the field, the value and the rule.
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
	bad := func(field string, v any, rule string) error {
		return fmt.Errorf("%w: %s = %v: %s", ErrPolicy, field, v, rule)
	}
	t := p.Thresholds
	switch {
	case p.ApprovalTTL.Duration < 0 || (p.ApprovalTTL.Duration > 0 && p.ApprovalTTL.Duration < time.Minute):
		return p, bad("approval_ttl", p.ApprovalTTL.Duration, "must be at least 1m")
	case t.FreePagesFraction != nil && (*t.FreePagesFraction <= 0 || *t.FreePagesFraction >= 1):
		return p, bad("thresholds.free_pages_fraction", *t.FreePagesFraction, "must be between 0 and 1")
	case t.FreePagesMin != nil && *t.FreePagesMin < 0:
		return p, bad("thresholds.free_pages_min", *t.FreePagesMin, "must not be negative")
	case t.WALBytes != nil && *t.WALBytes < 1<<20:
		return p, bad("thresholds.wal_bytes", *t.WALBytes, "must be at least 1048576 (1 MiB)")
	case t.OptimizeEvery.Duration < 0 || (t.OptimizeEvery.Duration > 0 && t.OptimizeEvery.Duration < time.Hour):
		return p, bad("thresholds.optimize_every", t.OptimizeEvery.Duration, "must be at least 1h")
	case t.BacklogAge.Duration < 0 || (t.BacklogAge.Duration > 0 && t.BacklogAge.Duration < time.Second):
		return p, bad("thresholds.backlog_age", t.BacklogAge.Duration, "must be at least 1s")
	}
	return p, nil
}

// Apply sets the policy's values on a configuration; absent fields keep
// what cfg has. Dry-run is on if either the file or cfg says so.
func (p PolicyFile) Apply(cfg *Config) {
	cfg.DryRun = cfg.DryRun || p.DryRun
	if p.ApprovalTTL.Duration > 0 {
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
}
