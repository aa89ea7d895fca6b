// Package mssql is the state store on SQL Server: the tables of
// sql/mssql/0002_state.sql in schema ooda, written inside the broker's
// transactions (the Querier of broker.Tx.SQL) and read through a pool of its
// own. It has the semantics of store/sqlite, statement for statement; both
// pass store/storetest.
//
// Every statement is a constant (see queries.go); values are parameters
// (sql.Named), counts for TOP are int32 (a Go int would be sent as bigint).
// Upserts are MERGE … WITH (HOLDLOCK): without the range lock two
// transactions can both miss the row and both insert ("MERGE
// (Transact-SQL)", concurrency note). Times are written as UTC and come back
// as UTC; datetime2(7) keeps 100 ns, so nanoseconds are truncated.
//
// Readers run at the database's READ COMMITTED: with READ_COMMITTED_SNAPSHOT
// ON they do not wait for the loop's transactions, without it a read may wait
// for a stage step to commit. The outbox read is the exception: it always
// waits for events still being written (see qEvents), so that the relay
// never trims an event it has not published.
package mssql

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/store"
)

var (
	_ store.Writer = (*Store)(nil)
	_ store.Reader = (*Store)(nil)
)

// Store reads through its own pool and writes through the caller's transaction.
type Store struct{ r *sql.DB }

// Open returns a store reading through db (a pool on the state database,
// built with mssql.NewConnector and SessionInitSQL "SET XACT_ABORT ON;").
// The caller owns db and closes it.
func Open(db *sql.DB) *Store { return &Store{r: db} }

func utc(t time.Time) time.Time { return t.UTC() }

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func nullKey(k string) sql.NullString { return sql.NullString{String: k, Valid: k != ""} }

// top converts a caller's limit for TOP (@n): int32, never negative.
func top(n int) int32 {
	switch {
	case n < 0:
		return 0
	case n > math.MaxInt32:
		return math.MaxInt32
	}
	return int32(n)
}

type scanner interface{ Scan(...any) error }

func scanCycle(row scanner) (store.Cycle, error) {
	var c store.Cycle
	var finished sql.NullTime
	if err := row.Scan(&c.ID, &c.Key, &c.Source, &c.Reason, &c.Status, &c.Stage, &c.Error, &c.StartedAt, &finished); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return c, store.ErrNotFound
		}
		return c, err
	}
	c.StartedAt, c.FinishedAt = c.StartedAt.UTC(), nullTime(finished)
	return c, nil
}

func scanDeadLetter(row scanner) (store.DeadLetter, error) {
	var d store.DeadLetter
	var redriven sql.NullTime
	if err := row.Scan(&d.ID, &d.Queue, &d.MessageType, &d.Conversation, &d.Body, &d.Reason, &d.Attempts, &d.CreatedAt, &redriven); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return d, store.ErrNotFound
		}
		return d, err
	}
	if d.Body == nil {
		d.Body = []byte{}
	}
	d.CreatedAt, d.RedrivenAt = d.CreatedAt.UTC(), nullTime(redriven)
	return d, nil
}

func scanApproval(row scanner, now time.Time) (store.Approval, error) {
	var a store.Approval
	var hyp string
	var decided sql.NullTime
	if err := row.Scan(&a.ID, &a.CycleID, &a.Action, &a.Object, &a.Tier, &hyp, &a.Reason, &a.Status, &a.RequestedAt, &a.ExpiresAt, &a.DecidedBy, &decided, &a.DecisionReason); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return a, store.ErrNotFound
		}
		return a, err
	}
	a.Hypothesis, a.RequestedAt, a.ExpiresAt, a.DecidedAt = json.RawMessage(hyp), a.RequestedAt.UTC(), a.ExpiresAt.UTC(), nullTime(decided)
	if a.Status == store.ApprovalPending && !now.Before(a.ExpiresAt) {
		a.Status = store.ApprovalExpired
	}
	return a, nil
}

// StartCycle implements store.Writer.
func (s *Store) StartCycle(ctx context.Context, q broker.Querier, c store.Cycle) (store.Cycle, bool, error) {
	if c.Key != "" {
		got, err := scanCycle(q.QueryRowContext(ctx, qRunningCycle, sql.Named("key", c.Key)))
		if err == nil {
			return got, false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.Cycle{}, false, fmt.Errorf("store: start cycle %s: %w", c.ID, err)
		}
	}
	c.Status, c.Stage = store.StatusRunning, "trigger"
	if _, err := q.ExecContext(ctx, qInsertCycle, sql.Named("id", c.ID), sql.Named("key", nullKey(c.Key)), sql.Named("source", c.Source),
		sql.Named("reason", c.Reason), sql.Named("status", c.Status), sql.Named("stage", c.Stage), sql.Named("started_at", utc(c.StartedAt))); err != nil {
		return store.Cycle{}, false, fmt.Errorf("store: start cycle %s: %w", c.ID, err)
	}
	return c, true, nil
}

// AdvanceCycle implements store.Writer.
func (s *Store) AdvanceCycle(ctx context.Context, q broker.Querier, id, stage, status, errText string, now time.Time) error {
	finished := sql.NullTime{Time: utc(now), Valid: status != store.StatusRunning}
	var got string
	err := q.QueryRowContext(ctx, qAdvanceCycle, sql.Named("id", id), sql.Named("stage", stage), sql.Named("status", status),
		sql.Named("error", errText), sql.Named("finished_at", finished)).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: advance cycle %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: advance cycle %s: %w", id, err)
	}
	return nil
}

// RecordStep implements store.Writer.
func (s *Store) RecordStep(ctx context.Context, q broker.Querier, cycleID, stage string, payload json.RawMessage, now time.Time) error {
	if _, err := q.ExecContext(ctx, qRecordStep, sql.Named("cycle_id", cycleID), sql.Named("stage", stage),
		sql.Named("payload", string(payload)), sql.Named("created_at", utc(now))); err != nil {
		return fmt.Errorf("store: record %s of cycle %s: %w", stage, cycleID, err)
	}
	return nil
}

// RecordAction implements store.Writer.
func (s *Store) RecordAction(ctx context.Context, q broker.Querier, a store.Action) error {
	before, after := string(a.Before), string(a.After)
	if before == "" {
		before = "{}"
	}
	if after == "" {
		after = "{}"
	}
	if _, err := q.ExecContext(ctx, qRecordAction, sql.Named("id", a.ID), sql.Named("cycle_id", a.CycleID), sql.Named("type", a.Type),
		sql.Named("target", a.Target), sql.Named("tier", int32(a.Tier)), sql.Named("status", a.Status), sql.Named("detail", a.Detail),
		sql.Named("before", before), sql.Named("after", after), sql.Named("undo", a.Undo), sql.Named("created_at", utc(a.CreatedAt))); err != nil {
		return fmt.Errorf("store: record action %s: %w", a.ID, err)
	}
	return nil
}

// AddEvent implements store.Writer.
func (s *Store) AddEvent(ctx context.Context, q broker.Querier, e store.Event) error {
	if _, err := q.ExecContext(ctx, qAddEvent, sql.Named("event_id", e.ID), sql.Named("kind", e.Kind), sql.Named("cycle_id", e.CycleID),
		sql.Named("created_at", utc(e.CreatedAt)), sql.Named("data", string(e.Data))); err != nil {
		return fmt.Errorf("store: outbox %s: %w", e.Kind, err)
	}
	return nil
}

// Events implements store.Reader.
func (s *Store) Events(ctx context.Context, n int) ([]store.Event, error) {
	rows, err := s.r.QueryContext(ctx, qEvents, sql.Named("n", top(n)))
	if err != nil {
		return nil, fmt.Errorf("store: read outbox: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		var data string
		if err := rows.Scan(&e.Seq, &e.ID, &e.Kind, &e.CycleID, &e.CreatedAt, &data); err != nil {
			return nil, fmt.Errorf("store: read outbox: %w", err)
		}
		e.CreatedAt, e.Data = e.CreatedAt.UTC(), json.RawMessage(data)
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteEvents implements store.Writer.
func (s *Store) DeleteEvents(ctx context.Context, q broker.Querier, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	list, err := json.Marshal(seqs)
	if err != nil {
		return fmt.Errorf("store: trim outbox: %w", err)
	}
	if _, err := q.ExecContext(ctx, qDeleteEvents, sql.Named("seqs", string(list))); err != nil {
		return fmt.Errorf("store: trim outbox: %w", err)
	}
	return nil
}

// FailedAttempt implements store.Writer.
func (s *Store) FailedAttempt(ctx context.Context, q broker.Querier, key, errText string) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, qFailedAttempt, sql.Named("key", key), sql.Named("error", errText)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count attempt of %s: %w", key, err)
	}
	return n, nil
}

// Attempts implements store.Reader.
func (s *Store) Attempts(ctx context.Context, key string) (int, string, error) {
	var n int
	var last string
	err := s.r.QueryRowContext(ctx, qAttempts, sql.Named("key", key)).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("store: attempts of %s: %w", key, err)
	}
	return n, last, nil
}

// ClearAttempts implements store.Writer.
func (s *Store) ClearAttempts(ctx context.Context, q broker.Querier, key string) error {
	if _, err := q.ExecContext(ctx, qClearAttempts, sql.Named("key", key)); err != nil {
		return fmt.Errorf("store: clear attempts of %s: %w", key, err)
	}
	return nil
}

// AddDeadLetter implements store.Writer.
func (s *Store) AddDeadLetter(ctx context.Context, q broker.Querier, d store.DeadLetter) (int64, error) {
	body := d.Body
	if body == nil {
		body = []byte{} // the column is NOT NULL; a nil slice is sent as NULL
	}
	var id int64
	if err := q.QueryRowContext(ctx, qAddDeadLetter, sql.Named("queue", d.Queue), sql.Named("message_type", d.MessageType),
		sql.Named("conversation", d.Conversation), sql.Named("body", body), sql.Named("reason", d.Reason),
		sql.Named("attempts", int32(d.Attempts)), sql.Named("created_at", utc(d.CreatedAt))).Scan(&id); err != nil {
		return 0, fmt.Errorf("store: dead letter: %w", err)
	}
	return id, nil
}

// MarkRedriven implements store.Writer.
func (s *Store) MarkRedriven(ctx context.Context, q broker.Querier, id int64, now time.Time) (store.DeadLetter, error) {
	d, err := scanDeadLetter(q.QueryRowContext(ctx, qDeadLetterForUpdate, sql.Named("id", id)))
	if err != nil {
		return d, fmt.Errorf("store: dead letter %d: %w", id, err)
	}
	if d.RedrivenAt != nil {
		return d, fmt.Errorf("store: dead letter %d was already redriven at %s", id, d.RedrivenAt.Format(time.RFC3339))
	}
	if _, err := q.ExecContext(ctx, qMarkRedriven, sql.Named("id", id), sql.Named("redriven_at", utc(now))); err != nil {
		return d, fmt.Errorf("store: dead letter %d: %w", id, err)
	}
	return d, nil
}

// SetSetting implements store.Writer.
func (s *Store) SetSetting(ctx context.Context, q broker.Querier, name, value string) error {
	if _, err := q.ExecContext(ctx, qSetSetting, sql.Named("name", name), sql.Named("value", value)); err != nil {
		return fmt.Errorf("store: setting %s: %w", name, err)
	}
	return nil
}

// RequestApproval implements store.Writer.
func (s *Store) RequestApproval(ctx context.Context, q broker.Querier, a store.Approval) error {
	if _, err := q.ExecContext(ctx, qRequestApproval, sql.Named("id", a.ID), sql.Named("cycle_id", a.CycleID), sql.Named("action", a.Action),
		sql.Named("object", a.Object), sql.Named("tier", int32(a.Tier)), sql.Named("hypothesis", string(a.Hypothesis)), sql.Named("reason", a.Reason),
		sql.Named("requested_at", utc(a.RequestedAt)), sql.Named("expires_at", utc(a.ExpiresAt))); err != nil {
		return fmt.Errorf("store: request approval %s: %w", a.ID, err)
	}
	return nil
}

// DecideApproval implements store.Writer.
func (s *Store) DecideApproval(ctx context.Context, q broker.Querier, id, status, by, reason string, now time.Time) (store.Approval, error) {
	a, err := scanApproval(q.QueryRowContext(ctx, qApprovalForUpdate, sql.Named("id", id)), now)
	if err != nil {
		return a, fmt.Errorf("store: approval %q: %w", id, err)
	}
	switch a.Status {
	case store.ApprovalPending:
	case store.ApprovalExpired:
		return a, fmt.Errorf("store: approval %q expired at %s: %w", id, a.ExpiresAt.Format(time.RFC3339), store.ErrApprovalClosed)
	default:
		return a, fmt.Errorf("store: approval %q was already %s by %s at %s: %w", id, a.Status, a.DecidedBy, a.DecidedAt.Format(time.RFC3339), store.ErrApprovalClosed)
	}
	if _, err := q.ExecContext(ctx, qDecideApproval, sql.Named("id", id), sql.Named("status", status), sql.Named("decided_by", by),
		sql.Named("decided_at", utc(now)), sql.Named("decision_reason", reason)); err != nil {
		return a, fmt.Errorf("store: approval %q: %w", id, err)
	}
	t := now.UTC()
	a.Status, a.DecidedBy, a.DecidedAt, a.DecisionReason = status, by, &t, reason
	return a, nil
}

// AwaitValidation implements store.Writer.
func (s *Store) AwaitValidation(ctx context.Context, q broker.Querier, handle, cycleID string, items json.RawMessage, now time.Time) error {
	if _, err := q.ExecContext(ctx, qAwaitValidation, sql.Named("handle", handle), sql.Named("cycle_id", cycleID),
		sql.Named("items", string(items)), sql.Named("created_at", utc(now))); err != nil {
		return fmt.Errorf("store: await validation: %w", err)
	}
	return nil
}

// TakeValidation implements store.Writer.
func (s *Store) TakeValidation(ctx context.Context, q broker.Querier, handle string) (string, json.RawMessage, bool, error) {
	var cycleID, items string
	err := q.QueryRowContext(ctx, qTakeValidation, sql.Named("handle", handle)).Scan(&cycleID, &items)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("store: take validation: %w", err)
	}
	return cycleID, json.RawMessage(items), true, nil
}

// RecordResult implements store.Writer.
func (s *Store) RecordResult(ctx context.Context, q broker.Querier, actionID, actionType, result, revertDetail string, now time.Time) error {
	if !store.ValidResult(result) {
		return fmt.Errorf("store: result %q of action %s: must be improved, neutral, regressed or failed", result, actionID)
	}
	if _, err := q.ExecContext(ctx, qRecordResult, sql.Named("id", actionID), sql.Named("result", result), sql.Named("validated_at", utc(now))); err != nil {
		return fmt.Errorf("store: result of action %s: %w", actionID, err)
	}
	if revertDetail != "" {
		if _, err := q.ExecContext(ctx, qRevertAction, sql.Named("id", actionID), sql.Named("detail", revertDetail)); err != nil {
			return fmt.Errorf("store: revert of action %s: %w", actionID, err)
		}
	}
	if _, err := q.ExecContext(ctx, qCountResult, sql.Named("type", actionType), sql.Named("result", result)); err != nil {
		return fmt.Errorf("store: stats of %s: %w", actionType, err)
	}
	return nil
}

// Cycle implements store.Reader.
func (s *Store) Cycle(ctx context.Context, id string) (store.CycleDetail, error) {
	c, err := scanCycle(s.r.QueryRowContext(ctx, qCycle, sql.Named("id", id)))
	if err != nil {
		return store.CycleDetail{}, fmt.Errorf("store: cycle %q: %w", id, err)
	}
	d := store.CycleDetail{Cycle: c, Steps: []store.Step{}, Actions: []store.Action{}}
	if d.Steps, err = s.steps(ctx, id); err != nil {
		return d, fmt.Errorf("store: cycle %q: %w", id, err)
	}
	if d.Actions, err = s.actions(ctx, id); err != nil {
		return d, fmt.Errorf("store: cycle %q: %w", id, err)
	}
	return d, nil
}

// steps reads the steps of a cycle to the end and closes the rows before the
// next statement (no MARS).
func (s *Store) steps(ctx context.Context, id string) ([]store.Step, error) {
	rows, err := s.r.QueryContext(ctx, qSteps, sql.Named("cycle_id", id))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Step{}
	for rows.Next() {
		var st store.Step
		var p string
		if err := rows.Scan(&st.Stage, &p, &st.CreatedAt); err != nil {
			return nil, err
		}
		st.Payload, st.CreatedAt = json.RawMessage(p), st.CreatedAt.UTC()
		out = append(out, st)
	}
	return out, rows.Err()
}

func (s *Store) actions(ctx context.Context, id string) ([]store.Action, error) {
	rows, err := s.r.QueryContext(ctx, qActions, sql.Named("cycle_id", id))
	if err != nil {
		return nil, err
	}
	return collect(rows, nil, scanAction)
}

// scanActions reads the rows to the end and closes them.
func scanAction(row scanner) (store.Action, error) {
	var a store.Action
	var before, after string
	var validated sql.NullTime
	if err := row.Scan(&a.ID, &a.CycleID, &a.Type, &a.Target, &a.Tier, &a.Status, &a.Detail, &before, &after, &a.Undo, &a.CreatedAt, &a.Result, &validated); err != nil {
		return a, err
	}
	a.Before, a.After, a.CreatedAt, a.ValidatedAt = json.RawMessage(before), json.RawMessage(after), a.CreatedAt.UTC(), nullTime(validated)
	return a, nil
}

// collect reads every row of a query with scan; err is the query's, which
// passes through. The result is never nil.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Cycles implements store.Reader: the newest first.
func (s *Store) Cycles(ctx context.Context, limit int) ([]store.Cycle, error) {
	rows, err := s.r.QueryContext(ctx, qCycles, sql.Named("n", top(limit)))
	out, err := collect(rows, err, scanCycle)
	if err != nil {
		return nil, fmt.Errorf("store: cycles: %w", err)
	}
	return out, nil
}

// DeadLetters implements store.Reader: the newest first.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]store.DeadLetter, error) {
	rows, err := s.r.QueryContext(ctx, qDeadLetters, sql.Named("n", top(limit)))
	out, err := collect(rows, err, scanDeadLetter)
	if err != nil {
		return nil, fmt.Errorf("store: dead letters: %w", err)
	}
	return out, nil
}

// Setting implements store.Reader.
func (s *Store) Setting(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.r.QueryRowContext(ctx, qSetting, sql.Named("name", name)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: setting %s: %w", name, err)
	}
	return v, true, nil
}

// DeadLetterCount implements store.Reader.
func (s *Store) DeadLetterCount(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, qDeadLetterCount).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: dead letters: %w", err)
	}
	return n, nil
}

// OutboxDepth implements store.Reader.
func (s *Store) OutboxDepth(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, qOutboxDepth).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: outbox depth: %w", err)
	}
	return n, nil
}

// LastStart implements store.Reader.
func (s *Store) LastStart(ctx context.Context, source string) (time.Time, bool, error) {
	var at sql.NullTime
	if err := s.r.QueryRowContext(ctx, qLastStart, sql.Named("source", source)).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("store: last %s cycle: %w", source, err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return at.Time.UTC(), true, nil
}

// Approvals implements store.Reader: pending first, then the newest.
func (s *Store) Approvals(ctx context.Context, limit int, now time.Time) ([]store.Approval, error) {
	rows, err := s.r.QueryContext(ctx, qApprovals, sql.Named("n", top(limit)))
	if err != nil {
		return nil, fmt.Errorf("store: approvals: %w", err)
	}
	defer rows.Close()
	out := []store.Approval{}
	for rows.Next() {
		a, err := scanApproval(rows, now)
		if err != nil {
			return nil, fmt.Errorf("store: approvals: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ActionStats implements store.Reader.
func (s *Store) ActionStats(ctx context.Context) ([]store.ActionStats, error) {
	rows, err := s.r.QueryContext(ctx, qActionStats)
	if err != nil {
		return nil, fmt.Errorf("store: action stats: %w", err)
	}
	return scanActionStats(rows)
}

// ActionStatsSince implements store.Reader.
func (s *Store) ActionStatsSince(ctx context.Context, since time.Time) ([]store.ActionStats, error) {
	rows, err := s.r.QueryContext(ctx, qActionStatsSince, sql.Named("since", utc(since)))
	if err != nil {
		return nil, fmt.Errorf("store: action stats: %w", err)
	}
	return scanActionStats(rows)
}

func scanActionStats(rows *sql.Rows) ([]store.ActionStats, error) {
	defer rows.Close()
	out := []store.ActionStats{}
	for rows.Next() {
		var a store.ActionStats
		if err := rows.Scan(&a.Type, &a.Improved, &a.Neutral, &a.Regressed, &a.Failed); err != nil {
			return nil, fmt.Errorf("store: action stats: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ActionsSince implements store.Reader.
func (s *Store) ActionsSince(ctx context.Context, since time.Time) ([]store.Action, error) {
	rows, err := s.r.QueryContext(ctx, qActionsSince, sql.Named("since", utc(since)))
	out, err := collect(rows, err, scanAction)
	if err != nil {
		return nil, fmt.Errorf("store: actions since %s: %w", since.Format(time.RFC3339), err)
	}
	return out, nil
}

// ActedSince implements store.Reader.
func (s *Store) ActedSince(ctx context.Context, since time.Time) ([]store.Action, error) {
	rows, err := s.r.QueryContext(ctx, qActedSince, sql.Named("since", utc(since)))
	out, err := collect(rows, err, scanAction)
	if err != nil {
		return nil, fmt.Errorf("store: actions since %s: %w", since.Format(time.RFC3339), err)
	}
	return out, nil
}

// RecordReadings implements store.Writer: one statement per reading, in the
// caller's transaction.
func (s *Store) RecordReadings(ctx context.Context, q broker.Querier, cycleID string, at time.Time, rs []store.Reading) error {
	for _, r := range rs {
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			continue // float has no NaN or infinity
		}
		if _, err := q.ExecContext(ctx, qRecordReading, sql.Named("name", r.Name), sql.Named("object", r.Object),
			sql.Named("at", utc(at)), sql.Named("cycle_id", cycleID), sql.Named("value", r.Value)); err != nil {
			return fmt.Errorf("store: reading %s of %q in cycle %s: %w", r.Name, r.Object, cycleID, err)
		}
	}
	return nil
}

// PruneReadings implements store.Writer.
func (s *Store) PruneReadings(ctx context.Context, q broker.Querier, before time.Time) (int64, error) {
	res, err := q.ExecContext(ctx, qPruneReadings, sql.Named("before", utc(before)))
	if err != nil {
		return 0, fmt.Errorf("store: prune readings before %s: %w", before.Format(time.RFC3339), err)
	}
	return res.RowsAffected()
}

// ReadingHistory implements store.Reader.
func (s *Store) ReadingHistory(ctx context.Context, since time.Time, maxPerKey int) ([]store.ReadingSample, error) {
	if maxPerKey <= 0 {
		return nil, fmt.Errorf("store: reading history: maxPerKey %d: must be positive", maxPerKey)
	}
	rows, err := s.r.QueryContext(ctx, qReadingHistory, sql.Named("since", utc(since)), sql.Named("n", top(maxPerKey)))
	if err != nil {
		return nil, fmt.Errorf("store: reading history: %w", err)
	}
	defer rows.Close()
	out := []store.ReadingSample{}
	for rows.Next() {
		var r store.ReadingSample
		if err := rows.Scan(&r.Name, &r.Object, &r.Value, &r.At); err != nil {
			return nil, fmt.Errorf("store: reading history: %w", err)
		}
		r.At = r.At.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading history: %w", err)
	}
	// The server ordered names and objects by its collation (case-insensitive,
	// usually); the contract is byte order, as SQLite's. Stable: each key's
	// samples stay newest first.
	slices.SortStableFunc(out, func(a, b store.ReadingSample) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Object, b.Object))
	})
	return out, nil
}

// PendingValidation implements store.Reader.
func (s *Store) PendingValidation(ctx context.Context, handle string) (json.RawMessage, bool, error) {
	var items string
	err := s.r.QueryRowContext(ctx, qPendingValidation, sql.Named("handle", handle)).Scan(&items)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: pending validation: %w", err)
	}
	return json.RawMessage(items), true, nil
}

// RecordIntent implements store.Writer.
func (s *Store) RecordIntent(ctx context.Context, q broker.Querier, in store.Intent) error {
	if err := store.CheckIntentID(in.ID); err != nil {
		return err
	}
	env := in.Envelope
	if env == nil {
		env = []byte{} // the column is NOT NULL; a nil slice is sent as NULL
	}
	var got string
	err := q.QueryRowContext(ctx, qRecordIntent, sql.Named("id", in.ID), sql.Named("cycle_id", in.CycleID), sql.Named("stage", in.Stage),
		sql.Named("envelope", env), sql.Named("created_at", utc(in.CreatedAt))).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: record intent %q: %w", in.ID, store.ErrIntentExists)
	}
	if err != nil {
		return fmt.Errorf("store: record intent %q: %w", in.ID, err)
	}
	return nil
}

// TakeIntent implements store.Writer.
func (s *Store) TakeIntent(ctx context.Context, q broker.Querier, id string) (bool, error) {
	var got string
	err := q.QueryRowContext(ctx, qTakeIntent, sql.Named("id", id)).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: take intent %q: %w", id, err)
	}
	return true, nil
}

// Intents implements store.Reader.
func (s *Store) Intents(ctx context.Context, before time.Time) ([]store.Intent, error) {
	rows, err := s.r.QueryContext(ctx, qIntents, sql.Named("before", utc(before)))
	if err != nil {
		return nil, fmt.Errorf("store: intents before %s: %w", before.Format(time.RFC3339Nano), err)
	}
	defer rows.Close()
	out := []store.Intent{}
	for rows.Next() {
		var in store.Intent
		if err := rows.Scan(&in.ID, &in.CycleID, &in.Stage, &in.Envelope, &in.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: intents before %s: %w", before.Format(time.RFC3339Nano), err)
		}
		if in.Envelope == nil {
			in.Envelope = []byte{}
		}
		in.CreatedAt = in.CreatedAt.UTC()
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: intents before %s: %w", before.Format(time.RFC3339Nano), err)
	}
	return out, nil
}
