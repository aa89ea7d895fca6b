package ooda

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// VerdictDeferred: the action is allowed but not now — its tier's
// maintenance window is closed, its object is in its cooldown, or the
// budget is spent. A later cycle decides again.
const VerdictDeferred = "deferred"

// Never-automatic action types (CATALOG, risk tiers). No policy makes these
// automatic: an actuator that implements one of them must use these names,
// and Decide sends them to an operator whatever the policy says.
const (
	ActionDropClusteredIndex  = "drop_clustered_index"
	ActionAlterClusteredIndex = "alter_clustered_index"
	ActionDropPrimaryKey      = "drop_primary_key"
	ActionAlterPrimaryKey     = "alter_primary_key"
	ActionAlterTable          = "alter_table"
	ActionDropTable           = "drop_table"
	ActionDeleteRows          = "delete_rows"
	ActionTruncateTable       = "truncate_table"
)

// builtinNeverAutomatic is the CATALOG's never-automatic list. None of the
// actions of catalog.go or catalog_mssql.go is on it (none of them drops
// or alters a clustered index or key, changes a table's schema or deletes
// user data: prune_history deletes the loop's own history, and
// drop_unused_ooda_index drops only a nonclustered IX_ooda_ index the loop
// created); it guards the actuators still to come.
var builtinNeverAutomatic = []string{
	ActionAlterClusteredIndex, ActionAlterPrimaryKey, ActionAlterTable, ActionDeleteRows,
	ActionDropClusteredIndex, ActionDropPrimaryKey, ActionDropTable, ActionTruncateTable,
}

// builtinProtected: objects whose name contains this (case-insensitive)
// are billing tables, which no tier-2 or tier-3 action changes
// automatically (CATALOG; store/mssqltarget refuses the same tables).
var builtinProtected = []string{"billing"}

// BuiltinNeverAutomatic returns the action types that are never automatic
// whatever the policy says, sorted.
func BuiltinNeverAutomatic() []string { return slices.Clone(builtinNeverAutomatic) }

// Policy is what Decide applies: the operator's rules for turning
// hypotheses into actions (CATALOG, risk tiers). A zero numeric or duration
// field takes the default shown; DefaultPolicy returns every default.
type Policy struct {
	// DryRun: decide everything, execute nothing. Default false.
	DryRun bool
	// DryRunTypes: action types that are decided but never executed, as if
	// dry-run were on for them alone. Unknown types are allowed (an
	// actuator may come later). Default none.
	DryRunTypes []string
	// NeverAutomatic: action types that always need an operator, in
	// addition to BuiltinNeverAutomatic, which always applies. Default none.
	NeverAutomatic []string
	// ProtectedTables: a tier-2 or tier-3 action on an object whose name
	// contains one of these (case-insensitive) always needs an operator; the
	// built-in "billing" always applies. Tier-1 actions (statistics,
	// reorganize, checkpoint) do not change a table and stay automatic.
	// Default none beyond "billing".
	ProtectedTables []string
	// Windows are the maintenance windows per tier (1, 2 or 3): an action of
	// a tier that has windows runs only while one of them is open. A tier
	// without windows may act at any time. Default none.
	Windows map[int][]Window
	// BudgetPerCycle caps the actions executed in one cycle. Default 10.
	BudgetPerCycle int
	// BudgetPerHour caps the actions executed in any hour. Default 30.
	BudgetPerHour int
	// Cooldown: an object acted on less than this long ago is not acted on
	// again. Default 6h.
	Cooldown time.Duration
	// ApprovalTTL is how long an approval request stays open. Default 24h.
	ApprovalTTL time.Duration
	// Tier2 are the tier-2 auto-approval thresholds.
	Tier2 Tier2Policy
}

// Tier2Policy is the tier-2 auto-approval rule (CATALOG): a tier-2
// hypothesis runs without an operator only when its action type has
// validated history and its confidence reaches the threshold that the
// type's success rate earns.
type Tier2Policy struct {
	// HighRate: a success rate above this earns HighConfidence. Default 0.95.
	HighRate float64
	// HighConfidence is the threshold above HighRate. Default 0.75.
	HighConfidence float64
	// LowRate: a success rate from this up to HighRate earns MidConfidence;
	// below it, LowConfidence. Default 0.80.
	LowRate float64
	// MidConfidence is the threshold between LowRate and HighRate. Default 0.80.
	MidConfidence float64
	// LowConfidence is the threshold below LowRate. Default 0.90.
	LowConfidence float64
	// History is how far back validations count (the caller gathers
	// DecideInput.Stats over it). Default 30 days.
	History time.Duration
}

// Window is a maintenance window: it opens whenever Cron fires and stays
// open for Duration. The cron expression is standard (five fields, or a
// descriptor such as @daily) and is read in the zone of the clock
// (DecideInput.Now) unless it starts with CRON_TZ=Zone.
type Window struct {
	Cron     string
	Duration time.Duration
	sched    schedule
}

// schedule is the narrowest seam over robfig/cron.
type schedule interface{ Next(time.Time) time.Time }

// NewWindow parses a window; the error is cron's own.
func NewWindow(spec string, d time.Duration) (Window, error) {
	s, err := parseCron(spec)
	if err != nil {
		return Window{}, err
	}
	return Window{Cron: spec, Duration: d, sched: s}, nil
}

// OpenAt reports whether the window is open at t: the schedule fired at
// some s with t − Duration < s ≤ t. Otherwise next is when it opens next.
func (w Window) OpenAt(t time.Time) (open bool, next time.Time) {
	if w.sched == nil {
		s, err := parseCron(w.Cron)
		if err != nil { // a Window not made by NewWindow or a policy file
			return false, time.Time{}
		}
		w.sched = s
	}
	// Next gives the first firing strictly after t − Duration: if that is
	// not later than t, the window is open; if it is, that is when it opens.
	s := w.sched.Next(t.Add(-w.Duration))
	return !s.IsZero() && !s.After(t), s
}

func (w Window) String() string { return w.Cron + " for " + fmtDuration(w.Duration) }

// DefaultTier2Policy returns the CATALOG's tier-2 thresholds.
func DefaultTier2Policy() Tier2Policy {
	return Tier2Policy{HighRate: 0.95, HighConfidence: 0.75, LowRate: 0.80, MidConfidence: 0.80, LowConfidence: 0.90, History: 30 * 24 * time.Hour}
}

// DefaultPolicy returns the policy with every default.
func DefaultPolicy() Policy {
	return Policy{BudgetPerCycle: 10, BudgetPerHour: 30, Cooldown: 6 * time.Hour, ApprovalTTL: 24 * time.Hour, Tier2: DefaultTier2Policy()}
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	if p.BudgetPerCycle == 0 {
		p.BudgetPerCycle = d.BudgetPerCycle
	}
	if p.BudgetPerHour == 0 {
		p.BudgetPerHour = d.BudgetPerHour
	}
	if p.Cooldown == 0 {
		p.Cooldown = d.Cooldown
	}
	if p.ApprovalTTL == 0 {
		p.ApprovalTTL = d.ApprovalTTL
	}
	t, dt := &p.Tier2, d.Tier2
	for _, f := range []struct{ v, d *float64 }{{&t.HighRate, &dt.HighRate}, {&t.HighConfidence, &dt.HighConfidence},
		{&t.LowRate, &dt.LowRate}, {&t.MidConfidence, &dt.MidConfidence}, {&t.LowConfidence, &dt.LowConfidence}} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	if t.History == 0 {
		t.History = dt.History
	}
	return p
}

// Threshold is the confidence a tier-2 hypothesis needs given its action
// type's statistics; ok is false when the type has no validated history
// (then an operator must approve). band names the rate's band for reasons.
func (t Tier2Policy) Threshold(s TypeStats) (threshold float64, band string, ok bool) {
	if s.N() == 0 {
		return 0, "", false
	}
	switch r := s.SuccessRate(); {
	case r > t.HighRate:
		return t.HighConfidence, "above " + fmtNum(t.HighRate), true
	case r >= t.LowRate:
		return t.MidConfidence, "between " + fmtNum(t.LowRate) + " and " + fmtNum(t.HighRate), true
	default:
		return t.LowConfidence, "below " + fmtNum(t.LowRate), true
	}
}

// TypeStats counts the validations of one action type over the history
// window.
type TypeStats struct {
	Improved  int `json:"improved"`
	Neutral   int `json:"neutral"`
	Regressed int `json:"regressed"`
	Failed    int `json:"failed"`
}

// N is the number of validations.
func (s TypeStats) N() int { return s.Improved + s.Neutral + s.Regressed + s.Failed }

// SuccessRate is the mean of the Beta posterior of the probability that an
// action of this type does no harm, from a uniform prior Beta(1, 1):
// (successes + 1) / (n + 2). Success is improved or neutral: the tier-2
// question is whether the loop may act without an operator, and an action
// that changed nothing measurable did no harm (neutral is also the expected
// result of a preventive action). Regressed and failed are failures. The
// prior keeps a short history from looking perfect: 18 successes of 18 give
// exactly 0.95, which is not above 0.95; it takes 19 of 19.
func (s TypeStats) SuccessRate() float64 {
	return float64(s.Improved+s.Neutral+1) / float64(s.N()+2)
}

// RecentAction is an action executed recently, as Decide needs it for
// cooldowns and budgets.
type RecentAction struct {
	Type    string    `json:"type"`
	Object  string    `json:"object"`
	At      time.Time `json:"at"`
	CycleID string    `json:"cycle_id"`
}

// DecideInput is everything Decide needs besides the hypotheses and the
// policy, so that Decide stays pure.
type DecideInput struct {
	// Now is the decision time: windows, cooldowns and the hourly budget
	// are measured from it.
	Now time.Time
	// CycleID: executed actions of Recent with this cycle id count toward
	// the cycle's budget (a redelivered Decide). Optional.
	CycleID string
	// Paused: the kill switch is on.
	Paused bool
	// Stats per action type over Policy.Tier2.History.
	Stats map[string]TypeStats
	// Recent are the actions executed within at least max(Cooldown, 1h)
	// before Now.
	Recent []RecentAction
}

// Decide applies the policy to hypotheses. It is pure and deterministic:
// one decision per hypothesis, in order. The checks, first match wins:
// tier 0 → observe; paused → paused; never automatic (built-in or policy
// list, or a tier ≥ 2 change to a protected table) → needs_approval;
// tier ≥ 3 → needs_approval; tier 2 below its threshold → needs_approval;
// the tier's windows closed → deferred; object in its cooldown → deferred;
// a budget spent → deferred; dry-run (global or for the type) → dry_run;
// otherwise execute. Budgets count the executions (and, under dry-run, the
// would-be executions) decided earlier in the same call, so a dry run
// shows what a live run would defer.
func Decide(hs []Hypothesis, p Policy, in DecideInput) []Decision {
	p = p.withDefaults()
	never := map[string]bool{}
	for _, a := range append(slices.Clone(builtinNeverAutomatic), p.NeverAutomatic...) {
		never[a] = true
	}
	lastOn := map[string]RecentAction{} // object → its latest action
	cycle, hour := 0, 0
	hourStart := in.Now.Add(-time.Hour)
	for _, r := range in.Recent {
		if l, ok := lastOn[r.Object]; !ok || r.At.After(l.At) {
			lastOn[r.Object] = r
		}
		if in.CycleID != "" && r.CycleID == in.CycleID {
			cycle++
		}
		if r.At.After(hourStart) {
			hour++
		}
	}
	out := []Decision{}
	for _, h := range hs {
		d := Decision{Hypothesis: h}
		d.Verdict, d.Reason = decideOne(h, p, in, never, lastOn, cycle, hour)
		if d.Verdict == VerdictExecute || d.Verdict == VerdictDryRun {
			cycle++
			hour++
		}
		out = append(out, d)
	}
	return out
}

func decideOne(h Hypothesis, p Policy, in DecideInput, never map[string]bool, lastOn map[string]RecentAction, cycle, hour int) (verdict, reason string) {
	approve := VerdictNeedsApproval
	if h.Tier <= 0 {
		return VerdictObserve, "tier 0: report only"
	}
	if in.Paused {
		return VerdictPaused, "the loop is paused (kill switch)"
	}
	if never[h.Action] {
		return approve, fmt.Sprintf("never automatic: %s is on the never-automatic list; an operator must approve", h.Action)
	}
	if h.Tier >= 2 {
		if t := protectedIn(h.Object, p.ProtectedTables); t != "" {
			return approve, fmt.Sprintf("never automatic: %s changes %s, a protected table (matches %q); an operator must approve", h.Action, h.Object, t)
		}
	}
	if h.Tier >= 3 {
		return approve, fmt.Sprintf("tier %d: an operator must always approve", h.Tier)
	}
	auto := "tier 1: automatic"
	if h.Tier == 2 {
		s := in.Stats[h.Action]
		th, band, ok := p.Tier2.Threshold(s)
		if !ok {
			return approve, fmt.Sprintf("tier 2: no validated history for %s in the last %s; an operator must approve", h.Action, fmtDuration(p.Tier2.History))
		}
		rate := fmt.Sprintf("tier 2: success rate %s (%s) over %d validations", fmtRate(s.SuccessRate()), band, s.N())
		// Beyond CATALOG's table: a type that has harmed more often than it
		// helped is not automatic at any confidence (with one regression
		// and nothing else the Beta posterior is 1/3, and a 0.9-confident
		// hypothesis would otherwise clear the 0.90 bar and repeat it).
		if s.Regressed+s.Failed >= s.Improved+s.Neutral {
			return approve, fmt.Sprintf("%s; %d regressed or failed against %d improved or neutral: an operator must approve", rate, s.Regressed+s.Failed, s.Improved+s.Neutral)
		}
		if h.Confidence < th {
			return approve, fmt.Sprintf("%s; confidence %s < %s: an operator must approve", rate, fmtNum(h.Confidence), fmtNum(th))
		}
		auto = fmt.Sprintf("%s; confidence %s ≥ %s: automatic", rate, fmtNum(h.Confidence), fmtNum(th))
	}
	if ws := p.Windows[h.Tier]; len(ws) > 0 {
		var next time.Time
		open := false
		for _, w := range ws {
			o, n := w.OpenAt(in.Now)
			if o {
				open = true
				break
			}
			if !n.IsZero() && (next.IsZero() || n.Before(next)) {
				next = n
			}
		}
		if !open {
			names := make([]string, len(ws))
			for i, w := range ws {
				names[i] = w.String()
			}
			what := "window " + names[0]
			if len(ws) > 1 {
				what = "windows " + strings.Join(names, ", ")
			}
			opens := "next opens at " + fmtTime(next)
			if next.IsZero() {
				opens = "it never opens (check its cron expression)"
			}
			return VerdictDeferred, fmt.Sprintf("outside the tier-%d maintenance %s; %s", h.Tier, what, opens)
		}
	}
	if l, ok := lastOn[h.Object]; ok && in.Now.Sub(l.At) < p.Cooldown {
		return VerdictDeferred, fmt.Sprintf("cooldown: %s was acted on at %s (%s), within the %s cooldown; allowed again at %s",
			h.Object, fmtTime(l.At), l.Type, fmtDuration(p.Cooldown), fmtTime(l.At.Add(p.Cooldown)))
	}
	if cycle >= p.BudgetPerCycle {
		return VerdictDeferred, fmt.Sprintf("budget: %d actions already executed this cycle, budget_per_cycle %d", cycle, p.BudgetPerCycle)
	}
	if hour >= p.BudgetPerHour {
		return VerdictDeferred, fmt.Sprintf("budget: %d actions executed since %s, budget_per_hour %d", hour, fmtTime(in.Now.Add(-time.Hour)), p.BudgetPerHour)
	}
	if p.DryRun {
		return VerdictDryRun, "dry-run is on; would execute (" + auto + ")"
	}
	if slices.Contains(p.DryRunTypes, h.Action) {
		return VerdictDryRun, fmt.Sprintf("dry-run for %s (dry_run_types); would execute (%s)", h.Action, auto)
	}
	return VerdictExecute, auto
}

func protectedIn(object string, extra []string) string {
	o := strings.ToLower(object)
	for _, t := range append(slices.Clone(builtinProtected), extra...) {
		if t != "" && strings.Contains(o, strings.ToLower(t)) {
			return t
		}
	}
	return ""
}

func fmtTime(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") }

// fmtNum prints a threshold or confidence without rounding it across a
// boundary: 0.7499 stays 0.7499, 0.75 is 0.75.
func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// fmtRate prints a success rate to three decimals, truncated rather than
// rounded so that 0.9499 never reads as 0.950.
func fmtRate(v float64) string {
	return strconv.FormatFloat(float64(int64(v*1000+1e-9))/1000, 'f', 3, 64)
}

// fmtDuration prints 6h rather than 6h0m0s, and 720h as 720h.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// policyJSON is the policy file's format (see PolicyFile), every field
// present: what (Policy).MarshalJSON writes and LoadPolicy reads back.
type policyJSON struct {
	DryRun          bool                    `json:"dry_run"`
	DryRunTypes     []string                `json:"dry_run_types"`
	NeverAutomatic  []string                `json:"never_automatic"`
	ProtectedTables []string                `json:"protected_tables"`
	Windows         map[string][]windowJSON `json:"windows"`
	BudgetPerCycle  int                     `json:"budget_per_cycle"`
	BudgetPerHour   int                     `json:"budget_per_hour"`
	Cooldown        string                  `json:"cooldown"`
	ApprovalTTL     string                  `json:"approval_ttl"`
	Tier2           tier2JSON               `json:"tier2"`
	Thresholds      *thresholdsJSON         `json:"thresholds,omitempty"`
}

type windowJSON struct {
	Cron     string `json:"cron"`
	Duration string `json:"duration"`
}

type tier2JSON struct {
	HighRate       float64 `json:"high_rate"`
	HighConfidence float64 `json:"high_confidence"`
	LowRate        float64 `json:"low_rate"`
	MidConfidence  float64 `json:"mid_confidence"`
	LowConfidence  float64 `json:"low_confidence"`
	History        string  `json:"history"`
}

type thresholdsJSON struct {
	FreePagesFraction float64       `json:"free_pages_fraction"`
	FreePagesMin      float64       `json:"free_pages_min"`
	WALBytes          float64       `json:"wal_bytes"`
	OptimizeEvery     string        `json:"optimize_every"`
	BacklogAge        string        `json:"backlog_age"`
	SQLServer         sqlServerJSON `json:"sqlserver"`
}

// sqlServerJSON is the thresholds.sqlserver section, every field of
// SQLServerThresholds in its order.
type sqlServerJSON struct {
	StatsMinModifications        float64 `json:"stats_min_modifications"`
	StatsModifiedFraction        float64 `json:"stats_modified_fraction"`
	StatsMaxAge                  string  `json:"stats_max_age"`
	ReorganizeFrom               float64 `json:"reorganize_from"`
	RebuildAbove                 float64 `json:"rebuild_above"`
	MinIndexPages                float64 `json:"min_index_pages"`
	RegressionRatio              float64 `json:"regression_ratio"`
	MinExecutions                float64 `json:"min_executions"`
	MissingIndexImpact           float64 `json:"missing_index_impact"`
	MaxWriteFraction             float64 `json:"max_write_fraction"`
	UnusedIndexWindow            string  `json:"unused_index_window"`
	QueryStoreCapMB              float64 `json:"query_store_cap_mb"`
	TransmissionAge              string  `json:"transmission_age"`
	HybridSearchMS               float64 `json:"hybrid_search_ms"`
	HybridSearchThresholdMS      float64 `json:"hybrid_search_threshold_ms"`
	SpatialProjectionMS          float64 `json:"spatial_projection_ms"`
	SpatialProjectionThresholdMS float64 `json:"spatial_projection_threshold_ms"`
	EmbeddingInsertMS            float64 `json:"embedding_insert_ms"`
	EmbeddingInsertThresholdMS   float64 `json:"embedding_insert_threshold_ms"`
	BillingInsertMS              float64 `json:"billing_insert_ms"`
	BillingInsertThresholdMS     float64 `json:"billing_insert_threshold_ms"`
	SLOMinExecutions             float64 `json:"slo_min_executions"`
	InferenceP95MS               float64 `json:"inference_p95_ms"`
	InferenceMinRequests         float64 `json:"inference_min_requests"`
	InferenceMinOutliers         float64 `json:"inference_min_outliers"`
	InferenceSlowSigmas          float64 `json:"inference_slow_sigmas"`
	ForestThreshold              float64 `json:"forest_threshold"`
	LOFThreshold                 float64 `json:"lof_threshold"`
	LOFK                         int     `json:"lof_k"`
	ProjectionCoverage           float64 `json:"projection_coverage"`
}

func sqlServerToJSON(s SQLServerThresholds) sqlServerJSON {
	s = s.withDefaults()
	return sqlServerJSON{
		StatsMinModifications: s.StatsMinModifications, StatsModifiedFraction: s.StatsModifiedFraction, StatsMaxAge: fmtDuration(s.StatsMaxAge),
		ReorganizeFrom: s.ReorganizeFrom, RebuildAbove: s.RebuildAbove, MinIndexPages: s.MinIndexPages,
		RegressionRatio: s.RegressionRatio, MinExecutions: s.MinExecutions,
		MissingIndexImpact: s.MissingIndexImpact, MaxWriteFraction: s.MaxWriteFraction, UnusedIndexWindow: fmtDuration(s.UnusedIndexWindow),
		QueryStoreCapMB: s.QueryStoreCapMB, TransmissionAge: fmtDuration(s.TransmissionAge),
		HybridSearchMS: s.HybridSearchMS, HybridSearchThresholdMS: s.HybridSearchThresholdMS,
		SpatialProjectionMS: s.SpatialProjectionMS, SpatialProjectionThresholdMS: s.SpatialProjectionThresholdMS,
		EmbeddingInsertMS: s.EmbeddingInsertMS, EmbeddingInsertThresholdMS: s.EmbeddingInsertThresholdMS,
		BillingInsertMS: s.BillingInsertMS, BillingInsertThresholdMS: s.BillingInsertThresholdMS, SLOMinExecutions: s.SLOMinExecutions,
		InferenceP95MS: s.InferenceP95MS, InferenceMinRequests: s.InferenceMinRequests, InferenceMinOutliers: s.InferenceMinOutliers,
		InferenceSlowSigmas: s.InferenceSlowSigmas, ForestThreshold: s.ForestThreshold, LOFThreshold: s.LOFThreshold, LOFK: s.LOFK,
		ProjectionCoverage: s.ProjectionCoverage,
	}
}

func (p Policy) toJSON() policyJSON {
	p = p.withDefaults()
	never := append(slices.Clone(builtinNeverAutomatic), p.NeverAutomatic...)
	sort.Strings(never)
	prot := append(slices.Clone(builtinProtected), p.ProtectedTables...)
	sort.Strings(prot)
	j := policyJSON{
		DryRun: p.DryRun, DryRunTypes: nonNil(p.DryRunTypes), NeverAutomatic: slices.Compact(never),
		ProtectedTables: slices.Compact(prot), Windows: map[string][]windowJSON{},
		BudgetPerCycle: p.BudgetPerCycle, BudgetPerHour: p.BudgetPerHour,
		Cooldown: fmtDuration(p.Cooldown), ApprovalTTL: fmtDuration(p.ApprovalTTL),
		Tier2: tier2JSON{p.Tier2.HighRate, p.Tier2.HighConfidence, p.Tier2.LowRate, p.Tier2.MidConfidence, p.Tier2.LowConfidence, fmtDuration(p.Tier2.History)},
	}
	for tier := 1; tier <= 3; tier++ {
		ws := []windowJSON{}
		for _, w := range p.Windows[tier] {
			ws = append(ws, windowJSON{w.Cron, fmtDuration(w.Duration)})
		}
		j.Windows[strconv.Itoa(tier)] = ws
	}
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// MarshalJSON writes the effective policy in the policy file's format with
// every field present (defaults filled in, the built-in never-automatic
// and protected lists included), so `oodactl policy` output can be saved
// and loaded back as a policy file.
func (p Policy) MarshalJSON() ([]byte, error) { return json.Marshal(p.toJSON()) }

// JSON is the effective policy, indented, with the rule thresholds th in
// its thresholds section (the SQL Server rules' in thresholds.sqlserver,
// zero fields at their defaults): what `oodactl policy` prints. Zero
// embedded-target thresholds print DefaultThresholds.
func (p Policy) JSON(th Thresholds) []byte {
	th = withDefaultThresholds(th)
	j := p.toJSON()
	j.Thresholds = &thresholdsJSON{th.FreePagesFraction, th.FreePagesMin, th.WALBytes, fmtDuration(th.OptimizeEvery), fmtDuration(th.BacklogAge),
		sqlServerToJSON(th.SQLServer)}
	b, _ := json.MarshalIndent(j, "", "  ") // strings, numbers and maps of them always marshal
	return append(b, '\n')
}
