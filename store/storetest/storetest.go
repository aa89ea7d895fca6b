// Package storetest is the contract suite of the state store: Exercise runs
// it against any implementation (SQLite always; SQL Server when its backend
// exists and OODA_TEST_MSSQL_DSN is set).
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/store"
)

// Store is a writer and a reader of the same state.
type Store interface {
	store.Writer
	store.Reader
}

// Harness opens a fresh, migrated state with its broker (whose transactions
// the writes use) and arranges cleanup with t.Cleanup.
type Harness struct {
	Open func(t *testing.T) (broker.Broker, Store)
}

// Exercise runs the suite.
func Exercise(t *testing.T, h Harness) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, broker.Broker, Store)
	}{
		{"CycleLifecycle", cycleLifecycle},
		{"TriggerKeyIsIdempotentWhileRunning", triggerKey},
		{"StepsAndActions", stepsAndActions},
		{"OutboxOrderAndTrim", outbox},
		{"AttemptsCountDurably", attempts},
		{"DeadLettersAndRedrive", deadLetters},
		{"Approvals", approvals},
		{"SettingsAndLastStart", settings},
		{"RollbackWritesNothing", rollback},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, s := h.Open(t)
			c.fn(t, b, s)
		})
	}
}

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// write runs fn in a committed transaction.
func write(t *testing.T, b broker.Broker, fn func(q broker.Querier) error) {
	t.Helper()
	if err := broker.InTx(context.Background(), b, func(_ broker.Tx, q broker.Querier) error { return fn(q) }); err != nil {
		t.Fatal(err)
	}
}

func cycleLifecycle(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	write(t, b, func(q broker.Querier) error {
		_, started, err := s.StartCycle(ctx, q, store.Cycle{ID: "c1", Source: "operator", Reason: "test", StartedAt: t0})
		if !started {
			t.Error("a new cycle did not start")
		}
		return err
	})
	c, err := s.Cycle(ctx, "c1")
	if err != nil || c.Status != store.StatusRunning || c.Stage != "trigger" || !c.StartedAt.Equal(t0) || c.FinishedAt != nil {
		t.Fatalf("new cycle: %+v %v", c.Cycle, err)
	}
	write(t, b, func(q broker.Querier) error {
		return s.AdvanceCycle(ctx, q, "c1", "observe", store.StatusRunning, "", t0.Add(time.Second))
	})
	write(t, b, func(q broker.Querier) error {
		return s.AdvanceCycle(ctx, q, "c1", "act", store.StatusFailed, "boom", t0.Add(2*time.Second))
	})
	c, _ = s.Cycle(ctx, "c1")
	if c.Status != store.StatusFailed || c.Stage != "act" || c.Error != "boom" || c.FinishedAt == nil || !c.FinishedAt.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("failed cycle: %+v", c.Cycle)
	}
	write(t, b, func(q broker.Querier) error {
		if err := s.AdvanceCycle(ctx, q, "nope", "act", store.StatusFailed, "", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("advance unknown cycle: %v", err)
		}
		return nil
	})
	if _, err := s.Cycle(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown cycle: %v", err)
	}
	cs, err := s.Cycles(ctx, 10)
	if err != nil || len(cs) != 1 || cs[0].ID != "c1" {
		t.Fatalf("cycles: %+v %v", cs, err)
	}
}

func triggerKey(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	start := func(id string) (store.Cycle, bool) {
		var got store.Cycle
		var started bool
		write(t, b, func(q broker.Querier) error {
			var err error
			got, started, err = s.StartCycle(ctx, q, store.Cycle{ID: id, Key: "k", Source: "schedule", StartedAt: t0})
			return err
		})
		return got, started
	}
	if _, ok := start("a"); !ok {
		t.Fatal("first start")
	}
	if got, ok := start("b"); ok || got.ID != "a" {
		t.Fatalf("second start with the running key: %+v %v", got, ok)
	}
	write(t, b, func(q broker.Querier) error { return s.AdvanceCycle(ctx, q, "a", "act", store.StatusCompleted, "", t0) })
	if got, ok := start("c"); !ok || got.ID != "c" {
		t.Fatalf("start after the keyed cycle finished: %+v %v", got, ok)
	}
}

func stepsAndActions(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	write(t, b, func(q broker.Querier) error {
		if _, _, err := s.StartCycle(ctx, q, store.Cycle{ID: "c", Source: "operator", StartedAt: t0}); err != nil {
			return err
		}
		if err := s.RecordStep(ctx, q, "c", "observe", json.RawMessage(`{"n":1}`), t0); err != nil {
			return err
		}
		if err := s.RecordStep(ctx, q, "c", "orient", json.RawMessage(`[]`), t0.Add(time.Second)); err != nil {
			return err
		}
		// A redelivered step replaces its record.
		if err := s.RecordStep(ctx, q, "c", "observe", json.RawMessage(`{"n":2}`), t0); err != nil {
			return err
		}
		a := store.Action{ID: "c/x", CycleID: "c", Type: "optimize", Target: "main", Tier: 1, Status: "awaiting_approval", CreatedAt: t0}
		if err := s.RecordAction(ctx, q, a); err != nil {
			return err
		}
		a.Status, a.Detail, a.Before, a.After = "executed", "done", json.RawMessage(`{"v":1}`), json.RawMessage(`{"v":0}`)
		return s.RecordAction(ctx, q, a)
	})
	c, err := s.Cycle(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Steps) != 2 || c.Steps[0].Stage != "observe" || string(c.Steps[0].Payload) != `{"n":2}` || c.Steps[1].Stage != "orient" {
		t.Fatalf("steps: %+v", c.Steps)
	}
	if len(c.Actions) != 1 || c.Actions[0].Status != "executed" || string(c.Actions[0].Before) != `{"v":1}` || string(c.Actions[0].After) != `{"v":0}` {
		t.Fatalf("actions: %+v", c.Actions)
	}
}

func outbox(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	write(t, b, func(q broker.Querier) error {
		for i, k := range []string{"cycle.started", "observation", "cycle.completed"} {
			if err := s.AddEvent(ctx, q, store.Event{ID: "e" + k, Kind: k, CycleID: "c", CreatedAt: t0.Add(time.Duration(i) * time.Second), Data: json.RawMessage(`{}`)}); err != nil {
				return err
			}
		}
		return nil
	})
	evs, err := s.Events(ctx, 10)
	if err != nil || len(evs) != 3 || evs[0].Kind != "cycle.started" || evs[2].Kind != "cycle.completed" || !evs[1].CreatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("events: %+v %v", evs, err)
	}
	write(t, b, func(q broker.Querier) error { return s.DeleteEvents(ctx, q, evs[1].Seq) })
	evs, _ = s.Events(ctx, 10)
	if n, _ := s.OutboxDepth(ctx); len(evs) != 1 || evs[0].Kind != "cycle.completed" || n != 1 {
		t.Fatalf("after trimming: %+v (depth %d)", evs, n)
	}
}

func attempts(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	for want := 1; want <= 3; want++ {
		write(t, b, func(q broker.Querier) error {
			n, err := s.FailedAttempt(ctx, q, "conv/1", "boom")
			if n != want {
				t.Errorf("attempt %d counted as %d", want, n)
			}
			return err
		})
	}
	write(t, b, func(q broker.Querier) error { return s.ClearAttempts(ctx, q, "conv/1") })
	write(t, b, func(q broker.Querier) error {
		if n, err := s.FailedAttempt(ctx, q, "conv/1", "boom"); n != 1 || err != nil {
			t.Errorf("after clearing: %d %v", n, err)
		}
		return nil
	})
}

func deadLetters(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	var id int64
	write(t, b, func(q broker.Querier) error {
		var err error
		id, err = s.AddDeadLetter(ctx, q, store.DeadLetter{Queue: "q", MessageType: "m", Conversation: "h", Body: []byte("body"), Reason: "bad", Attempts: 3, CreatedAt: t0})
		return err
	})
	ds, err := s.DeadLetters(ctx, 10)
	if err != nil || len(ds) != 1 || ds[0].ID != id || string(ds[0].Body) != "body" || ds[0].Attempts != 3 || ds[0].RedrivenAt != nil {
		t.Fatalf("dead letters: %+v %v", ds, err)
	}
	if n, err := s.DeadLetterCount(ctx); err != nil || n != 1 {
		t.Fatalf("dead letters waiting: %d %v", n, err)
	}
	write(t, b, func(q broker.Querier) error {
		_, err := s.MarkRedriven(ctx, q, id, t0)
		return err
	})
	if n, _ := s.DeadLetterCount(ctx); n != 0 {
		t.Fatalf("dead letters waiting after the redrive: %d", n)
	}
	write(t, b, func(q broker.Querier) error {
		if _, err := s.MarkRedriven(ctx, q, id, t0); err == nil || !strings.Contains(err.Error(), "already redriven") {
			t.Errorf("redriving twice: %v", err)
		}
		if _, err := s.MarkRedriven(ctx, q, id+100, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("redriving unknown: %v", err)
		}
		return nil
	})
}

func approvals(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	write(t, b, func(q broker.Querier) error {
		for _, id := range []string{"a1", "a2"} {
			if err := s.RequestApproval(ctx, q, store.Approval{ID: id, CycleID: "c", Action: "vacuum", Object: "main", Tier: 2,
				Hypothesis: json.RawMessage(`{}`), Reason: "tier 2", RequestedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
				return err
			}
		}
		return nil
	})
	write(t, b, func(q broker.Querier) error {
		a, err := s.DecideApproval(ctx, q, "a1", store.ApprovalApproved, "alice", "window", t0.Add(time.Minute))
		if a.Status != store.ApprovalApproved || a.DecidedBy != "alice" {
			t.Errorf("decided: %+v", a)
		}
		return err
	})
	write(t, b, func(q broker.Querier) error {
		if _, err := s.DecideApproval(ctx, q, "a1", store.ApprovalRejected, "bob", "no", t0.Add(time.Minute)); !errors.Is(err, store.ErrApprovalClosed) {
			t.Errorf("deciding twice: %v", err)
		}
		if _, err := s.DecideApproval(ctx, q, "a2", store.ApprovalApproved, "bob", "late", t0.Add(2*time.Hour)); !errors.Is(err, store.ErrApprovalClosed) || !strings.Contains(err.Error(), "expired") {
			t.Errorf("deciding an expired approval: %v", err)
		}
		if _, err := s.DecideApproval(ctx, q, "zzz", store.ApprovalApproved, "bob", "x", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deciding unknown: %v", err)
		}
		return nil
	})
	as, err := s.Approvals(ctx, 10, t0.Add(2*time.Hour))
	if err != nil || len(as) != 2 {
		t.Fatalf("approvals: %+v %v", as, err)
	}
	for _, a := range as {
		want := map[string]string{"a1": store.ApprovalApproved, "a2": store.ApprovalExpired}[a.ID]
		if a.Status != want {
			t.Errorf("approval %s: %s, want %s", a.ID, a.Status, want)
		}
	}
}

func settings(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	if _, ok, err := s.Setting(ctx, "paused"); ok || err != nil {
		t.Fatalf("unset setting: %v %v", ok, err)
	}
	write(t, b, func(q broker.Querier) error { return s.SetSetting(ctx, q, "paused", "true") })
	write(t, b, func(q broker.Querier) error { return s.SetSetting(ctx, q, "paused", "false") })
	if v, ok, _ := s.Setting(ctx, "paused"); !ok || v != "false" {
		t.Fatalf("setting: %q %v", v, ok)
	}
	if _, ok, err := s.LastStart(ctx, "schedule"); ok || err != nil {
		t.Fatalf("last start with no cycles: %v %v", ok, err)
	}
	write(t, b, func(q broker.Querier) error {
		for i, src := range []string{"schedule", "schedule", "operator"} {
			if _, _, err := s.StartCycle(ctx, q, store.Cycle{ID: string(rune('a' + i)), Source: src, StartedAt: t0.Add(time.Duration(i) * time.Hour)}); err != nil {
				return err
			}
		}
		return nil
	})
	if last, ok, err := s.LastStart(ctx, "schedule"); !ok || err != nil || !last.Equal(t0.Add(time.Hour)) {
		t.Fatalf("last scheduled start: %v %v %v", last, ok, err)
	}
}

func rollback(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	tx, err := b.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q, err := tx.SQL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.StartCycle(ctx, q, store.Cycle{ID: "ghost", Source: "operator", StartedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEvent(ctx, q, store.Event{ID: "e", Kind: "k", CycleID: "ghost", CreatedAt: t0, Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cycle(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a rolled-back cycle is visible: %v", err)
	}
	if n, _ := s.OutboxDepth(ctx); n != 0 {
		t.Fatalf("a rolled-back event is in the outbox")
	}
}
