// Package brokertest is the contract suite every broker.Broker implementation
// must pass: Exercise runs it against a Harness. The embedded engine runs it
// always; the SQL Server backend runs it when OODA_TEST_MSSQL_DSN is set.
package brokertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/ooda/broker"
)

// Names of the suite's topology.
const (
	TypeRequest    = "//Hartonomous/Test/Request"
	TypeReply      = "//Hartonomous/Test/Reply"
	TypeAny        = "//Hartonomous/Test/Any"
	TypeUndeclared = "//Hartonomous/Test/Undeclared"
	ContractName   = "//Hartonomous/Test/Contract"
	InitiatorQueue = "TestInitiatorQueue"
	TargetQueue    = "TestTargetQueue"
	OtherQueue     = "TestOtherQueue"
	Initiator      = "//Hartonomous/Test/Initiator"
	Target         = "//Hartonomous/Test/Target"
	Other          = "//Hartonomous/Test/Other"
)

// Topology is what a harness's broker must serve.
func Topology() broker.Topology {
	return broker.Topology{
		MessageTypes: []string{TypeRequest, TypeReply, TypeAny},
		Contracts: []broker.Contract{{Name: ContractName, Messages: map[string]broker.SentBy{
			TypeRequest: broker.SentByInitiator,
			TypeReply:   broker.SentByTarget,
			TypeAny:     broker.SentByAny,
		}}},
		Queues: []string{InitiatorQueue, TargetQueue, OtherQueue},
		Services: []broker.Service{
			{Name: Initiator, Queue: InitiatorQueue},
			{Name: Target, Queue: TargetQueue, Contracts: []string{ContractName}},
			{Name: Other, Queue: OtherQueue},
		},
	}
}

// Harness adapts one implementation to the suite.
type Harness struct {
	// Open returns a broker serving Topology() on empty storage of its own,
	// and arranges its Close with t.Cleanup.
	Open func(t *testing.T) broker.Broker
	// Reopen closes b and opens the same storage again, as a restart would.
	Reopen func(t *testing.T, b broker.Broker) broker.Broker
	// MaxBodyBytes is the body limit the harness configured.
	MaxBodyBytes int
	// StateTableDDL creates table brokertest_state (k varchar(100) primary
	// key, v int) in the backend's dialect.
	StateTableDDL string
	// RollbackCountHidden says the backend cannot report the poison rule's
	// count of consecutive rollbacks (SQL Server does not expose it;
	// QueueStatus.ConsecutiveRollbacks stays 0). The checks of the count
	// are skipped; the rule itself (disabled after PoisonThreshold
	// rollbacks, message kept, re-enable) is still checked.
	RollbackCountHidden bool
}

// Exercise runs the whole contract suite.
func Exercise(t *testing.T, h Harness) {
	s := &suite{h: h}
	for _, c := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"SendReceiveCommit", s.sendReceiveCommit},
		{"OrderWithinConversation", s.orderWithinConversation},
		{"RollbackReturnsMessages", s.rollbackReturnsMessages},
		{"SavepointRollbackKeepsTransaction", s.savepointRollback},
		{"TimeoutReturnsEmpty", s.timeoutReturnsEmpty},
		{"WakeUpOnSend", s.wakeUpOnSend},
		{"GroupLockAcrossReceivers", s.groupLock},
		{"RelatedConversationGroup", s.relatedGroup},
		{"EndDialogDelivered", s.endDialogDelivered},
		{"ErrorDelivered", s.errorDelivered},
		{"ClosedAndUnknownConversations", s.closedAndUnknown},
		{"UnknownObjectsAndLimits", s.unknownObjects},
		{"ErrorAbortsTransaction", s.errorAbortsTransaction},
		{"StateWritesShareTheTransaction", s.stateWrites},
		{"TimerFires", s.timerFires},
		{"TimerRearmReplaces", s.timerRearm},
		{"TimerSurvivesReopen", s.timerSurvivesReopen},
		{"MessagesSurviveReopen", s.messagesSurviveReopen},
		{"PoisonRuleAndReenable", s.poisonRule},
		{"ConcurrentProducersConsumers", s.concurrent},
		{"Closed", s.closed},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t)
		})
	}
}

type suite struct{ h Harness }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func begin(t *testing.T, b broker.Broker) broker.Tx {
	t.Helper()
	tx, err := b.Begin(ctxFor(t))
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	return tx
}

func commit(t *testing.T, tx broker.Tx) {
	t.Helper()
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// dialog opens a dialog from Initiator to Target and commits.
func dialog(t *testing.T, b broker.Broker) broker.ID {
	t.Helper()
	tx := begin(t, b)
	h, err := tx.BeginDialog(ctxFor(t), &broker.BeginDialogParams{From: Initiator, To: Target, Contract: ContractName})
	if err != nil {
		t.Fatalf("begin dialog: %v", err)
	}
	commit(t, tx)
	return h
}

func send(t *testing.T, b broker.Broker, h broker.ID, msgType string, bodies ...string) {
	t.Helper()
	tx := begin(t, b)
	for _, body := range bodies {
		if err := tx.Send(ctxFor(t), &broker.SendParams{Conversation: h, MessageType: msgType, Body: []byte(body)}); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	commit(t, tx)
}

// receive receives in a transaction of its own and commits.
func receive(t *testing.T, b broker.Broker, queue string, max int, wait time.Duration) []broker.Message {
	t.Helper()
	tx := begin(t, b)
	msgs, err := tx.Receive(ctxFor(t), &broker.ReceiveParams{Queue: queue, Max: max, Wait: wait})
	if err != nil {
		t.Fatalf("receive from %s: %v", queue, err)
	}
	commit(t, tx)
	return msgs
}

func bodies(msgs []broker.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Body))
	}
	return out
}

func wantBodies(t *testing.T, msgs []broker.Message, want ...string) {
	t.Helper()
	if got := bodies(msgs); strings.Join(got, ",") != strings.Join(want, ",") || len(got) != len(want) {
		t.Fatalf("bodies = %q, want %q", got, want)
	}
}

func wantErr(t *testing.T, err, target error, mention string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
	if mention != "" && !strings.Contains(err.Error(), mention) {
		t.Fatalf("err = %q, want it to name %q", err, mention)
	}
}

func (s *suite) sendReceiveCommit(t *testing.T) {
	b := s.h.Open(t)
	h := dialog(t, b)
	send(t, b, h, TypeRequest, "one", "two", "three")

	msgs := receive(t, b, TargetQueue, 10, 0)
	wantBodies(t, msgs, "one", "two", "three")
	for i, m := range msgs {
		if m.Type != TypeRequest || m.Queue != TargetQueue || m.Service != Target || m.Contract != ContractName {
			t.Fatalf("message %d: %+v", i, m)
		}
		if m.Conversation != msgs[0].Conversation || m.ConversationGroup != msgs[0].ConversationGroup {
			t.Fatalf("message %d: different conversation or group in one batch", i)
		}
		if m.Conversation == h {
			t.Fatal("target side got the initiator's handle; each side has its own")
		}
		if m.EnqueuedAt.IsZero() {
			t.Fatalf("message %d has no enqueue time", i)
		}
	}
	// Committed: gone.
	if again := receive(t, b, TargetQueue, 10, 0); len(again) != 0 {
		t.Fatalf("after commit the queue still has %q", bodies(again))
	}
	// The target answers on its own handle; the reply reaches the initiator's queue on h.
	send(t, b, msgs[0].Conversation, TypeReply, "pong")
	replies := receive(t, b, InitiatorQueue, 10, 0)
	wantBodies(t, replies, "pong")
	if replies[0].Conversation != h || replies[0].Service != Initiator {
		t.Fatalf("reply arrived on %s at %s, want %s at %s", replies[0].Conversation, replies[0].Service, h, Initiator)
	}
}

func (s *suite) orderWithinConversation(t *testing.T) {
	b := s.h.Open(t)
	h := dialog(t, b)
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf("m%02d", i))
	}
	send(t, b, h, TypeAny, want...)
	var got []broker.Message
	for len(got) < len(want) {
		batch := receive(t, b, TargetQueue, 7, 0)
		if len(batch) == 0 || len(batch) > 7 {
			t.Fatalf("batch of %d after %d messages", len(batch), len(got))
		}
		got = append(got, batch...)
	}
	wantBodies(t, got, want...)
	for i := 1; i < len(got); i++ {
		if got[i].Sequence <= got[i-1].Sequence {
			t.Fatalf("sequence %d after %d", got[i].Sequence, got[i-1].Sequence)
		}
	}
}

func (s *suite) rollbackReturnsMessages(t *testing.T) {
	b := s.h.Open(t)
	send(t, b, dialog(t, b), TypeAny, "a", "b")
	tx := begin(t, b)
	msgs, err := tx.Receive(ctxFor(t), &broker.ReceiveParams{Queue: TargetQueue, Max: 10})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("receive: %d messages, %v", len(msgs), err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wantBodies(t, receive(t, b, TargetQueue, 10, 0), "a", "b")
	st, err := b.QueueStatus(ctxFor(t), TargetQueue)
	if err != nil {
		t.Fatal(err)
	}
	// The commit after the rollback reset the count.
	if st.ConsecutiveRollbacks != 0 || !st.ReceiveEnabled || st.Depth != 0 {
		t.Fatalf("status after rollback then commit: %+v", st)
	}
	if err := tx.Commit(); !errors.Is(err, broker.ErrTxDone) {
		t.Fatalf("commit after rollback: %v, want ErrTxDone", err)
	}
}

func (s *suite) savepointRollback(t *testing.T) {
	b := s.h.Open(t)
	h := dialog(t, b)
	send(t, b, h, TypeAny, "poison")
	ctx := ctxFor(t)

	// The documented poison-message pattern: savepoint, receive, fail,
	// roll back to the savepoint, record the failure, commit.
	tx := begin(t, b)
	if err := tx.Savepoint(ctx, "before_receive"); err != nil {
		t.Fatal(err)
	}
	msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 1})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d, %v", len(msgs), err)
	}
	if err := tx.Send(ctx, &broker.SendParams{Conversation: msgs[0].Conversation, MessageType: TypeReply, Body: []byte("undone")}); err != nil {
		t.Fatal(err)
	}
	if err := tx.RollbackTo(ctx, "before_receive"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(ctx, &broker.SendParams{Conversation: msgs[0].Conversation, MessageType: TypeReply, Body: []byte("failure noted")}); err != nil {
		t.Fatal(err)
	}
	// The group is still ours: the same transaction receives the message
	// again (how a handler gives up on it after its last attempt).
	again, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 1})
	if err != nil || len(again) != 1 || again[0].Conversation != msgs[0].Conversation || again[0].Sequence != msgs[0].Sequence {
		t.Fatalf("receiving again after the rollback to a savepoint: %+v %v", again, err)
	}
	// Another transaction meanwhile finds the group locked.
	other := begin(t, b)
	if got, err := other.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 1}); err != nil || len(got) != 0 {
		t.Fatalf("a second transaction received from a locked group: %+v %v", got, err)
	}
	commit(t, other)
	if err := tx.RollbackTo(ctx, "no_such_savepoint"); !errors.Is(err, broker.ErrUnknownSavepoint) {
		t.Fatalf("rollback to unknown savepoint: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	// Again, and this time commit.
	tx = begin(t, b)
	if err := tx.Savepoint(ctx, "sp"); err != nil {
		t.Fatal(err)
	}
	if msgs, err = tx.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 1}); err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d, %v", len(msgs), err)
	}
	if err := tx.Send(ctx, &broker.SendParams{Conversation: msgs[0].Conversation, MessageType: TypeReply, Body: []byte("undone")}); err != nil {
		t.Fatal(err)
	}
	if err := tx.RollbackTo(ctx, "sp"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(ctx, &broker.SendParams{Conversation: msgs[0].Conversation, MessageType: TypeReply, Body: []byte("failure noted")}); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	wantBodies(t, receive(t, b, TargetQueue, 10, 0), "poison") // back in the queue
	wantBodies(t, receive(t, b, InitiatorQueue, 10, 0), "failure noted")
	st, err := b.QueueStatus(ctx, TargetQueue)
	if err != nil {
		t.Fatal(err)
	}
	if st.ConsecutiveRollbacks != 0 {
		t.Fatalf("a savepoint rollback counted toward the poison rule: %+v", st)
	}
}

func (s *suite) timeoutReturnsEmpty(t *testing.T) {
	b := s.h.Open(t)
	tx := begin(t, b)
	defer tx.Rollback()
	msgs, err := tx.Receive(ctxFor(t), &broker.ReceiveParams{Queue: TargetQueue, Max: 5, Wait: 50 * time.Millisecond})
	if err != nil || len(msgs) != 0 {
		t.Fatalf("receive on an empty queue: %d messages, err %v; want none and no error", len(msgs), err)
	}
	// Cancelling the context ends a wait with the context's error.
	ctx, cancel := context.WithCancel(ctxFor(t))
	cancel()
	tx2 := begin(t, b)
	defer tx2.Rollback()
	if _, err := tx2.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 1, Wait: time.Hour}); !errors.Is(err, context.Canceled) {
		t.Fatalf("receive with a cancelled context: %v", err)
	}
}

func (s *suite) wakeUpOnSend(t *testing.T) {
	b := s.h.Open(t)
	h := dialog(t, b)
	got := make(chan []broker.Message, 1)
	errc := make(chan error, 1)
	go func() {
		tx, err := b.Begin(ctxFor(t))
		if err != nil {
			errc <- err
			return
		}
		// Far longer than the test may take: only a wake-up ends this wait with a message.
		msgs, err := tx.Receive(ctxFor(t), &broker.ReceiveParams{Queue: TargetQueue, Max: 10, Wait: 50 * time.Second})
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			errc <- err
			return
		}
		got <- msgs
	}()
	send(t, b, h, TypeAny, "wake")
	select {
	case msgs := <-got:
		wantBodies(t, msgs, "wake")
	case err := <-errc:
		t.Fatal(err)
	}
}

func (s *suite) groupLock(t *testing.T) {
	b := s.h.Open(t)
	ctx := ctxFor(t)
	g1, g2 := dialog(t, b), dialog(t, b)
	send(t, b, g1, TypeAny, "g1-a")
	send(t, b, g2, TypeAny, "g2-a")

	tx1 := begin(t, b)
	m1, err := tx1.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	wantBodies(t, m1, "g1-a") // the oldest group first
	// A new message for the locked group, committed while tx1 holds it.
	send(t, b, g1, TypeAny, "g1-b")

	// A second receiver gets the other group only, concurrently with tx1.
	tx2 := begin(t, b)
	m2, err := tx2.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 10, Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	wantBodies(t, m2, "g2-a")
	commit(t, tx2)
	// Nothing else is receivable while tx1 holds g1.
	tx3 := begin(t, b)
	m3, err := tx3.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 10, Wait: 100 * time.Millisecond})
	if err != nil || len(m3) != 0 {
		t.Fatalf("receive while the only group with messages is locked: %q, %v", bodies(m3), err)
	}
	commit(t, tx3)
	commit(t, tx1)
	wantBodies(t, receive(t, b, TargetQueue, 10, time.Second), "g1-b")
}

func (s *suite) relatedGroup(t *testing.T) {
	b := s.h.Open(t)
	ctx := ctxFor(t)
	tx := begin(t, b)
	h1, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: Initiator, To: Target, Contract: ContractName})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	send(t, b, h1, TypeRequest, "r1")
	first := receive(t, b, TargetQueue, 1, 0)
	send(t, b, first[0].Conversation, TypeReply, "reply1")
	group := receive(t, b, InitiatorQueue, 1, 0)[0].ConversationGroup

	tx = begin(t, b)
	h2, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: Initiator, To: Target, Contract: ContractName, RelatedGroup: group})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	send(t, b, h1, TypeRequest, "x1")
	send(t, b, h2, TypeRequest, "x2")
	// Each target endpoint has a group of its own: two receives.
	a, c := receive(t, b, TargetQueue, 10, 0), receive(t, b, TargetQueue, 10, 0)
	if len(a) != 1 || len(c) != 1 {
		t.Fatalf("target side: %q then %q", bodies(a), bodies(c))
	}
	send(t, b, a[0].Conversation, TypeReply, "y-"+string(a[0].Body))
	send(t, b, c[0].Conversation, TypeReply, "y-"+string(c[0].Body))
	// Both replies are in the initiator's one group: one receive takes both,
	// conversation by conversation.
	both := receive(t, b, InitiatorQueue, 10, 0)
	if len(both) != 2 || both[0].ConversationGroup != group || both[1].ConversationGroup != group {
		t.Fatalf("related group: got %d messages %q", len(both), bodies(both))
	}
	if both[0].Conversation == both[1].Conversation {
		t.Fatal("two conversations expected in one group")
	}
}

func (s *suite) endDialogDelivered(t *testing.T) {
	b := s.h.Open(t)
	ctx := ctxFor(t)
	h := dialog(t, b)
	send(t, b, h, TypeRequest, "hello")
	target := receive(t, b, TargetQueue, 1, 0)[0].Conversation
	send(t, b, target, TypeReply, "left unread")

	tx := begin(t, b)
	if err := tx.End(ctx, &broker.EndParams{Conversation: h}); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	// Ending removed the initiator's unread messages of the conversation.
	if left := receive(t, b, InitiatorQueue, 10, 0); len(left) != 0 {
		t.Fatalf("after END the initiator queue still has %q", bodies(left))
	}
	msgs := receive(t, b, TargetQueue, 10, 0)
	if len(msgs) != 1 || msgs[0].Type != broker.MessageTypeEndDialog || len(msgs[0].Body) != 0 || msgs[0].Conversation != target {
		t.Fatalf("target got %+v, want one empty EndDialog on its handle", msgs)
	}
	tx = begin(t, b)
	if err := tx.End(ctx, &broker.EndParams{Conversation: target}); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	if left := receive(t, b, InitiatorQueue, 10, 0); len(left) != 0 {
		t.Fatalf("the second END sent %q to a side that had ended", bodies(left))
	}
}

func (s *suite) errorDelivered(t *testing.T) {
	b := s.h.Open(t)
	ctx := ctxFor(t)
	h := dialog(t, b)
	send(t, b, h, TypeRequest, "do it")
	target := receive(t, b, TargetQueue, 1, 0)[0].Conversation
	tx := begin(t, b)
	if err := tx.End(ctx, &broker.EndParams{Conversation: target, ErrorCode: 50001, Description: "could not <do> it"}); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	msgs := receive(t, b, InitiatorQueue, 10, 0)
	if len(msgs) != 1 || msgs[0].Type != broker.MessageTypeError || msgs[0].Conversation != h {
		t.Fatalf("initiator got %+v, want one Error", msgs)
	}
	code, desc, err := broker.ParseErrorBody(msgs[0].Body)
	if err != nil || code != 50001 || desc != "could not <do> it" {
		t.Fatalf("error body: %d %q %v", code, desc, err)
	}
	tx = begin(t, b)
	err = tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: TypeRequest})
	wantErr(t, err, broker.ErrConversationClosed, h.String())
	_ = tx.Rollback()
	tx = begin(t, b)
	if err := tx.End(ctx, &broker.EndParams{Conversation: h}); err != nil {
		t.Fatalf("ending after an Error: %v", err)
	}
	commit(t, tx)
	tx = begin(t, b)
	err = tx.End(ctx, &broker.EndParams{Conversation: target, ErrorCode: -1})
	wantErr(t, err, broker.ErrInvalidArgument, "")
	_ = tx.Rollback()
}

func (s *suite) closedAndUnknown(t *testing.T) {
	b := s.h.Open(t)
	ctx := ctxFor(t)
	unknown := broker.NewID()
	try := func(name string, target error, mention string, fn func(tx broker.Tx) error) {
		t.Helper()
		tx := begin(t, b)
		defer tx.Rollback()
		err := fn(tx)
		if !errors.Is(err, target) || (mention != "" && !strings.Contains(err.Error(), mention)) {
			t.Fatalf("%s: err = %v, want %v naming %q", name, err, target, mention)
		}
	}
	try("send on unknown", broker.ErrConversationNotFound, unknown.String(), func(tx broker.Tx) error {
		return tx.Send(ctx, &broker.SendParams{Conversation: unknown, MessageType: TypeAny})
	})
	try("end unknown", broker.ErrConversationNotFound, unknown.String(), func(tx broker.Tx) error {
		return tx.End(ctx, &broker.EndParams{Conversation: unknown})
	})
	try("timer on unknown", broker.ErrConversationNotFound, unknown.String(), func(tx broker.Tx) error {
		return tx.BeginTimer(ctx, unknown, time.Second)
	})

	h := dialog(t, b)
	send(t, b, h, TypeAny, "x")
	target := receive(t, b, TargetQueue, 1, 0)[0].Conversation
	tx := begin(t, b)
	if err := tx.End(ctx, &broker.EndParams{Conversation: h}); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	try("send after own end", broker.ErrConversationClosed, h.String(), func(tx broker.Tx) error {
		return tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: TypeAny})
	})
	try("end twice", broker.ErrConversationClosed, h.String(), func(tx broker.Tx) error {
		return tx.End(ctx, &broker.EndParams{Conversation: h})
	})
	try("timer after own end", broker.ErrConversationClosed, h.String(), func(tx broker.Tx) error {
		return tx.BeginTimer(ctx, h, time.Second)
	})
	try("send after the other side ended", broker.ErrConversationClosed, target.String(), func(tx broker.Tx) error {
		return tx.Send(ctx, &broker.SendParams{Conversation: target, MessageType: TypeAny})
	})
}

func (s *suite) unknownObjects(t *testing.T) {
	b := s.h.Open(t)
	ctx := ctxFor(t)
	h := dialog(t, b)
	try := func(name string, target error, mention string, fn func(tx broker.Tx) error) {
		t.Helper()
		tx := begin(t, b)
		defer tx.Rollback()
		if err := fn(tx); !errors.Is(err, target) || !strings.Contains(err.Error(), mention) {
			t.Fatalf("%s: err = %v, want %v naming %q", name, err, target, mention)
		}
	}
	try("unknown queue", broker.ErrUnknownQueue, "NoSuchQueue", func(tx broker.Tx) error {
		_, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: "NoSuchQueue", Max: 1})
		return err
	})
	if _, err := b.QueueStatus(ctx, "NoSuchQueue"); !errors.Is(err, broker.ErrUnknownQueue) {
		t.Fatalf("status of unknown queue: %v", err)
	}
	try("unknown target service", broker.ErrUnknownService, "//nowhere", func(tx broker.Tx) error {
		_, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: Initiator, To: "//nowhere", Contract: ContractName})
		return err
	})
	try("unknown contract", broker.ErrUnknownContract, "//no/contract", func(tx broker.Tx) error {
		_, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: Initiator, To: Target, Contract: "//no/contract"})
		return err
	})
	try("service without the contract", broker.ErrUnknownContract, Other, func(tx broker.Tx) error {
		_, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: Initiator, To: Other, Contract: ContractName})
		return err
	})
	try("message type not in contract", broker.ErrUnknownMessageType, TypeUndeclared, func(tx broker.Tx) error {
		return tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: TypeUndeclared})
	})
	try("wrong direction", broker.ErrWrongDirection, TypeReply, func(tx broker.Tx) error {
		return tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: TypeReply})
	})
	try("body over the limit", broker.ErrBodyTooLarge, fmt.Sprint(s.h.MaxBodyBytes), func(tx broker.Tx) error {
		return tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: TypeAny, Body: make([]byte, s.h.MaxBodyBytes+1)})
	})
	try("max below one", broker.ErrInvalidArgument, "max", func(tx broker.Tx) error {
		_, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue})
		return err
	})
	// Exactly at the limit is fine, and nothing refused above reached the queue.
	full := bytes.Repeat([]byte{'x'}, s.h.MaxBodyBytes)
	tx := begin(t, b)
	if err := tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: TypeAny, Body: full}); err != nil {
		t.Fatalf("body at the limit: %v", err)
	}
	commit(t, tx)
	msgs := receive(t, b, TargetQueue, 10, 0)
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Body, full) {
		t.Fatalf("after refused sends the queue holds %d messages", len(msgs))
	}
}

func (s *suite) errorAbortsTransaction(t *testing.T) {
	b := s.h.Open(t)
	ctx := ctxFor(t)
	h := dialog(t, b)
	send(t, b, h, TypeAny, "keep me")
	tx := begin(t, b)
	if _, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 1}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: TypeAny, Body: []byte("sent before the error")}); err != nil {
		t.Fatal(err)
	}
	first := tx.Send(ctx, &broker.SendParams{Conversation: broker.NewID(), MessageType: TypeAny})
	if first == nil {
		t.Fatal("send on an unknown conversation succeeded")
	}
	if err := tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: TypeAny}); !errors.Is(err, broker.ErrConversationNotFound) {
		t.Fatalf("a call after an error: %v, want the first error again", err)
	}
	if err := tx.Commit(); !errors.Is(err, broker.ErrConversationNotFound) {
		t.Fatalf("commit after an error: %v, want the first error", err)
	}
	wantBodies(t, receive(t, b, TargetQueue, 10, 0), "keep me")
}

func (s *suite) stateWrites(t *testing.T) {
	b := s.h.Open(t)
	ctx := ctxFor(t)
	tx := begin(t, b)
	q, err := tx.SQL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.ExecContext(ctx, s.h.StateTableDDL); err != nil {
		t.Fatalf("create state table: %v", err)
	}
	commit(t, tx)
	h := dialog(t, b)
	send(t, b, h, TypeRequest, "step")

	count := func() int {
		tx := begin(t, b)
		defer tx.Rollback()
		q, err := tx.SQL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM brokertest_state").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	step := func(finish func(broker.Tx) error) {
		tx := begin(t, b)
		msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 1})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("receive: %d %v", len(msgs), err)
		}
		q, err := tx.SQL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.ExecContext(ctx, "INSERT INTO brokertest_state (k, v) VALUES (@k, @v)", sqlNamed("k", "step"), sqlNamed("v", 1)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Send(ctx, &broker.SendParams{Conversation: msgs[0].Conversation, MessageType: TypeReply, Body: []byte("done")}); err != nil {
			t.Fatal(err)
		}
		if err := finish(tx); err != nil {
			t.Fatal(err)
		}
	}
	step(broker.Tx.Rollback)
	if n := count(); n != 0 {
		t.Fatalf("rolled back: state has %d rows", n)
	}
	if got := receive(t, b, InitiatorQueue, 10, 0); len(got) != 0 {
		t.Fatalf("rolled back: reply %q was sent", bodies(got))
	}
	step(broker.Tx.Commit)
	if n := count(); n != 1 {
		t.Fatalf("committed: state has %d rows", n)
	}
	wantBodies(t, receive(t, b, InitiatorQueue, 10, 0), "done")
	if left := receive(t, b, TargetQueue, 10, 0); len(left) != 0 {
		t.Fatalf("committed: request %q still queued", bodies(left))
	}
}

func (s *suite) timerFires(t *testing.T) {
	b := s.h.Open(t)
	h := dialog(t, b)
	tx := begin(t, b)
	if err := tx.BeginTimer(ctxFor(t), h, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	msgs := receive(t, b, InitiatorQueue, 10, 30*time.Second)
	if len(msgs) != 1 || msgs[0].Type != broker.MessageTypeDialogTimer || msgs[0].Conversation != h || len(msgs[0].Body) != 0 {
		t.Fatalf("got %+v, want one empty DialogTimer on the initiator's handle", msgs)
	}
	if other := receive(t, b, TargetQueue, 10, 0); len(other) != 0 {
		t.Fatalf("the timer reached the other side: %+v", other)
	}
}

func (s *suite) timerRearm(t *testing.T) {
	b := s.h.Open(t)
	h := dialog(t, b)
	tx := begin(t, b)
	if err := tx.BeginTimer(ctxFor(t), h, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := tx.BeginTimer(ctxFor(t), h, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	if msgs := receive(t, b, InitiatorQueue, 10, 30*time.Second); len(msgs) != 1 || msgs[0].Type != broker.MessageTypeDialogTimer {
		t.Fatalf("got %+v, want one DialogTimer", msgs)
	}
	// Re-arming replaced the hour-long timer: nothing else is armed. Arm a
	// short one on the other conversation side and check that it alone fires.
	target := dialogTarget(t, b, h)
	tx = begin(t, b)
	if err := tx.BeginTimer(ctxFor(t), target, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	if msgs := receive(t, b, TargetQueue, 10, 30*time.Second); len(msgs) != 1 || msgs[0].Conversation != target {
		t.Fatalf("target timer: %+v", msgs)
	}
	if msgs := receive(t, b, InitiatorQueue, 10, 0); len(msgs) != 0 {
		t.Fatalf("a replaced timer fired too: %+v", msgs)
	}
}

// dialogTarget learns the target-side handle of h by a round trip.
func dialogTarget(t *testing.T, b broker.Broker, h broker.ID) broker.ID {
	t.Helper()
	send(t, b, h, TypeRequest, "who are you")
	return receive(t, b, TargetQueue, 1, 0)[0].Conversation
}

func (s *suite) timerSurvivesReopen(t *testing.T) {
	b := s.h.Open(t)
	h := dialog(t, b)
	tx := begin(t, b)
	if err := tx.BeginTimer(ctxFor(t), h, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	b = s.h.Reopen(t, b)
	msgs := receive(t, b, InitiatorQueue, 10, 30*time.Second)
	if len(msgs) != 1 || msgs[0].Type != broker.MessageTypeDialogTimer || msgs[0].Conversation != h {
		t.Fatalf("after reopen got %+v, want the DialogTimer", msgs)
	}
}

func (s *suite) messagesSurviveReopen(t *testing.T) {
	b := s.h.Open(t)
	h := dialog(t, b)
	send(t, b, h, TypeAny, "durable-1", "durable-2")
	b = s.h.Reopen(t, b)
	wantBodies(t, receive(t, b, TargetQueue, 10, 0), "durable-1", "durable-2")
	send(t, b, h, TypeAny, "after reopen")
	wantBodies(t, receive(t, b, TargetQueue, 10, 0), "after reopen")
}

func (s *suite) poisonRule(t *testing.T) {
	b := s.h.Open(t)
	ctx := ctxFor(t)
	h := dialog(t, b)
	send(t, b, h, TypeAny, "poison")
	rollback := func() {
		t.Helper()
		tx := begin(t, b)
		msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 1})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("receive: %d %v", len(msgs), err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
	status := func() broker.QueueStatus {
		t.Helper()
		st, err := b.QueueStatus(ctx, TargetQueue)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	countIs := func(st broker.QueueStatus, n int) bool {
		return s.h.RollbackCountHidden || st.ConsecutiveRollbacks == n
	}
	for i := 1; i < broker.PoisonThreshold; i++ {
		rollback()
		if st := status(); !countIs(st, i) || !st.ReceiveEnabled {
			t.Fatalf("after %d rollbacks: %+v", i, st)
		}
	}
	// A committed receive resets the count: the rule counts consecutive rollbacks.
	send(t, b, h, TypeAny, "good")
	wantBodies(t, receive(t, b, TargetQueue, 10, 0), "poison", "good")
	if st := status(); st.ConsecutiveRollbacks != 0 {
		t.Fatalf("after a commit: %+v", st)
	}
	send(t, b, h, TypeAny, "poison again")
	for range broker.PoisonThreshold {
		rollback()
	}
	st := status()
	if st.ReceiveEnabled || !countIs(st, broker.PoisonThreshold) || st.Depth != 1 {
		t.Fatalf("after %d rollbacks: %+v, want disabled with the message kept", broker.PoisonThreshold, st)
	}
	tx := begin(t, b)
	_, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 1, Wait: time.Second})
	wantErr(t, err, broker.ErrQueueDisabled, TargetQueue)
	_ = tx.Rollback()
	// Sending to a disabled queue still works; nothing is lost.
	send(t, b, h, TypeAny, "while disabled")
	if err := b.EnableQueue(ctx, TargetQueue); err != nil {
		t.Fatal(err)
	}
	if st := status(); !st.ReceiveEnabled || st.ConsecutiveRollbacks != 0 {
		t.Fatalf("after enable: %+v", st)
	}
	wantBodies(t, receive(t, b, TargetQueue, 10, 0), "poison again", "while disabled")
	if err := b.EnableQueue(ctx, "NoSuchQueue"); !errors.Is(err, broker.ErrUnknownQueue) {
		t.Fatalf("enable unknown queue: %v", err)
	}
}

func (s *suite) concurrent(t *testing.T) {
	b := s.h.Open(t)
	ctx := ctxFor(t)
	const producers, perProducer, consumers = 4, 60, 4
	var handles []broker.ID
	for range producers {
		handles = append(handles, dialog(t, b))
	}
	var wg sync.WaitGroup
	errc := make(chan error, producers+consumers)
	for p, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perProducer; i += 3 {
				tx, err := b.Begin(ctx)
				if err != nil {
					errc <- err
					return
				}
				for j := i; j < i+3; j++ {
					if err := tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: TypeAny, Body: fmt.Appendf(nil, "%d/%03d", p, j)}); err != nil {
						errc <- err
						_ = tx.Rollback()
						return
					}
				}
				if err := tx.Commit(); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		last = map[string]string{}
	)
	total := producers * perProducer
	for range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				done := len(seen) >= total
				mu.Unlock()
				if done {
					return
				}
				tx, err := b.Begin(ctx)
				if err != nil {
					errc <- err
					return
				}
				msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: TargetQueue, Max: 5, Wait: 100 * time.Millisecond})
				if err == nil {
					err = tx.Commit()
				} else {
					_ = tx.Rollback()
				}
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				for _, m := range msgs {
					body := string(m.Body)
					seen[body]++
					p := body[:strings.IndexByte(body, '/')]
					if prev := last[p]; prev >= body {
						errc <- fmt.Errorf("producer %s: %s received after %s", p, body, prev)
					}
					last[p] = body
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if len(seen) != total {
		t.Fatalf("received %d distinct messages, want %d", len(seen), total)
	}
	for body, n := range seen {
		if n != 1 {
			t.Fatalf("%s received %d times", body, n)
		}
	}
}

func (s *suite) closed(t *testing.T) {
	b := s.h.Open(t)
	tx := begin(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Begin(ctxFor(t)); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("begin after close: %v", err)
	}
	if _, err := tx.Receive(ctxFor(t), &broker.ReceiveParams{Queue: TargetQueue, Max: 1}); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("receive on a transaction of a closed broker: %v", err)
	}
	_ = tx.Rollback()
}
