package embedded

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver (pure Go)

	"github.com/hartonomous/ooda/broker"
	sqlitescripts "github.com/hartonomous/ooda/sql/sqlite"
)

var _ broker.Broker = (*Broker)(nil)

// ErrCorrupt is returned by Open when the database file is not a SQLite
// database. The file is left as it is.
var ErrCorrupt = errors.New("not a SQLite database")

// ErrSchemaTooNew is returned by Open when the database was written by a newer
// binary than this one.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// DatabaseFile is the name of the database file in the data directory.
const DatabaseFile = "ooda.db"

// Options configure Open. The zero value of each field is its default.
type Options struct {
	// Dir is the data directory (required). It is created (0700) if missing.
	Dir string
	// Topology is the set of queues, services, contracts and message types.
	Topology broker.Topology
	// Synchronous is SQLite's synchronous setting: FULL (default: a commit
	// returns after fsync), EXTRA, or NORMAL (a power loss may lose the last
	// commits, never corrupt the file). OFF is refused: it can corrupt.
	Synchronous string
	// MaxBodyBytes caps a message body. Default 1 MiB.
	MaxBodyBytes int
	// MaxSizeBytes caps the database file (SQLite max_page_count); writes
	// beyond it fail with broker.ErrStorageFull. 0 (default): no cap.
	MaxSizeBytes int64
	// ReadConns is the size of the read pool used by Receive and status
	// queries. Default 4.
	ReadConns int
	// Logger receives the engine's few log lines. Default: none.
	Logger *zerolog.Logger
	// PollInterval > 0 makes waiting receivers poll at that interval instead
	// of being woken by commits. It exists only as the reference arm of
	// benchmark B4; leave it 0.
	PollInterval time.Duration
}

func (o Options) withDefaults() Options {
	if o.Synchronous == "" {
		o.Synchronous = "FULL"
	}
	o.Synchronous = strings.ToUpper(o.Synchronous)
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.ReadConns == 0 {
		o.ReadConns = 4
	}
	if o.Logger == nil {
		l := zerolog.Nop()
		o.Logger = &l
	}
	return o
}

func (o Options) validate() error {
	if o.Dir == "" {
		return errors.New("embedded: Options.Dir: empty; set the data directory")
	}
	switch o.Synchronous {
	case "FULL", "EXTRA", "NORMAL":
	default:
		return fmt.Errorf("embedded: Options.Synchronous: %q is not one of FULL, EXTRA, NORMAL", o.Synchronous)
	}
	if o.MaxBodyBytes < 0 {
		return fmt.Errorf("embedded: Options.MaxBodyBytes: %d is negative", o.MaxBodyBytes)
	}
	if o.MaxSizeBytes < 0 {
		return fmt.Errorf("embedded: Options.MaxSizeBytes: %d is negative", o.MaxSizeBytes)
	}
	if o.ReadConns < 1 {
		return fmt.Errorf("embedded: Options.ReadConns: %d is less than 1", o.ReadConns)
	}
	if err := o.Topology.Validate(); err != nil {
		return fmt.Errorf("embedded: %w", err)
	}
	for _, q := range o.Topology.Queues {
		if len(q) > maxQueueNameLen {
			return fmt.Errorf("embedded: queue name %q is longer than %d bytes", q, maxQueueNameLen)
		}
	}
	return nil
}

// Broker is the embedded queue engine. Open one per data directory.
type Broker struct {
	opts     Options
	log      zerolog.Logger
	dir      string
	lock     *os.File
	db       *sql.DB // writer pool: exactly one connection, owned by w
	rdb      *sql.DB // read pool
	w        *writer
	inflight *inflight
	topo     topology
	queues   map[string]*queueState
	timers   *timerLoop
	// receiveStmt is prepared once: parsing the receive query on every call
	// costs more than running it.
	receiveStmt *sql.Stmt
	reads       atomic.Int64 // SQL statements run on the read pool

	closeOnce sync.Once
	closing   chan struct{}
	wg        sync.WaitGroup
}

// topology indexes broker.Topology for lookups on the hot path.
type topology struct {
	types     map[string]bool
	contracts map[string]map[string]broker.SentBy
	services  map[string]broker.Service
}

// Open opens (creating if needed) the engine in opts.Dir.
func Open(ctx context.Context, opts Options) (*Broker, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("embedded: data directory %q: %w", opts.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded: data directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	b := &Broker{opts: opts, log: opts.Logger.With().Str("component", "broker").Logger(), dir: dir, lock: lock, closing: make(chan struct{})}
	if err := b.open(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	b.timers = newTimerLoop(b)
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.timers.run() }()
	return b, nil
}

func (b *Broker) open(ctx context.Context) error {
	path := filepath.Join(b.dir, DatabaseFile)
	if err := checkHeader(path); err != nil {
		return err
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+b.opts.Synchronous+")")
		for _, e := range extra {
			q.Add("_pragma", e)
		}
		return "file:" + path + "?" + q.Encode()
	}
	var err error
	// The single writer: SQLite allows one writer at a time; a second writer
	// connection would only wait on the file lock (SQLITE_BUSY) where an
	// in-process hand-over is cheaper and fair.
	if b.db, err = sql.Open("sqlite", dsn()); err != nil {
		return fmt.Errorf("embedded: open %s: %w", path, err)
	}
	b.db.SetMaxOpenConns(1)
	b.db.SetMaxIdleConns(1)
	b.db.SetConnMaxLifetime(0)
	b.db.SetConnMaxIdleTime(0)
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("embedded: open %s: %w", path, translate(err))
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		_ = conn.Close()
		return fmt.Errorf("embedded: open %s: %w", path, translate(err))
	}
	if !strings.EqualFold(mode, "wal") {
		_ = conn.Close()
		return fmt.Errorf("embedded: open %s: journal_mode is %q, want wal (is the file system a network mount?)", path, mode)
	}
	if err := migrate(ctx, conn); err != nil {
		_ = conn.Close()
		return fmt.Errorf("embedded: open %s: %w", path, err)
	}
	if b.opts.MaxSizeBytes > 0 {
		var pageSize int64
		if err := conn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
			_ = conn.Close()
			return fmt.Errorf("embedded: open %s: %w", path, translate(err))
		}
		// PRAGMA arguments cannot be bound parameters; the value is an integer we computed.
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", max(1, b.opts.MaxSizeBytes/pageSize))); err != nil {
			_ = conn.Close()
			return fmt.Errorf("embedded: open %s: %w", path, translate(err))
		}
	}
	b.w = newWriter(conn)
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.w.runCommitter() }()
	if b.rdb, err = sql.Open("sqlite", dsn("query_only(1)")); err != nil {
		return fmt.Errorf("embedded: open %s: %w", path, err)
	}
	b.rdb.SetMaxOpenConns(b.opts.ReadConns)
	b.rdb.SetMaxIdleConns(b.opts.ReadConns)
	if b.receiveStmt, err = b.rdb.PrepareContext(ctx, receiveSQL); err != nil {
		return fmt.Errorf("embedded: open %s: %w", path, translate(err))
	}

	b.topo = topology{types: map[string]bool{}, contracts: map[string]map[string]broker.SentBy{}, services: map[string]broker.Service{}}
	for _, m := range b.opts.Topology.MessageTypes {
		b.topo.types[m] = true
	}
	for _, c := range b.opts.Topology.Contracts {
		b.topo.contracts[c.Name] = c.Messages
	}
	for _, s := range b.opts.Topology.Services {
		b.topo.services[s.Name] = s
	}
	b.queues = map[string]*queueState{}
	for _, name := range b.opts.Topology.Queues {
		b.queues[name] = newQueueState(name)
	}
	if err := b.loadQueues(ctx); err != nil {
		return fmt.Errorf("embedded: open %s: %w", path, err)
	}
	in, crashed, err := openInflight(filepath.Join(b.dir, "inflight"))
	if err != nil {
		return err
	}
	b.inflight = in
	if err := b.countCrashedReceives(ctx, crashed); err != nil {
		return fmt.Errorf("embedded: open %s: %w", path, err)
	}
	return nil
}

// checkHeader refuses a file that exists but is not a SQLite database, before
// SQLite sees it: nothing must overwrite a file we do not understand.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded: open %s: %w", path, err)
	}
	defer f.Close()
	var hdr [16]byte
	n, err := io.ReadFull(f, hdr[:])
	if n == 0 && (errors.Is(err, io.EOF)) {
		return nil // an empty file: SQLite initialises it
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("embedded: open %s: %w", path, err)
	}
	if !bytes.Equal(hdr[:n], []byte("SQLite format 3\x00")) {
		return fmt.Errorf("embedded: open %s: %w (its first bytes are %q); it was left untouched: restore it from a backup or move it aside to start empty", path, ErrCorrupt, hdr[:n])
	}
	return nil
}

func migrate(ctx context.Context, conn *sql.Conn) error {
	ms, err := sqlitescripts.Migrations()
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("schema_migrations: %w", translate(err))
	}
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("schema version: %w", translate(err))
	}
	if current > len(ms) {
		return fmt.Errorf("%w: the database is at version %d, this binary knows up to %d; run the newer binary", ErrSchemaTooNew, current, len(ms))
	}
	for _, m := range ms[current:] {
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, translate(err))
		}
		_, err := conn.ExecContext(ctx, m.SQL)
		if err == nil {
			_, err = conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", m.Version, m.Name, time.Now().UnixNano())
		}
		if err == nil {
			_, err = conn.ExecContext(ctx, "COMMIT")
		}
		if err != nil {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
			return fmt.Errorf("migration %s: %w", m.Name, translate(err))
		}
	}
	return nil
}

// loadQueues creates the topology's queue rows and reads their state.
func (b *Broker) loadQueues(ctx context.Context) error {
	return b.writeOp(ctx, func(ctx context.Context, c *sql.Conn) error {
		for name, q := range b.queues {
			if _, err := c.ExecContext(ctx, "INSERT INTO broker_queue (name) VALUES (?) ON CONFLICT (name) DO NOTHING", name); err != nil {
				return err
			}
			var enabled bool
			if err := c.QueryRowContext(ctx, "SELECT receive_enabled, consecutive_rollbacks FROM broker_queue WHERE name = ?", name).Scan(&enabled, &q.rollbacks); err != nil {
				return err
			}
			q.enabled = enabled
		}
		return nil
	})
}

// countCrashedReceives applies the poison rule to receives that a previous
// process left unfinished.
func (b *Broker) countCrashedReceives(ctx context.Context, crashed map[string]int) error {
	for name, n := range crashed {
		q := b.queues[name]
		if q == nil {
			continue
		}
		b.log.Warn().Str("queue", name).Int("transactions", n).
			Msg("transactions that had received from this queue did not finish (the process stopped); counting them as rolled back toward the poison rule")
		for range n {
			if err := b.countRollback(ctx, q); err != nil {
				return err
			}
		}
	}
	return b.inflight.reset()
}

// countRollback records one rolled-back receiving transaction on q, durably,
// and disables q at broker.PoisonThreshold.
func (b *Broker) countRollback(ctx context.Context, q *queueState) error {
	var n int
	var enabled bool
	err := b.writeOp(ctx, func(ctx context.Context, c *sql.Conn) error {
		return c.QueryRowContext(ctx, `UPDATE broker_queue
			SET consecutive_rollbacks = consecutive_rollbacks + 1,
			    receive_enabled = CASE WHEN consecutive_rollbacks + 1 >= ? THEN 0 ELSE receive_enabled END
			WHERE name = ? RETURNING consecutive_rollbacks, receive_enabled`, broker.PoisonThreshold, q.name).Scan(&n, &enabled)
	})
	if err != nil {
		return fmt.Errorf("count rollback on queue %s: %w", q.name, err)
	}
	q.mu.Lock()
	wasEnabled := q.enabled
	q.rollbacks, q.enabled = n, enabled
	q.signalLocked(len(q.waiters)) // waiters must see the queue disabled
	q.mu.Unlock()
	if wasEnabled && !enabled {
		b.log.Error().Str("queue", q.name).Int("rollbacks", n).
			Msg("queue disabled by the poison rule: receiving transactions rolled back repeatedly; remove the culprit message, then re-enable the queue")
	}
	return nil
}

// QueueStatus implements broker.Broker.
func (b *Broker) QueueStatus(ctx context.Context, queue string) (broker.QueueStatus, error) {
	q := b.queues[queue]
	if q == nil {
		return broker.QueueStatus{}, fmt.Errorf("embedded: queue status %q: %w", queue, broker.ErrUnknownQueue)
	}
	if b.isClosed() {
		return broker.QueueStatus{}, broker.ErrClosed
	}
	st := broker.QueueStatus{Name: queue}
	var oldest sql.NullInt64
	b.reads.Add(1)
	if err := b.rdb.QueryRowContext(ctx, "SELECT COUNT(*), MIN(enqueued_at) FROM broker_message WHERE queue = ?", queue).Scan(&st.Depth, &oldest); err != nil {
		return broker.QueueStatus{}, fmt.Errorf("embedded: queue status %q: %w", queue, translate(err))
	}
	if oldest.Valid {
		st.OldestEnqueuedAt = time.Unix(0, oldest.Int64)
	}
	q.mu.Lock()
	st.ReceiveEnabled, st.ConsecutiveRollbacks = q.enabled, q.rollbacks
	q.mu.Unlock()
	return st, nil
}

// EnableQueue implements broker.Broker.
func (b *Broker) EnableQueue(ctx context.Context, queue string) error {
	q := b.queues[queue]
	if q == nil {
		return fmt.Errorf("embedded: enable queue %q: %w", queue, broker.ErrUnknownQueue)
	}
	err := b.writeOp(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, "UPDATE broker_queue SET receive_enabled = 1, consecutive_rollbacks = 0 WHERE name = ?", queue)
		return err
	})
	if err != nil {
		return fmt.Errorf("embedded: enable queue %q: %w", queue, err)
	}
	q.mu.Lock()
	q.enabled, q.rollbacks = true, 0
	q.signalLocked(len(q.waiters))
	q.mu.Unlock()
	return nil
}

// Stats are counters for benchmarks and metrics.
type Stats struct {
	LogicalCommits  int64 // transactions committed
	PhysicalCommits int64 // SQLite commits, each one WAL fsync under FULL
	Statements      int64 // SQL statements the engine ran (writer and read pool), the callers' included
}

// Stats returns the engine's counters.
func (b *Broker) Stats() Stats {
	return Stats{LogicalCommits: b.w.logical.Load(), PhysicalCommits: b.w.physical.Load(), Statements: b.w.statements.Load() + b.reads.Load()}
}

func (b *Broker) isClosed() bool {
	select {
	case <-b.closing:
		return true
	default:
		return false
	}
}

// Close stops the committer and the timer loop and closes the database. A
// transaction still open fails with broker.ErrClosed.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.closing)
		if b.w != nil {
			b.w.close()
		}
		b.wg.Wait()
		err = b.closeStorage()
	})
	return err
}

func (b *Broker) closeStorage() error {
	var errs []error
	if b.w != nil {
		errs = append(errs, b.w.closeConn())
	}
	if b.db != nil {
		errs = append(errs, b.db.Close())
	}
	if b.receiveStmt != nil {
		errs = append(errs, b.receiveStmt.Close())
	}
	if b.rdb != nil {
		errs = append(errs, b.rdb.Close())
	}
	if b.inflight != nil {
		errs = append(errs, b.inflight.close())
	}
	if b.lock != nil {
		errs = append(errs, b.lock.Close()) // closing the descriptor drops the flock
	}
	return errors.Join(errs...)
}

// Begin implements broker.Broker.
func (b *Broker) Begin(ctx context.Context) (broker.Tx, error) {
	if b.isClosed() {
		return nil, broker.ErrClosed
	}
	return &tx{b: b, slots: map[*queueState]int{}}, nil
}

// Dir returns the data directory.
func (b *Broker) Dir() string { return b.dir }
