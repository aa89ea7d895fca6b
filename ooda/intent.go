package ooda

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/store"
)

// Slow work on the target — an index rebuild, a VACUUM — must not run
// inside the stage's transaction: that would hold the conversation group's
// lock and, on SQL Server, keep the log from truncating while the work
// writes plenty of it (DESIGN §5). Such a step is split:
//
//  1. receive the message, record a durable intent (the message body), end
//     the message, commit;
//  2. do the work on the target, outside any transaction of the state;
//  3. take the intent and record the result, send the next message, commit.
//
// A crash between 1 and 3 leaves the intent: it is resumed at start (or,
// on a shared state, once older than its owner could still be working on
// it), and the actuators check whether their effect is already present
// before acting again. Whoever takes the intent records the result, once.

// SlowSensors is implemented by targets whose sensors may take long (SQL
// Server's DMV scans): their Observe step then runs its sensors between two
// short transactions too, instead of holding the trigger's conversation
// group and an open transaction meanwhile.
type SlowSensors interface {
	SlowSensors() bool
}

// slowSensors is the Observe stage's slow: every trigger of a target with
// slow sensors, none otherwise (the embedded target reads a few pragmas).
func (e *Engine) slowSensors() func(Envelope) bool {
	if t, ok := e.cfg.Target.(SlowSensors); ok && t.SlowSensors() {
		return func(env Envelope) bool { return env.Kind == KindTrigger }
	}
	return nil
}

// actsOnTarget says whether a decision message has actions to run.
func actsOnTarget(env Envelope) bool {
	var ds Decisions
	if decodePayload(env, &ds) != nil {
		return false // the handler reports it as poison
	}
	for _, d := range ds.Decisions {
		if d.Verdict == VerdictExecute || d.Verdict == VerdictApproved {
			return true
		}
	}
	return false
}

// recordIntent is step 1: the message becomes the intent in and is ended,
// in the receiving transaction (under tctx, which shutdown does not
// cancel); then the work runs under ctx, which it does.
func (e *Engine) recordIntent(ctx, tctx context.Context, tx broker.Tx, s *stage, m broker.Message, in store.Intent, log zerolog.Logger) error {
	q, err := tx.SQL(tctx)
	if err != nil {
		return err
	}
	// Already there: a commit whose reply was lost ended the message and
	// recorded the intent, and the message came again. The intent stands.
	if err := e.cfg.Store.RecordIntent(tctx, q, in); err != nil && !errors.Is(err, store.ErrIntentExists) {
		return err
	}
	if err := e.endMessage(tctx, tx, q, &m); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	log.Debug().Str("intent", in.ID).Msg("intent recorded; working on the target outside the transaction")
	return e.resume(ctx, s, in, log)
}

// errIntentTaken: another step recorded this intent's result first.
var errIntentTaken = errors.New("intent already taken")

// takeIntent is step 3: in one transaction, take the intent and record its
// result; errIntentTaken when another step took it first.
func (e *Engine) takeIntent(ctx context.Context, id string, record func(tx broker.Tx, q broker.Querier) error) error {
	return broker.InTx(context.WithoutCancel(ctx), e.cfg.Broker, func(tx broker.Tx, q broker.Querier) error {
		taken, err := e.cfg.Store.TakeIntent(ctx, q, id)
		if err != nil {
			return err
		}
		if !taken {
			return errIntentTaken
		}
		return record(tx, q)
	})
}

// resume is steps 2 and 3 for one intent.
func (e *Engine) resume(ctx context.Context, s *stage, in store.Intent, log zerolog.Logger) error {
	if _, loaded := e.resuming.LoadOrStore(in.ID, true); loaded {
		return nil // this process is already on it
	}
	defer e.resuming.Delete(in.ID)
	if in.Stage == stageValidate {
		return e.resumeValidation(ctx, s, in, log)
	}
	env, err := Decode(in.Envelope, e.cfg.MaxBodyBytes)
	if err != nil {
		return fmt.Errorf("intent %s: %w", in.ID, err)
	}
	start := e.cfg.Now()
	res, err := s.handle(ctx, env)
	if ctx.Err() != nil {
		// Shutdown cut the work short: the intent stays, and the next
		// start resumes it (the actuators find what is already done).
		log.Warn().Str("intent", in.ID).Msg("stopping: the intent is left to resume at the next start")
		e.intentsLeft.Store(true)
		return nil
	}
	if err != nil {
		return e.intentFailed(ctx, s, in, env, err, log)
	}
	err = e.takeIntent(ctx, in.ID, func(tx broker.Tx, _ broker.Querier) error { return e.apply(ctx, tx, s, nil, env, res) })
	switch {
	case errors.Is(err, errIntentTaken):
		log.Info().Str("intent", in.ID).Msg("intent finished elsewhere; its result stands")
		return nil
	case err != nil:
		return e.intentFailed(ctx, s, in, env, fmt.Errorf("record the result: %w", err), log)
	}
	e.stepDone(s, res, e.cfg.Now().Sub(start), log.With().Str("cycle_id", env.CycleID).Logger())
	return nil
}

// intentCutoff: intents created before it have no owner at work on them.
// At start on an exclusive state, that is every intent.
func (e *Engine) intentCutoff(atStart bool) time.Time {
	now := e.cfg.Now()
	if atStart && e.cfg.ExclusiveState {
		return now.Add(time.Nanosecond)
	}
	return now.Add(-e.cfg.ActionBudget - e.cfg.IntentRecheck)
}

// resumeIntents finishes the intents created before cutoff.
func (e *Engine) resumeIntents(ctx context.Context, cutoff time.Time) {
	ins, err := e.cfg.Reader.Intents(ctx, cutoff)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error().Err(err).Msg("cannot list the intents to resume; trying again later")
		}
		return
	}
	for _, in := range ins {
		if ctx.Err() != nil {
			return
		}
		var s *stage
		for _, st := range e.stages {
			if st.name == in.Stage || (in.Stage == stageValidate && st.name == "observe") {
				s = st
			}
		}
		log := e.log.With().Str("stage", in.Stage).Str("cycle_id", in.CycleID).Logger()
		if s == nil {
			log.Error().Str("intent", in.ID).Msg("intent of an unknown stage left alone")
			continue
		}
		log.Warn().Str("intent", in.ID).Time("recorded", in.CreatedAt).Msg("resuming an intent left unfinished (a crash, or a failed step)")
		if err := e.resume(ctx, s, in, log); err != nil {
			log.Error().Err(err).Msg("resuming the intent failed; trying again later")
		}
	}
}

// watchIntents resumes, every IntentRecheck, intents old enough to be
// orphans. On an exclusive state only this process leaves intents, and it
// knows when it did (a failed attempt): an idle daemon then runs no SQL at
// all. On a shared state another daemon's crash may leave them at any time.
func (e *Engine) watchIntents(ctx context.Context) {
	t := time.NewTicker(e.cfg.IntentRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if e.cfg.ExclusiveState && !e.intentsLeft.Swap(false) {
				continue
			}
			e.resumeIntents(ctx, e.intentCutoff(false))
		}
	}
}

// intentFailed counts a failed attempt at an intent. Below MaxAttempts the
// intent stays, and watchIntents tries it again once it is old enough; at
// MaxAttempts it is taken and becomes a dead letter (its envelope, for
// redrive), and its cycle fails — it is never retried forever.
func (e *Engine) intentFailed(ctx context.Context, s *stage, in store.Intent, env Envelope, cause error, log zerolog.Logger) error {
	ctx = context.WithoutCancel(ctx)
	key := "intent/" + in.ID
	var n int
	err := broker.InTx(ctx, e.cfg.Broker, func(_ broker.Tx, q broker.Querier) error {
		var err error
		n, err = e.cfg.Store.FailedAttempt(ctx, q, key, cause.Error())
		return err
	})
	if err != nil {
		return fmt.Errorf("intent %s: %w (and counting the attempt failed: %v)", in.ID, cause, err)
	}
	log.Warn().Err(cause).Str("intent", in.ID).Int("attempt", n).Int("max_attempts", e.cfg.MaxAttempts).Msg("stage step failed on an intent")
	if n < e.cfg.MaxAttempts {
		e.intentsLeft.Store(true)
		return nil
	}
	reason := fmt.Sprintf("intent failed %d times; last error: %v", n, cause)
	msgType := env.Kind.MessageType()
	if in.Stage == stageValidate {
		msgType = broker.MessageTypeDialogTimer // its body: the conversation handle
	}
	var id int64
	var failedCycle bool
	err = e.takeIntent(ctx, in.ID, func(_ broker.Tx, q broker.Querier) (err error) {
		if err := e.cfg.Store.ClearAttempts(ctx, q, key); err != nil {
			return err
		}
		id, failedCycle, err = e.recordDeadLetter(ctx, q, s, store.DeadLetter{Queue: s.queue, MessageType: msgType, Body: in.Envelope, Reason: reason, Attempts: n}, in.CycleID)
		return err
	})
	switch {
	case errors.Is(err, errIntentTaken):
		return nil
	case err != nil:
		return fmt.Errorf("intent %s: dead-letter it: %w", in.ID, err)
	}
	e.deadLettered(s, in.CycleID, id, reason, failedCycle)
	return nil
}

// stageValidate names the intents of validations: their timer arrives on
// the Observe queue, and they resume there.
const stageValidate = "validate"

// resumeValidation is steps 2 and 3 of a validation intent: judge (observe
// again, undo regressions) outside any transaction, then take the intent and
// record the results.
func (e *Engine) resumeValidation(ctx context.Context, s *stage, in store.Intent, log zerolog.Logger) error {
	handle := string(in.Envelope)
	var results []checked
	raw, pending, err := e.cfg.Reader.PendingValidation(ctx, handle)
	if err == nil && pending {
		results, err = e.judge(ctx, raw)
	}
	if ctx.Err() != nil {
		e.intentsLeft.Store(true)
		return nil // shutdown: the next start resumes it
	}
	if err != nil {
		return e.intentFailed(ctx, s, in, Envelope{Kind: KindAction}, fmt.Errorf("validation on %s: %w", handle, err), log)
	}
	var cycleID string
	err = e.takeIntent(ctx, in.ID, func(_ broker.Tx, q broker.Querier) (err error) {
		cycleID, err = e.recordValidation(ctx, q, handle, results, log)
		return err
	})
	switch {
	case errors.Is(err, errIntentTaken):
		return nil
	case err != nil:
		return e.intentFailed(ctx, s, in, Envelope{Kind: KindAction}, fmt.Errorf("record the validation: %w", err), log)
	}
	e.validated(cycleID, results, log)
	return nil
}
