package ooda_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/embedded"
	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
	"github.com/hartonomous/ooda/store/sqlite"
)

type bundle struct {
	path   string // the state database file
	broker *embedded.Broker
	store  *sqlite.Store
	target *sqlite.Target
	engine *ooda.Engine
	cancel context.CancelFunc
	done   chan struct{}
}

type failingTarget struct {
	store.Target
	calls atomic.Int32
}

func (f *failingTarget) Observe(context.Context) (store.Observation, error) {
	f.calls.Add(1)
	return store.Observation{}, errors.New("sensor exploded")
}

func setup(t *testing.T, mod func(*ooda.Config)) *bundle {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	b, err := embedded.Open(ctx, embedded.Options{Dir: dir, Topology: ooda.Topology()})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, embedded.DatabaseFile)
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := sqlite.OpenTarget(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ooda.Config{Broker: b, Store: st, Reader: st, Target: tg, Logger: zerolog.Nop(), ReceiveWait: time.Second}
	if mod != nil {
		mod(&cfg)
	}
	e, err := ooda.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bd := &bundle{path: path, broker: b, store: st, target: tg, engine: e, done: make(chan struct{})}
	t.Cleanup(func() {
		bd.stop()
		tg.Close()
		st.Close()
		b.Close()
	})
	return bd
}

func (bd *bundle) start() {
	ctx, cancel := context.WithCancel(context.Background())
	bd.cancel = cancel
	go func() { defer close(bd.done); _ = bd.engine.Run(ctx, nil) }()
}

func (bd *bundle) stop() {
	if bd.cancel != nil {
		bd.cancel()
		<-bd.done
		bd.cancel = nil
	}
}

// eventually polls cond every 10ms until it holds or 30s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("after 30s: %s", what)
		}
	}
}

// waitCycle polls until the cycle is no longer running.
func waitCycle(t *testing.T, bd *bundle, id string) store.CycleDetail {
	t.Helper()
	var c store.CycleDetail
	eventually(t, "cycle "+id+" still running", func() bool {
		var err error
		if c, err = bd.store.Cycle(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return c.Status != store.StatusRunning
	})
	return c
}

func eventKinds(t *testing.T, bd *bundle, cycleID string) []string {
	t.Helper()
	evs, err := bd.store.Events(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		if e.CycleID == cycleID {
			kinds = append(kinds, e.Kind)
		}
	}
	return kinds
}

func TestCycleRunsThroughAllStages(t *testing.T) {
	t.Parallel()
	bd := setup(t, nil)
	bd.start()
	res, err := bd.engine.Trigger(context.Background(), ooda.TriggerParams{Reason: "test"})
	if err != nil || !res.Started {
		t.Fatalf("trigger: %+v %v", res, err)
	}
	c := waitCycle(t, bd, res.CycleID)
	if c.Status != store.StatusCompleted || c.Stage != "act" {
		t.Fatalf("cycle: %+v", c.Cycle)
	}
	var stages []string
	for _, s := range c.Steps {
		stages = append(stages, s.Stage)
	}
	if strings.Join(stages, ",") != "observe,orient,decide,act" {
		t.Fatalf("steps %v", stages)
	}
	// A fresh database has never been optimized: the tier-1 action ran.
	if len(c.Actions) != 1 || c.Actions[0].Type != "optimize" || c.Actions[0].Status != "executed" {
		t.Fatalf("actions: %+v", c.Actions)
	}
	want := "cycle.started,observation,orientation,decision,action,cycle.completed"
	if got := strings.Join(eventKinds(t, bd, res.CycleID), ","); got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	// The next cycle finds statistics fresh and does nothing.
	res2, err := bd.engine.Trigger(context.Background(), ooda.TriggerParams{Reason: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if c2 := waitCycle(t, bd, res2.CycleID); c2.Status != store.StatusCompleted || len(c2.Actions) != 0 {
		t.Fatalf("second cycle: %+v %+v", c2.Cycle, c2.Actions)
	}
	// Every conversation was ended by both sides: no message is left behind.
	for _, q := range []string{ooda.ObserveQueue, ooda.OrientQueue, ooda.DecideQueue, ooda.ActQueue} {
		eventually(t, "queue "+q+" still holds messages", func() bool {
			st, err := bd.broker.QueueStatus(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			return st.Depth == 0
		})
	}
}

func TestTriggerWithKeyIsIdempotent(t *testing.T) {
	t.Parallel()
	bd := setup(t, nil) // not started: the first cycle stays running
	ctx := context.Background()
	a, err := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "one", Key: "nightly-2026-12-04"})
	if err != nil || !a.Started {
		t.Fatalf("first: %+v %v", a, err)
	}
	b, err := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "two", Key: "nightly-2026-12-04"})
	if err != nil || b.Started || b.CycleID != a.CycleID {
		t.Fatalf("second trigger with the same key: %+v %v, want cycle %s not started again", b, err, a.CycleID)
	}
	st, _ := bd.broker.QueueStatus(ctx, ooda.ObserveQueue)
	if st.Depth != 1 {
		t.Fatalf("observe queue holds %d triggers, want 1", st.Depth)
	}
	if _, err := bd.engine.Trigger(ctx, ooda.TriggerParams{Key: strings.Repeat("k", 201)}); !errors.Is(err, ooda.ErrInvalidRequest) {
		t.Fatalf("oversized key: %v", err)
	}
}

func sendRaw(t *testing.T, b broker.Broker, body []byte) {
	t.Helper()
	ctx := context.Background()
	tx, _ := b.Begin(ctx)
	h, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: ooda.TriggerService, To: ooda.ObserveService, Contract: ooda.ContractFor(ooda.KindTrigger)})
	if err == nil {
		err = tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: ooda.KindTrigger.MessageType(), Body: body})
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func waitDeadLetters(t *testing.T, bd *bundle, n int) []store.DeadLetter {
	t.Helper()
	var ds []store.DeadLetter
	eventually(t, "dead letters missing", func() bool {
		var err error
		if ds, err = bd.store.DeadLetters(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
		return len(ds) >= n
	})
	return ds
}

func TestMalformedMessagesGoToDeadLetters(t *testing.T) {
	t.Parallel()
	bd := setup(t, nil)
	bd.start()
	bodies := map[string]string{
		"not json": "invalid envelope JSON",
		`{"v":2,"cycle_id":"c","kind":"trigger","created_at":"2026-01-01T00:00:00Z","payload":{}}`:           "envelope version 2",
		`{"v":1,"cycle_id":"c","kind":"sabotage","created_at":"2026-01-01T00:00:00Z","payload":{}}`:          `unknown kind "sabotage"`,
		`{"v":1,"cycle_id":"c","kind":"trigger","created_at":"2026-01-01T00:00:00Z","payload":{},"extra":1}`: `unknown field "extra"`,
		strings.Repeat("x", 300<<10): "over the limit",
	}
	for body := range bodies {
		sendRaw(t, bd.broker, []byte(body))
	}
	ds := waitDeadLetters(t, bd, len(bodies))
	for body, want := range bodies {
		found := false
		for _, d := range ds {
			if string(d.Body) == body && strings.Contains(d.Reason, want) && d.Queue == ooda.ObserveQueue {
				found = true
			}
		}
		if !found {
			t.Errorf("no dead letter for %.40q with reason %q; have %+v", body, want, ds)
		}
	}
	// The queue keeps flowing.
	res, err := bd.engine.Trigger(context.Background(), ooda.TriggerParams{Reason: "after poison"})
	if err != nil {
		t.Fatal(err)
	}
	if c := waitCycle(t, bd, res.CycleID); c.Status != store.StatusCompleted {
		t.Fatalf("cycle after poison: %+v", c.Cycle)
	}
}

func TestFailingHandlerIsRetriedThenDeadLettered(t *testing.T) {
	t.Parallel()
	ft := &failingTarget{}
	bd := setup(t, func(c *ooda.Config) { ft.Target = c.Target; c.Target = ft })
	bd.start()
	res, err := bd.engine.Trigger(context.Background(), ooda.TriggerParams{Reason: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	c := waitCycle(t, bd, res.CycleID)
	if c.Status != store.StatusFailed || !strings.Contains(c.Error, "handler failed 3 times") || !strings.Contains(c.Error, "sensor exploded") {
		t.Fatalf("cycle: %+v", c.Cycle)
	}
	if n := ft.calls.Load(); n != 3 {
		t.Fatalf("observe ran %d times, want 3", n)
	}
	ds := waitDeadLetters(t, bd, 1)
	if ds[0].Attempts != 3 || ds[0].Queue != ooda.ObserveQueue {
		t.Fatalf("dead letter: %+v", ds[0])
	}
	// Handler failures roll back to a savepoint: the poison rule never counted them.
	st, _ := bd.broker.QueueStatus(context.Background(), ooda.ObserveQueue)
	if !st.ReceiveEnabled || st.ConsecutiveRollbacks != 0 {
		t.Fatalf("observe queue: %+v", st)
	}
	if kinds := strings.Join(eventKinds(t, bd, res.CycleID), ","); !strings.Contains(kinds, "deadletter") || !strings.HasSuffix(kinds, "cycle.failed") {
		t.Fatalf("events %s", kinds)
	}
}

func TestDryRunExecutesNothing(t *testing.T) {
	t.Parallel()
	bd := setup(t, func(c *ooda.Config) { c.DryRun = true })
	bd.start()
	res, _ := bd.engine.Trigger(context.Background(), ooda.TriggerParams{Reason: "dry"})
	c := waitCycle(t, bd, res.CycleID)
	if len(c.Actions) != 1 || c.Actions[0].Status != "dry_run" || !strings.Contains(c.Actions[0].Detail, "would run: PRAGMA optimize") {
		t.Fatalf("actions %+v", c.Actions)
	}
	if v, ok, _ := bd.store.Setting(context.Background(), "last_optimize"); ok {
		t.Fatalf("dry run executed the action (last_optimize = %s)", v)
	}
}

func TestPausedLoopSkipsActions(t *testing.T) {
	t.Parallel()
	bd := setup(t, nil)
	bd.start()
	ctx := context.Background()
	if err := bd.engine.SetPaused(ctx, true, "test", "maintenance"); err != nil {
		t.Fatal(err)
	}
	res, _ := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "while paused"})
	c := waitCycle(t, bd, res.CycleID)
	if len(c.Actions) != 1 || c.Actions[0].Status != "skipped" || !strings.Contains(c.Actions[0].Detail, "paused") {
		t.Fatalf("actions %+v", c.Actions)
	}
	if err := bd.engine.SetPaused(ctx, false, "test", "done"); err != nil {
		t.Fatal(err)
	}
	res, _ = bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "resumed"})
	if c := waitCycle(t, bd, res.CycleID); len(c.Actions) != 1 || c.Actions[0].Status != "executed" {
		t.Fatalf("after resume: %+v", c.Actions)
	}
}

// TestDisabledQueueIsHealed: a message that kept killing its consumer has
// disabled the queue (the broker's poison rule); the engine re-enables the
// queue, moves that message to the dead letters, and the loop flows again.
func TestDisabledQueueIsHealed(t *testing.T) {
	t.Parallel()
	bd := setup(t, nil)
	ctx := context.Background()
	var cycles []string
	for _, reason := range []string{"kills its consumer", "innocent bystander"} {
		res, err := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		cycles = append(cycles, res.CycleID)
	}
	for range broker.PoisonThreshold {
		tx, _ := bd.broker.Begin(ctx)
		if msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: ooda.ObserveQueue, Max: 1}); err != nil || len(msgs) != 1 {
			t.Fatalf("receive: %d %v", len(msgs), err)
		}
		_ = tx.Rollback()
	}
	if st, _ := bd.broker.QueueStatus(ctx, ooda.ObserveQueue); st.ReceiveEnabled || st.Depth != 2 {
		t.Fatalf("the poison rule did not disable the queue, or lost a message: %+v", st)
	}
	bd.start()
	ds := waitDeadLetters(t, bd, 1)
	if !strings.Contains(ds[0].Reason, "disabled by the poison rule") || ds[0].Queue != ooda.ObserveQueue {
		t.Fatalf("dead letter: %+v", ds[0])
	}
	// Only the head message goes: the other cycle on the same queue runs.
	statuses := map[string]int{}
	for _, id := range cycles {
		statuses[waitCycle(t, bd, id).Status]++
	}
	if statuses[store.StatusFailed] != 1 || statuses[store.StatusCompleted] != 1 {
		t.Fatalf("want one failed (dead-lettered) and one completed cycle, got %v", statuses)
	}
	if got, _ := bd.store.DeadLetters(ctx, 10); len(got) != 1 {
		t.Fatalf("%d dead letters, want 1: healing purged more than the head message", len(got))
	}
	evs, err := bd.store.Events(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	alerted := false
	for _, e := range evs {
		alerted = alerted || (e.Kind == "alert" && strings.Contains(string(e.Data), `"queue_healed"`) && strings.Contains(string(e.Data), ooda.ObserveQueue))
	}
	if !alerted {
		t.Fatal("no alert event says the queue was healed")
	}
	res2, err := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "after healing"})
	if err != nil {
		t.Fatal(err)
	}
	if c := waitCycle(t, bd, res2.CycleID); c.Status != store.StatusCompleted {
		t.Fatalf("after healing: %+v", c.Cycle)
	}
}

// induceFreePages fills and empties a table so that the database has more
// than 20 % and 1,000 pages free: the catalog's tier-2 VACUUM case.
func induceFreePages(t *testing.T, bd *bundle) { induceFreePagesN(t, bd, 2000) }

// induceFreePagesN inserts and deletes rows of 3,000 bytes, each one page
// that ends up free.
func induceFreePagesN(t *testing.T, bd *bundle, rows int) {
	t.Helper()
	ctx := context.Background()
	for _, stmt := range []string{
		"CREATE TABLE IF NOT EXISTS junk (id INTEGER PRIMARY KEY, pad BLOB)",
		fmt.Sprintf("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) INSERT INTO junk (pad) SELECT zeroblob(3000) FROM n", rows),
		"DELETE FROM junk",
	} {
		tx, _ := bd.broker.Begin(ctx)
		q, err := tx.SQL(ctx)
		if err == nil {
			_, err = q.ExecContext(ctx, stmt)
		}
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			_ = tx.Rollback()
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func actionOf(c store.CycleDetail, typ string) (store.Action, bool) {
	for _, a := range c.Actions {
		if a.Type == typ {
			return a, true
		}
	}
	return store.Action{}, false
}

func TestApprovalRunsTierTwoActionAfterApprove(t *testing.T) {
	t.Parallel()
	bd := setup(t, nil)
	bd.start()
	ctx := context.Background()
	induceFreePages(t, bd)
	res, _ := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "after a bulk delete"})
	c := waitCycle(t, bd, res.CycleID)
	vac, ok := actionOf(c, "vacuum")
	if !ok || vac.Status != "awaiting_approval" {
		t.Fatalf("vacuum: %+v (actions %+v)", vac, c.Actions)
	}
	as, err := bd.engine.Approvals(ctx, 10)
	if err != nil || len(as) != 1 || as[0].ID != vac.ID || as[0].Status != store.ApprovalPending {
		t.Fatalf("approvals: %+v %v", as, err)
	}
	if _, err := bd.engine.Approve(ctx, vac.ID, "alice", " "); !errors.Is(err, ooda.ErrInvalidRequest) {
		t.Fatalf("approve without a reason: %v", err)
	}
	if _, err := bd.engine.Approve(ctx, "no-such-approval", "alice", "x"); !errors.Is(err, ooda.ErrUnknownApproval) {
		t.Fatalf("approve unknown id: %v", err)
	}
	if _, err := bd.engine.Approve(ctx, vac.ID, "alice", "inside the maintenance window"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the approved VACUUM to run", func() bool {
		c, _ = bd.store.Cycle(ctx, res.CycleID)
		vac, _ = actionOf(c, "vacuum")
		return vac.Status == "executed"
	})
	if !strings.Contains(vac.Detail, "approved by alice: inside the maintenance window") || string(vac.After) != `{"freelist_pages":0}` {
		t.Fatalf("executed vacuum: %+v, after %s", vac, vac.After)
	}
	if c.Status != store.StatusCompleted {
		t.Fatalf("the cycle changed: %+v", c.Cycle)
	}
	if _, err := bd.engine.Approve(ctx, vac.ID, "bob", "again"); !errors.Is(err, ooda.ErrApprovalClosed) || !strings.Contains(err.Error(), "already approved by alice") {
		t.Fatalf("approving twice: %v", err)
	}
}

func TestRejectedAndExpiredApprovalsDoNotRun(t *testing.T) {
	t.Parallel()
	bd := setup(t, nil)
	bd.start()
	ctx := context.Background()
	induceFreePages(t, bd)
	res, _ := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "reject me"})
	c := waitCycle(t, bd, res.CycleID)
	vac, _ := actionOf(c, "vacuum")
	if _, err := bd.engine.Reject(ctx, vac.ID, "bob", "not during business hours"); err != nil {
		t.Fatal(err)
	}
	c, _ = bd.store.Cycle(ctx, res.CycleID)
	vac, _ = actionOf(c, "vacuum")
	if vac.Status != "rejected" || !strings.Contains(vac.Detail, "rejected by bob") {
		t.Fatalf("rejected vacuum: %+v", vac)
	}
	// Rejected, it never runs: the next cycle still finds the free pages.
	res2, _ := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "still free pages?"})
	c2 := waitCycle(t, bd, res2.CycleID)
	if a, ok := actionOf(c2, "vacuum"); !ok || a.Status != "awaiting_approval" {
		t.Fatalf("after the rejection: %+v", c2.Actions)
	}

	// An approval past its expiry cannot be approved.
	exp := setup(t, func(c *ooda.Config) { c.ApprovalTTL = time.Nanosecond })
	exp.start()
	induceFreePages(t, exp)
	res3, _ := exp.engine.Trigger(ctx, ooda.TriggerParams{Reason: "expire me"})
	c3 := waitCycle(t, exp, res3.CycleID)
	v3, _ := actionOf(c3, "vacuum")
	as, _ := exp.engine.Approvals(ctx, 10)
	if len(as) != 1 || as[0].Status != store.ApprovalExpired {
		t.Fatalf("approvals: %+v", as)
	}
	if _, err := exp.engine.Approve(ctx, v3.ID, "alice", "too late"); !errors.Is(err, ooda.ErrApprovalClosed) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("approving an expired request: %v", err)
	}
}

// flakyTarget fails its sensors until healed.
type flakyTarget struct {
	store.Target
	healed atomic.Bool
}

func (f *flakyTarget) Observe(ctx context.Context) (store.Observation, error) {
	if !f.healed.Load() {
		return store.Observation{}, errors.New("sensor offline")
	}
	return f.Target.Observe(ctx)
}

func TestRedriveBringsADeadLetterBack(t *testing.T) {
	t.Parallel()
	ft := &flakyTarget{}
	bd := setup(t, func(c *ooda.Config) { ft.Target = c.Target; c.Target = ft })
	bd.start()
	ctx := context.Background()
	res, _ := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "sensor offline"})
	if c := waitCycle(t, bd, res.CycleID); c.Status != store.StatusFailed {
		t.Fatalf("cycle: %+v", c.Cycle)
	}
	ds := waitDeadLetters(t, bd, 1)
	ft.healed.Store(true)
	if err := bd.engine.Redrive(ctx, ds[0].ID, "carol"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the redriven cycle to complete", func() bool {
		c, _ := bd.store.Cycle(ctx, res.CycleID)
		return c.Status == store.StatusCompleted
	})
	if err := bd.engine.Redrive(ctx, ds[0].ID, "carol"); !errors.Is(err, ooda.ErrCannotRedrive) || !strings.Contains(err.Error(), "already redriven") {
		t.Fatalf("redriving twice: %v", err)
	}
	if err := bd.engine.Redrive(ctx, 999, "carol"); !errors.Is(err, ooda.ErrCannotRedrive) || !strings.Contains(err.Error(), "no dead letter 999") {
		t.Fatalf("redriving an unknown id: %v", err)
	}
}

// TestIdleLoopRunsNoSQL: with nothing to do, the four stage loops wait on
// in-memory signals; no statement reaches the database however long they idle.
func TestIdleLoopRunsNoSQL(t *testing.T) {
	t.Parallel()
	bd := setup(t, func(c *ooda.Config) { c.ReceiveWait = 20 * time.Millisecond })
	bd.start()
	res, _ := bd.engine.Trigger(context.Background(), ooda.TriggerParams{Reason: "warm up"})
	waitCycle(t, bd, res.CycleID)
	// Let the EndDialog messages of the cycle be received and the queues settle.
	var before int64
	eventually(t, "the loop to settle", func() bool {
		before = bd.broker.Stats().Statements
		<-time.After(100 * time.Millisecond)
		return bd.broker.Stats().Statements == before
	})
	<-time.After(500 * time.Millisecond) // 25 receive waits per stage
	if after := bd.broker.Stats().Statements; after != before {
		t.Fatalf("an idle loop ran %d SQL statements in 500 ms", after-before)
	}
}

// TestActionValidatedAfterTheWindow: after the validation window (a durable
// conversation timer) the loop observes again, classifies the action
// against its before-value and counts the result for its type.
func TestActionValidatedAfterTheWindow(t *testing.T) {
	t.Parallel()
	bd := setup(t, func(c *ooda.Config) { c.ValidationWindow = 200 * time.Millisecond })
	bd.start()
	ctx := context.Background()
	res, _ := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "validate me"})
	waitCycle(t, bd, res.CycleID)
	var a store.Action
	eventually(t, "the optimize action to be validated", func() bool {
		c, _ := bd.store.Cycle(ctx, res.CycleID)
		a, _ = actionOf(c, "optimize")
		return a.Result != ""
	})
	// Never optimized before, optimized now: the check metric fell.
	if a.Result != "improved" || a.ValidatedAt == nil {
		t.Fatalf("validated action: %+v", a)
	}
	stats, err := bd.store.ActionStats(ctx)
	if err != nil || len(stats) != 1 || stats[0].Type != "optimize" || stats[0].Improved != 1 {
		t.Fatalf("stats: %+v %v", stats, err)
	}
	if kinds := strings.Join(eventKinds(t, bd, res.CycleID), ","); !strings.HasSuffix(kinds, "cycle.completed,action.validated") {
		t.Fatalf("events %s", kinds)
	}
	// Both sides ended the validation conversation: nothing is left queued.
	for _, q := range []string{ooda.ObserveQueue, ooda.ActQueue} {
		eventually(t, "queue "+q+" to empty", func() bool {
			st, _ := bd.broker.QueueStatus(ctx, q)
			return st.Depth == 0
		})
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		before, after float64
		want          string
	}{
		{100, 89, "improved"}, {100, 90, "neutral"}, {100, 100, "neutral"}, {100, 110, "neutral"},
		{100, 111, "regressed"}, {0, 0, "neutral"}, {0, 1, "regressed"}, {1e18, 0, "improved"},
	} {
		if got := ooda.Classify(c.before, c.after); got != c.want {
			t.Errorf("Classify(%g, %g) = %s, want %s", c.before, c.after, got, c.want)
		}
	}
}

// regressingTarget reports a WAL over the threshold, "checkpoints" it into
// something worse, and can undo that.
type regressingTarget struct {
	store.Target
	wal    atomic.Int64
	undone atomic.Bool
}

func (r *regressingTarget) Observe(ctx context.Context) (store.Observation, error) {
	o, err := r.Target.Observe(ctx)
	for i := range o.Readings {
		if o.Readings[i].Name == "wal_bytes" {
			o.Readings[i].Value = float64(r.wal.Load())
		}
	}
	return o, err
}

func (r *regressingTarget) Execute(ctx context.Context, action, object string) (store.Outcome, error) {
	if action != "wal_checkpoint" {
		return r.Target.Execute(ctx, action, object)
	}
	before := r.wal.Load()
	r.wal.Store(before * 2)
	return store.Outcome{Detail: "made it worse", Before: map[string]float64{"wal_bytes": float64(before)}}, nil
}

func (r *regressingTarget) Undo(_ context.Context, action, _ string) (store.Outcome, error) {
	r.wal.Store(r.wal.Load() / 2)
	r.undone.Store(true)
	return store.Outcome{Detail: "restored the WAL for " + action}, nil
}

func TestRegressionIsReverted(t *testing.T) {
	t.Parallel()
	rt := &regressingTarget{}
	rt.wal.Store(100 << 20)
	bd := setup(t, func(c *ooda.Config) { rt.Target = c.Target; c.Target = rt; c.ValidationWindow = 100 * time.Millisecond })
	bd.start()
	ctx := context.Background()
	res, _ := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "regress"})
	waitCycle(t, bd, res.CycleID)
	var a store.Action
	eventually(t, "the checkpoint to be validated", func() bool {
		c, _ := bd.store.Cycle(ctx, res.CycleID)
		a, _ = actionOf(c, "wal_checkpoint")
		return a.Result != ""
	})
	if a.Result != "regressed" || a.Status != "reverted" || !strings.Contains(a.Detail, "reverted: restored the WAL for wal_checkpoint") || !rt.undone.Load() {
		t.Fatalf("regressed action: %+v (undone %v)", a, rt.undone.Load())
	}
	if kinds := strings.Join(eventKinds(t, bd, res.CycleID), ","); !strings.Contains(kinds, "action.validated,action.reverted") {
		t.Fatalf("events %s", kinds)
	}
	stats, _ := bd.store.ActionStats(ctx)
	for _, s := range stats {
		if s.Type == "wal_checkpoint" && s.Regressed != 1 {
			t.Fatalf("stats: %+v", stats)
		}
	}
}

// autoVacuum reads the state database's auto_vacuum mode (0 NONE, 2
// INCREMENTAL) through the broker's own connection.
func autoVacuum(t *testing.T, bd *bundle) int {
	t.Helper()
	ctx := context.Background()
	var mode int
	if err := broker.InTx(ctx, bd.broker, func(_ broker.Tx, q broker.Querier) error {
		return q.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode)
	}); err != nil {
		t.Fatal(err)
	}
	return mode
}

// approveAndValidate runs one cycle on a database with many free pages,
// approves its VACUUM if the policy asks for an operator, and returns the
// action once validated.
func approveAndValidate(t *testing.T, bd *bundle, typ string) store.Action {
	t.Helper()
	ctx := context.Background()
	induceFreePages(t, bd)
	res, _ := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "after a bulk delete"})
	vac, ok := actionOf(waitCycle(t, bd, res.CycleID), typ)
	switch {
	case !ok:
		t.Fatalf("no %s decided", typ)
	case vac.Status == "awaiting_approval":
		if _, err := bd.engine.Approve(ctx, vac.ID, "alice", "test"); err != nil {
			t.Fatal(err)
		}
	case vac.Status != "executed":
		t.Fatalf("vacuum: %+v", vac)
	}
	eventually(t, "the "+typ+" to be validated", func() bool {
		c, _ := bd.store.Cycle(ctx, res.CycleID)
		vac, _ = actionOf(c, typ)
		return vac.Result != ""
	})
	return vac
}

// spoiler is the real embedded target, which, once armed, spoils the
// effect of the next VACUUM right after it ran: rows inserted and deleted
// through a connection of its own leave more free pages than before. It
// runs inside Execute, so before the validation timer is even armed.
type spoiler struct {
	*sqlite.Target
	path  string
	armed atomic.Bool
	err   atomic.Value
}

func (s *spoiler) Execute(ctx context.Context, action, object string) (store.Outcome, error) {
	out, err := s.Target.Execute(ctx, action, object)
	if err == nil && action == "vacuum" && s.armed.CompareAndSwap(true, false) {
		if serr := spoil(ctx, s.path, 6000); serr != nil {
			s.err.Store(serr)
		}
	}
	return out, err
}

func spoil(ctx context.Context, path string, rows int) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)")
	if err != nil {
		return err
	}
	defer db.Close()
	for _, stmt := range []string{
		"CREATE TABLE IF NOT EXISTS junk (id INTEGER PRIMARY KEY, pad BLOB)",
		fmt.Sprintf("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) INSERT INTO junk (pad) SELECT zeroblob(3000) FROM n", rows),
		"DELETE FROM junk",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// TestVacuumScenarioOnTheEmbeddedTarget: the catalog's free-pages case on
// the real embedded target, end to end, three times.
//  1. A bulk delete leaves many free pages; the cycle proposes VACUUM (tier
//     2, no history: an operator approves). It switches the file to
//     incremental auto-vacuum — and right after it, the free pages come
//     back, three times as many: the validation finds it regressed and the
//     loop undoes it (auto_vacuum back to NONE), with action.validated and
//     action.reverted events.
//  2. Past the cooldown, the same case: with one regression and nothing
//     else in its history VACUUM still needs an operator; approved, it
//     holds this time and is classified improved.
//  3. With the file now incremental, the next free pages are returned by
//     incremental_vacuum, tier 1: automatic, and improved.
func TestVacuumScenarioOnTheEmbeddedTarget(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64 // the loop's clock runs ahead by this much
	var sp *spoiler
	bd := setup(t, func(c *ooda.Config) {
		c.ValidationWindow = 500 * time.Millisecond
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		sp = &spoiler{Target: c.Target.(*sqlite.Target)}
		c.Target = sp
	})
	sp.path = bd.path
	bd.start()
	ctx := context.Background()
	if autoVacuum(t, bd) != 0 {
		t.Fatal("a new state database should start with auto_vacuum NONE")
	}

	sp.armed.Store(true)
	bad := approveAndValidate(t, bd, "vacuum")
	if err, _ := sp.err.Load().(error); err != nil {
		t.Fatalf("spoiling the vacuum: %v", err)
	}
	if bad.Result != store.ResultRegressed || bad.Status != "reverted" || !strings.Contains(bad.Detail, "switched auto_vacuum back to NONE") {
		t.Fatalf("spoiled vacuum: %+v", bad)
	}
	if autoVacuum(t, bd) != 0 {
		t.Fatal("the undo did not put auto_vacuum back to NONE")
	}
	if kinds := strings.Join(eventKinds(t, bd, bad.CycleID), ","); !strings.Contains(kinds, "action.validated,action.reverted") {
		t.Fatalf("events %s", kinds)
	}

	skew.Store(int64(7 * time.Hour)) // past the 6 h cooldown on "main"
	good := approveAndValidate(t, bd, "vacuum")
	if !strings.Contains(good.Detail, "approved by alice") {
		t.Fatalf("after a regression and nothing else, VACUUM ran without an operator: %+v", good)
	}
	if good.Result != store.ResultImproved || !strings.Contains(good.Detail, "switched auto_vacuum to INCREMENTAL") || autoVacuum(t, bd) != 2 {
		t.Fatalf("second vacuum: %+v (auto_vacuum %d)", good, autoVacuum(t, bd))
	}

	skew.Store(int64(14 * time.Hour))
	inc := approveAndValidate(t, bd, "incremental_vacuum")
	if inc.Tier != 1 || strings.Contains(inc.Detail, "approved by") || inc.Result != store.ResultImproved {
		t.Fatalf("incremental vacuum: %+v", inc)
	}

	stats, err := bd.store.ActionStatsSince(ctx, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.ActionStats{}
	for _, s := range stats {
		got[s.Type] = s
	}
	if v := got["vacuum"]; v.Improved != 1 || v.Regressed != 1 || v.Neutral+v.Failed != 0 {
		t.Fatalf("vacuum statistics: %+v", stats)
	}
	if v := got["incremental_vacuum"]; v.Improved != 1 {
		t.Fatalf("incremental_vacuum statistics: %+v", stats)
	}
}

// flakyValidation observes normally for the cycle, then fails every
// observation made for a validation (after armed), or drops the check
// metric's reading (when dropReading).
type flakyValidation struct {
	store.Target
	armed       atomic.Bool
	dropReading atomic.Bool
}

func (f *flakyValidation) Observe(ctx context.Context) (store.Observation, error) {
	o, err := f.Target.Observe(ctx)
	if f.armed.Load() {
		return store.Observation{}, errors.New("sensors down")
	}
	if f.dropReading.Load() {
		kept := o.Readings[:0]
		for _, r := range o.Readings {
			if r.Name != "optimize_age_seconds" {
				kept = append(kept, r)
			}
		}
		o.Readings = kept
	}
	return o, err
}

// optimizeExecuted triggers a cycle and waits for its optimize action to
// run; then arm() changes what the next observations see.
func optimizeExecuted(t *testing.T, bd *bundle, arm func()) store.Action {
	t.Helper()
	res, _ := bd.engine.Trigger(context.Background(), ooda.TriggerParams{Reason: "validate me"})
	c := waitCycle(t, bd, res.CycleID)
	a, ok := actionOf(c, "optimize")
	if !ok || a.Status != "executed" {
		t.Fatalf("optimize: %+v", c.Actions)
	}
	arm()
	return a
}

// TestValidationThatCannotObserveEndsInTheDeadLetters: when the target
// cannot be observed at the end of the window, the timer message is tried
// again like any other message, and after MaxAttempts it is a dead letter
// naming the cause — without failing the completed cycle.
func TestValidationThatCannotObserveEndsInTheDeadLetters(t *testing.T) {
	t.Parallel()
	fv := &flakyValidation{}
	bd := setup(t, func(c *ooda.Config) { fv.Target = c.Target; c.Target = fv; c.ValidationWindow = 200 * time.Millisecond })
	bd.start()
	a := optimizeExecuted(t, bd, func() { fv.armed.Store(true) })
	ds := waitDeadLetters(t, bd, 1)
	if ds[0].MessageType != broker.MessageTypeDialogTimer || !strings.Contains(ds[0].Reason, "sensors down") || ds[0].Attempts != 3 {
		t.Fatalf("dead letter: %+v", ds[0])
	}
	c, _ := bd.store.Cycle(context.Background(), a.CycleID)
	if c.Status != store.StatusCompleted {
		t.Fatalf("the completed cycle was failed by its validation's dead letter: %+v", c.Cycle)
	}
}

// TestValidationWithoutItsReadingIsUnmeasured: when the check metric is
// not in the observation after the action, the result is reported as
// unmeasured and not counted for or against the type.
func TestValidationWithoutItsReadingIsUnmeasured(t *testing.T) {
	t.Parallel()
	fv := &flakyValidation{}
	bd := setup(t, func(c *ooda.Config) { fv.Target = c.Target; c.Target = fv; c.ValidationWindow = 200 * time.Millisecond })
	bd.start()
	a := optimizeExecuted(t, bd, func() { fv.dropReading.Store(true) })
	eventually(t, "the action.validated event", func() bool {
		return strings.Contains(strings.Join(eventKinds(t, bd, a.CycleID), ","), "action.validated")
	})
	evs, _ := bd.store.Events(context.Background(), 1000)
	for _, e := range evs {
		if e.Kind == "action.validated" && e.CycleID == a.CycleID && !strings.Contains(string(e.Data), `"result":"unmeasured"`) {
			t.Fatalf("validated: %s", e.Data)
		}
	}
	stats, _ := bd.store.ActionStats(context.Background())
	if len(stats) != 0 {
		t.Fatalf("an unmeasured action was counted: %+v", stats)
	}
}

// TestApprovedActionDoesNotRunOncePaused: an approval given before the kill
// switch went on does not run when it reaches Act after it.
func TestApprovedActionDoesNotRunOncePaused(t *testing.T) {
	t.Parallel()
	bd := setup(t, nil)
	ctx := context.Background()
	induceFreePages(t, bd)
	bd.start()
	res, _ := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "approve, then pause"})
	vac, _ := actionOf(waitCycle(t, bd, res.CycleID), "vacuum")
	if vac.Status != "awaiting_approval" {
		t.Fatalf("vacuum: %+v", vac)
	}
	// Stop the loop so that the approval waits in the Act queue while the
	// loop is paused, as it would behind a busy queue.
	bd.stop()
	if _, err := bd.engine.Approve(ctx, vac.ID, "alice", "looks fine"); err != nil {
		t.Fatal(err)
	}
	if err := bd.engine.SetPaused(ctx, true, "bob", "incident"); err != nil {
		t.Fatal(err)
	}
	bd.done = make(chan struct{})
	bd.start()
	eventually(t, "the approved vacuum to be handled", func() bool {
		c, _ := bd.store.Cycle(ctx, res.CycleID)
		vac, _ = actionOf(c, "vacuum")
		return vac.Status != "awaiting_approval"
	})
	if vac.Status != "skipped" || !strings.Contains(vac.Detail, "paused before it ran") || autoVacuum(t, bd) != 0 {
		t.Fatalf("an approved vacuum ran while paused: %+v", vac)
	}
}

// leaveIntent records what a crash between the two transactions of an Act
// step leaves behind: a running cycle and the intent to run its decisions.
func leaveIntent(t *testing.T, bd *bundle, created time.Time) (cycleID string) {
	t.Helper()
	ctx := context.Background()
	cycleID = broker.NewID().String()
	ds := ooda.Decisions{Decisions: []ooda.Decision{{Verdict: ooda.VerdictExecute, Reason: "tier 1: automatic",
		Hypothesis: ooda.Hypothesis{ID: "stale_statistics:statistics", Rule: "stale_statistics", Object: "statistics", Action: "optimize", Tier: 1, Confidence: 0.8}}}}
	payload, _ := json.Marshal(ds)
	body, err := ooda.Encode(ooda.Envelope{CycleID: cycleID, Kind: ooda.KindDecision, CreatedAt: created, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	if err := broker.InTx(ctx, bd.broker, func(_ broker.Tx, q broker.Querier) error {
		if _, _, err := bd.store.StartCycle(ctx, q, store.Cycle{ID: cycleID, Source: "test", Reason: "crashed while acting", StartedAt: created}); err != nil {
			return err
		}
		return bd.store.RecordIntent(ctx, q, store.Intent{ID: cycleID + "/1", CycleID: cycleID, Stage: "act", Envelope: body, CreatedAt: created})
	}); err != nil {
		t.Fatal(err)
	}
	return cycleID
}

// TestIntentLeftByACrashIsResumedAtStart: a daemon that died after
// recording an Act intent (its message gone) but before recording the
// result: the next start runs the actions and completes the cycle, once.
func TestIntentLeftByACrashIsResumedAtStart(t *testing.T) {
	t.Parallel()
	bd := setup(t, func(c *ooda.Config) { c.ExclusiveState = true })
	ctx := context.Background()
	id := leaveIntent(t, bd, time.Now())
	bd.start()
	c := waitCycle(t, bd, id)
	a, ok := actionOf(c, "optimize")
	if c.Status != store.StatusCompleted || !ok || a.Status != "executed" {
		t.Fatalf("resumed cycle: %+v, actions %+v", c.Cycle, c.Actions)
	}
	if ins, err := bd.store.Intents(ctx, time.Now().Add(time.Hour)); err != nil || len(ins) != 0 {
		t.Fatalf("intents left: %+v %v", ins, err)
	}
}

// TestSharedStateResumesOnlyOrphanedIntents: on a state shared by several
// daemons an intent may belong to one still at work; only one older than
// ActionBudget plus a minute is resumed at start.
func TestSharedStateResumesOnlyOrphanedIntents(t *testing.T) {
	t.Parallel()
	bd := setup(t, func(c *ooda.Config) { c.ActionBudget = time.Minute })
	ctx := context.Background()
	fresh := leaveIntent(t, bd, time.Now())
	old := leaveIntent(t, bd, time.Now().Add(-5*time.Minute))
	bd.start()
	if c := waitCycle(t, bd, old); c.Status != store.StatusCompleted {
		t.Fatalf("orphaned intent: %+v", c.Cycle)
	}
	if c, _ := bd.store.Cycle(ctx, fresh); c.Status != store.StatusRunning {
		t.Fatalf("a fresh intent (its owner may be at work) was resumed: %+v", c.Cycle)
	}
}

// stepBreaker is the real store whose RecordStep of one stage runs a
// statement that fails, which aborts the whole transaction (as any SQL error
// does on SQL Server with XACT_ABORT ON, and in the embedded engine).
type stepBreaker struct {
	*sqlite.Store
	stage string
}

func (s *stepBreaker) RecordStep(ctx context.Context, q broker.Querier, cycleID, stage string, payload json.RawMessage, now time.Time) error {
	if stage == s.stage {
		_, err := q.ExecContext(ctx, "INSERT INTO ooda_no_such_table VALUES (1)")
		return err
	}
	return s.Store.RecordStep(ctx, q, cycleID, stage, payload, now)
}

// TestAbortedTransactionsStillCountAttempts: an error that aborts the whole
// step transaction leaves no savepoint to return to. The attempt is counted
// apart, and after MaxAttempts deliveries the message goes to the dead
// letters — without five full rollbacks disabling the queue.
func TestAbortedTransactionsStillCountAttempts(t *testing.T) {
	t.Parallel()
	bd := setup(t, func(c *ooda.Config) {
		sb := &stepBreaker{Store: c.Store.(*sqlite.Store), stage: "orient"}
		c.Store = sb
	})
	bd.start()
	ctx := context.Background()
	res, err := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "orient cannot record"})
	if err != nil {
		t.Fatal(err)
	}
	ds := waitDeadLetters(t, bd, 1)
	if ds[0].Queue != ooda.OrientQueue || ds[0].Attempts != 3 || !strings.Contains(ds[0].Reason, "no such table") {
		t.Fatalf("dead letter: %+v", ds[0])
	}
	if c := waitCycle(t, bd, res.CycleID); c.Status != store.StatusFailed {
		t.Fatalf("cycle: %+v", c.Cycle)
	}
	if st, _ := bd.broker.QueueStatus(ctx, ooda.OrientQueue); !st.ReceiveEnabled {
		t.Fatal("the poison rule disabled the queue: the aborted deliveries were not counted")
	}
}

// TestIntentThatKeepsFailingEndsInTheDeadLetters: an Act intent whose
// result cannot be recorded is retried, and after MaxAttempts it is a dead
// letter (its envelope, for redrive) and its cycle fails; it is not
// retried forever.
func TestIntentThatKeepsFailingEndsInTheDeadLetters(t *testing.T) {
	t.Parallel()
	bd := setup(t, func(c *ooda.Config) {
		c.Store = &stepBreaker{Store: c.Store.(*sqlite.Store), stage: "act"}
		c.ActionBudget, c.IntentRecheck = 50*time.Millisecond, 50*time.Millisecond
	})
	bd.start()
	ctx := context.Background()
	res, err := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "act cannot record"})
	if err != nil {
		t.Fatal(err)
	}
	ds := waitDeadLetters(t, bd, 1)
	if ds[0].Queue != ooda.ActQueue || ds[0].Attempts != 3 || !strings.Contains(ds[0].Reason, "intent failed 3 times") || len(ds[0].Body) == 0 {
		t.Fatalf("dead letter: %+v", ds[0])
	}
	if c := waitCycle(t, bd, res.CycleID); c.Status != store.StatusFailed {
		t.Fatalf("cycle: %+v", c.Cycle)
	}
	if ins, _ := bd.store.Intents(ctx, time.Now().Add(time.Hour)); len(ins) != 0 {
		t.Fatalf("intents left: %+v", ins)
	}
}

// slowTarget is the embedded target declaring slow sensors, as the SQL
// Server target does.
type slowTarget struct {
	*sqlite.Target
	observed         atomic.Int32
	reader           *sqlite.Store
	duringObs        atomic.Value // the intents committed while the first sensors ran
	duringValidation atomic.Value // … while the validation's sensors ran
}

func (s *slowTarget) SlowSensors() bool { return true }

func (s *slowTarget) Observe(ctx context.Context) (store.Observation, error) {
	if s.observed.Add(1) == 1 && s.reader != nil {
		ins, _ := s.reader.Intents(ctx, time.Now().Add(time.Hour))
		s.duringObs.Store(ins)
	} else if s.reader != nil {
		ins, _ := s.reader.Intents(ctx, time.Now().Add(time.Hour))
		s.duringValidation.Store(ins)
	}
	return s.Target.Observe(ctx)
}

// TestSlowSensorsRunBetweenTwoTransactions: with a target whose sensors may
// take long, the Observe step is split around them like an Act step; the
// cycle runs the same, once, and leaves no intent behind.
func TestSlowSensorsRunBetweenTwoTransactions(t *testing.T) {
	t.Parallel()
	st := &slowTarget{}
	bd := setup(t, func(c *ooda.Config) { st.Target = c.Target.(*sqlite.Target); c.Target = st })
	st.reader = bd.store
	bd.start()
	ctx := context.Background()
	res, _ := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "slow sensors"})
	c := waitCycle(t, bd, res.CycleID)
	if c.Status != store.StatusCompleted || len(c.Steps) != 4 || c.Steps[0].Stage != "observe" || st.observed.Load() != 1 {
		t.Fatalf("cycle %+v, %d steps, observed %d times", c.Cycle, len(c.Steps), st.observed.Load())
	}
	// While the sensors ran, the first transaction had committed: the
	// trigger was an intent, its message already ended.
	if ins, _ := st.duringObs.Load().([]store.Intent); len(ins) != 1 || ins[0].Stage != "observe" || ins[0].CycleID != res.CycleID {
		t.Fatalf("intents while observing: %+v", ins)
	}
	if ins, _ := bd.store.Intents(ctx, time.Now().Add(time.Hour)); len(ins) != 0 {
		t.Fatalf("intents left: %+v", ins)
	}
	hist, _ := bd.store.ReadingHistory(ctx, time.Now().Add(-time.Hour), 10)
	if len(hist) == 0 {
		t.Fatal("the observation's readings were not kept")
	}
}

// TestSlowSensorsValidateBetweenTwoTransactions: with slow sensors, the
// validation's observation (and any undo) also runs outside the timer's
// transaction, around a durable intent, and the result is recorded once.
func TestSlowSensorsValidateBetweenTwoTransactions(t *testing.T) {
	t.Parallel()
	st := &slowTarget{}
	bd := setup(t, func(c *ooda.Config) {
		st.Target = c.Target.(*sqlite.Target)
		c.Target, c.ValidationWindow = st, 200*time.Millisecond
	})
	st.reader = bd.store
	bd.start()
	ctx := context.Background()
	res, _ := bd.engine.Trigger(ctx, ooda.TriggerParams{Reason: "slow sensors, validated"})
	waitCycle(t, bd, res.CycleID)
	var a store.Action
	eventually(t, "the optimize action to be validated", func() bool {
		c, _ := bd.store.Cycle(ctx, res.CycleID)
		a, _ = actionOf(c, "optimize")
		return a.Result != ""
	})
	if a.Result != store.ResultImproved {
		t.Fatalf("validated: %+v", a)
	}
	if ins, _ := st.duringValidation.Load().([]store.Intent); len(ins) != 1 || ins[0].Stage != "validate" {
		t.Fatalf("intents while validating: %+v", ins)
	}
	if ins, _ := bd.store.Intents(ctx, time.Now().Add(time.Hour)); len(ins) != 0 {
		t.Fatalf("intents left: %+v", ins)
	}
	if kinds := strings.Join(eventKinds(t, bd, res.CycleID), ","); strings.Count(kinds, "action.validated") != 1 {
		t.Fatalf("events %s", kinds)
	}
}
