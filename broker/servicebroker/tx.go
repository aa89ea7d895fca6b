package servicebroker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf16"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/ooda/broker"
)

var _ broker.Tx = (*tx)(nil)

// tx is one transaction on one pooled connection.
type tx struct {
	b      *Broker
	sqlTx  *sql.Tx
	done   bool
	doomed error // the first error: only Rollback is left

	// savepoints is the stack of the caller's savepoint names; server names
	// are ours ("ooda_sp_<n>"), short enough for SAVE TRANSACTION's 32
	// characters whatever the caller's name.
	savepoints []savepoint
	nextSP     int
}

type savepoint struct{ name, server string }

func (t *tx) check() error {
	if t.done {
		return broker.ErrTxDone
	}
	if t.doomed != nil {
		return fmt.Errorf("servicebroker: the transaction was aborted by an earlier error; roll it back: %w", t.doomed)
	}
	if t.b.isClosed() {
		return fmt.Errorf("servicebroker: %w", broker.ErrClosed)
	}
	return nil
}

// doom records the first error. With XACT_ABORT ON the server has rolled
// the transaction back already (or will refuse to commit it): every later
// call returns that error, Commit rolls back and reports it.
func (t *tx) doom(err error) error {
	if err != nil && t.doomed == nil && !errors.Is(err, broker.ErrTxDone) {
		t.doomed = err
	}
	return err
}

// fail classifies a driver error for op, preferring ErrClosed and the
// context's error when either explains it.
func (t *tx) fail(ctx context.Context, op string, err error) error {
	switch {
	case t.b.isClosed():
		return fmt.Errorf("servicebroker: %s: %w (%v)", op, broker.ErrClosed, err)
	case ctx.Err() != nil:
		return fmt.Errorf("servicebroker: %s: %w (%v)", op, ctx.Err(), err)
	}
	_, classified := Classify(err)
	return fmt.Errorf("servicebroker: %s: %w", op, classified)
}

// stmtContext derives the context of one statement: it ends when Close
// starts, so that a pending WAITFOR does not outlive the broker.
func (t *tx) stmtContext(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(t.b.closing, cancel)
	return sctx, func() { stop(); cancel() }
}

// exec runs one statement of the transaction.
func (t *tx) exec(ctx context.Context, op, query string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("servicebroker: %s: %w", op, err)
	}
	sctx, cancel := t.stmtContext(ctx)
	defer cancel()
	if _, err := t.sqlTx.ExecContext(sctx, query, args...); err != nil {
		return t.fail(ctx, op, err)
	}
	return nil
}

// BeginDialog implements broker.Tx. Unknown services and contracts, and a
// target that does not accept the contract, are refused from the topology
// without a round trip.
func (t *tx) BeginDialog(ctx context.Context, p *broker.BeginDialogParams) (broker.ID, error) {
	h, err := t.beginDialog(ctx, p)
	return h, t.doom(err)
}

func (t *tx) beginDialog(ctx context.Context, p *broker.BeginDialogParams) (broker.ID, error) {
	if err := t.check(); err != nil {
		return broker.ID{}, err
	}
	if _, ok := t.b.services[p.From]; !ok {
		return broker.ID{}, fmt.Errorf("servicebroker: begin dialog: from service %q: %w", p.From, broker.ErrUnknownService)
	}
	to, ok := t.b.services[p.To]
	if !ok {
		return broker.ID{}, fmt.Errorf("servicebroker: begin dialog: to service %q: %w", p.To, broker.ErrUnknownService)
	}
	if _, ok := t.b.contracts[p.Contract]; !ok {
		return broker.ID{}, fmt.Errorf("servicebroker: begin dialog: %w %q", broker.ErrUnknownContract, p.Contract)
	}
	accepts := false
	for _, c := range to.Contracts {
		accepts = accepts || c == p.Contract
	}
	if !accepts {
		return broker.ID{}, fmt.Errorf("servicebroker: begin dialog: service %q does not accept contract %q: %w", p.To, p.Contract, broker.ErrUnknownContract)
	}
	ds := t.b.stmts.dialogs[dialogKey{p.From, p.Contract}]
	query, args := ds.plain, []any{sql.Named("to", p.To)}
	if !p.RelatedGroup.IsZero() {
		query, args = ds.related, append(args, sql.Named("group", Handle(p.RelatedGroup)))
	}
	op := fmt.Sprintf("begin dialog from %q to %q on %q", p.From, p.To, p.Contract)
	if err := ctx.Err(); err != nil {
		return broker.ID{}, fmt.Errorf("servicebroker: %s: %w", op, err)
	}
	sctx, cancel := t.stmtContext(ctx)
	defer cancel()
	var h mssql.UniqueIdentifier
	if err := t.sqlTx.QueryRowContext(sctx, query, args...).Scan(&h); err != nil {
		return broker.ID{}, t.fail(ctx, op, err)
	}
	return ID(h), nil
}

// Send implements broker.Tx. A body over MaxBodyBytes is refused before the
// server; a nil body is sent empty (SQL Server refuses a NULL one).
func (t *tx) Send(ctx context.Context, p *broker.SendParams) error { return t.doom(t.send(ctx, p)) }

func (t *tx) send(ctx context.Context, p *broker.SendParams) error {
	if err := t.check(); err != nil {
		return err
	}
	query, ok := t.b.stmts.sends[p.MessageType]
	if !ok {
		return fmt.Errorf("servicebroker: send on %s: message type %q is not in the topology: %w", p.Conversation, p.MessageType, broker.ErrUnknownMessageType)
	}
	if len(p.Body) > t.b.opts.MaxBodyBytes {
		return fmt.Errorf("servicebroker: send on %s: body of %d bytes is over the limit of %d: %w", p.Conversation, len(p.Body), t.b.opts.MaxBodyBytes, broker.ErrBodyTooLarge)
	}
	body := p.Body
	if body == nil {
		body = []byte{}
	}
	return t.exec(ctx, fmt.Sprintf("send %q on %s", p.MessageType, p.Conversation), query,
		sql.Named("h", Handle(p.Conversation)), sql.Named("body", body))
}

// End implements broker.Tx.
func (t *tx) End(ctx context.Context, p *broker.EndParams) error { return t.doom(t.end(ctx, p)) }

func (t *tx) end(ctx context.Context, p *broker.EndParams) error {
	if err := t.check(); err != nil {
		return err
	}
	op := fmt.Sprintf("end %s", p.Conversation)
	switch {
	case p.ErrorCode < 0:
		return fmt.Errorf("servicebroker: %s: error code %d: must be greater than 0 (0 ends without error; negative codes are Service Broker's): %w", op, p.ErrorCode, broker.ErrInvalidArgument)
	case p.ErrorCode > math.MaxInt32:
		return fmt.Errorf("servicebroker: %s: error code %d does not fit an int: %w", op, p.ErrorCode, broker.ErrInvalidArgument)
	case p.ErrorCode == 0 && p.Description != "":
		return fmt.Errorf("servicebroker: %s: a description needs an error code > 0: %w", op, broker.ErrInvalidArgument)
	case len(utf16.Encode([]rune(p.Description))) > 3000: // DESCRIPTION is nvarchar(3000)
		return fmt.Errorf("servicebroker: %s: description longer than 3000 UTF-16 code units: %w", op, broker.ErrInvalidArgument)
	}
	if p.ErrorCode == 0 {
		return t.exec(ctx, op, sqlEnd, sql.Named("h", Handle(p.Conversation)))
	}
	return t.exec(ctx, op, sqlEndWithError, sql.Named("h", Handle(p.Conversation)),
		sql.Named("code", int32(p.ErrorCode)), sql.Named("description", p.Description))
}

// BeginTimer implements broker.Tx. BEGIN CONVERSATION TIMER counts whole
// seconds: d is rounded up to the next second, so a sub-second timer fires
// after about 1 s, never earlier than asked.
func (t *tx) BeginTimer(ctx context.Context, conversation broker.ID, d time.Duration) error {
	return t.doom(t.beginTimer(ctx, conversation, d))
}

// timerSeconds rounds d up to whole seconds, within int.
func timerSeconds(d time.Duration) int32 {
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(s)
}

func (t *tx) beginTimer(ctx context.Context, conversation broker.ID, d time.Duration) error {
	if err := t.check(); err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("servicebroker: begin timer on %s: timeout %s must be positive: %w", conversation, d, broker.ErrInvalidArgument)
	}
	return t.exec(ctx, fmt.Sprintf("begin timer on %s", conversation), sqlBeginTimer,
		sql.Named("h", Handle(conversation)), sql.Named("seconds", timerSeconds(d)))
}

// Receive implements broker.Tx. One RECEIVE returns messages of one
// conversation group, which stays locked until the transaction ends. An
// empty result (the wait passed, or the server ended it early) is not an
// error.
func (t *tx) Receive(ctx context.Context, p *broker.ReceiveParams) ([]broker.Message, error) {
	msgs, err := t.receive(ctx, p)
	return msgs, t.doom(err)
}

// receiveWait returns the server TIMEOUT in milliseconds for a wait of w
// under a context whose deadline is dl (zero: none): rounded to the
// millisecond (at least 1 for a positive w), within int, and short enough
// to end receiveMargin before the deadline. ok is false when no WAITFOR is
// wanted.
func receiveWait(w time.Duration, dl time.Time, now time.Time) (ms int32, ok bool) {
	if !dl.IsZero() {
		if left := dl.Sub(now) - receiveMargin; w > left {
			w = left
		}
	}
	if w <= 0 {
		return 0, false
	}
	r := (w + time.Millisecond/2) / time.Millisecond
	switch {
	case r < 1:
		r = 1
	case r > math.MaxInt32:
		r = math.MaxInt32
	}
	return int32(r), true
}

func (t *tx) receive(ctx context.Context, p *broker.ReceiveParams) ([]broker.Message, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	q, ok := t.b.stmts.queues[p.Queue]
	if !ok {
		return nil, fmt.Errorf("servicebroker: receive: %w %q", broker.ErrUnknownQueue, p.Queue)
	}
	if p.Max < 1 {
		return nil, fmt.Errorf("servicebroker: receive from %s: max %d must be at least 1: %w", p.Queue, p.Max, broker.ErrInvalidArgument)
	}
	if p.Wait < 0 {
		return nil, fmt.Errorf("servicebroker: receive from %s: wait %s is negative: %w", p.Queue, p.Wait, broker.ErrInvalidArgument)
	}
	op := "receive from " + p.Queue
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("servicebroker: %s: %w", op, err)
	}
	max := int32(math.MaxInt32)
	if p.Max < math.MaxInt32 {
		max = int32(p.Max)
	}
	dl, _ := ctx.Deadline()
	ms, wait := receiveWait(p.Wait, dl, time.Now())
	query, args := q.receiveNow, []any{sql.Named("max", max)}
	sctx, cancel := t.stmtContext(ctx)
	defer cancel()
	if wait {
		query, args = q.receiveWait, append(args, sql.Named("timeout", ms))
		if dl.IsZero() {
			// Bound the call; a server that never answers is cut off
			// (an attention, which aborts the transaction).
			var cancelT context.CancelFunc
			sctx, cancelT = context.WithTimeout(sctx, time.Duration(ms)*time.Millisecond+receiveGrace)
			defer cancelT()
		}
	}
	rows, err := t.sqlTx.QueryContext(sctx, query, args...)
	if err != nil {
		return nil, t.fail(ctx, op, err)
	}
	// Read to the end: closing early sends an attention that aborts the
	// batch, and no other statement may run on the connection meanwhile.
	defer rows.Close()
	var msgs []broker.Message
	for rows.Next() {
		var r receivedRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, t.fail(ctx, op, err)
		}
		msgs = append(msgs, decodeRow(p.Queue, &r))
	}
	if err := rows.Err(); err != nil {
		return nil, t.fail(ctx, op, err)
	}
	return msgs, nil
}

// Savepoint implements broker.Tx (SAVE TRANSACTION).
func (t *tx) Savepoint(ctx context.Context, name string) error {
	return t.doom(t.savepoint(ctx, name))
}

func (t *tx) savepoint(ctx context.Context, name string) error {
	if err := t.check(); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("servicebroker: savepoint: empty name: %w", broker.ErrInvalidArgument)
	}
	t.nextSP++
	sp := savepoint{name: name, server: "ooda_sp_" + strconv.Itoa(t.nextSP)}
	if err := t.exec(ctx, fmt.Sprintf("savepoint %q", name), sqlSavepoint, sql.Named("sp", sp.server)); err != nil {
		return err
	}
	t.savepoints = append(t.savepoints, sp)
	return nil
}

// RollbackTo implements broker.Tx (ROLLBACK TRANSACTION to a savepoint):
// received messages return to the queue and the poison rule does not count
// it. The locks taken after the savepoint, the conversation group's among
// them, are released ("A ROLLBACK TRANSACTION statement specifying a
// savepoint_name releases any locks that are acquired beyond the
// savepoint", ROLLBACK TRANSACTION): another receiver may take the group.
func (t *tx) RollbackTo(ctx context.Context, name string) error {
	return t.doom(t.rollbackTo(ctx, name))
}

func (t *tx) rollbackTo(ctx context.Context, name string) error {
	if err := t.check(); err != nil {
		return err
	}
	i := len(t.savepoints) - 1
	for ; i >= 0 && t.savepoints[i].name != name; i-- {
	}
	if i < 0 {
		return fmt.Errorf("servicebroker: rollback to %q: %w", name, broker.ErrUnknownSavepoint)
	}
	if err := t.exec(ctx, fmt.Sprintf("rollback to %q", name), sqlRollbackTo, sql.Named("sp", t.savepoints[i].server)); err != nil {
		return err
	}
	t.savepoints = t.savepoints[:i+1] // the savepoint itself stays, as in SQL
	return nil
}

// SQL implements broker.Tx: the transaction itself. An error there aborts
// the transaction on the server (XACT_ABORT ON); the next call of this Tx
// or its Commit reports it.
func (t *tx) SQL(ctx context.Context) (broker.Querier, error) {
	if err := t.check(); err != nil {
		return nil, t.doom(err)
	}
	return t.sqlTx, nil
}

// Commit implements broker.Tx.
func (t *tx) Commit() error {
	if t.done {
		return broker.ErrTxDone
	}
	if t.doomed != nil {
		err := t.doomed
		_ = t.Rollback()
		return fmt.Errorf("servicebroker: commit: the transaction was aborted by an earlier error and has been rolled back: %w", err)
	}
	if t.b.isClosed() {
		_ = t.Rollback()
		return fmt.Errorf("servicebroker: commit: %w", broker.ErrClosed)
	}
	t.done = true
	if err := t.sqlTx.Commit(); err != nil {
		// A commit whose reply was lost has an unknown outcome: delivery
		// downstream is at least once.
		_, err = Classify(err)
		return fmt.Errorf("servicebroker: commit: %w", err)
	}
	return nil
}

// Rollback implements broker.Tx. It counts toward the poison rule of every
// queue the transaction received from.
func (t *tx) Rollback() error {
	if t.done {
		return broker.ErrTxDone
	}
	t.done = true
	err := t.sqlTx.Rollback()
	if err == nil || t.doomed != nil || t.b.isClosed() {
		// After an error XACT_ABORT has rolled back on the server already;
		// after Close the connection is going away with the transaction.
		return nil
	}
	_, err = Classify(err)
	return fmt.Errorf("servicebroker: rollback: %w", err)
}
