package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hartonomous/ooda/broker"
)

var _ broker.Tx = (*tx)(nil)

// tx is one logical transaction. See the package documentation for how it
// shares the writer.
type tx struct {
	b      *Broker
	done   bool
	doomed error // the first error: only Rollback is left

	sp          string // savepoint of this logical transaction, once it writes
	holdsWriter bool

	received   []received          // in receive order; truncated by RollbackTo
	slots      map[*queueState]int // queues received from (never truncated), with inflight slots
	woken      map[*queueState]int // messages this transaction sends, by queue
	timers     bool                // armed a timer
	savepoints []savepoint
	// eps caches the endpoints this transaction touched while it holds the
	// writer (nothing else can change them meanwhile). Their send sequence
	// advances in memory and is written once, by flushSeqs.
	eps map[broker.ID]*endpoint
}

type received struct {
	q     *queueState
	group broker.ID
	ids   []int64
}

type savepoint struct {
	name      string
	nReceived int
	sqlName   string // "" if taken before this transaction held the writer
}

func (t *tx) check() error {
	if t.done {
		return broker.ErrTxDone
	}
	if t.doomed != nil {
		return fmt.Errorf("embedded: the transaction was aborted by an earlier error; roll it back: %w", t.doomed)
	}
	if t.b.isClosed() {
		return broker.ErrClosed
	}
	return nil
}

// writer takes the write connection for the rest of the transaction.
func (t *tx) writer(ctx context.Context) error {
	if err := t.check(); err != nil {
		return err
	}
	if t.holdsWriter {
		return nil
	}
	if err := t.b.w.acquire(ctx); err != nil {
		return err
	}
	sp, err := t.b.w.beginLogical(ctx)
	if err != nil {
		t.b.w.release()
		return err
	}
	t.sp, t.holdsWriter = sp, true
	return nil
}

// doom records the first error of the transaction. As on SQL Server with
// XACT_ABORT ON, an error aborts the transaction: every later call returns
// it, Commit rolls back, and only Rollback is left.
func (t *tx) doom(err error) error {
	if err != nil && t.doomed == nil && !errors.Is(err, broker.ErrTxDone) {
		t.doomed = err
	}
	return err
}

// BeginDialog implements broker.Tx.
func (t *tx) BeginDialog(ctx context.Context, p *broker.BeginDialogParams) (broker.ID, error) {
	h, err := t.beginDialog(ctx, p)
	return h, t.doom(err)
}

// Send implements broker.Tx.
func (t *tx) Send(ctx context.Context, p *broker.SendParams) error { return t.doom(t.send(ctx, p)) }

// End implements broker.Tx.
func (t *tx) End(ctx context.Context, p *broker.EndParams) error { return t.doom(t.end(ctx, p)) }

// BeginTimer implements broker.Tx.
func (t *tx) BeginTimer(ctx context.Context, conversation broker.ID, d time.Duration) error {
	return t.doom(t.beginTimer(ctx, conversation, d))
}

// Receive implements broker.Tx.
func (t *tx) Receive(ctx context.Context, p *broker.ReceiveParams) ([]broker.Message, error) {
	msgs, err := t.receive(ctx, p)
	return msgs, t.doom(err)
}

// Savepoint implements broker.Tx.
func (t *tx) Savepoint(ctx context.Context, name string) error { return t.doom(t.savepoint(ctx, name)) }

// RollbackTo implements broker.Tx.
func (t *tx) RollbackTo(ctx context.Context, name string) error {
	return t.doom(t.rollbackTo(ctx, name))
}

// SQL implements broker.Tx.
func (t *tx) SQL(ctx context.Context) (broker.Querier, error) {
	q, err := t.sqlConn(ctx)
	return q, t.doom(err)
}

func (t *tx) wake(q *queueState) {
	if t.woken == nil {
		t.woken = map[*queueState]int{}
	}
	t.woken[q]++
}

func (t *tx) beginDialog(ctx context.Context, p *broker.BeginDialogParams) (broker.ID, error) {
	if err := t.check(); err != nil {
		return broker.ID{}, err
	}
	from, ok := t.b.topo.services[p.From]
	if !ok {
		return broker.ID{}, fmt.Errorf("embedded: begin dialog: from service %q: %w", p.From, broker.ErrUnknownService)
	}
	to, ok := t.b.topo.services[p.To]
	if !ok {
		return broker.ID{}, fmt.Errorf("embedded: begin dialog: to service %q: %w", p.To, broker.ErrUnknownService)
	}
	if _, ok := t.b.topo.contracts[p.Contract]; !ok {
		return broker.ID{}, fmt.Errorf("embedded: begin dialog: %w %q", broker.ErrUnknownContract, p.Contract)
	}
	accepts := false
	for _, c := range to.Contracts {
		accepts = accepts || c == p.Contract
	}
	if !accepts {
		return broker.ID{}, fmt.Errorf("embedded: begin dialog: service %q does not accept contract %q: %w", p.To, p.Contract, broker.ErrUnknownContract)
	}
	if err := t.writer(ctx); err != nil {
		return broker.ID{}, err
	}
	initiator, target := broker.NewID(), broker.NewID()
	group := p.RelatedGroup
	if group.IsZero() {
		group = broker.NewID()
	}
	now := time.Now().UnixNano()
	const ins = `INSERT INTO broker_endpoint (handle, far_handle, group_id, is_initiator, service, queue, contract, state, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'CO', ?)`
	if _, err := t.b.w.exec(ctx, ins, initiator[:], target[:], group[:], 1, from.Name, from.Queue, p.Contract, now); err != nil {
		return broker.ID{}, fmt.Errorf("embedded: begin dialog: %w", translate(err))
	}
	tg := broker.NewID()
	if _, err := t.b.w.exec(ctx, ins, target[:], initiator[:], tg[:], 0, to.Name, to.Queue, p.Contract, now); err != nil {
		return broker.ID{}, fmt.Errorf("embedded: begin dialog: %w", translate(err))
	}
	t.cache(&endpoint{handle: initiator, far: target, isInitiator: true, contract: p.Contract, state: "CO",
		queue: from.Queue, farGroup: tg, farQueue: to.Queue, farState: "CO", farExists: true})
	return initiator, nil
}

// endpoint is a conversation side joined with its far side.
type endpoint struct {
	handle, far broker.ID
	isInitiator bool
	contract    string
	state       string
	sendSeq     int64
	queue       string
	farGroup    broker.ID
	farQueue    string
	farState    string
	farExists   bool
	seqDirty    bool
}

func (t *tx) loadEndpoint(ctx context.Context, h broker.ID) (*endpoint, error) {
	if e, ok := t.eps[h]; ok {
		return e, nil
	}
	row, err := t.b.w.queryRow(ctx, `SELECT l.far_handle, l.is_initiator, l.contract, l.state, l.send_seq, l.queue,
			f.group_id, f.queue, f.state
		FROM broker_endpoint l LEFT JOIN broker_endpoint f ON f.handle = l.far_handle
		WHERE l.handle = ?`, h[:])
	if err != nil {
		return nil, translate(err)
	}
	e := &endpoint{handle: h}
	var far, farGroup []byte
	var farQueue, farState sql.NullString
	if err := row.Scan(&far, &e.isInitiator, &e.contract, &e.state, &e.sendSeq, &e.queue, &farGroup, &farQueue, &farState); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("conversation %s: %w", h, broker.ErrConversationNotFound)
		}
		return nil, translate(err)
	}
	copy(e.far[:], far)
	copy(e.farGroup[:], farGroup)
	e.farQueue, e.farState, e.farExists = farQueue.String, farState.String, farQueue.Valid
	t.cache(e)
	return e, nil
}

func (t *tx) cache(e *endpoint) {
	if t.eps == nil {
		t.eps = map[broker.ID]*endpoint{}
	}
	t.eps[e.handle] = e
}

// flushSeqs writes the send sequences advanced in memory (writer held).
func (t *tx) flushSeqs(ctx context.Context) error {
	for _, e := range t.eps {
		if !e.seqDirty {
			continue
		}
		if _, err := t.b.w.exec(ctx, `UPDATE broker_endpoint SET send_seq = ? WHERE handle = ?`, e.sendSeq, e.handle[:]); err != nil {
			return translate(err)
		}
		e.seqDirty = false
	}
	return nil
}

func stateError(h broker.ID, state, op string) error {
	var why string
	switch state {
	case "CD":
		why = "this side has ended it"
	case "DI":
		why = "the other side has ended it"
	case "ER":
		why = "the other side ended it with an error"
	default:
		why = "state " + state
	}
	return fmt.Errorf("conversation %s is not in a valid state for %s (%s): %w", h, op, why, broker.ErrConversationClosed)
}

// enqueue puts one message on the far side of e (writer held).
func (t *tx) enqueue(ctx context.Context, e *endpoint, msgType string, body []byte) error {
	if body == nil {
		body = []byte{} // SQL Server refuses a NULL body (8433); an empty one is allowed.
	}
	if _, err := t.b.w.exec(ctx, `INSERT INTO broker_message (queue, group_id, handle, seq, type, body, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.farQueue, e.farGroup[:], e.far[:], e.sendSeq, msgType, body, time.Now().UnixNano()); err != nil {
		return translate(err)
	}
	e.sendSeq++
	e.seqDirty = true
	if q := t.b.queues[e.farQueue]; q != nil {
		t.wake(q)
	}
	return nil
}

func (t *tx) send(ctx context.Context, p *broker.SendParams) error {
	if err := t.check(); err != nil {
		return err
	}
	if !t.b.topo.types[p.MessageType] {
		return fmt.Errorf("embedded: send on %s: message type %q is not declared: %w", p.Conversation, p.MessageType, broker.ErrUnknownMessageType)
	}
	if len(p.Body) > t.b.opts.MaxBodyBytes {
		return fmt.Errorf("embedded: send on %s: body of %d bytes is over the limit of %d: %w", p.Conversation, len(p.Body), t.b.opts.MaxBodyBytes, broker.ErrBodyTooLarge)
	}
	if err := t.writer(ctx); err != nil {
		return err
	}
	e, err := t.loadEndpoint(ctx, p.Conversation)
	if err != nil {
		return fmt.Errorf("embedded: send: %w", err)
	}
	if e.state != "CO" || !e.farExists {
		return fmt.Errorf("embedded: send: %w", stateError(p.Conversation, e.state, "SEND"))
	}
	by, ok := t.b.topo.contracts[e.contract][p.MessageType]
	if !ok {
		return fmt.Errorf("embedded: send on %s: message type %q is not part of contract %q: %w", p.Conversation, p.MessageType, e.contract, broker.ErrUnknownMessageType)
	}
	if (by == broker.SentByInitiator && !e.isInitiator) || (by == broker.SentByTarget && e.isInitiator) {
		return fmt.Errorf("embedded: send on %s: contract %q lets only the %s send %q: %w", p.Conversation, e.contract, map[broker.SentBy]string{broker.SentByInitiator: "initiator", broker.SentByTarget: "target"}[by], p.MessageType, broker.ErrWrongDirection)
	}
	if err := t.enqueue(ctx, e, p.MessageType, p.Body); err != nil {
		return fmt.Errorf("embedded: send on %s: %w", p.Conversation, err)
	}
	return nil
}

func (t *tx) end(ctx context.Context, p *broker.EndParams) error {
	if err := t.check(); err != nil {
		return err
	}
	if p.ErrorCode < 0 {
		return fmt.Errorf("embedded: end %s: error code %d: must be greater than 0 (0 ends without error): %w", p.Conversation, p.ErrorCode, broker.ErrInvalidArgument)
	}
	if p.ErrorCode == 0 && p.Description != "" {
		return fmt.Errorf("embedded: end %s: a description needs an error code > 0: %w", p.Conversation, broker.ErrInvalidArgument)
	}
	if utf8.RuneCountInString(p.Description) > 3000 {
		return fmt.Errorf("embedded: end %s: description longer than 3000 characters: %w", p.Conversation, broker.ErrInvalidArgument)
	}
	if err := t.writer(ctx); err != nil {
		return err
	}
	e, err := t.loadEndpoint(ctx, p.Conversation)
	if err != nil {
		return fmt.Errorf("embedded: end: %w", err)
	}
	if e.state == "CD" {
		return fmt.Errorf("embedded: end: %w", stateError(p.Conversation, e.state, "END CONVERSATION"))
	}
	// The rows change below; write the sequence and forget both sides.
	defer func() { delete(t.eps, e.handle); delete(t.eps, e.far) }()
	// "When a conversation ends, Service Broker removes all messages for the
	// conversation from the service queue" (END CONVERSATION), and its timer.
	for _, q := range []string{`DELETE FROM broker_message WHERE handle = ?`, `DELETE FROM broker_timer WHERE handle = ?`} {
		if _, err := t.b.w.exec(ctx, q, p.Conversation[:]); err != nil {
			return fmt.Errorf("embedded: end %s: %w", p.Conversation, translate(err))
		}
	}
	if e.state == "CO" && e.farExists {
		// The other side learns of it: EndDialog, or Error with our code.
		msgType, body, farState := broker.MessageTypeEndDialog, []byte{}, "DI"
		if p.ErrorCode > 0 {
			msgType, body, farState = broker.MessageTypeError, broker.ErrorBody(p.ErrorCode, p.Description), "ER"
		}
		if err := t.enqueue(ctx, e, msgType, body); err != nil {
			return fmt.Errorf("embedded: end %s: %w", p.Conversation, err)
		}
		if _, err := t.b.w.exec(ctx, `UPDATE broker_endpoint SET state = ? WHERE handle = ?`, farState, e.far[:]); err != nil {
			return fmt.Errorf("embedded: end %s: %w", p.Conversation, translate(err))
		}
		if _, err := t.b.w.exec(ctx, `UPDATE broker_endpoint SET state = 'CD', send_seq = ? WHERE handle = ?`, e.sendSeq, p.Conversation[:]); err != nil {
			return fmt.Errorf("embedded: end %s: %w", p.Conversation, translate(err))
		}
		return nil
	}
	// The other side ended first: both sides are done; forget the dialog.
	if _, err := t.b.w.exec(ctx, `DELETE FROM broker_endpoint WHERE handle IN (?, ?)`, p.Conversation[:], e.far[:]); err != nil {
		return fmt.Errorf("embedded: end %s: %w", p.Conversation, translate(err))
	}
	return nil
}

func (t *tx) beginTimer(ctx context.Context, conversation broker.ID, d time.Duration) error {
	if err := t.check(); err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("embedded: begin timer on %s: timeout %s must be positive: %w", conversation, d, broker.ErrInvalidArgument)
	}
	if err := t.writer(ctx); err != nil {
		return err
	}
	e, err := t.loadEndpoint(ctx, conversation)
	if err != nil {
		return fmt.Errorf("embedded: begin timer: %w", err)
	}
	if e.state == "CD" {
		return fmt.Errorf("embedded: begin timer: %w", stateError(conversation, e.state, "BEGIN CONVERSATION TIMER"))
	}
	if _, err := t.b.w.exec(ctx, `INSERT INTO broker_timer (handle, due_at) VALUES (?, ?)
		ON CONFLICT (handle) DO UPDATE SET due_at = excluded.due_at`, conversation[:], time.Now().Add(d).UnixNano()); err != nil {
		return fmt.Errorf("embedded: begin timer on %s: %w", conversation, translate(err))
	}
	t.timers = true
	return nil
}

func (t *tx) receive(ctx context.Context, p *broker.ReceiveParams) ([]broker.Message, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	q := t.b.queues[p.Queue]
	if q == nil {
		return nil, fmt.Errorf("embedded: receive: %w %q", broker.ErrUnknownQueue, p.Queue)
	}
	if p.Max < 1 {
		return nil, fmt.Errorf("embedded: receive from %s: max %d must be at least 1: %w", p.Queue, p.Max, broker.ErrInvalidArgument)
	}
	if p.Wait < 0 {
		return nil, fmt.Errorf("embedded: receive from %s: wait %s is negative: %w", p.Queue, p.Wait, broker.ErrInvalidArgument)
	}
	var timer <-chan time.Time
	// Waiting while holding the writer would keep every sender from
	// committing the message we wait for: a transaction that has written
	// receives without waiting.
	if p.Wait > 0 && !t.holdsWriter {
		tm := time.NewTimer(p.Wait)
		defer tm.Stop()
		timer = tm.C
	}
	poll := t.b.opts.PollInterval
	for {
		msgs, wake, err := t.tryReceive(ctx, q, p.Max, timer != nil && poll == 0)
		if err != nil || len(msgs) > 0 || timer == nil {
			return msgs, err
		}
		if poll > 0 { // the polling reference of benchmark B4
			select {
			case <-time.After(poll):
				q.mu.Lock()
				q.emptyOK = false
				q.mu.Unlock()
				continue
			case <-timer:
				return nil, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		select {
		case <-wake:
			continue
		case <-timer:
			err = nil
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.b.closing:
			err = broker.ErrClosed
		}
		q.cancelWait(wake)
		return nil, err
	}
}

// tryReceive picks the oldest unlocked conversation group with messages and
// locks it. It holds q.mu across the read so that choosing and locking a group
// is atomic. Finding nothing, it registers a waiter if asked to.
func (t *tx) tryReceive(ctx context.Context, q *queueState, max int, wait bool) ([]broker.Message, chan struct{}, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	empty := func() ([]broker.Message, chan struct{}, error) {
		if !wait {
			return nil, nil, nil
		}
		return nil, q.waitLocked(), nil
	}
	if !q.enabled {
		return nil, nil, fmt.Errorf("embedded: receive: the service queue %q is currently disabled (poison rule after %d rolled-back receives); re-enable it once the culprit is removed: %w", q.name, q.rollbacks, broker.ErrQueueDisabled)
	}
	if q.emptyOK && q.emptyGen == q.gen {
		return empty() // nothing changed since the queue was found empty
	}
	// Groups locked by other transactions are out of reach. So are our own
	// groups while we hold received messages of them; a group of ours whose
	// receives were rolled back to a savepoint can be received again (this
	// engine keeps the lock; SQL Server may release it, and the contract
	// promises neither).
	holding := map[broker.ID]bool{}
	for _, r := range t.received {
		if r.q == q {
			holding[r.group] = true
		}
	}
	locked := "[]"
	if len(q.locked) > 0 {
		hexes := make([]string, 0, len(q.locked))
		for g, owner := range q.locked {
			if owner != t || holding[g] {
				hexes = append(hexes, `"`+strings.ReplaceAll(g.String(), "-", "")+`"`)
			}
		}
		locked = "[" + strings.Join(hexes, ",") + "]"
	}
	t.b.reads.Add(1)
	rows, err := t.b.receiveStmt.QueryContext(ctx, q.name, locked, max)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded: receive from %s: %w", q.name, translate(err))
	}
	defer rows.Close()
	var (
		msgs []broker.Message
		ids  []int64
	)
	for rows.Next() {
		var (
			m                 broker.Message
			id, enq           int64
			group, handle     []byte
			service, contract sql.NullString
		)
		if err := rows.Scan(&id, &group, &handle, &m.Sequence, &m.Type, &m.Body, &enq, &service, &contract); err != nil {
			return nil, nil, fmt.Errorf("embedded: receive from %s: %w", q.name, translate(err))
		}
		copy(m.ConversationGroup[:], group)
		copy(m.Conversation[:], handle)
		m.Queue, m.EnqueuedAt, m.Service, m.Contract = q.name, time.Unix(0, enq), service.String, contract.String
		msgs = append(msgs, m)
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("embedded: receive from %s: %w", q.name, translate(err))
	}
	if len(msgs) == 0 {
		q.emptyGen, q.emptyOK = q.gen, true
		return empty()
	}
	if _, ok := t.slots[q]; !ok {
		slot, err := t.b.inflight.acquire(q.name)
		if err != nil {
			return nil, nil, err
		}
		t.slots[q] = slot
	}
	q.locked[msgs[0].ConversationGroup] = t
	t.received = append(t.received, received{q: q, group: msgs[0].ConversationGroup, ids: ids})
	if len(q.waiters) > 0 {
		q.signalLocked(1) // more may be receivable: pass the turn on
	}
	return groupByConversation(msgs), nil, nil
}

// receiveSQL picks the oldest message of the queue outside the locked groups
// (?2, a JSON array of hexadecimal group ids) and returns up to ?3 messages of
// its group, oldest first.
const receiveSQL = `SELECT m.id, m.group_id, m.handle, m.seq, m.type, m.body, m.enqueued_at, e.service, e.contract
	FROM broker_message m LEFT JOIN broker_endpoint e ON e.handle = m.handle
	WHERE m.group_id = (
		SELECT group_id FROM broker_message
		WHERE queue = ?1 AND group_id NOT IN (SELECT unhex(value) FROM json_each(?2))
		ORDER BY id LIMIT 1)
	AND m.queue = ?1
	ORDER BY m.id LIMIT ?3`

// groupByConversation orders a group's messages conversation by conversation
// (in order of each one's oldest message), keeping sequence order within each:
// "the RECEIVE statement returns all messages from one conversation before it
// returns messages for any other conversation" (RECEIVE).
func groupByConversation(msgs []broker.Message) []broker.Message {
	first := map[broker.ID]int{}
	for i, m := range msgs {
		if _, ok := first[m.Conversation]; !ok {
			first[m.Conversation] = i
		}
	}
	if len(first) == 1 {
		return msgs
	}
	out := make([]broker.Message, 0, len(msgs))
	done := map[broker.ID]bool{}
	for _, m := range msgs {
		if done[m.Conversation] {
			continue
		}
		done[m.Conversation] = true
		for _, n := range msgs[first[m.Conversation]:] {
			if n.Conversation == m.Conversation {
				out = append(out, n)
			}
		}
	}
	return out
}

func (t *tx) savepoint(ctx context.Context, name string) error {
	if err := t.check(); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("embedded: savepoint: empty name: %w", broker.ErrInvalidArgument)
	}
	sp := savepoint{name: name, nReceived: len(t.received)}
	if t.holdsWriter {
		if err := t.flushSeqs(ctx); err != nil {
			return fmt.Errorf("embedded: savepoint %q: %w", name, err)
		}
		sp.sqlName = "user_" + strconv.Itoa(len(t.savepoints)) // unique within the stack, reused across transactions
		if err := t.b.w.ctl(ctx, "SAVEPOINT "+sp.sqlName); err != nil {
			return fmt.Errorf("embedded: savepoint %q: %w", name, translate(err))
		}
	}
	t.savepoints = append(t.savepoints, sp)
	return nil
}

func (t *tx) rollbackTo(ctx context.Context, name string) error {
	if err := t.check(); err != nil {
		return err
	}
	i := len(t.savepoints) - 1
	for ; i >= 0 && t.savepoints[i].name != name; i-- {
	}
	if i < 0 {
		return fmt.Errorf("embedded: rollback to %q: %w", name, broker.ErrUnknownSavepoint)
	}
	sp := t.savepoints[i]
	t.savepoints = t.savepoints[:i+1] // the savepoint itself stays, as in SQL
	t.received = t.received[:sp.nReceived]
	if t.holdsWriter {
		target := sp.sqlName
		if target == "" {
			target = t.sp // everything this transaction wrote came after the savepoint
		}
		if err := t.b.w.ctl(ctx, "ROLLBACK TO "+target); err != nil {
			return fmt.Errorf("embedded: rollback to %q: %w", name, translate(err))
		}
		t.eps = nil // the savepoint wrote every sequence; reload what is needed

	}
	return nil
}

func (t *tx) sqlConn(ctx context.Context) (broker.Querier, error) {
	if err := t.writer(ctx); err != nil {
		return nil, err
	}
	return txConn{t}, nil
}

// txConn is the transaction's view of the writer connection. It runs the
// caller's statements to the end even if their context is cancelled (an
// interrupted write would roll back the shared physical transaction, see bg),
// and an error dooms the transaction like any other.
type txConn struct{ t *tx }

func (c txConn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	c.t.b.w.statements.Add(1)
	if err := c.t.check(); err != nil {
		return nil, err
	}
	st, err := c.t.b.w.stmt(ctx, q)
	if err != nil {
		return nil, c.t.doom(translate(err))
	}
	r, err := st.ExecContext(bg(ctx), args...)
	return r, c.t.doom(translate(err))
}

func (c txConn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	c.t.b.w.statements.Add(1)
	if err := c.t.check(); err != nil {
		return nil, err
	}
	st, err := c.t.b.w.stmt(ctx, q)
	if err != nil {
		return nil, c.t.doom(translate(err))
	}
	r, err := st.QueryContext(bg(ctx), args...)
	return r, c.t.doom(translate(err))
}

// QueryRowContext cannot see the row's error (it comes with Scan), so a
// failing single-row read does not doom the transaction; its error still
// reaches the caller.
func (c txConn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	c.t.b.w.statements.Add(1)
	return c.t.b.w.conn.QueryRowContext(bg(ctx), q, args...)
}

// Commit implements broker.Tx.
func (t *tx) Commit() error {
	if t.done {
		return broker.ErrTxDone
	}
	if t.doomed != nil {
		err := t.doomed
		_ = t.Rollback()
		return fmt.Errorf("embedded: commit: the transaction was aborted by an earlier error and has been rolled back: %w", err)
	}
	t.done = true
	ctx := context.Background()
	if t.b.isClosed() {
		t.abandon()
		return broker.ErrClosed
	}
	if len(t.received) == 0 && !t.holdsWriter {
		t.finish(false)
		return nil
	}
	if !t.holdsWriter {
		if err := t.b.w.acquire(ctx); err != nil {
			t.abandon()
			return err
		}
		sp, err := t.b.w.beginLogical(ctx)
		if err != nil {
			t.b.w.release()
			t.abandon()
			return fmt.Errorf("embedded: commit: %w", err)
		}
		t.sp, t.holdsWriter = sp, true
	}
	if err := t.applyReceives(ctx); err != nil {
		t.b.w.rollbackLogical(ctx, t.sp, err)
		t.b.w.release()
		t.holdsWriter = false
		t.finish(true)
		return fmt.Errorf("embedded: commit: %w", translate(err))
	}
	t.holdsWriter = false
	if err := t.b.w.commitLogical(ctx, t.sp); err != nil {
		t.finish(true)
		return fmt.Errorf("embedded: commit: %w", err)
	}
	for q := range t.slots {
		q.mu.Lock()
		q.rollbacks = 0
		q.mu.Unlock()
	}
	t.finish(false)
	return nil
}

// applyReceives writes the send sequences, deletes the received messages and
// resets the poison count of the queues they came from (writer held).
func (t *tx) applyReceives(ctx context.Context) error {
	if err := t.flushSeqs(ctx); err != nil {
		return err
	}
	var ids []int64
	for _, r := range t.received {
		ids = append(ids, r.ids...)
	}
	if len(ids) > 0 {
		js, _ := json.Marshal(ids)
		if _, err := t.b.w.exec(ctx, `DELETE FROM broker_message WHERE id IN (SELECT value FROM json_each(?))`, string(js)); err != nil {
			return err
		}
	}
	for q := range t.slots {
		q.mu.Lock()
		n := q.rollbacks
		q.mu.Unlock()
		if n == 0 {
			continue
		}
		if _, err := t.b.w.exec(ctx, `UPDATE broker_queue SET consecutive_rollbacks = 0 WHERE name = ?`, q.name); err != nil {
			return err
		}
	}
	return nil
}

// Rollback implements broker.Tx.
func (t *tx) Rollback() error {
	if t.done {
		return broker.ErrTxDone
	}
	t.done = true
	ctx := context.Background()
	if t.holdsWriter {
		t.b.w.rollbackLogical(ctx, t.sp, errors.New("rolled back"))
		t.b.w.release()
		t.holdsWriter = false
	}
	if t.b.isClosed() {
		t.abandon()
		return nil
	}
	t.finish(true)
	return nil
}

// finish releases what the transaction held and wakes whoever waits for it.
// rolledBack counts toward the poison rule of every queue it received from.
func (t *tx) finish(rolledBack bool) {
	ctx := context.Background()
	for q, slot := range t.slots {
		if rolledBack {
			if err := t.b.countRollback(ctx, q); err != nil {
				// The slot stays marked: the next Open counts this one.
				t.b.log.Error().Err(err).Str("queue", q.name).Msg("could not record a rolled-back receive toward the poison rule")
				q.unlockGroups(t)
				continue
			}
		}
		t.b.inflight.release(slot)
		q.unlockGroups(t)
	}
	if !rolledBack {
		for q, n := range t.woken {
			q.signal(n)
		}
		if t.timers {
			t.b.timers.poke()
		}
	}
}

// abandon drops in-memory state when the broker is closing; the durable state
// is what the last commit left.
func (t *tx) abandon() {
	for q := range t.slots {
		q.unlockGroups(t)
	}
}
