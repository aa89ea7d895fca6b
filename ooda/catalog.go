package ooda

import (
	"fmt"
	"time"

	"github.com/hartonomous/ooda/store"
)

// The target contract lives in store, beside the engines that implement it.
type (
	Reading     = store.Reading
	Observation = store.Observation
	Outcome     = store.Outcome
	Target      = store.Target
)

func value(o Observation, name string) (float64, bool) {
	for _, r := range o.Readings {
		if r.Name == name {
			return r.Value, true
		}
	}
	return 0, false
}

// Hypothesis is what a rule concluded from an observation.
type Hypothesis struct {
	ID         string  `json:"id"`
	Rule       string  `json:"rule"`
	Object     string  `json:"object"`
	Evidence   string  `json:"evidence"`
	Confidence float64 `json:"confidence"`
	Action     string  `json:"action"`
	Tier       int     `json:"tier"`
}

// Orientation is what the Orient stage concluded.
type Orientation struct {
	Observation Observation  `json:"observation"`
	Hypotheses  []Hypothesis `json:"hypotheses"`
}

// Verdicts of the policy.
const (
	VerdictExecute       = "execute"        // tier 1, allowed
	VerdictObserve       = "observe"        // tier 0: report only
	VerdictDryRun        = "dry_run"        // would execute; dry-run is on
	VerdictPaused        = "paused"         // the kill switch is on
	VerdictNeedsApproval = "needs_approval" // tier 2 without history, tier 3 always
	VerdictApproved      = "approved"       // an operator approved it
)

// Decision is the policy's verdict on one hypothesis.
type Decision struct {
	Hypothesis Hypothesis `json:"hypothesis"`
	Verdict    string     `json:"verdict"`
	Reason     string     `json:"reason"`
}

// Decisions is what the Decide stage concluded, or, with Approval set, one
// approved decision that an operator sent to Act.
type Decisions struct {
	Decisions []Decision `json:"decisions"`
	Approval  string     `json:"approval,omitempty"`
}

// Trigger is the payload of a trigger message.
type Trigger struct {
	Source string `json:"source"`
	Reason string `json:"reason"`
	Key    string `json:"key,omitempty"`
}

// Thresholds of the embedded target's rules (CATALOG: embedded target).
type Thresholds struct {
	FreePagesFraction float64       // 0.20
	FreePagesMin      float64       // 1000 pages
	WALBytes          float64       // 64 MiB
	OptimizeEvery     time.Duration // 24h since the last PRAGMA optimize
	BacklogAge        time.Duration // 5 min
	// SQLServer are the thresholds of the SQL Server target's rules; zero
	// fields take their defaults (catalog_mssql.go).
	SQLServer SQLServerThresholds
}

// DefaultThresholds are the catalog's defaults.
func DefaultThresholds() Thresholds {
	return Thresholds{FreePagesFraction: 0.20, FreePagesMin: 1000, WALBytes: 64 << 20, OptimizeEvery: 24 * time.Hour, BacklogAge: 5 * time.Minute}
}

// Orient applies the rules to an observation. It is pure: the same
// observation and thresholds give the same hypotheses.
func Orient(o Observation, th Thresholds) []Hypothesis {
	if o.Target == SQLServerTarget {
		return OrientSQLServer(o, th.SQLServer)
	}
	var hs []Hypothesis
	add := func(rule, object, evidence, action string, tier int, conf float64) {
		hs = append(hs, Hypothesis{ID: fmt.Sprintf("%s:%s", rule, object), Rule: rule, Object: object, Evidence: evidence, Confidence: conf, Action: action, Tier: tier})
	}
	if free, ok := value(o, "freelist_pages"); ok {
		total, _ := value(o, "page_count")
		if total > 0 && free > th.FreePagesMin && free/total > th.FreePagesFraction {
			ev := fmt.Sprintf("%.0f of %.0f pages free (%.0f %%)", free, total, 100*free/total)
			// With incremental auto-vacuum on (an earlier vacuum switched it),
			// returning the pages is cheap and changes nothing else: tier 1.
			if mode, _ := value(o, "auto_vacuum_mode"); mode == 2 {
				add("free_pages", "main", ev+"; auto_vacuum is INCREMENTAL", "incremental_vacuum", 1, 0.95)
			} else {
				add("free_pages", "main", ev, "vacuum", 2, 0.9)
			}
		}
	}
	if wal, ok := value(o, "wal_bytes"); ok && wal > th.WALBytes {
		add("wal_grown", "wal", fmt.Sprintf("WAL is %.0f bytes, threshold %.0f", wal, th.WALBytes), "wal_checkpoint", 1, 0.95)
	}
	if age, ok := value(o, "optimize_age_seconds"); ok && age >= th.OptimizeEvery.Seconds() {
		ev := fmt.Sprintf("last PRAGMA optimize %.0f s ago, policy every %s", age, th.OptimizeEvery)
		if age < 0 || age > 1e15 {
			ev = "PRAGMA optimize has never run"
		}
		add("stale_statistics", "statistics", ev, "optimize", 1, 0.8)
	}
	if n, ok := value(o, "cycles_beyond_retention"); ok && n > 0 {
		add("history_retention", "cycles", fmt.Sprintf("%.0f finished cycles are older than the retention", n), "prune_history", 1, 1)
	}
	if age, ok := value(o, "oldest_message_age_seconds"); ok && age > th.BacklogAge.Seconds() {
		add("queue_backlog", "queues", fmt.Sprintf("oldest queued message is %.0f s old", age), "alert_backlog", 0, 1)
	}
	return hs
}

// ValidationItem is one executed action to check after the window: its
// check metric (lower is better for every embedded action) and the value
// before the action.
type ValidationItem struct {
	ActionID string  `json:"action_id"`
	Type     string  `json:"type"`
	Object   string  `json:"object"`
	Metric   string  `json:"metric"`
	Before   float64 `json:"before"`
}

// Validation is the payload of an action message: what Observe checks when
// the validation window ends.
type Validation struct {
	Items []ValidationItem `json:"items"`
}

// Noise is the band within which a change counts as neutral (CATALOG:
// improved means more than 10 % better).
const Noise = 0.10

// Classify compares a lower-is-better metric before and after an action.
func Classify(before, after float64) string {
	switch {
	case before == 0 && after == 0:
		return "neutral"
	case after < before*(1-Noise):
		return "improved"
	case after > before*(1+Noise) || (before == 0 && after > 0):
		return "regressed"
	}
	return "neutral"
}
