package ooda

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/hartonomous/ooda/store"
)

func (e *Engine) observe(ctx context.Context, env Envelope) (result, error) {
	var t Trigger
	if err := decodePayload(env, &t); err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.SensorBudget)
	defer cancel()
	obs, err := e.cfg.Target.Observe(ctx)
	if err != nil {
		return result{}, fmt.Errorf("observe %s: %w", e.cfg.Target.Name(), err)
	}
	return result{readings: &obs, record: obs, next: obs, events: []event{{"observation", map[string]any{"cycle_id": env.CycleID, "observation": obs}}}}, nil
}

func (e *Engine) orient(ctx context.Context, env Envelope) (result, error) {
	var obs Observation
	if err := decodePayload(env, &obs); err != nil {
		return result{}, err
	}
	hs, err := e.orientWith(ctx, e.live.Load(), obs)
	if err != nil {
		return result{}, err
	}
	o := Orientation{Observation: obs, Hypotheses: hs}
	return result{record: o.Hypotheses, next: o, events: []event{{"orientation", map[string]any{"cycle_id": env.CycleID, "hypotheses": o.Hypotheses}}}}, nil
}

func (e *Engine) decide(ctx context.Context, env Envelope) (result, error) {
	var o Orientation
	if err := decodePayload(env, &o); err != nil {
		return result{}, err
	}
	lp := e.live.Load()
	// Nothing to decide (most cycles): no history to read.
	in := DecideInput{Now: e.cfg.Now(), CycleID: env.CycleID}
	if len(o.Hypotheses) > 0 {
		var err error
		if in, err = e.decideInput(ctx, lp, env.CycleID, in.Now); err != nil {
			return result{}, err
		}
	}
	ds := Decisions{Decisions: Decide(o.Hypotheses, lp.policy, in)}
	evs := []event{{"decision", map[string]any{"cycle_id": env.CycleID, "decisions": ds.Decisions}}}
	for _, d := range ds.Decisions {
		if d.Verdict == VerdictNeedsApproval {
			evs = append(evs, event{"approval.requested", map[string]any{"cycle_id": env.CycleID, "action": d.Hypothesis.Action, "object": d.Hypothesis.Object, "tier": d.Hypothesis.Tier, "reason": d.Reason}})
		}
	}
	return result{record: ds.Decisions, next: ds, events: evs}, nil
}

// actionID names an action (and its approval): the cycle and the
// hypothesis, readable when short. A hypothesis about a long object name
// (a quoted four-part SQL Server name) is named by a hash of its id instead,
// so that ids stay within the state's key size (400 characters).
func actionID(cycleID string, h Hypothesis) string {
	if len(h.ID) <= 200 {
		return cycleID + "/" + h.ID
	}
	sum := sha256.Sum256([]byte(h.ID))
	return cycleID + "/" + h.Rule + ":" + hex.EncodeToString(sum[:8])
}

func (e *Engine) act(ctx context.Context, env Envelope) (result, error) {
	var ds Decisions
	if err := decodePayload(env, &ds); err != nil {
		return result{}, err
	}
	res := result{status: store.StatusCompleted, approval: ds.Approval != ""}
	lp := e.live.Load() // one policy for the whole step
	// One budget for all the step's actions: an intent older than it (and
	// a margin) has no owner at work on it any more.
	stepCtx, cancelStep := context.WithTimeout(ctx, e.cfg.ActionBudget)
	defer cancelStep()
	paused := false
	if ds.Approval != "" {
		var err error
		if paused, err = e.Paused(ctx); err != nil {
			return result{}, err
		}
	}
	for _, d := range ds.Decisions {
		h := d.Hypothesis
		a := store.Action{ID: actionID(env.CycleID, h), CycleID: env.CycleID, Type: h.Action, Target: h.Object, Tier: h.Tier, CreatedAt: e.cfg.Now()}
		// An approval given before the kill switch went on, or for a type
		// the policy now only dry-runs, does not run.
		if d.Verdict == VerdictApproved {
			switch {
			case paused:
				d.Verdict, d.Reason = VerdictPaused, "approved ("+d.Reason+"), but the loop was paused before it ran"
			case lp.policy.DryRun || slices.Contains(lp.policy.DryRunTypes, h.Action):
				d.Verdict = VerdictDryRun
			}
		}
		switch d.Verdict {
		case VerdictExecute, VerdictApproved:
			actx, cancel := context.WithCancel(stepCtx)
			out, err := e.cfg.Target.Execute(actx, h.Action, h.Object)
			cancel()
			if err != nil {
				a.Status, a.Detail = "failed", err.Error()
				res.status, res.errText = store.StatusFailed, fmt.Sprintf("action %s on %s failed: %v", h.Action, h.Object, err)
			} else {
				a.Status, a.Detail = "executed", out.Detail
				a.Before, a.After = jsonOf(out.Before), jsonOf(out.After)
			}
			if d.Verdict == VerdictApproved {
				a.Detail += " (" + d.Reason + ")"
			}
		case VerdictDryRun:
			a.Status, a.Detail = "dry_run", "would run: "+e.cfg.Target.Describe(h.Action, h.Object)
		case VerdictNeedsApproval:
			a.Status, a.Detail = "awaiting_approval", d.Reason
			hyp, _ := json.Marshal(h) // a struct of strings and numbers always marshals
			now := e.cfg.Now()
			res.approvals = append(res.approvals, store.Approval{ID: a.ID, CycleID: env.CycleID, Action: h.Action, Object: h.Object, Tier: h.Tier,
				Hypothesis: hyp, Reason: d.Reason, RequestedAt: now, ExpiresAt: now.Add(lp.policy.withDefaults().ApprovalTTL)})
		case VerdictDeferred:
			a.Status, a.Detail = "deferred", d.Reason
		default:
			a.Status, a.Detail = "skipped", d.Reason
		}
		res.actions = append(res.actions, a)
		res.events = append(res.events, event{"action", a})
	}
	if res.actions == nil {
		res.actions = []store.Action{}
	}
	for _, a := range res.actions {
		if a.Status != "executed" {
			continue
		}
		var before map[string]float64
		if json.Unmarshal(a.Before, &before) != nil {
			continue
		}
		// One check metric per action; should an actuator report several,
		// the first by name, so that validation is deterministic.
		if metrics := slices.Sorted(maps.Keys(before)); len(metrics) > 0 {
			if res.validate == nil {
				res.validate = &Validation{}
			}
			res.validate.Items = append(res.validate.Items, ValidationItem{ActionID: a.ID, Type: a.Type, Object: a.Target, Metric: metrics[0], Before: before[metrics[0]]})
		}
	}
	res.record = res.actions
	return res, nil
}
