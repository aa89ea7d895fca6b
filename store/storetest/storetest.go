// Package storetest is the contract suite of the state store: Exercise runs
// it against any implementation (SQLite always; SQL Server when its backend
// exists and OODA_TEST_MSSQL_DSN is set).
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
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
		{"ReadingHistoryCapsEachKeyNewestFirst", readingHistory},
		{"ReadingHistoryWindowAndPrune", readingWindowAndPrune},
		{"ActionStatsSinceCountsTheWindow", actionStatsSince},
		{"ActionsSinceOldestFirst", actionsSince},
		{"Intents", intents},
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
	// Only the published events go, not a range: the event between them
	// (a seq taken by a transaction that commits later) stays.
	write(t, b, func(q broker.Querier) error { return s.DeleteEvents(ctx, q, []int64{evs[0].Seq, evs[2].Seq}) })
	evs, _ = s.Events(ctx, 10)
	if n, _ := s.OutboxDepth(ctx); len(evs) != 1 || evs[0].Kind != "observation" || n != 1 {
		t.Fatalf("after trimming: %+v (depth %d)", evs, n)
	}
	write(t, b, func(q broker.Querier) error { return s.DeleteEvents(ctx, q, nil) })
	if n, _ := s.OutboxDepth(ctx); n != 1 {
		t.Fatalf("deleting no seqs deleted something (depth %d)", n)
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
	if n, last, err := s.Attempts(ctx, "conv/1"); err != nil || n != 3 || last != "boom" {
		t.Errorf("Attempts = %d, %q, %v; want 3, boom", n, last, err)
	}
	write(t, b, func(q broker.Querier) error { return s.ClearAttempts(ctx, q, "conv/1") })
	if n, last, err := s.Attempts(ctx, "conv/1"); err != nil || n != 0 || last != "" {
		t.Errorf("after clearing: Attempts = %d, %q, %v", n, last, err)
	}
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
	// A system message (a DialogTimer) has no body: it is kept, empty.
	write(t, b, func(q broker.Querier) error {
		_, err := s.AddDeadLetter(ctx, q, store.DeadLetter{Queue: "q", MessageType: "timer", Conversation: "h2", Reason: "no body", Attempts: 3, CreatedAt: t0})
		return err
	})
	if ds, err := s.DeadLetters(ctx, 1); err != nil || len(ds) != 1 || ds[0].MessageType != "timer" || len(ds[0].Body) != 0 {
		t.Fatalf("dead letter without a body: %+v %v", ds, err)
	}
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

// sample is a ReadingSample written compactly: minutes after t0.
type sample struct {
	name, object string
	value        float64
	minute       int
}

func samples(rs []store.ReadingSample) []sample {
	out := []sample{}
	for _, r := range rs {
		out = append(out, sample{r.Name, r.Object, r.Value, int(r.At.Sub(t0) / time.Minute)})
	}
	return out
}

// recordMinutes records, for each minute m of minutes, one observation of
// cycle "m<m>" at t0+m holding the readings that fn returns for it.
func recordMinutes(t *testing.T, b broker.Broker, s Store, minutes []int, fn func(m int) []store.Reading) {
	t.Helper()
	ctx := context.Background()
	write(t, b, func(q broker.Querier) error {
		for _, m := range minutes {
			if err := s.RecordReadings(ctx, q, fmt.Sprintf("m%02d", m), t0.Add(time.Duration(m)*time.Minute), fn(m)); err != nil {
				return err
			}
		}
		return nil
	})
}

func readingHistory(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	// An object longer than any index key may be (SQL Server: 900 bytes
	// clustered) and two objects that differ only in case (a
	// case-insensitive collation must not merge them).
	long := strings.Repeat("[schema].[a_rather_long_table_name].", 30)
	recordMinutes(t, b, s, []int{0, 1, 2, 3, 4, 5, 6}, func(m int) []store.Reading {
		rs := []store.Reading{
			{Name: "frag", Object: "ix", Value: float64(10 + m)},
			{Name: "frag", Object: "IX", Value: float64(100 + m)},
			{Name: "latency", Object: long, Value: float64(m) / 2},
			{Name: "bad", Object: "ix", Value: math.NaN()},
			{Name: "bad", Object: "ix", Value: math.Inf(1)},
		}
		if m%2 == 0 {
			rs = append(rs, store.Reading{Name: "age", Object: "db", Value: float64(m)})
		}
		return rs
	})
	// The same readings of the same cycle and time again: the first value stays.
	write(t, b, func(q broker.Querier) error {
		return s.RecordReadings(ctx, q, "m06", t0.Add(6*time.Minute), []store.Reading{{Name: "frag", Object: "ix", Value: -1}})
	})
	// Two cycles at the same time: both recorded, the later cycle id first.
	write(t, b, func(q broker.Querier) error {
		return s.RecordReadings(ctx, q, "m06b", t0.Add(6*time.Minute), []store.Reading{{Name: "age", Object: "db", Value: 66}})
	})

	got, err := s.ReadingHistory(ctx, t0, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []sample{
		{"age", "db", 66, 6}, {"age", "db", 6, 6}, {"age", "db", 4, 4},
		{"frag", "IX", 106, 6}, {"frag", "IX", 105, 5}, {"frag", "IX", 104, 4},
		{"frag", "ix", 16, 6}, {"frag", "ix", 15, 5}, {"frag", "ix", 14, 4},
		{"latency", long, 3, 6}, {"latency", long, 2.5, 5}, {"latency", long, 2, 4},
	}
	if g := samples(got); !slices.Equal(g, want) {
		t.Fatalf("history, 3 per key:\n got %v\nwant %v", g, want)
	}

	got, err = s.ReadingHistory(ctx, t0, 100)
	if err != nil {
		t.Fatal(err)
	}
	perKey := map[string]int{}
	for _, r := range got {
		perKey[r.Name+"/"+r.Object[:min(len(r.Object), 8)]]++
	}
	if want := map[string]int{"age/db": 5, "frag/IX": 7, "frag/ix": 7, "latency/[schema]": 7}; !sameCounts(perKey, want) {
		t.Fatalf("history, uncapped: %v, want %v (NaN and infinity are not recorded)", perKey, want)
	}
	for _, n := range []int{0, -1} {
		if _, err := s.ReadingHistory(ctx, t0, n); err == nil || !strings.Contains(err.Error(), "maxPerKey") {
			t.Errorf("maxPerKey %d: %v, want an error naming maxPerKey", n, err)
		}
	}
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func readingWindowAndPrune(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	recordMinutes(t, b, s, []int{0, 10, 20, 30}, func(m int) []store.Reading {
		return []store.Reading{{Name: "pages", Object: "main", Value: float64(m)}, {Name: "wal", Object: "main", Value: float64(-m)}}
	})
	// The window includes its start.
	got, err := s.ReadingHistory(ctx, t0.Add(20*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []sample{{"pages", "main", 30, 30}, {"pages", "main", 20, 20}, {"wal", "main", -30, 30}, {"wal", "main", -20, 20}}
	if g := samples(got); !slices.Equal(g, want) {
		t.Fatalf("history since minute 20:\n got %v\nwant %v", g, want)
	}
	if got, err := s.ReadingHistory(ctx, t0.Add(time.Hour), 10); err != nil || len(got) != 0 {
		t.Fatalf("history of an empty window: %v %v", got, err)
	}

	// A rolled-back recording leaves nothing.
	tx, err := b.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q, err := tx.SQL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordReadings(ctx, q, "ghost", t0.Add(40*time.Minute), []store.Reading{{Name: "pages", Object: "main", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	// Pruning deletes strictly before its time.
	prune := func(before time.Time) int64 {
		var n int64
		write(t, b, func(q broker.Querier) error {
			var err error
			n, err = s.PruneReadings(ctx, q, before)
			return err
		})
		return n
	}
	if n := prune(t0.Add(20 * time.Minute)); n != 4 {
		t.Fatalf("pruning before minute 20 deleted %d readings, want 4", n)
	}
	if n := prune(t0.Add(20 * time.Minute)); n != 0 {
		t.Fatalf("pruning again deleted %d readings, want 0", n)
	}
	got, err = s.ReadingHistory(ctx, t0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if g := samples(got); !slices.Equal(g, want) {
		t.Fatalf("history after pruning:\n got %v\nwant %v", g, want)
	}
}

func actionStatsSince(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	type validated struct {
		id, typ, result string
		minute          int // validated at t0 + minute; -1: never validated
	}
	vs := []validated{
		{"c/1", "vacuum", store.ResultImproved, 0},
		{"c/2", "vacuum", store.ResultRegressed, 10},
		{"c/3", "vacuum", store.ResultImproved, 20},
		{"c/4", "vacuum", store.ResultFailed, 30},
		{"c/5", "analyze", store.ResultNeutral, 5},
		{"c/6", "analyze", store.ResultFailed, 25},
		{"c/7", "checkpoint", store.ResultImproved, 1},
		{"c/8", "reindex", "", -1},
	}
	write(t, b, func(q broker.Querier) error {
		if _, _, err := s.StartCycle(ctx, q, store.Cycle{ID: "c", Source: "operator", StartedAt: t0}); err != nil {
			return err
		}
		for _, v := range vs {
			if err := s.RecordAction(ctx, q, store.Action{ID: v.id, CycleID: "c", Type: v.typ, Target: "main", Tier: 1, Status: "executed", CreatedAt: t0}); err != nil {
				return err
			}
			if v.minute >= 0 {
				if err := s.RecordResult(ctx, q, v.id, v.typ, v.result, "", t0.Add(time.Duration(v.minute)*time.Minute)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	for _, c := range []struct {
		name  string
		since time.Time
		want  []store.ActionStats
	}{
		{"AllOfThem", t0, []store.ActionStats{
			{Type: "analyze", Neutral: 1, Failed: 1},
			{Type: "checkpoint", Improved: 1},
			{Type: "vacuum", Improved: 2, Regressed: 1, Failed: 1},
		}},
		{"FromMinute10Inclusive", t0.Add(10 * time.Minute), []store.ActionStats{
			{Type: "analyze", Failed: 1},
			{Type: "vacuum", Improved: 1, Regressed: 1, Failed: 1},
		}},
		{"JustAfterMinute10", t0.Add(10*time.Minute + time.Second), []store.ActionStats{
			{Type: "analyze", Failed: 1},
			{Type: "vacuum", Improved: 1, Failed: 1},
		}},
		{"Empty", t0.Add(time.Hour), []store.ActionStats{}},
	} {
		got, err := s.ActionStatsSince(ctx, c.since)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: ActionStatsSince = %+v %v, want %+v", c.name, got, err, c.want)
		}
	}
	// All time, from the counters: the same as the widest window.
	all, err := s.ActionStats(ctx)
	if want := []store.ActionStats{
		{Type: "analyze", Neutral: 1, Failed: 1},
		{Type: "checkpoint", Improved: 1},
		{Type: "vacuum", Improved: 2, Regressed: 1, Failed: 1},
	}; err != nil || !slices.Equal(all, want) {
		t.Errorf("ActionStats = %+v %v, want %+v", all, err, want)
	}
	write(t, b, func(q broker.Querier) error {
		err := s.RecordResult(ctx, q, "c/8", "reindex", "exploded", "", t0)
		if err == nil || !strings.Contains(err.Error(), `"exploded"`) || !strings.Contains(err.Error(), "failed") {
			t.Errorf("an unknown result: %v, want an error naming it and the accepted ones", err)
		}
		return nil
	})
	d, err := s.Cycle(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range d.Actions {
		if a.ID == "c/4" && (a.Result != store.ResultFailed || a.ValidatedAt == nil || !a.ValidatedAt.Equal(t0.Add(30*time.Minute))) {
			t.Errorf("failed action: %+v", a)
		}
		if a.ID == "c/8" && (a.Result != "" || a.ValidatedAt != nil) {
			t.Errorf("an action whose result was refused: %+v", a)
		}
	}
}

func actionsSince(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	type act struct {
		id, status string
		minute     int
	}
	// Recorded out of order; two share a minute (ordered by id).
	acts := []act{{"c/d", "awaiting_approval", 30}, {"c/a", "executed", 0}, {"c/c", "dry_run", 20}, {"c/b", "skipped", 20}, {"c/e", "failed", 10}}
	write(t, b, func(q broker.Querier) error {
		for _, a := range acts {
			if err := s.RecordAction(ctx, q, store.Action{ID: a.id, CycleID: "c", Type: "vacuum", Target: "main", Tier: 1, Status: a.status,
				Detail: "d " + a.id, Before: json.RawMessage(`{"v":1}`), Undo: "undo " + a.id, CreatedAt: t0.Add(time.Duration(a.minute) * time.Minute)}); err != nil {
				return err
			}
		}
		return s.RecordResult(ctx, q, "c/a", "vacuum", store.ResultImproved, "", t0.Add(5*time.Minute))
	})
	for _, c := range []struct {
		name  string
		since time.Time
		want  []string
	}{
		{"All", t0, []string{"c/a", "c/e", "c/b", "c/c", "c/d"}},
		{"FromMinute20Inclusive", t0.Add(20 * time.Minute), []string{"c/b", "c/c", "c/d"}},
		{"JustAfterMinute20", t0.Add(20*time.Minute + time.Second), []string{"c/d"}},
		{"None", t0.Add(time.Hour), []string{}},
	} {
		got, err := s.ActionsSince(ctx, c.since)
		ids := []string{}
		for _, a := range got {
			ids = append(ids, a.ID)
		}
		if err != nil || !slices.Equal(ids, c.want) {
			t.Errorf("%s: ActionsSince = %v %v, want %v", c.name, ids, err, c.want)
		}
	}
	// Of those, the ones that acted: executed and failed (the rest did not
	// touch the target).
	acted, err := s.ActedSince(ctx, t0)
	ids := []string{}
	for _, a := range acted {
		ids = append(ids, a.ID)
	}
	if err != nil || !slices.Equal(ids, []string{"c/a", "c/e"}) {
		t.Errorf("ActedSince = %v %v, want [c/a c/e]", ids, err)
	}
	if acted, _ := s.ActedSince(ctx, t0.Add(time.Minute)); len(acted) != 1 || acted[0].ID != "c/e" {
		t.Errorf("ActedSince a minute later = %+v", acted)
	}
	// An action approved long after it was proposed acted when it ran:
	// that is when a cooldown counts from.
	write(t, b, func(q broker.Querier) error {
		a := store.Action{ID: "c/f", CycleID: "c", Type: "vacuum", Target: "main", Tier: 2, Status: "awaiting_approval", CreatedAt: t0.Add(-10 * time.Hour)}
		if err := s.RecordAction(ctx, q, a); err != nil {
			return err
		}
		a.Status, a.CreatedAt = "executed", t0.Add(40*time.Minute)
		return s.RecordAction(ctx, q, a)
	})
	if acted, _ := s.ActedSince(ctx, t0.Add(30*time.Minute)); len(acted) != 1 || acted[0].ID != "c/f" || !acted[0].CreatedAt.Equal(t0.Add(40*time.Minute)) {
		t.Errorf("an approved action that ran at minute 40: ActedSince = %+v", acted)
	}
	got, err := s.ActionsSince(ctx, t0)
	if err != nil || len(got) == 0 {
		t.Fatalf("actions: %v %v", got, err)
	}
	a := got[0]
	if a.Status != "executed" || a.Detail != "d c/a" || string(a.Before) != `{"v":1}` || a.Undo != "undo c/a" || !a.CreatedAt.Equal(t0) ||
		a.Result != store.ResultImproved || a.ValidatedAt == nil || !a.ValidatedAt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("the first action as read back: %+v", a)
	}
}

func intents(t *testing.T, b broker.Broker, s Store) {
	ctx := context.Background()
	// Bytes that are not text: the envelope comes back byte for byte.
	a := store.Intent{ID: "conv-a/1", CycleID: "c1", Stage: "act", Envelope: []byte{0, 0xff, '{', '}', 0x80}, CreatedAt: t0}
	b2 := store.Intent{ID: "conv-b/7", CycleID: "c2", Stage: "observe", Envelope: []byte(`{"cycle":"c2"}`), CreatedAt: t0.Add(time.Minute)}
	// Created at the same time as a: ordered after it by id.
	c := store.Intent{ID: "conv-c/2", CycleID: "c1", Stage: "act", Envelope: []byte(`{}`), CreatedAt: t0}
	write(t, b, func(q broker.Querier) error {
		for _, in := range []store.Intent{b2, c, a} { // recorded out of order
			if err := s.RecordIntent(ctx, q, in); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(before time.Time) []store.Intent {
		t.Helper()
		got, err := s.Intents(ctx, before)
		if err != nil {
			t.Fatalf("Intents(%s): %v", before.Format(time.RFC3339), err)
		}
		if got == nil {
			t.Fatalf("Intents(%s) = nil, want an empty list", before.Format(time.RFC3339))
		}
		return got
	}
	ids := func(ins []store.Intent) []string {
		out := []string{}
		for _, in := range ins {
			out = append(out, in.ID)
		}
		return out
	}
	for _, cs := range []struct {
		name   string
		before time.Time
		want   []string
	}{
		{"AtTheFirstExclusive", t0, []string{}},
		{"AtTheSecondExclusive", t0.Add(time.Minute), []string{"conv-a/1", "conv-c/2"}},
		{"JustAfterTheSecond", t0.Add(time.Minute + time.Second), []string{"conv-a/1", "conv-c/2", "conv-b/7"}},
	} {
		if got := ids(list(cs.before)); !slices.Equal(got, cs.want) {
			t.Errorf("%s: Intents = %v, want %v", cs.name, got, cs.want)
		}
	}
	all := list(t0.Add(time.Hour))
	if len(all) != 3 {
		t.Fatalf("intents: %+v", all)
	}
	for i, want := range []store.Intent{a, c, b2} {
		got := all[i]
		if got.ID != want.ID || got.CycleID != want.CycleID || got.Stage != want.Stage || !slices.Equal(got.Envelope, want.Envelope) ||
			!got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("intent %d as read back: %+v, want %+v", i, got, want)
		}
	}

	take := func(q broker.Querier, id string) bool {
		t.Helper()
		ok, err := s.TakeIntent(ctx, q, id)
		if err != nil {
			t.Fatalf("TakeIntent(%q): %v", id, err)
		}
		return ok
	}
	write(t, b, func(q broker.Querier) error {
		if !take(q, "conv-a/1") {
			t.Error("taking a recorded intent: false")
		}
		return nil
	})
	write(t, b, func(q broker.Querier) error {
		if take(q, "conv-a/1") {
			t.Error("taking an intent a second time: true")
		}
		if take(q, "conv-zzz/1") {
			t.Error("taking an unknown intent: true")
		}
		return nil
	})

	// A rolled-back take leaves the intent for the next taker.
	tx, err := b.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q, err := tx.SQL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !take(q, "conv-b/7") {
		t.Error("taking inside the transaction to roll back: false")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := ids(list(t0.Add(time.Hour))); !slices.Equal(got, []string{"conv-c/2", "conv-b/7"}) {
		t.Fatalf("after a rolled-back take: %v", got)
	}

	// A second record of an id is an error naming it; the first stays as
	// it was, and the transaction goes on (it commits what else it wrote).
	write(t, b, func(q broker.Querier) error {
		dup := b2
		dup.CycleID, dup.Envelope, dup.CreatedAt = "other", []byte("other"), t0.Add(-time.Hour)
		err := s.RecordIntent(ctx, q, dup)
		if !errors.Is(err, store.ErrIntentExists) || !strings.Contains(err.Error(), "conv-b/7") {
			t.Errorf("recording an id twice: %v, want ErrIntentExists naming the id", err)
		}
		for _, id := range []string{"", strings.Repeat("x", 451)} {
			if err := s.RecordIntent(ctx, q, store.Intent{ID: id, CycleID: "c", Stage: "act", CreatedAt: t0}); err == nil {
				t.Errorf("recording an id of %d characters: no error", len(id))
			}
		}
		// nil envelope: stored empty, and the longest id fits.
		return s.RecordIntent(ctx, q, store.Intent{ID: strings.Repeat("y", 450), CycleID: "c3", Stage: "act", CreatedAt: t0.Add(2 * time.Minute)})
	})
	all = list(t0.Add(time.Hour))
	if got := ids(all); len(got) != 3 || got[0] != "conv-c/2" || got[1] != "conv-b/7" || got[2] != strings.Repeat("y", 450) {
		t.Fatalf("after the duplicate: %v", got)
	}
	if got := all[1]; got.CycleID != "c2" || string(got.Envelope) != `{"cycle":"c2"}` || !got.CreatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("the duplicate changed the intent: %+v", got)
	}
	if got := all[2]; got.Envelope == nil || len(got.Envelope) != 0 {
		t.Errorf("a nil envelope read back as %#v, want empty", got.Envelope)
	}

	// Taken intents are no longer listed.
	write(t, b, func(q broker.Querier) error {
		if !take(q, "conv-b/7") || !take(q, "conv-c/2") {
			t.Error("taking the remaining intents: false")
		}
		return nil
	})
	if got := ids(list(t0.Add(time.Hour))); !slices.Equal(got, []string{strings.Repeat("y", 450)}) {
		t.Fatalf("after taking: %v", got)
	}
}
