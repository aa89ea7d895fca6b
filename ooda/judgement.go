package ooda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// livePolicy is what the Orient and Decide steps apply. SetPolicy swaps it
// whole, so a step sees one policy from start to end, and a reload applies
// from the next step on.
type livePolicy struct {
	policy     Policy
	thresholds Thresholds
}

// SetPolicy replaces the policy from the next Orient or Decide step on: f
// is applied over the settings the engine was built with (flags and
// environment), as at start, so a field the new file leaves out returns to
// its default.
func (e *Engine) SetPolicy(f PolicyFile) {
	cfg := e.base
	f.Apply(&cfg)
	e.live.Store(&livePolicy{policy: cfg.Policy, thresholds: cfg.Thresholds})
}

// EffectivePolicy is the policy in force, every field present, in the
// policy file's format (oodactl policy).
func (e *Engine) EffectivePolicy() json.RawMessage {
	lp := e.live.Load()
	// Compact: it goes into one-line JSON logs; oodactl indents it.
	var b bytes.Buffer
	if err := json.Compact(&b, lp.policy.JSON(lp.thresholds)); err != nil {
		return lp.policy.JSON(lp.thresholds)
	}
	return b.Bytes()
}

// decideInput gathers what Decide needs besides the hypotheses: the
// per-type validation history over the tier-2 window, and the actions
// executed recently enough to count toward budgets and cooldowns.
func (e *Engine) decideInput(ctx context.Context, lp *livePolicy, cycleID string, now time.Time) (DecideInput, error) {
	in := DecideInput{Now: now, CycleID: cycleID, Stats: map[string]TypeStats{}}
	var err error
	if in.Paused, err = e.Paused(ctx); err != nil {
		return in, err
	}
	pol := lp.policy.withDefaults()
	stats, err := e.cfg.Reader.ActionStatsSince(ctx, now.Add(-pol.Tier2.History))
	if err != nil {
		return in, fmt.Errorf("decide: action history: %w", err)
	}
	for _, s := range stats {
		in.Stats[s.Type] = TypeStats{Improved: s.Improved, Neutral: s.Neutral, Regressed: s.Regressed, Failed: s.Failed}
	}
	acts, err := e.cfg.Reader.ActedSince(ctx, now.Add(-max(time.Hour, pol.Cooldown)))
	if err != nil {
		return in, fmt.Errorf("decide: recent actions: %w", err)
	}
	for _, a := range acts {
		// What was tried counts toward cooldowns and budgets, whatever came
		// of it: a reverted or failed action is not retried at once.
		switch a.Status {
		case "executed", "reverted", "failed":
			if a.CreatedAt.Before(now) {
				in.Recent = append(in.Recent, RecentAction{Type: a.Type, Object: a.Target, At: a.CreatedAt, CycleID: a.CycleID})
			}
		}
	}
	return in, nil
}

// WhatIfResult is what Orient and Decide conclude from an observation.
type WhatIfResult struct {
	Observation Observation  `json:"observation"`
	Hypotheses  []Hypothesis `json:"hypotheses"`
	Decisions   []Decision   `json:"decisions"`
	// Policy is the policy the decisions were made under.
	Policy json.RawMessage `json:"policy"`
}

// WhatIf runs Orient and Decide on a recorded observation with the policy
// in force, as of the observation's time: maintenance windows and the
// actions before it (cooldowns, budgets) as they were then; the success
// rates are today's. It changes nothing: no state is written, no message
// sent, no action run.
func (e *Engine) WhatIf(ctx context.Context, raw []byte) (WhatIfResult, error) {
	obs, err := DecodeObservation(raw)
	if err != nil {
		return WhatIfResult{}, err
	}
	lp := e.live.Load()
	hs, err := e.orientWith(ctx, lp, obs)
	if err != nil {
		return WhatIfResult{}, err
	}
	// Decide as of the observation's time (its maintenance window), against
	// the actions taken before it: a recorded cycle's own actions do not
	// put its replay in their cooldown.
	in, err := e.decideInput(ctx, lp, "whatif", obs.TakenAt)
	if err != nil {
		return WhatIfResult{}, err
	}
	return WhatIfResult{Observation: obs, Hypotheses: hs, Decisions: Decide(hs, lp.policy, in), Policy: lp.policy.JSON(lp.thresholds)}, nil
}

// orientWith applies the rules of the policy in force to an observation.
func (e *Engine) orientWith(_ context.Context, lp *livePolicy, obs Observation) ([]Hypothesis, error) {
	hs := Orient(obs, lp.thresholds)
	if hs == nil {
		hs = []Hypothesis{}
	}
	return hs, nil
}

// DecodeObservation reads an observation strictly (the format of
// ooda/observation.schema.json): unknown fields, a missing target or time,
// and readings without a name are errors that say what is wrong.
func DecodeObservation(raw []byte) (Observation, error) {
	var o Observation
	if err := strictJSON(raw, &o); err != nil {
		return o, fmt.Errorf("%w: observation: %v", ErrInvalidRequest, err)
	}
	switch {
	case o.Target == "":
		return o, fmt.Errorf("%w: observation: target is required (embedded or sqlserver)", ErrInvalidRequest)
	case o.Target != "embedded" && o.Target != SQLServerTarget:
		return o, fmt.Errorf("%w: observation: target %q: must be embedded or %s (it picks the rules)", ErrInvalidRequest, o.Target, SQLServerTarget)
	case o.TakenAt.IsZero():
		return o, fmt.Errorf("%w: observation: taken_at is required (RFC 3339)", ErrInvalidRequest)
	}
	for i, r := range o.Readings {
		if r.Name == "" {
			return o, fmt.Errorf("%w: observation: readings[%d]: name is required", ErrInvalidRequest, i)
		}
	}
	return o, nil
}

// baselineDepth caps the readings per (name, object) a baseline is computed
// from: at one cycle an hour, a week of them.
const baselineDepth = 200

// baselines are the median and MAD of every reading over the baseline
// window, per reading and object.
func (e *Engine) baselines(ctx context.Context) (map[ReadingKey]Baseline, error) {
	hist, err := e.cfg.Reader.ReadingHistory(ctx, e.cfg.Now().Add(-e.cfg.BaselineWindow), baselineDepth)
	if err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	return Baselines(hist), nil
}

// noiseBand is the change within which a result counts as neutral, as
// ClassifyAgainst applies it.
func noiseBand(before float64, b Baseline) float64 {
	if b.N >= MinBaselineSamples {
		return b.Band(before, Noise)
	}
	return Noise * math.Abs(before)
}
