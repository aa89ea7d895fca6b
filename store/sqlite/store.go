// Package sqlite is the state store on the embedded SQLite database: the
// tables of sql/sqlite/0002_state.sql, written inside the broker's
// transactions and read through a read-only pool of its own.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/store"
)

var (
	_ store.Writer = (*Store)(nil)
	_ store.Reader = (*Store)(nil)
)

// Store reads through its own pool and writes through the caller's transaction.
type Store struct{ r *sql.DB }

// Open opens the read pool on the database file that the embedded broker
// created (and migrated) at path.
func Open(path string) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "query_only(1)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(2)
	return &Store{r: db}, nil
}

// Close closes the read pool.
func (s *Store) Close() error { return s.r.Close() }

func nanos(t time.Time) int64 { return t.UTC().UnixNano() }

func nullKey(k string) any {
	if k == "" {
		return nil
	}
	return k
}

// StartCycle implements store.Writer.
func (s *Store) StartCycle(ctx context.Context, q broker.Querier, c store.Cycle) (store.Cycle, bool, error) {
	if c.Key != "" {
		if got, err := scanCycle(q.QueryRowContext(ctx, cycleSelect+` WHERE trigger_key = ? AND status = 'running'`, c.Key)); err == nil {
			return got, false, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return store.Cycle{}, false, err
		}
	}
	c.Status, c.Stage = store.StatusRunning, "trigger"
	if _, err := q.ExecContext(ctx, `INSERT INTO ooda_cycle (id, trigger_key, source, reason, status, stage, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, nullKey(c.Key), c.Source, c.Reason, c.Status, c.Stage, nanos(c.StartedAt)); err != nil {
		return store.Cycle{}, false, fmt.Errorf("store: start cycle %s: %w", c.ID, err)
	}
	return c, true, nil
}

// AdvanceCycle implements store.Writer.
func (s *Store) AdvanceCycle(ctx context.Context, q broker.Querier, id, stage, status, errText string, now time.Time) error {
	var finished any
	if status != store.StatusRunning {
		finished = nanos(now)
	}
	res, err := q.ExecContext(ctx, `UPDATE ooda_cycle SET stage = ?, status = ?, error = ?, finished_at = ? WHERE id = ?`, stage, status, errText, finished, id)
	if err != nil {
		return fmt.Errorf("store: advance cycle %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: advance cycle %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// RecordStep implements store.Writer.
func (s *Store) RecordStep(ctx context.Context, q broker.Querier, cycleID, stage string, payload json.RawMessage, now time.Time) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO ooda_step (cycle_id, stage, payload, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (cycle_id, stage) DO UPDATE SET payload = excluded.payload, created_at = excluded.created_at`, cycleID, stage, string(payload), nanos(now)); err != nil {
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
	if _, err := q.ExecContext(ctx, `INSERT INTO ooda_action (id, cycle_id, type, target, tier, status, detail, before, after, undo, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, detail = excluded.detail, before = excluded.before, after = excluded.after, undo = excluded.undo,
			created_at = CASE WHEN excluded.status IN ('executed', 'failed') THEN excluded.created_at ELSE created_at END`,
		a.ID, a.CycleID, a.Type, a.Target, a.Tier, a.Status, a.Detail, before, after, a.Undo, nanos(a.CreatedAt)); err != nil {
		return fmt.Errorf("store: record action %s: %w", a.ID, err)
	}
	return nil
}

// AddEvent implements store.Writer.
func (s *Store) AddEvent(ctx context.Context, q broker.Querier, e store.Event) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO ooda_outbox (event_id, kind, cycle_id, created_at, data) VALUES (?, ?, ?, ?, ?)`,
		e.ID, e.Kind, e.CycleID, nanos(e.CreatedAt), string(e.Data)); err != nil {
		return fmt.Errorf("store: outbox %s: %w", e.Kind, err)
	}
	return nil
}

// Events implements store.Reader.
func (s *Store) Events(ctx context.Context, n int) ([]store.Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, event_id, kind, cycle_id, created_at, data FROM ooda_outbox ORDER BY seq LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("store: read outbox: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		var at int64
		var data string
		if err := rows.Scan(&e.Seq, &e.ID, &e.Kind, &e.CycleID, &at, &data); err != nil {
			return nil, fmt.Errorf("store: read outbox: %w", err)
		}
		e.CreatedAt, e.Data = time.Unix(0, at).UTC(), json.RawMessage(data)
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
	if _, err := q.ExecContext(ctx, `DELETE FROM ooda_outbox WHERE seq IN (SELECT value FROM json_each(?))`, string(list)); err != nil {
		return fmt.Errorf("store: trim outbox: %w", err)
	}
	return nil
}

// FailedAttempt implements store.Writer.
func (s *Store) FailedAttempt(ctx context.Context, q broker.Querier, key, errText string) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, `INSERT INTO ooda_attempt (message_key, attempts, last_error) VALUES (?, 1, ?)
		ON CONFLICT (message_key) DO UPDATE SET attempts = attempts + 1, last_error = excluded.last_error
		RETURNING attempts`, key, errText).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count attempt of %s: %w", key, err)
	}
	return n, nil
}

// Attempts implements store.Reader.
func (s *Store) Attempts(ctx context.Context, key string) (int, string, error) {
	var n int
	var last string
	err := s.r.QueryRowContext(ctx, `SELECT attempts, last_error FROM ooda_attempt WHERE message_key = ?`, key).Scan(&n, &last)
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
	if _, err := q.ExecContext(ctx, `DELETE FROM ooda_attempt WHERE message_key = ?`, key); err != nil {
		return fmt.Errorf("store: clear attempts of %s: %w", key, err)
	}
	return nil
}

// AddDeadLetter implements store.Writer.
func (s *Store) AddDeadLetter(ctx context.Context, q broker.Querier, d store.DeadLetter) (int64, error) {
	if d.Body == nil {
		d.Body = []byte{} // system messages (a DialogTimer) have none; the column is NOT NULL
	}
	var id int64
	if err := q.QueryRowContext(ctx, `INSERT INTO ooda_dead_letter (queue, message_type, conversation, body, reason, attempts, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, d.Queue, d.MessageType, d.Conversation, d.Body, d.Reason, d.Attempts, nanos(d.CreatedAt)).Scan(&id); err != nil {
		return 0, fmt.Errorf("store: dead letter: %w", err)
	}
	return id, nil
}

// MarkRedriven implements store.Writer.
func (s *Store) MarkRedriven(ctx context.Context, q broker.Querier, id int64, now time.Time) (store.DeadLetter, error) {
	d, err := scanDeadLetter(q.QueryRowContext(ctx, deadLetterSelect+` WHERE id = ?`, id))
	if err != nil {
		return d, fmt.Errorf("store: dead letter %d: %w", id, err)
	}
	if d.RedrivenAt != nil {
		return d, fmt.Errorf("store: dead letter %d was already redriven at %s", id, d.RedrivenAt.Format(time.RFC3339))
	}
	if _, err := q.ExecContext(ctx, `UPDATE ooda_dead_letter SET redriven_at = ? WHERE id = ?`, nanos(now), id); err != nil {
		return d, fmt.Errorf("store: dead letter %d: %w", id, err)
	}
	return d, nil
}

// SetSetting implements store.Writer.
func (s *Store) SetSetting(ctx context.Context, q broker.Querier, name, value string) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO ooda_setting (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value); err != nil {
		return fmt.Errorf("store: setting %s: %w", name, err)
	}
	return nil
}

const cycleSelect = `SELECT id, COALESCE(trigger_key, ''), source, reason, status, stage, error, started_at, finished_at FROM ooda_cycle`

func scanCycle(row interface{ Scan(...any) error }) (store.Cycle, error) {
	var c store.Cycle
	var started int64
	var finished sql.NullInt64
	if err := row.Scan(&c.ID, &c.Key, &c.Source, &c.Reason, &c.Status, &c.Stage, &c.Error, &started, &finished); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return c, store.ErrNotFound
		}
		return c, err
	}
	c.StartedAt = time.Unix(0, started).UTC()
	if finished.Valid {
		t := time.Unix(0, finished.Int64).UTC()
		c.FinishedAt = &t
	}
	return c, nil
}

const deadLetterSelect = `SELECT id, queue, message_type, conversation, body, reason, attempts, created_at, redriven_at FROM ooda_dead_letter`

func scanDeadLetter(row interface{ Scan(...any) error }) (store.DeadLetter, error) {
	var d store.DeadLetter
	var created int64
	var redriven sql.NullInt64
	if err := row.Scan(&d.ID, &d.Queue, &d.MessageType, &d.Conversation, &d.Body, &d.Reason, &d.Attempts, &created, &redriven); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return d, store.ErrNotFound
		}
		return d, err
	}
	d.CreatedAt = time.Unix(0, created).UTC()
	if redriven.Valid {
		t := time.Unix(0, redriven.Int64).UTC()
		d.RedrivenAt = &t
	}
	return d, nil
}

// Cycle implements store.Reader.
func (s *Store) Cycle(ctx context.Context, id string) (store.CycleDetail, error) {
	c, err := scanCycle(s.r.QueryRowContext(ctx, cycleSelect+` WHERE id = ?`, id))
	if err != nil {
		return store.CycleDetail{}, fmt.Errorf("store: cycle %q: %w", id, err)
	}
	d := store.CycleDetail{Cycle: c, Steps: []store.Step{}, Actions: []store.Action{}}
	rows, err := s.r.QueryContext(ctx, `SELECT stage, payload, created_at FROM ooda_step WHERE cycle_id = ? ORDER BY created_at`, id)
	if err != nil {
		return d, fmt.Errorf("store: cycle %q: %w", id, err)
	}
	for rows.Next() {
		var st store.Step
		var p string
		var at int64
		if err := rows.Scan(&st.Stage, &p, &at); err != nil {
			rows.Close()
			return d, err
		}
		st.Payload, st.CreatedAt = json.RawMessage(p), time.Unix(0, at).UTC()
		d.Steps = append(d.Steps, st)
	}
	rows.Close()
	rows, err = s.r.QueryContext(ctx, actionSelect+` WHERE cycle_id = ? ORDER BY created_at, id`, id)
	if err != nil {
		return d, fmt.Errorf("store: cycle %q: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return d, err
		}
		d.Actions = append(d.Actions, a)
	}
	return d, rows.Err()
}

// Cycles implements store.Reader: the newest first.
func (s *Store) Cycles(ctx context.Context, limit int) ([]store.Cycle, error) {
	rows, err := s.r.QueryContext(ctx, cycleSelect+` ORDER BY started_at DESC LIMIT ?`, limit)
	out, err := collect(rows, err, scanCycle)
	if err != nil {
		return nil, fmt.Errorf("store: cycles: %w", err)
	}
	return out, nil
}

// DeadLetters implements store.Reader: the newest first.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]store.DeadLetter, error) {
	rows, err := s.r.QueryContext(ctx, deadLetterSelect+` ORDER BY id DESC LIMIT ?`, limit)
	out, err := collect(rows, err, scanDeadLetter)
	if err != nil {
		return nil, fmt.Errorf("store: dead letters: %w", err)
	}
	return out, nil
}

// Setting implements store.Reader.
func (s *Store) Setting(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM ooda_setting WHERE name = ?`, name).Scan(&v)
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
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM ooda_dead_letter WHERE redriven_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: dead letters: %w", err)
	}
	return n, nil
}

// OutboxDepth implements store.Reader.
func (s *Store) OutboxDepth(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM ooda_outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: outbox depth: %w", err)
	}
	return n, nil
}

// LastStart implements store.Reader.
func (s *Store) LastStart(ctx context.Context, source string) (time.Time, bool, error) {
	var at sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MAX(started_at) FROM ooda_cycle WHERE source = ?`, source).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("store: last %s cycle: %w", source, err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(0, at.Int64).UTC(), true, nil
}

const approvalSelect = `SELECT id, cycle_id, action, object, tier, hypothesis, reason, status, requested_at, expires_at, decided_by, decided_at, decision_reason FROM ooda_approval`

func scanApproval(row interface{ Scan(...any) error }, now time.Time) (store.Approval, error) {
	var a store.Approval
	var hyp string
	var req, exp int64
	var decided sql.NullInt64
	if err := row.Scan(&a.ID, &a.CycleID, &a.Action, &a.Object, &a.Tier, &hyp, &a.Reason, &a.Status, &req, &exp, &a.DecidedBy, &decided, &a.DecisionReason); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return a, store.ErrNotFound
		}
		return a, err
	}
	a.Hypothesis, a.RequestedAt, a.ExpiresAt = json.RawMessage(hyp), time.Unix(0, req).UTC(), time.Unix(0, exp).UTC()
	if decided.Valid {
		t := time.Unix(0, decided.Int64).UTC()
		a.DecidedAt = &t
	}
	if a.Status == store.ApprovalPending && !now.Before(a.ExpiresAt) {
		a.Status = store.ApprovalExpired
	}
	return a, nil
}

// RequestApproval implements store.Writer.
func (s *Store) RequestApproval(ctx context.Context, q broker.Querier, a store.Approval) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO ooda_approval (id, cycle_id, action, object, tier, hypothesis, reason, status, requested_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (id) DO NOTHING`,
		a.ID, a.CycleID, a.Action, a.Object, a.Tier, string(a.Hypothesis), a.Reason, nanos(a.RequestedAt), nanos(a.ExpiresAt)); err != nil {
		return fmt.Errorf("store: request approval %s: %w", a.ID, err)
	}
	return nil
}

// DecideApproval implements store.Writer.
func (s *Store) DecideApproval(ctx context.Context, q broker.Querier, id, status, by, reason string, now time.Time) (store.Approval, error) {
	a, err := scanApproval(q.QueryRowContext(ctx, approvalSelect+` WHERE id = ?`, id), now)
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
	if _, err := q.ExecContext(ctx, `UPDATE ooda_approval SET status = ?, decided_by = ?, decided_at = ?, decision_reason = ? WHERE id = ?`,
		status, by, nanos(now), reason, id); err != nil {
		return a, fmt.Errorf("store: approval %q: %w", id, err)
	}
	t := now.UTC()
	a.Status, a.DecidedBy, a.DecidedAt, a.DecisionReason = status, by, &t, reason
	return a, nil
}

// Approvals implements store.Reader: pending first, then the newest.
func (s *Store) Approvals(ctx context.Context, limit int, now time.Time) ([]store.Approval, error) {
	rows, err := s.r.QueryContext(ctx, approvalSelect+` ORDER BY status = 'pending' DESC, requested_at DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: approvals: %w", err)
	}
	defer rows.Close()
	out := []store.Approval{}
	for rows.Next() {
		a, err := scanApproval(rows, now)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// AwaitValidation implements store.Writer.
func (s *Store) AwaitValidation(ctx context.Context, q broker.Querier, handle, cycleID string, items json.RawMessage, now time.Time) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO ooda_validation (handle, cycle_id, items, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (handle) DO NOTHING`, handle, cycleID, string(items), nanos(now)); err != nil {
		return fmt.Errorf("store: await validation: %w", err)
	}
	return nil
}

// TakeValidation implements store.Writer.
func (s *Store) TakeValidation(ctx context.Context, q broker.Querier, handle string) (string, json.RawMessage, bool, error) {
	var cycleID, items string
	err := q.QueryRowContext(ctx, `DELETE FROM ooda_validation WHERE handle = ? RETURNING cycle_id, items`, handle).Scan(&cycleID, &items)
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
	if _, err := q.ExecContext(ctx, `UPDATE ooda_action SET result = ?, validated_at = ? WHERE id = ?`, result, nanos(now), actionID); err != nil {
		return fmt.Errorf("store: result of action %s: %w", actionID, err)
	}
	if revertDetail != "" {
		if _, err := q.ExecContext(ctx, `UPDATE ooda_action SET status = 'reverted', detail = detail || '; reverted: ' || ? WHERE id = ?`, revertDetail, actionID); err != nil {
			return fmt.Errorf("store: revert of action %s: %w", actionID, err)
		}
	}
	// The column name comes from ValidResult's four constants, never from input.
	if _, err := q.ExecContext(ctx, `INSERT INTO ooda_action_stats (type, `+result+`) VALUES (?, 1)
		ON CONFLICT (type) DO UPDATE SET `+result+` = `+result+` + 1`, actionType); err != nil {
		return fmt.Errorf("store: stats of %s: %w", actionType, err)
	}
	return nil
}

// ActionStats implements store.Reader.
func (s *Store) ActionStats(ctx context.Context) ([]store.ActionStats, error) {
	return s.actionStats(ctx, `SELECT type, improved, neutral, regressed, failed FROM ooda_action_stats ORDER BY type`)
}

// ActionStatsSince implements store.Reader: counted from the actions'
// results, not from the all-time counters.
func (s *Store) ActionStatsSince(ctx context.Context, since time.Time) ([]store.ActionStats, error) {
	return s.actionStats(ctx, `SELECT type,
		SUM(result = 'improved'), SUM(result = 'neutral'), SUM(result = 'regressed'), SUM(result = 'failed')
		FROM ooda_action WHERE validated_at >= ? AND result <> '' GROUP BY type ORDER BY type`, nanos(since))
}

func (s *Store) actionStats(ctx context.Context, query string, args ...any) ([]store.ActionStats, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: action stats: %w", err)
	}
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

const actionSelect = `SELECT id, cycle_id, type, target, tier, status, detail, before, after, undo, created_at, result, validated_at FROM ooda_action`

func scanAction(row interface{ Scan(...any) error }) (store.Action, error) {
	var a store.Action
	var before, after string
	var at int64
	var validated sql.NullInt64
	if err := row.Scan(&a.ID, &a.CycleID, &a.Type, &a.Target, &a.Tier, &a.Status, &a.Detail, &before, &after, &a.Undo, &at, &a.Result, &validated); err != nil {
		return a, err
	}
	if validated.Valid {
		t := time.Unix(0, validated.Int64).UTC()
		a.ValidatedAt = &t
	}
	a.Before, a.After, a.CreatedAt = json.RawMessage(before), json.RawMessage(after), time.Unix(0, at).UTC()
	return a, nil
}

// ActionsSince implements store.Reader.
func (s *Store) ActionsSince(ctx context.Context, since time.Time) ([]store.Action, error) {
	rows, err := s.r.QueryContext(ctx, actionSelect+` WHERE created_at >= ? ORDER BY created_at, id`, nanos(since))
	out, err := collect(rows, err, scanAction)
	if err != nil {
		return nil, fmt.Errorf("store: actions since %s: %w", since.Format(time.RFC3339), err)
	}
	return out, nil
}

// ActedSince implements store.Reader.
func (s *Store) ActedSince(ctx context.Context, since time.Time) ([]store.Action, error) {
	// The status list is the partial index's (0008_acted_index.sql).
	rows, err := s.r.QueryContext(ctx, actionSelect+` WHERE status IN ('executed', 'reverted', 'failed') AND created_at >= ? ORDER BY created_at, id`, nanos(since))
	out, err := collect(rows, err, scanAction)
	if err != nil {
		return nil, fmt.Errorf("store: acted since %s: %w", since.Format(time.RFC3339), err)
	}
	return out, nil
}

// collect reads every row of a query with scan; err is the query's, which
// passes through. The result is never nil.
func collect[T any](rows *sql.Rows, err error, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
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

// RecordReadings implements store.Writer.
func (s *Store) RecordReadings(ctx context.Context, q broker.Querier, cycleID string, at time.Time, rs []store.Reading) error {
	for _, r := range rs {
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			continue
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO ooda_reading (name, object, taken_at, cycle_id, value) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, r.Name, r.Object, nanos(at), cycleID, r.Value); err != nil {
			return fmt.Errorf("store: reading %s of %q in cycle %s: %w", r.Name, r.Object, cycleID, err)
		}
	}
	return nil
}

// PruneReadings implements store.Writer.
func (s *Store) PruneReadings(ctx context.Context, q broker.Querier, before time.Time) (int64, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM ooda_reading WHERE taken_at < ?`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune readings before %s: %w", before.Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune readings before %s: %w", before.Format(time.RFC3339), err)
	}
	return n, nil
}

// ReadingHistory implements store.Reader. The window function numbers each
// key's readings newest first (ties: the later cycle id first); the primary
// key already has that order, so SQLite numbers them without sorting.
func (s *Store) ReadingHistory(ctx context.Context, since time.Time, maxPerKey int) ([]store.ReadingSample, error) {
	if maxPerKey <= 0 {
		return nil, fmt.Errorf("store: reading history: maxPerKey %d: must be positive", maxPerKey)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT name, object, value, taken_at FROM (
			SELECT name, object, value, taken_at, cycle_id,
				ROW_NUMBER() OVER (PARTITION BY name, object ORDER BY taken_at DESC, cycle_id DESC) AS n
			FROM ooda_reading WHERE taken_at >= ?)
		WHERE n <= ? ORDER BY name, object, taken_at DESC, cycle_id DESC`, nanos(since), maxPerKey)
	if err != nil {
		return nil, fmt.Errorf("store: reading history: %w", err)
	}
	defer rows.Close()
	out := []store.ReadingSample{}
	for rows.Next() {
		var r store.ReadingSample
		var at int64
		if err := rows.Scan(&r.Name, &r.Object, &r.Value, &at); err != nil {
			return nil, fmt.Errorf("store: reading history: %w", err)
		}
		r.At = time.Unix(0, at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// PendingValidation implements store.Reader.
func (s *Store) PendingValidation(ctx context.Context, handle string) (json.RawMessage, bool, error) {
	var items string
	err := s.r.QueryRowContext(ctx, `SELECT items FROM ooda_validation WHERE handle = ?`, handle).Scan(&items)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: pending validation: %w", err)
	}
	return json.RawMessage(items), true, nil
}

// RecordIntent implements store.Writer. A recorded id is skipped by the
// statement (no constraint error) and reported here.
func (s *Store) RecordIntent(ctx context.Context, q broker.Querier, in store.Intent) error {
	if err := store.CheckIntentID(in.ID); err != nil {
		return err
	}
	env := in.Envelope
	if env == nil {
		env = []byte{} // the column is NOT NULL; a nil slice is bound as NULL
	}
	res, err := q.ExecContext(ctx, `INSERT INTO ooda_intent (id, cycle_id, stage, envelope, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, in.ID, in.CycleID, in.Stage, env, nanos(in.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: record intent %q: %w", in.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: record intent %q: %w", in.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: record intent %q: %w", in.ID, store.ErrIntentExists)
	}
	return nil
}

// TakeIntent implements store.Writer.
func (s *Store) TakeIntent(ctx context.Context, q broker.Querier, id string) (bool, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM ooda_intent WHERE id = ?`, id)
	if err != nil {
		return false, fmt.Errorf("store: take intent %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: take intent %q: %w", id, err)
	}
	return n > 0, nil
}

// Intents implements store.Reader.
func (s *Store) Intents(ctx context.Context, before time.Time) ([]store.Intent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, cycle_id, stage, envelope, created_at FROM ooda_intent
		WHERE created_at < ? ORDER BY created_at, id`, nanos(before))
	if err != nil {
		return nil, fmt.Errorf("store: intents before %s: %w", before.Format(time.RFC3339Nano), err)
	}
	defer rows.Close()
	out := []store.Intent{}
	for rows.Next() {
		var in store.Intent
		var at int64
		if err := rows.Scan(&in.ID, &in.CycleID, &in.Stage, &in.Envelope, &at); err != nil {
			return nil, fmt.Errorf("store: intents before %s: %w", before.Format(time.RFC3339Nano), err)
		}
		if in.Envelope == nil {
			in.Envelope = []byte{}
		}
		in.CreatedAt = time.Unix(0, at).UTC()
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: intents before %s: %w", before.Format(time.RFC3339Nano), err)
	}
	return out, nil
}
