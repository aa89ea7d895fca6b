package ooda_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/ooda"
)

func TestPolicyFileGood(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/policy-good.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := ooda.LoadPolicy(f)
	if err != nil {
		t.Fatal(err)
	}
	var cfg ooda.Config
	p.Apply(&cfg)
	want := ooda.DefaultThresholds()
	want.FreePagesFraction, want.WALBytes, want.OptimizeEvery = 0.3, 128<<20, 12*time.Hour
	if !cfg.DryRun || cfg.ApprovalTTL != 2*time.Hour || cfg.Thresholds != want {
		t.Fatalf("applied: dry-run %v, ttl %s, thresholds %+v; want %+v", cfg.DryRun, cfg.ApprovalTTL, cfg.Thresholds, want)
	}
}

func TestPolicyFileBad(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ body, want string }{
		"UnknownField":  {`{"dry_runn": true}`, `unknown field "dry_runn"`},
		"NotJSON":       {`dry_run: true`, "invalid policy"},
		"Fraction":      {`{"thresholds": {"free_pages_fraction": 1.5}}`, "thresholds.free_pages_fraction = 1.5: must be between 0 and 1"},
		"NegativeMin":   {`{"thresholds": {"free_pages_min": -3}}`, "thresholds.free_pages_min = -3: must not be negative"},
		"SmallWAL":      {`{"thresholds": {"wal_bytes": 10}}`, "thresholds.wal_bytes = 10: must be at least 1048576"},
		"BadDuration":   {`{"approval_ttl": "soon"}`, `"soon" is not a duration`},
		"ShortTTL":      {`{"approval_ttl": "5s"}`, "approval_ttl = 5s: must be at least 1m"},
		"NumberForTime": {`{"thresholds": {"backlog_age": 300}}`, "want a duration string"},
		"Trailing":      {`{} {}`, "data after the policy object"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ooda.LoadPolicy(strings.NewReader(c.body))
			if !errors.Is(err, ooda.ErrPolicy) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrPolicy naming %q", err, c.want)
			}
		})
	}
}
