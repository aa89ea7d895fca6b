package ooda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v4"
	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/store"
)

// Config configures an Engine. Zero values take the defaults shown.
type Config struct {
	Broker     broker.Broker
	Store      store.Writer
	Reader     store.Reader
	Target     Target
	Logger     zerolog.Logger
	Thresholds Thresholds // DefaultThresholds()
	DryRun     bool
	// PolicyFile, when set, is applied over these settings (see
	// PolicyFile.Apply); SetPolicy replaces it while the engine runs.
	PolicyFile *PolicyFile
	// Policy is the effective policy; New computes it from the above.
	Policy Policy
	// MaxAttempts is how many failed deliveries send a message to the dead letters. Default 3.
	MaxAttempts int
	// MaxBodyBytes caps an envelope. Default 256 KiB.
	MaxBodyBytes int
	// ReceiveWait is how long one receive waits before looping. Default 5s.
	ReceiveWait time.Duration
	// SensorBudget bounds one observation. Default 30s.
	SensorBudget time.Duration
	// ActionBudget bounds one action. Default 5m.
	ActionBudget time.Duration
	// ApprovalTTL is how long an approval request stays open. Default 24h.
	ApprovalTTL time.Duration
	// ValidationWindow is how long after an action the loop observes again
	// to classify it. Default 15m.
	ValidationWindow time.Duration
	// BaselineWindow is how far back readings count toward the baseline
	// (median and MAD per reading and object) that validation judges
	// against; older readings are pruned. Default 7 days.
	BaselineWindow time.Duration
	Now            func() time.Time
	// Published is called after a commit that added outbox events.
	Published func()
	// Heartbeat is called after every stage step (the systemd watchdog).
	Heartbeat func()
	// Metrics receives what the loop did. Default: nothing.
	Metrics Metrics
	// ExclusiveState says that no other daemon shares the state (SQLite:
	// one daemon per data directory): intents found at start are orphans
	// of a crash and resume at once. On a shared state (SQL Server) an
	// intent resumes only once it is older than ActionBudget plus a minute,
	// when its owner must be gone.
	ExclusiveState bool
	// IntentRecheck is how often orphaned intents are looked for, and the
	// margin beyond ActionBudget after which an intent counts as orphaned.
	// Default 1m.
	IntentRecheck time.Duration
}

// Metrics is what the engine reports; the daemon turns it into Prometheus
// metrics.
type Metrics interface {
	// StageStep: one stage step ended (outcome ok, failed or dead_letter).
	StageStep(stage, outcome string, d time.Duration)
	// CycleFinished: a cycle completed or failed.
	CycleFinished(status string)
	// ActionDone: an action was executed, dry-run, skipped, failed, ...
	ActionDone(actionType, status string)
}

type noMetrics struct{}

func (noMetrics) StageStep(string, string, time.Duration) {}
func (noMetrics) CycleFinished(string)                    {}
func (noMetrics) ActionDone(string, string)               {}

func (c *Config) withDefaults() {
	c.Thresholds = withDefaultThresholds(c.Thresholds)
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 256 << 10
	}
	if c.ReceiveWait == 0 {
		c.ReceiveWait = 5 * time.Second
	}
	if c.SensorBudget == 0 {
		c.SensorBudget = 30 * time.Second
	}
	if c.ActionBudget == 0 {
		c.ActionBudget = 5 * time.Minute
	}
	if c.ApprovalTTL == 0 {
		c.ApprovalTTL = 24 * time.Hour
	}
	if c.ValidationWindow == 0 {
		c.ValidationWindow = 15 * time.Minute
	}
	if c.IntentRecheck == 0 {
		c.IntentRecheck = time.Minute
	}
	if c.BaselineWindow == 0 {
		c.BaselineWindow = 7 * 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Published == nil {
		c.Published = func() {}
	}
	if c.Heartbeat == nil {
		c.Heartbeat = func() {}
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
}

// Engine runs the four stages.
type Engine struct {
	cfg  Config
	base Config // as given to New, before any policy file: what SetPolicy applies a file to
	live atomic.Pointer[livePolicy]
	// resuming holds the ids of the intents this process is working on.
	resuming sync.Map
	// intentsLeft: this process left an intent to resume (a failed attempt).
	intentsLeft atomic.Bool
	log         zerolog.Logger
	stages      []*stage
}

type stage struct {
	name       string
	queue      string
	next       Kind // what the stage sends on; "" for the last stage
	handle     func(context.Context, Envelope) (result, error)
	quarantine atomic.Bool // the queue was healed: dead-letter its next message unread
	// slow says whether handling env changes the target: then the step is
	// two short transactions around the work, with a durable intent
	// between them (DESIGN §5), instead of one transaction held open.
	slow func(Envelope) bool
}

// result is what a handler concluded; the engine writes it.
type result struct {
	readings  *Observation // the observe stage's readings, kept for baselines
	record    any          // the step's payload in the state
	next      any          // payload of the next message; nil ends the cycle here
	status    string
	errText   string
	actions   []store.Action
	approvals []store.Approval
	events    []event
	// approval: the step carried out an approved decision of a finished
	// cycle; the cycle's own record and status stay as they are.
	approval bool
	// validate, if set, goes to Observe, which checks it after the window.
	validate *Validation
}

type event struct {
	kind string
	data any
}

// New checks the configuration and returns an engine.
func New(cfg Config) (*Engine, error) {
	cfg.withDefaults()
	switch {
	case cfg.Broker == nil:
		return nil, errors.New("ooda: Config.Broker is nil")
	case cfg.Store == nil || cfg.Reader == nil:
		return nil, errors.New("ooda: Config.Store and Config.Reader are required")
	case cfg.Target == nil:
		return nil, errors.New("ooda: Config.Target is nil")
	case cfg.MaxAttempts < 1:
		return nil, fmt.Errorf("ooda: Config.MaxAttempts: %d is less than 1", cfg.MaxAttempts)
	}
	e := &Engine{cfg: cfg, base: cfg, log: cfg.Logger.With().Str("component", "loop").Logger()}
	file := PolicyFile{}
	if cfg.PolicyFile != nil {
		file = *cfg.PolicyFile
	}
	e.SetPolicy(file)
	e.stages = []*stage{
		{name: "observe", queue: ObserveQueue, next: KindObservation, handle: e.observe, slow: e.slowSensors()},
		{name: "orient", queue: OrientQueue, next: KindOrientation, handle: e.orient},
		{name: "decide", queue: DecideQueue, next: KindDecision, handle: e.decide},
		{name: "act", queue: ActQueue, handle: e.act, slow: actsOnTarget},
	}
	return e, nil
}

// Run runs the stage loops until ctx is cancelled; a cancelled context is a
// clean stop. ready is called once every loop is receiving.
func (e *Engine) Run(ctx context.Context, ready func()) error {
	// Intents left by a crash are finished beside the new work, not before
	// it: an action may take minutes, and systemd waits for READY only so
	// long.
	cutoff := e.intentCutoff(true)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.resumeIntents(ctx, cutoff)
		e.watchIntents(ctx)
	}()
	var started sync.WaitGroup
	started.Add(len(e.stages))
	for _, s := range e.stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.runStage(ctx, s, started.Done)
		}()
	}
	started.Wait()
	if ready != nil {
		ready()
	}
	e.log.Info().Int("stages", len(e.stages)).Msg("loop running")
	wg.Wait()
	e.log.Info().Msg("loop stopped")
	return nil
}

func (e *Engine) runStage(ctx context.Context, s *stage, started func()) {
	log := e.log.With().Str("stage", s.name).Str("queue", s.queue).Logger()
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval, retry.MaxInterval, retry.MaxElapsedTime = 100*time.Millisecond, 10*time.Second, 0
	once := sync.OnceFunc(started)
	for ctx.Err() == nil {
		err := e.step(ctx, s, once)
		e.cfg.Heartbeat()
		if err == nil {
			retry.Reset()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, broker.ErrQueueDisabled) {
			log.Error().Err(err).Msg("queue disabled by the poison rule; re-enabling it and moving its head message to the dead letters")
			if herr := e.cfg.Broker.EnableQueue(context.WithoutCancel(ctx), s.queue); herr != nil {
				log.Error().Err(herr).Msg("could not re-enable the queue")
			} else {
				s.quarantine.Store(true)
				continue
			}
		}
		d := retry.NextBackOff()
		if !errors.Is(err, errRetryLater) { // already logged, with its attempt
			log.Error().Err(err).Dur("retry_in", d).Msg("stage step failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

// step is one transaction: receive one message and handle it.
func (e *Engine) step(ctx context.Context, s *stage, started func()) error {
	// The transaction itself must finish even when shutdown cancels ctx.
	tctx := context.WithoutCancel(ctx)
	// Begin under ctx: the transaction, once begun, lives on (the broker
	// begins it detached), but retrying a connection during an outage stops
	// when shutdown starts.
	tx, err := e.cfg.Broker.Begin(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer tx.Rollback() // no-op after Commit
	if err := tx.Savepoint(tctx, "delivery"); err != nil {
		return err
	}
	started()
	msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: s.queue, Max: 1, Wait: e.cfg.ReceiveWait})
	if err != nil || len(msgs) == 0 {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil
		}
		return err
	}
	m := msgs[0]
	log := e.log.With().Str("stage", s.name).Str("queue", s.queue).Str("conversation", m.Conversation.String()).Logger()
	key := fmt.Sprintf("%s/%d", m.Conversation, m.Sequence)
	if s.quarantine.CompareAndSwap(true, false) {
		if err := e.quarantine(tctx, tx, s, m); err != nil {
			s.quarantine.Store(true) // the head message is back in the queue: next time
			return err
		}
		return nil
	}
	switch m.Type {
	case broker.MessageTypeEndDialog:
		if err := tx.End(tctx, &broker.EndParams{Conversation: m.Conversation}); err != nil {
			return err
		}
		return tx.Commit()
	case broker.MessageTypeError:
		code, desc, perr := broker.ParseErrorBody(m.Body)
		log.Warn().Int("code", code).Str("description", desc).AnErr("parse_error", perr).Msg("the other side ended the conversation with an error")
		if err := tx.End(tctx, &broker.EndParams{Conversation: m.Conversation}); err != nil {
			return err
		}
		return tx.Commit()
	}
	// The work starts here: a failure rolls back to this savepoint, keeping
	// the receive (an EndDialog or an Error above needs none: on SQL Server
	// a savepoint is a round trip).
	if err := tx.Savepoint(tctx, "work"); err != nil {
		return err
	}
	if m.Type == broker.MessageTypeDialogTimer {
		return e.validate(ctx, tx, s, m, key, log)
	}
	env, err := Decode(m.Body, e.cfg.MaxBodyBytes)
	if err == nil && ContractFor(env.Kind) != m.Contract {
		err = fmt.Errorf("%w: a %s envelope on contract %s", ErrPoison, env.Kind, m.Contract)
	}
	if err != nil {
		return e.deadLetter(tctx, tx, s, m, env.CycleID, err.Error(), 1)
	}
	log = log.With().Str("cycle_id", env.CycleID).Logger()
	if env.Kind == KindAction {
		return e.awaitValidation(tctx, tx, s, m, env, key, log)
	}
	// Attempts counted outside this message's transactions (one that an
	// error doomed whole, see failed) decide here, before any work.
	if n, last, err := e.attempts(tctx, tx, key); err != nil {
		return err
	} else if n >= e.cfg.MaxAttempts {
		return e.giveUp(tctx, tx, s, m, env, key, n, last)
	}
	if s.slow != nil && s.slow(env) {
		return e.recordIntent(ctx, tctx, tx, s, m, store.Intent{ID: key, CycleID: env.CycleID, Stage: s.name, Envelope: m.Body, CreatedAt: e.cfg.Now()}, log)
	}
	start := e.cfg.Now()
	res, err := s.handle(ctx, env)
	if err == nil {
		err = e.apply(tctx, tx, s, &m, env, res)
	}
	if err != nil {
		if ctx.Err() != nil {
			// Shutdown cut the handler short: not the message's fault. It
			// goes back without an attempt counted, and without a full
			// rollback (which the poison rule would count).
			if tx.RollbackTo(tctx, "delivery") == nil {
				_ = tx.Commit()
			}
			return nil
		}
		if errors.Is(err, ErrPoison) {
			if rerr := tx.RollbackTo(tctx, "work"); rerr != nil {
				return e.doomed(tctx, tx, key, err, rerr, log)
			}
			return e.deadLetter(tctx, tx, s, m, env.CycleID, err.Error(), 1)
		}
		return e.failed(tctx, tx, s, m, env, key, err, log)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	e.stepDone(s, res, e.cfg.Now().Sub(start), log)
	return nil
}

// stepDone reports a committed step.
func (e *Engine) stepDone(s *stage, res result, took time.Duration, log zerolog.Logger) {
	log.Info().Dur("duration", took).Msg("stage step done")
	e.cfg.Metrics.StageStep(s.name, "ok", took)
	for _, a := range res.actions {
		e.cfg.Metrics.ActionDone(a.Type, a.Status)
	}
	if res.status != "" && res.status != store.StatusRunning && !res.approval {
		e.cfg.Metrics.CycleFinished(res.status)
	}
	e.cfg.Published()
}

// quarantine moves the head message of a healed queue to the dead letters,
// unread, with an alert that the queue was healed.
func (e *Engine) quarantine(ctx context.Context, tx broker.Tx, s *stage, m broker.Message) error {
	reason := "the queue was disabled by the poison rule (its receiving transactions rolled back or the process died 5 times); this was its head message"
	env, _ := Decode(m.Body, e.cfg.MaxBodyBytes) // best effort: name the cycle it belonged to
	q, err := tx.SQL(ctx)
	if err != nil {
		return err
	}
	// Operators hear of the healing itself, not only of the dead letter.
	if err := e.addEvent(ctx, q, "alert", env.CycleID, map[string]any{"alert": "queue_healed", "queue": s.queue,
		"detail": "receiving was disabled by the poison rule; the queue was re-enabled and its head message moved to the dead letters, the other messages kept"}); err != nil {
		return err
	}
	return e.deadLetter(ctx, tx, s, m, env.CycleID, reason, broker.PoisonThreshold)
}

// failed counts a failed delivery. Below MaxAttempts the message returns to
// the queue (rollback to before the receive) with the attempt recorded; at
// MaxAttempts it goes to the dead letters in this same transaction.
//
// The message is never received a second time: on SQL Server a rollback to
// a savepoint "releases any locks that are acquired beyond the savepoint"
// (ROLLBACK TRANSACTION, Locking behavior), the conversation group's among
// them, so after a rollback to "delivery" another receiver may hold it.
// Hence the count is taken after a rollback to "work" (the receive and its
// lock stay), and only a message that will be retried goes back.
func (e *Engine) failed(ctx context.Context, tx broker.Tx, s *stage, m broker.Message, env Envelope, key string, cause error, log zerolog.Logger) error {
	if err := tx.RollbackTo(ctx, "work"); err != nil {
		return e.doomed(ctx, tx, key, cause, err, log)
	}
	q, err := tx.SQL(ctx)
	if err != nil {
		return err
	}
	n, err := e.cfg.Store.FailedAttempt(ctx, q, key, cause.Error())
	if err != nil {
		return err
	}
	log.Warn().Err(cause).Int("attempt", n).Int("max_attempts", e.cfg.MaxAttempts).Msg("stage handler failed")
	e.cfg.Metrics.StageStep(s.name, "failed", 0)
	if n >= e.cfg.MaxAttempts {
		return e.giveUp(ctx, tx, s, m, env, key, n, cause.Error())
	}
	// Give the message back, then record the attempt again: the rollback
	// to "delivery" undid the first record with the receive.
	if err := tx.RollbackTo(ctx, "delivery"); err != nil {
		return err
	}
	if _, err := e.cfg.Store.FailedAttempt(ctx, q, key, cause.Error()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return errRetryLater
}

// errRetryLater: a delivery failed and was counted; the stage waits (with
// backoff) before the next, so that a passing outage of the target does not
// use up a message's attempts in milliseconds.
var errRetryLater = errors.New("delivery failed; retrying after a pause")

// attempts reads the failed deliveries counted for a message, through the
// reader: a read on the transaction's own connection would start its
// write transaction before the work, and the embedded target's actions
// (PRAGMA optimize, VACUUM) need the database's write lock.
func (e *Engine) attempts(ctx context.Context, _ broker.Tx, key string) (int, string, error) {
	return e.cfg.Reader.Attempts(ctx, key)
}

// giveUp moves a message that failed n times to the dead letters.
func (e *Engine) giveUp(ctx context.Context, tx broker.Tx, s *stage, m broker.Message, env Envelope, key string, n int, last string) error {
	q, err := tx.SQL(ctx)
	if err != nil {
		return err
	}
	if err := e.cfg.Store.ClearAttempts(ctx, q, key); err != nil {
		return err
	}
	return e.deadLetter(ctx, tx, s, m, env.CycleID, fmt.Sprintf("handler failed %d times; last error: %s", n, last), n)
}

// doomed handles a failure that aborted the whole transaction (any error of
// a Tx method or, on SQL Server with XACT_ABORT ON, of a state write): no
// savepoint is left to return to. The transaction rolls back (the message
// returns to the queue), the attempt is counted in a transaction of its
// own, and the next delivery, seeing MaxAttempts, dead-letters the message
// before any work — so such a message costs MaxAttempts deliveries, not the
// five that would disable the queue.
func (e *Engine) doomed(ctx context.Context, tx broker.Tx, key string, cause, rollbackErr error, log zerolog.Logger) error {
	_ = tx.Rollback()
	var n int
	err := broker.InTx(ctx, e.cfg.Broker, func(_ broker.Tx, q broker.Querier) error {
		var err error
		n, err = e.cfg.Store.FailedAttempt(ctx, q, key, cause.Error())
		return err
	})
	if err != nil {
		return fmt.Errorf("%w (and counting the attempt failed: %v; the transaction: %v)", cause, err, rollbackErr)
	}
	log.Warn().Err(cause).Int("attempt", n).Int("max_attempts", e.cfg.MaxAttempts).Msg("stage step failed and its transaction was aborted; the attempt is counted apart")
	return errRetryLater
}

// deadLetter moves m to the dead letters, ends its conversation with an
// error, fails its cycle, and commits.
func (e *Engine) deadLetter(ctx context.Context, tx broker.Tx, s *stage, m broker.Message, cycleID, reason string, attempts int) error {
	q, err := tx.SQL(ctx)
	if err != nil {
		return err
	}
	if err := tx.End(ctx, &broker.EndParams{Conversation: m.Conversation, ErrorCode: 1, Description: truncate("dead-lettered: "+reason, 3000)}); err != nil {
		return err
	}
	dl := store.DeadLetter{Queue: s.queue, MessageType: m.Type, Conversation: m.Conversation.String(), Body: m.Body, Reason: reason, Attempts: attempts}
	id, failed, err := e.recordDeadLetter(ctx, q, s, dl, cycleID)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	e.deadLettered(s, cycleID, id, reason, failed)
	return nil
}

// recordDeadLetter writes a dead letter and its event in the caller's
// transaction, and fails its cycle with it unless the cycle has finished
// already (an operator's approval or a validation timer of a completed
// cycle). failed says whether it failed the cycle.
func (e *Engine) recordDeadLetter(ctx context.Context, q broker.Querier, s *stage, dl store.DeadLetter, cycleID string) (id int64, failed bool, err error) {
	dl.CreatedAt = e.cfg.Now()
	if id, err = e.cfg.Store.AddDeadLetter(ctx, q, dl); err != nil {
		return 0, false, err
	}
	data := map[string]any{"id": id, "queue": dl.Queue, "message_type": dl.MessageType, "reason": dl.Reason, "attempts": dl.Attempts}
	if err := e.addEvent(ctx, q, "deadletter", cycleID, data); err != nil {
		return id, false, err
	}
	if cycleID == "" {
		return id, false, nil
	}
	switch c, err := e.cfg.Reader.Cycle(ctx, cycleID); {
	case errors.Is(err, store.ErrNotFound):
		return id, false, nil
	case err != nil:
		return id, false, err
	case c.Status != store.StatusRunning:
		return id, false, nil
	}
	if err := e.cfg.Store.AdvanceCycle(ctx, q, cycleID, s.name, store.StatusFailed, dl.Reason, dl.CreatedAt); err != nil {
		return id, false, err
	}
	return id, true, e.addEvent(ctx, q, "cycle.failed", cycleID, map[string]any{"cycle_id": cycleID, "stage": s.name, "error": dl.Reason})
}

// deadLettered reports a committed dead letter.
func (e *Engine) deadLettered(s *stage, cycleID string, id int64, reason string, failedCycle bool) {
	e.log.Error().Str("stage", s.name).Str("queue", s.queue).Str("cycle_id", cycleID).Int64("dead_letter", id).Str("reason", reason).Msg("message moved to the dead letters")
	e.cfg.Metrics.StageStep(s.name, "dead_letter", 0)
	if failedCycle {
		e.cfg.Metrics.CycleFinished(store.StatusFailed)
	}
	e.cfg.Published()
}

// checkValue is the reading an action is validated on: the action's own
// object's (SQL Server readings are per index, per table, per plan). The
// embedded target's readings are database-wide (object "main") while its
// hypotheses name what they act on (wal, statistics), so there the reading
// of the database stands for them. object is the reading's, for its
// baseline.
func checkValue(o Observation, it ValidationItem) (v float64, object string, ok bool) {
	if v, ok := valueFor(o, it.Metric, it.Object); ok {
		return v, it.Object, true
	}
	if o.Target == "embedded" {
		if v, ok := valueFor(o, it.Metric, "main"); ok {
			return v, "main", true
		}
	}
	return 0, "", false
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func (e *Engine) addEvent(ctx context.Context, q broker.Querier, kind, cycleID string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("ooda: event %s: %w", kind, err)
	}
	return e.cfg.Store.AddEvent(ctx, q, store.Event{ID: broker.NewID().String(), Kind: kind, CycleID: cycleID, CreatedAt: e.cfg.Now(), Data: b})
}

// apply writes a handler's result and sends the next message (the writes of
// the step; the caller commits).
//
// m is the received message, ended here; nil when the step resumes an
// intent (the message was ended when the intent was recorded).
func (e *Engine) apply(ctx context.Context, tx broker.Tx, s *stage, m *broker.Message, env Envelope, res result) error {
	q, err := tx.SQL(ctx)
	if err != nil {
		return err
	}
	now := e.cfg.Now()
	if res.readings != nil {
		if err := e.cfg.Store.RecordReadings(ctx, q, env.CycleID, res.readings.TakenAt, res.readings.Readings); err != nil {
			return err
		}
		if _, err := e.cfg.Store.PruneReadings(ctx, q, now.Add(-e.cfg.BaselineWindow)); err != nil {
			return err
		}
	}
	for _, a := range res.actions {
		if err := e.cfg.Store.RecordAction(ctx, q, a); err != nil {
			return err
		}
		// An action that failed to run is judged at once: it counts
		// against its type's success rate like a regression.
		if a.Status == "failed" {
			if err := e.cfg.Store.RecordResult(ctx, q, a.ID, a.Type, store.ResultFailed, "", now); err != nil {
				return err
			}
		}
	}
	for _, a := range res.approvals {
		if err := e.cfg.Store.RequestApproval(ctx, q, a); err != nil {
			return err
		}
	}
	for _, ev := range res.events {
		if err := e.addEvent(ctx, q, ev.kind, env.CycleID, ev.data); err != nil {
			return err
		}
	}
	if res.validate != nil {
		if err := e.send(ctx, tx, KindAction, env.CycleID, env.Trace, res.validate); err != nil {
			return err
		}
	}
	if res.approval {
		return e.endMessage(ctx, tx, q, m)
	}
	rec, err := json.Marshal(res.record)
	if err != nil {
		return fmt.Errorf("ooda: %s record: %w", s.name, err)
	}
	if err := e.cfg.Store.RecordStep(ctx, q, env.CycleID, s.name, rec, now); err != nil {
		return err
	}
	status := res.status
	if status == "" {
		status = store.StatusRunning
	}
	if err := e.cfg.Store.AdvanceCycle(ctx, q, env.CycleID, s.name, status, res.errText, now); err != nil {
		return err
	}
	switch status {
	case store.StatusCompleted:
		err = e.addEvent(ctx, q, "cycle.completed", env.CycleID, map[string]any{"cycle_id": env.CycleID, "actions": len(res.actions)})
	case store.StatusFailed:
		err = e.addEvent(ctx, q, "cycle.failed", env.CycleID, map[string]any{"cycle_id": env.CycleID, "stage": s.name, "error": res.errText})
	}
	if err != nil {
		return err
	}
	if res.next != nil {
		if err := e.send(ctx, tx, s.next, env.CycleID, env.Trace, res.next); err != nil {
			return err
		}
	}
	return e.endMessage(ctx, tx, q, m)
}

// endMessage closes a processed message: its attempts are forgotten and our
// side of its conversation ends (the sender ends its side on the
// EndDialog). Nothing for nil.
func (e *Engine) endMessage(ctx context.Context, tx broker.Tx, q broker.Querier, m *broker.Message) error {
	if m == nil {
		return nil
	}
	if err := e.cfg.Store.ClearAttempts(ctx, q, fmt.Sprintf("%s/%d", m.Conversation, m.Sequence)); err != nil {
		return err
	}
	return tx.End(ctx, &broker.EndParams{Conversation: m.Conversation})
}

// send sends one envelope of kind on a new dialog along the kind's route.
func (e *Engine) send(ctx context.Context, tx broker.Tx, kind Kind, cycleID, trace string, payload any) error {
	p, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("ooda: %s payload: %w", kind, err)
	}
	body, err := Encode(Envelope{CycleID: cycleID, Kind: kind, CreatedAt: e.cfg.Now().UTC(), Trace: trace, Payload: p})
	if err != nil {
		return err
	}
	return sendBody(ctx, tx, kind, body)
}

// sendBody sends an encoded body of kind on a new dialog along its route.
func sendBody(ctx context.Context, tx broker.Tx, kind Kind, body []byte) error {
	from, to := route(kind)
	h, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: from, To: to, Contract: ContractFor(kind)})
	if err != nil {
		return err
	}
	return tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: kind.MessageType(), Body: body})
}

// TriggerParams start a cycle.
type TriggerParams struct {
	Source string // schedule, operator, event
	Reason string
	Key    string // idempotency key: a second trigger with it starts nothing while the first runs
}

// TriggerResult says which cycle runs for a trigger.
type TriggerResult struct {
	CycleID string `json:"cycle_id"`
	Started bool   `json:"started"` // false: a cycle with the key was already running
}

// ErrInvalidRequest is returned for a trigger, approval or rejection with bad input.
var ErrInvalidRequest = errors.New("invalid request")

// Trigger starts a cycle (or returns the running one with the same key).
func (e *Engine) Trigger(ctx context.Context, p TriggerParams) (TriggerResult, error) {
	switch {
	case p.Source == "":
		p.Source = "operator"
	case len(p.Source) > 64:
		return TriggerResult{}, fmt.Errorf("%w: source longer than 64 bytes", ErrInvalidRequest)
	}
	if utf8.RuneCountInString(p.Reason) > 1000 {
		return TriggerResult{}, fmt.Errorf("%w: reason longer than 1000 characters", ErrInvalidRequest)
	}
	if len(p.Key) > 200 || strings.ContainsAny(p.Key, "\x00\n") {
		return TriggerResult{}, fmt.Errorf("%w: key must be at most 200 bytes on one line", ErrInvalidRequest)
	}
	var res TriggerResult
	err := broker.InTx(ctx, e.cfg.Broker, func(tx broker.Tx, q broker.Querier) error {
		c, started, err := e.cfg.Store.StartCycle(ctx, q, store.Cycle{ID: broker.NewID().String(), Key: p.Key, Source: p.Source, Reason: p.Reason, StartedAt: e.cfg.Now()})
		if err != nil || !started {
			res.CycleID = c.ID
			return err
		}
		res = TriggerResult{CycleID: c.ID, Started: true}
		if err := e.addEvent(ctx, q, "cycle.started", c.ID, map[string]any{"cycle_id": c.ID, "source": p.Source, "reason": p.Reason, "key": p.Key}); err != nil {
			return err
		}
		return e.send(ctx, tx, KindTrigger, c.ID, "", Trigger{Source: p.Source, Reason: p.Reason, Key: p.Key})
	})
	if err != nil || !res.Started {
		return res, err
	}
	e.log.Info().Str("cycle_id", res.CycleID).Str("source", p.Source).Str("reason", p.Reason).Msg("cycle triggered")
	e.cfg.Published()
	return res, nil
}

// SetPaused turns the kill switch on or off: while paused, Decide lets no
// action of tier 1 or above through.
func (e *Engine) SetPaused(ctx context.Context, paused bool, who, reason string) error {
	err := broker.InTx(ctx, e.cfg.Broker, func(_ broker.Tx, q broker.Querier) error {
		if err := e.cfg.Store.SetSetting(ctx, q, "paused", fmt.Sprint(paused)); err != nil {
			return err
		}
		kind := "loop.resumed"
		if paused {
			kind = "loop.paused"
		}
		return e.addEvent(ctx, q, kind, "", map[string]any{"by": who, "reason": reason})
	})
	if err != nil {
		return err
	}
	e.log.Warn().Bool("paused", paused).Str("by", who).Str("reason", reason).Msg("kill switch changed")
	e.cfg.Published()
	return nil
}

// Paused reports the kill switch.
func (e *Engine) Paused(ctx context.Context) (bool, error) {
	v, _, err := e.cfg.Reader.Setting(ctx, "paused")
	return v == "true", err
}

// Errors of Approve and Reject.
var (
	ErrUnknownApproval = errors.New("unknown approval")
	ErrApprovalClosed  = errors.New("approval closed")
	ErrPausedApproval  = errors.New("the loop is paused")
)

// Approve approves a pending decision: the decision goes to the Act stage as
// a message and runs there, recorded with who approved it and why.
func (e *Engine) Approve(ctx context.Context, id, by, reason string) (store.Approval, error) {
	if paused, err := e.Paused(ctx); err != nil {
		return store.Approval{}, err
	} else if paused {
		return store.Approval{}, fmt.Errorf("%w: resume the loop before approving (approval %q stays pending)", ErrPausedApproval, id)
	}
	return e.decideApproval(ctx, id, store.ApprovalApproved, by, reason)
}

// Reject closes a pending decision without running it.
func (e *Engine) Reject(ctx context.Context, id, by, reason string) (store.Approval, error) {
	return e.decideApproval(ctx, id, store.ApprovalRejected, by, reason)
}

func (e *Engine) decideApproval(ctx context.Context, id, status, by, reason string) (store.Approval, error) {
	if by == "" || strings.TrimSpace(reason) == "" {
		return store.Approval{}, fmt.Errorf("%w: an approval or rejection needs who (by) and why (reason)", ErrInvalidRequest)
	}
	var a store.Approval
	err := broker.InTx(ctx, e.cfg.Broker, func(tx broker.Tx, q broker.Querier) error {
		var err error
		a, err = e.cfg.Store.DecideApproval(ctx, q, id, status, by, reason, e.cfg.Now())
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("%w: no approval %q", ErrUnknownApproval, id)
		case errors.Is(err, store.ErrApprovalClosed):
			return fmt.Errorf("%w: %v", ErrApprovalClosed, err)
		case err != nil:
			return err
		}
		if err := e.addEvent(ctx, q, "approval.decided", a.CycleID, a); err != nil {
			return err
		}
		if status == store.ApprovalRejected {
			return e.cfg.Store.RecordAction(ctx, q, store.Action{ID: id, CycleID: a.CycleID, Type: a.Action, Target: a.Object, Tier: a.Tier, Status: "rejected",
				Detail: fmt.Sprintf("rejected by %s: %s", by, reason), CreatedAt: a.RequestedAt})
		}
		var h Hypothesis
		if err := json.Unmarshal(a.Hypothesis, &h); err != nil {
			return fmt.Errorf("ooda: approval %q: stored hypothesis: %w", id, err)
		}
		d := Decisions{Approval: id, Decisions: []Decision{{Hypothesis: h, Verdict: VerdictApproved, Reason: fmt.Sprintf("approved by %s: %s", by, reason)}}}
		return e.send(ctx, tx, KindDecision, a.CycleID, "", d)
	})
	if err != nil {
		return a, err
	}
	e.log.Warn().Str("approval", id).Str("status", status).Str("by", by).Str("reason", reason).Msg("approval decided")
	e.cfg.Published()
	return a, nil
}

// Approvals lists approvals, pending first.
func (e *Engine) Approvals(ctx context.Context, limit int) ([]store.Approval, error) {
	return e.cfg.Reader.Approvals(ctx, limit, e.cfg.Now())
}

// ErrCannotRedrive is returned for a dead letter that is not a loop message.
var ErrCannotRedrive = errors.New("cannot redrive")

// Redrive sends a dead letter back to its queue, as the message it was; its
// cycle resumes from that stage. A dead letter is redriven once.
func (e *Engine) Redrive(ctx context.Context, id int64, by string) error {
	var queue string
	err := broker.InTx(ctx, e.cfg.Broker, func(tx broker.Tx, q broker.Querier) error {
		d, err := e.cfg.Store.MarkRedriven(ctx, q, id, e.cfg.Now())
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("%w: no dead letter %d", ErrCannotRedrive, id)
		case err != nil:
			return fmt.Errorf("%w: %v", ErrCannotRedrive, err)
		}
		queue = d.Queue
		kind, ok := kindOf(d.MessageType)
		if !ok {
			return fmt.Errorf("%w: dead letter %d is a %q message, not one the loop sends", ErrCannotRedrive, id, d.MessageType)
		}
		if err := sendBody(ctx, tx, kind, d.Body); err != nil {
			return err
		}
		env, _ := Decode(d.Body, e.cfg.MaxBodyBytes) // best effort: name the cycle
		return e.addEvent(ctx, q, "deadletter.redriven", env.CycleID, map[string]any{"id": id, "queue": d.Queue, "by": by})
	})
	if err != nil {
		return err
	}
	e.log.Warn().Int64("dead_letter", id).Str("queue", queue).Str("by", by).Msg("dead letter redriven")
	e.cfg.Published()
	return nil
}

// awaitValidation arms the validation window: the action message's
// conversation stays open, with its timer set, until the check is done.
func (e *Engine) awaitValidation(ctx context.Context, tx broker.Tx, s *stage, m broker.Message, env Envelope, key string, log zerolog.Logger) error {
	var v Validation
	if err := decodePayload(env, &v); err != nil {
		return e.deadLetter(ctx, tx, s, m, env.CycleID, err.Error(), 1)
	}
	err := func() error {
		q, err := tx.SQL(ctx)
		if err != nil {
			return err
		}
		if err := e.cfg.Store.AwaitValidation(ctx, q, m.Conversation.String(), env.CycleID, env.Payload, e.cfg.Now()); err != nil {
			return err
		}
		return tx.BeginTimer(ctx, m.Conversation, e.cfg.ValidationWindow)
	}()
	if err != nil {
		return e.failed(ctx, tx, s, m, env, key, err, log)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	log.Info().Int("actions", len(v.Items)).Dur("window", e.cfg.ValidationWindow).Msg("validation window started")
	return nil
}

// validate ends a validation window: observe again, classify each action
// against its before-value, revert a regression when the target can, then
// record the results and count them per type. The slow work (sensors,
// reverts) happens before the transaction's first write.
func (e *Engine) validate(ctx context.Context, tx broker.Tx, s *stage, m broker.Message, key string, log zerolog.Logger) error {
	tctx := context.WithoutCancel(ctx)
	handle := m.Conversation.String()
	if s.slow != nil { // a target with slow sensors: judge between two transactions
		return e.recordIntent(ctx, tctx, tx, s, m, store.Intent{ID: key, Stage: stageValidate, Envelope: []byte(handle), CreatedAt: e.cfg.Now()}, log)
	}
	// Judge before this transaction writes anything: the embedded target's
	// undo (a VACUUM) needs the database's write lock, which the step's
	// first write would hold. The timer message is this step's, locked by
	// its receive, so no other step judges the same validation; a commit
	// that fails after an undo brings the message back, and undos are
	// idempotent (a second one finds nothing to undo).
	var results []checked
	raw, pending, err := e.cfg.Reader.PendingValidation(ctx, handle)
	if err != nil {
		return err
	}
	if pending {
		if results, err = e.judge(ctx, raw); err != nil {
			// The target could not be observed: the timer message returns
			// and is tried again; after MaxAttempts it goes to the dead
			// letters.
			return e.failed(tctx, tx, s, m, Envelope{}, key, fmt.Errorf("validation on %s: %w", handle, err), log)
		}
	}
	q, err := tx.SQL(tctx)
	if err != nil {
		return err
	}
	cycleID, err := e.recordValidation(tctx, q, handle, results, log)
	if err != nil {
		return err
	}
	if err := tx.End(tctx, &broker.EndParams{Conversation: m.Conversation}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	e.validated(cycleID, results, log)
	return nil
}

// recordValidation takes the validation of a conversation handle and
// records the results of its actions, with their events, in the caller's
// transaction. It returns the validation's cycle.
func (e *Engine) recordValidation(ctx context.Context, q broker.Querier, handle string, results []checked, log zerolog.Logger) (string, error) {
	cycleID, _, taken, err := e.cfg.Store.TakeValidation(ctx, q, handle)
	if err != nil {
		return "", err
	}
	if !taken {
		log.Warn().Str("handle", handle).Msg("conversation timer fired with nothing to validate; ending the conversation")
		return "", nil
	}
	for _, c := range results {
		it := c.item
		data := map[string]any{"action_id": it.ActionID, "type": it.Type, "object": it.Object, "metric": it.Metric, "before": it.Before, "after": c.after, "result": c.result,
			"baseline": map[string]any{"median": c.band.Median, "mad": c.band.MAD, "samples": c.band.N, "noise_band": noiseBand(it.Before, c.band)}}
		if c.result == resultUnmeasured {
			// Not counted for or against the type: nothing was measured.
			data["after"], data["detail"] = nil, fmt.Sprintf("no %s reading of %s after the action", it.Metric, it.Object)
		} else if err := e.cfg.Store.RecordResult(ctx, q, it.ActionID, it.Type, c.result, c.revert, e.cfg.Now()); err != nil {
			return "", err
		}
		switch {
		case c.undo != "":
			data["undo"] = "failed: " + c.undo
		case c.result == store.ResultRegressed && c.revert == "":
			data["undo"] = "none: this action type has no undo"
		}
		if err := e.addEvent(ctx, q, "action.validated", cycleID, data); err != nil {
			return "", err
		}
		if c.revert != "" {
			if err := e.addEvent(ctx, q, "action.reverted", cycleID, map[string]any{"action_id": it.ActionID, "type": it.Type, "object": it.Object, "detail": c.revert}); err != nil {
				return "", err
			}
		}
		if c.undo != "" {
			if err := e.addEvent(ctx, q, "action.revert_failed", cycleID, map[string]any{"action_id": it.ActionID, "type": it.Type, "object": it.Object, "error": c.undo}); err != nil {
				return "", err
			}
		}
	}
	return cycleID, nil
}

// validated reports committed validation results: once committed, so that a
// redelivery does not count them twice.
func (e *Engine) validated(cycleID string, results []checked, log zerolog.Logger) {
	for _, c := range results {
		it := c.item
		log.Info().Str("cycle_id", cycleID).Str("action", it.Type).Str("metric", it.Metric).Float64("before", it.Before).Float64("after", c.after).Str("result", c.result).Str("reverted", c.revert).Msg("action validated")
		e.cfg.Metrics.ActionDone(it.Type, "validated_"+c.result)
	}
	e.cfg.Published()
}

// resultUnmeasured: the check metric of an action's object was not in the
// observation after it (the index was dropped, the sensor failed). Such an
// action is reported, not counted.
const resultUnmeasured = "unmeasured"

// checked is one validated action.
type checked struct {
	item   ValidationItem
	after  float64
	result string
	revert string   // what the undo did; "" if none
	undo   string   // why the undo failed; "" if it did not
	band   Baseline // the history the result was judged against
}

// judge observes the target again and classifies each item against its
// value before and its reading's history, undoing regressions that can be.
func (e *Engine) judge(ctx context.Context, raw json.RawMessage) ([]checked, error) {
	var v Validation
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, e.cfg.SensorBudget)
	obs, err := e.cfg.Target.Observe(octx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	baselines, err := e.baselines(ctx)
	if err != nil {
		return nil, err
	}
	var results []checked
	for _, it := range v.Items {
		c := checked{item: it, result: resultUnmeasured}
		if after, object, found := checkValue(obs, it); found {
			b, ok := baselines[ReadingKey{Name: it.Metric, Object: object}]
			c.after, c.result, c.band = after, ClassifyAgainst(it.Before, after, b, ok), b
		}
		if u, can := e.cfg.Target.(store.Undoer); can && c.result == store.ResultRegressed {
			actx, cancel := context.WithTimeout(ctx, e.cfg.ActionBudget)
			out, err := u.Undo(actx, it.Type, it.Object)
			cancel()
			switch {
			case errors.Is(err, store.ErrNoUndo):
			case err != nil:
				c.undo = err.Error()
			default:
				c.revert = out.Detail
			}
		}
		results = append(results, c)
	}
	return results, nil
}
