package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hartonomous/ooda/broker"
)

// writer owns the single write connection. Holding sem is owning the
// connection; a logical transaction holds it from its first write to its
// commit or rollback, inside a savepoint of the physical transaction.
//
// Group commit: a logical commit releases its savepoint, adds itself to
// pending, wakes the committer and hands the connection on. The committer
// queues for the connection like any writer; when it gets it, every logical
// transaction that went before it is in pending, and one COMMIT (one fsync)
// makes all of them durable. Nobody returns from Commit before that.
type writer struct {
	sem  chan struct{}
	conn *sql.Conn
	kick chan struct{}
	stop chan struct{}

	// Guarded by sem.
	inTx    bool
	pending []*member
	stmts   map[string]*sql.Stmt

	logical    atomic.Int64
	physical   atomic.Int64
	statements atomic.Int64 // SQL statements run on the writer connection
	stopOnce   sync.Once
}

// member is one logical transaction waiting for its physical commit.
type member struct {
	done chan struct{}
	err  error
}

func newWriter(conn *sql.Conn) *writer {
	return &writer{
		sem:   make(chan struct{}, 1),
		conn:  conn,
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		stmts: map[string]*sql.Stmt{},
	}
}

// bg strips cancellation: a statement interrupted by a cancelled context makes
// SQLite roll back the whole physical transaction, which other logical
// transactions share. Writer statements are short; they always run to the end.
func bg(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (w *writer) acquire(ctx context.Context) error {
	select {
	case <-w.stop:
		return broker.ErrClosed
	default:
	}
	select {
	case w.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.stop:
		return broker.ErrClosed
	}
}

func (w *writer) release() { <-w.sem }

// maxStmts bounds the prepared-statement cache; callers' SQL is meant to be a
// fixed set of statements, so the bound only guards against a caller that
// builds statement text dynamically.
const maxStmts = 256

// stmt returns a prepared statement on the writer connection (sem held).
func (w *writer) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := w.stmts[query]; ok {
		return s, nil
	}
	s, err := w.conn.PrepareContext(bg(ctx), query)
	if err != nil {
		return nil, err
	}
	if len(w.stmts) >= maxStmts {
		for k, old := range w.stmts {
			_ = old.Close()
			delete(w.stmts, k)
			break
		}
	}
	w.stmts[query] = s
	return s, nil
}

func (w *writer) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	w.statements.Add(1)
	s, err := w.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(bg(ctx), args...)
}

// ctl runs a transaction-control statement, prepared once (sem held).
func (w *writer) ctl(ctx context.Context, stmt string) error {
	_, err := w.exec(ctx, stmt)
	return err
}

func (w *writer) queryRow(ctx context.Context, query string, args ...any) (*sql.Row, error) {
	w.statements.Add(1)
	s, err := w.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryRowContext(bg(ctx), args...), nil
}

// beginLogical opens the physical transaction if needed and a savepoint for
// one logical transaction (sem held).
func (w *writer) beginLogical(ctx context.Context) (string, error) {
	if !w.inTx {
		if err := w.ctl(ctx, "BEGIN IMMEDIATE"); err != nil {
			return "", translate(err)
		}
		w.inTx = true
	}
	// Logical transactions follow each other on the connection, never nest:
	// one savepoint name serves them all, and its statements stay prepared.
	const sp = "logical_tx"
	if err := w.ctl(ctx, "SAVEPOINT "+sp); err != nil {
		w.abortPhysical(ctx, err)
		return "", translate(err)
	}
	return sp, nil
}

// rollbackLogical undoes one logical transaction (sem held). If SQLite has
// already rolled back the whole physical transaction (it does so on some
// errors, such as SQLITE_FULL during a write), the savepoint is gone and every
// logical transaction waiting for that physical commit fails too.
func (w *writer) rollbackLogical(ctx context.Context, sp string, cause error) {
	err := w.ctl(ctx, "ROLLBACK TO "+sp)
	if err == nil {
		err = w.ctl(ctx, "RELEASE "+sp)
	}
	if err != nil {
		w.abortPhysical(ctx, cause)
		return
	}
	if len(w.pending) == 0 {
		// Nothing else rides on the physical transaction: end it now rather
		// than leave it open (it holds SQLite's write lock and blocks
		// checkpoints).
		if err := w.ctl(ctx, "ROLLBACK"); err != nil {
			w.abortPhysical(ctx, cause)
			return
		}
		w.inTx = false
	}
}

// abortPhysical rolls back the physical transaction and fails every logical
// transaction waiting for it (sem held).
func (w *writer) abortPhysical(ctx context.Context, cause error) {
	_, _ = w.conn.ExecContext(bg(ctx), "ROLLBACK") // may say no transaction is active
	w.inTx = false
	err := fmt.Errorf("embedded: the shared commit was rolled back by a failed write: %w", translate(cause))
	for _, m := range w.pending {
		m.err = err
		close(m.done)
	}
	w.pending = nil
}

// commitLogical releases the savepoint, hands the connection on and waits for
// the physical commit (sem held on entry, released on return).
func (w *writer) commitLogical(ctx context.Context, sp string) error {
	if err := w.ctl(ctx, "RELEASE "+sp); err != nil {
		w.rollbackLogical(ctx, sp, err)
		w.release()
		return translate(err)
	}
	m := &member{done: make(chan struct{})}
	w.pending = append(w.pending, m)
	w.release()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	<-m.done
	if m.err == nil {
		w.logical.Add(1)
	}
	return m.err
}

// runCommitter commits the physical transaction whenever logical commits are
// pending, until stop; then it commits what is left and returns.
func (w *writer) runCommitter() {
	for {
		select {
		case <-w.kick:
		case <-w.stop:
			w.sem <- struct{}{}
			w.flush()
			w.release()
			return
		}
		w.sem <- struct{}{}
		w.flush()
		w.release()
	}
}

// flush commits the physical transaction (sem held).
func (w *writer) flush() {
	batch := w.pending
	w.pending = nil
	if len(batch) == 0 {
		return
	}
	var err error
	if w.inTx {
		if err = w.ctl(context.Background(), "COMMIT"); err != nil {
			_, _ = w.conn.ExecContext(context.Background(), "ROLLBACK")
			err = fmt.Errorf("embedded: commit: %w", translate(err))
		} else {
			w.physical.Add(1)
		}
		w.inTx = false
	}
	for _, m := range batch {
		m.err = err
		close(m.done)
	}
}

// writeOp runs fn as a logical transaction of its own and waits for its
// physical commit.
func (b *Broker) writeOp(ctx context.Context, fn func(context.Context, *sql.Conn) error) error {
	w := b.w
	if err := w.acquire(ctx); err != nil {
		return err
	}
	sp, err := w.beginLogical(ctx)
	if err != nil {
		w.release()
		return err
	}
	w.statements.Add(1) // at least one; writeOps are the rare paths (timers, poison counts)
	if err := fn(bg(ctx), w.conn); err != nil {
		w.rollbackLogical(ctx, sp, err)
		w.release()
		return translate(err)
	}
	return w.commitLogical(ctx, sp)
}

func (w *writer) close() { w.stopOnce.Do(func() { close(w.stop) }) }

func (w *writer) closeConn() error {
	for _, s := range w.stmts {
		_ = s.Close()
	}
	return w.conn.Close()
}
