package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/hartonomous/ooda/store"
)

var _ store.Target = (*Target)(nil)

// Target observes and maintains the embedded database itself (CATALOG:
// embedded target): free pages, planner statistics, WAL size, history
// retention, queue backlog. It has a connection of its own, outside the
// broker's transactions: VACUUM and checkpoints cannot run inside one.
type Target struct {
	db        *sql.DB
	path      string
	retention time.Duration
	now       func() time.Time
}

// OpenTarget opens the target on the database file at path. retention is how
// long finished cycles are kept (0: 30 days).
func OpenTarget(path string, retention time.Duration) (*Target, error) {
	if retention == 0 {
		retention = 30 * 24 * time.Hour
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(30000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("target: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return &Target{db: db, path: path, retention: retention, now: time.Now}, nil
}

// Close closes the target's connection.
func (t *Target) Close() error { return t.db.Close() }

// Name implements store.Target.
func (t *Target) Name() string { return "embedded" }

func (t *Target) pragma(ctx context.Context, name string) (float64, error) {
	var v float64
	if err := t.db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
		return 0, fmt.Errorf("PRAGMA %s: %w", name, err)
	}
	return v, nil
}

func (t *Target) walBytes() float64 {
	fi, err := os.Stat(t.path + "-wal")
	if err != nil {
		return 0
	}
	return float64(fi.Size())
}

// never stands for "has never run" in age readings.
const never = 1e18

func (t *Target) optimizeAge(ctx context.Context) (float64, error) {
	var v string
	err := t.db.QueryRowContext(ctx, `SELECT value FROM ooda_setting WHERE name = 'last_optimize'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return never, nil
	}
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return never, nil
	}
	return t.now().Sub(time.Unix(0, ns)).Seconds(), nil
}

// Observe implements store.Target.
func (t *Target) Observe(ctx context.Context) (store.Observation, error) {
	o := store.Observation{Target: t.Name(), TakenAt: t.now().UTC()}
	add := func(name, unit string, v float64) {
		o.Readings = append(o.Readings, store.Reading{Name: name, Object: "main", Value: v, Unit: unit})
	}
	pages, err := t.pragma(ctx, "page_count")
	if err != nil {
		return o, err
	}
	free, err := t.pragma(ctx, "freelist_count")
	if err != nil {
		return o, err
	}
	mode, err := t.pragma(ctx, "auto_vacuum")
	if err != nil {
		return o, err
	}
	add("page_count", "pages", pages)
	add("freelist_pages", "pages", free)
	add("auto_vacuum_mode", "", mode) // 0 NONE, 1 FULL, 2 INCREMENTAL
	add("wal_bytes", "bytes", t.walBytes())
	age, err := t.optimizeAge(ctx)
	if err != nil {
		return o, fmt.Errorf("optimize age: %w", err)
	}
	add("optimize_age_seconds", "s", age)
	var oldest sql.NullInt64
	// Ids grow with enqueue order: the smallest id is the oldest message, one
	// index step away (MIN(enqueued_at) would scan the whole backlog).
	if err := t.db.QueryRowContext(ctx, `SELECT enqueued_at FROM broker_message ORDER BY id LIMIT 1`).Scan(&oldest); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("queue backlog: %w", err)
	}
	backlog := 0.0
	if oldest.Valid {
		backlog = t.now().Sub(time.Unix(0, oldest.Int64)).Seconds()
	}
	add("oldest_message_age_seconds", "s", backlog)
	var expired float64
	if err := t.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ooda_cycle WHERE finished_at IS NOT NULL AND finished_at < ?`, t.now().Add(-t.retention).UnixNano()).Scan(&expired); err != nil {
		return o, fmt.Errorf("history: %w", err)
	}
	add("cycles_beyond_retention", "cycles", expired)
	return o, nil
}

// auto_vacuum modes ("PRAGMA auto_vacuum").
const (
	autoVacuumNone        = 0
	autoVacuumFull        = 1
	autoVacuumIncremental = 2
)

func (t *Target) exec(ctx context.Context, stmts ...string) error {
	for _, s := range stmts {
		if _, err := t.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

var _ store.Undoer = (*Target)(nil)

// Undo implements store.Undoer. Only vacuum has an undo: it puts
// auto_vacuum back to NONE (with the VACUUM that makes the change take
// effect), the mode the action moved the file from. (incremental_vacuum,
// which only returns free pages, has none.) Incremental auto-vacuum
// moves pages at every commit that frees some, and can fragment the file; a
// regression after the switch is undone by switching back.
func (t *Target) Undo(ctx context.Context, action, object string) (store.Outcome, error) {
	if action != "vacuum" {
		return store.Outcome{}, fmt.Errorf("target embedded: %s: %w", action, store.ErrNoUndo)
	}
	mode, err := t.pragma(ctx, "auto_vacuum")
	if err != nil {
		return store.Outcome{}, err
	}
	if mode != autoVacuumIncremental {
		// Already undone (a redelivered validation), or switched by someone
		// else since: nothing of this action's is left to revert.
		return store.Outcome{}, fmt.Errorf("target embedded: auto_vacuum is not INCREMENTAL: %w", store.ErrNoUndo)
	}
	if err := t.exec(ctx, "PRAGMA auto_vacuum = NONE", "VACUUM"); err != nil {
		return store.Outcome{}, err
	}
	return store.Outcome{Detail: "switched auto_vacuum back to NONE and vacuumed"}, nil
}

// Describe implements store.Target.
func (t *Target) Describe(action, object string) string {
	switch action {
	case "optimize":
		return "PRAGMA optimize on the state database"
	case "wal_checkpoint":
		return "PRAGMA wal_checkpoint(TRUNCATE) on the state database"
	case "vacuum":
		return "switch the state database to incremental auto-vacuum and VACUUM it"
	case "incremental_vacuum":
		return "PRAGMA incremental_vacuum: return the free pages of the state database"
	case "prune_history":
		return fmt.Sprintf("delete finished cycles older than %s", t.retention)
	}
	return fmt.Sprintf("%s on %s", action, object)
}

// Execute implements store.Target.
func (t *Target) Execute(ctx context.Context, action, object string) (store.Outcome, error) {
	switch action {
	case "optimize":
		before, err := t.optimizeAge(ctx)
		if err != nil {
			return store.Outcome{}, err
		}
		if _, err := t.db.ExecContext(ctx, "PRAGMA optimize"); err != nil {
			return store.Outcome{}, fmt.Errorf("PRAGMA optimize: %w", err)
		}
		if _, err := t.db.ExecContext(ctx, `INSERT INTO ooda_setting (name, value) VALUES ('last_optimize', ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, strconv.FormatInt(t.now().UnixNano(), 10)); err != nil {
			return store.Outcome{}, fmt.Errorf("record optimize: %w", err)
		}
		return store.Outcome{Detail: "ran PRAGMA optimize", Before: map[string]float64{"optimize_age_seconds": before}, After: map[string]float64{"optimize_age_seconds": 0}}, nil
	case "wal_checkpoint":
		before := t.walBytes()
		if _, err := t.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			return store.Outcome{}, fmt.Errorf("checkpoint: %w", err)
		}
		return store.Outcome{Detail: "checkpointed and truncated the WAL", Before: map[string]float64{"wal_bytes": before}, After: map[string]float64{"wal_bytes": t.walBytes()}}, nil
	case "vacuum", "incremental_vacuum":
		before, err := t.pragma(ctx, "freelist_count")
		if err != nil {
			return store.Outcome{}, err
		}
		mode, err := t.pragma(ctx, "auto_vacuum")
		if err != nil {
			return store.Outcome{}, err
		}
		// vacuum: with auto_vacuum NONE (SQLite's default) the free pages
		// stay in the file until a full VACUUM. The action switches the file
		// to INCREMENTAL, which takes effect with that VACUUM ("PRAGMA
		// auto_vacuum": a change on an existing database needs VACUUM), so
		// that later frees are returned cheaply (incremental_vacuum).
		detail, stmts := "switched auto_vacuum to INCREMENTAL and vacuumed", []string{"PRAGMA auto_vacuum = INCREMENTAL", "VACUUM"}
		switch {
		case mode == autoVacuumIncremental:
			detail, stmts = "returned the free pages with PRAGMA incremental_vacuum", []string{"PRAGMA incremental_vacuum"}
		case action == "incremental_vacuum":
			return store.Outcome{}, fmt.Errorf("target embedded: incremental_vacuum needs auto_vacuum INCREMENTAL, the file is in mode %.0f (the vacuum action switches it)", mode)
		case mode == autoVacuumFull:
			detail, stmts = "vacuumed (auto_vacuum FULL left as it is)", []string{"VACUUM"}
		}
		if err := t.exec(ctx, stmts...); err != nil {
			return store.Outcome{}, err
		}
		after, err := t.pragma(ctx, "freelist_count")
		if err != nil {
			return store.Outcome{}, err
		}
		return store.Outcome{Detail: detail, Before: map[string]float64{"freelist_pages": before}, After: map[string]float64{"freelist_pages": after}}, nil
	case "prune_history":
		cutoff := t.now().Add(-t.retention).UnixNano()
		res, err := t.db.ExecContext(ctx, `DELETE FROM ooda_cycle WHERE finished_at < ?`, cutoff)
		if err != nil {
			return store.Outcome{}, fmt.Errorf("prune history: %w", err)
		}
		n, _ := res.RowsAffected()
		if _, err := t.db.ExecContext(ctx, `DELETE FROM ooda_step WHERE cycle_id NOT IN (SELECT id FROM ooda_cycle)`); err != nil {
			return store.Outcome{}, fmt.Errorf("prune history: %w", err)
		}
		return store.Outcome{Detail: fmt.Sprintf("deleted %d finished cycles older than %s", n, t.retention)}, nil
	}
	return store.Outcome{}, fmt.Errorf("target embedded: unknown action %q", action)
}
