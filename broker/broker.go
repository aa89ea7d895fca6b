package broker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// System message types. SQL Server spells them with http:// (some current
// documentation pages print https://, which the server does not send).
const (
	MessageTypeEndDialog   = "http://schemas.microsoft.com/SQL/ServiceBroker/EndDialog"
	MessageTypeError       = "http://schemas.microsoft.com/SQL/ServiceBroker/Error"
	MessageTypeDialogTimer = "http://schemas.microsoft.com/SQL/ServiceBroker/DialogTimer"
)

// PoisonThreshold is the number of consecutive rolled-back receiving
// transactions after which a queue stops accepting RECEIVE ("Removing poison
// messages": "When a transaction that contains a RECEIVE statement rolls back
// five times, Service Broker disables all queues that the transaction received
// messages from").
const PoisonThreshold = 5

// Sentinel errors. Backends wrap them (errors.Is works) with the names of the
// objects involved. The SQL Server error number each one stands for is given.
var (
	ErrUnknownQueue         = errors.New("unknown queue")                      // queue not in the topology
	ErrUnknownService       = errors.New("unknown service")                    // 8440-class: target service not found
	ErrUnknownContract      = errors.New("unknown contract")                   // contract missing or not bound to the target service
	ErrUnknownMessageType   = errors.New("message type not in contract")       // 8431
	ErrWrongDirection       = errors.New("message type not sent by this side") // 8432 / 8434
	ErrBodyTooLarge         = errors.New("message body too large")             // our own limit
	ErrConversationNotFound = errors.New("conversation not found")             // 8426
	ErrConversationClosed   = errors.New("conversation closed")                // 8427 / 8429 / 8458
	ErrQueueDisabled        = errors.New("queue disabled")                     // 9617
	ErrInvalidArgument      = errors.New("invalid argument")                   // a parameter out of its range
	ErrTxDone               = errors.New("transaction already committed or rolled back")
	ErrClosed               = errors.New("broker closed")
	ErrStorageFull          = errors.New("storage full") // SQLITE_FULL / ENOSPC, SQL Server 1105 / 9002
	ErrUnknownSavepoint     = errors.New("unknown savepoint")
)

// SentBy says which side of a dialog may send a message type (CREATE CONTRACT
// ... SENT BY INITIATOR | TARGET | ANY).
type SentBy int

const (
	SentByAny SentBy = iota
	SentByInitiator
	SentByTarget
)

// Contract names the message types a dialog may carry and who sends each.
type Contract struct {
	Name     string
	Messages map[string]SentBy
}

// Service is an addressable endpoint bound to a queue and to the contracts it
// accepts as a target.
type Service struct {
	Name      string
	Queue     string
	Contracts []string
}

// Topology is the set of objects a broker serves. The embedded engine creates
// them; SQL Server must already have them (sql/mssql scripts) and the backend
// checks that it does.
type Topology struct {
	MessageTypes []string
	Contracts    []Contract
	Queues       []string
	Services     []Service
}

// Validate checks that every name is set and every reference resolves.
func (t Topology) Validate() error {
	types := map[string]bool{}
	for _, m := range t.MessageTypes {
		if err := checkName("message type", m); err != nil {
			return err
		}
		types[m] = true
	}
	contracts := map[string]bool{}
	for _, c := range t.Contracts {
		if err := checkName("contract", c.Name); err != nil {
			return err
		}
		if len(c.Messages) == 0 {
			return fmt.Errorf("broker: topology: contract %q names no message types", c.Name)
		}
		for m, by := range c.Messages {
			if !types[m] {
				return fmt.Errorf("broker: topology: contract %q: %w %q (declare it in MessageTypes)", c.Name, ErrUnknownMessageType, m)
			}
			if by < SentByAny || by > SentByTarget {
				return fmt.Errorf("broker: topology: contract %q: message type %q: invalid SentBy %d", c.Name, m, by)
			}
		}
		contracts[c.Name] = true
	}
	queues := map[string]bool{}
	for _, q := range t.Queues {
		if err := checkName("queue", q); err != nil {
			return err
		}
		queues[q] = true
	}
	for _, s := range t.Services {
		if err := checkName("service", s.Name); err != nil {
			return err
		}
		if !queues[s.Queue] {
			return fmt.Errorf("broker: topology: service %q: %w %q", s.Name, ErrUnknownQueue, s.Queue)
		}
		for _, c := range s.Contracts {
			if !contracts[c] {
				return fmt.Errorf("broker: topology: service %q: %w %q", s.Name, ErrUnknownContract, c)
			}
		}
	}
	return nil
}

// checkName enforces the limit Service Broker sets on names (128 characters
// for message types and contracts; we use it for every object).
func checkName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("broker: topology: empty %s name", kind)
	}
	if len([]rune(name)) > 128 {
		return fmt.Errorf("broker: topology: %s name %q is longer than 128 characters", kind, name)
	}
	return nil
}

// Message is one received message.
type Message struct {
	Queue             string
	Service           string // the local service the message arrived at
	Contract          string
	ConversationGroup ID
	Conversation      ID // the local handle: pass it to Send, End, BeginTimer
	Sequence          int64
	Type              string
	Body              []byte
	EnqueuedAt        time.Time
}

// BeginDialogParams opens a dialog (BEGIN DIALOG CONVERSATION).
type BeginDialogParams struct {
	From     string // initiating service
	To       string // target service
	Contract string
	// RelatedGroup, when set, puts the initiator's endpoint in that existing
	// conversation group (WITH RELATED_CONVERSATION_GROUP).
	RelatedGroup ID
}

// SendParams sends one message (SEND ON CONVERSATION).
type SendParams struct {
	Conversation ID
	MessageType  string
	Body         []byte // nil is sent as an empty body (SQL Server refuses NULL, 8433)
}

// ReceiveParams receives from a queue (WAITFOR (RECEIVE TOP (Max) ...), TIMEOUT Wait).
type ReceiveParams struct {
	Queue string
	Max   int           // at least 1
	Wait  time.Duration // 0: do not wait
}

// EndParams ends this side of a conversation (END CONVERSATION).
type EndParams struct {
	Conversation ID
	// ErrorCode > 0 ends WITH ERROR: the other side receives an Error message
	// carrying the code and Description instead of EndDialog.
	ErrorCode   int
	Description string
}

// QueueStatus is what a queue looks like from outside.
type QueueStatus struct {
	Name                 string
	ReceiveEnabled       bool
	ConsecutiveRollbacks int
	Depth                int64     // messages waiting
	OldestEnqueuedAt     time.Time // zero when empty
}

// Querier runs SQL inside a transaction: *sql.Tx and *sql.Conn satisfy it.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Broker is a set of durable queues with Service Broker semantics.
type Broker interface {
	// Begin starts a transaction. Commit or Rollback must follow.
	Begin(ctx context.Context) (Tx, error)
	// QueueStatus reports a queue's state; ErrUnknownQueue if there is none.
	QueueStatus(ctx context.Context, queue string) (QueueStatus, error)
	// EnableQueue turns receiving back on after the poison rule turned it off
	// (ALTER QUEUE ... WITH STATUS = ON) and resets the rollback count.
	EnableQueue(ctx context.Context, queue string) error
	// Close releases the broker. Open transactions fail with ErrClosed.
	Close() error
}

// Tx is one transaction. Its methods are not safe for concurrent use.
//
// Any error from a Tx method aborts the transaction, as SQL Server does with
// XACT_ABORT ON (which the SQL Server backend sets): later calls return that
// error, Commit rolls back and reports it, and only Rollback is left. A Receive
// that times out is not an error.
type Tx interface {
	BeginDialog(ctx context.Context, p *BeginDialogParams) (ID, error)
	Send(ctx context.Context, p *SendParams) error
	// Receive returns up to p.Max messages of one conversation group, waiting
	// up to p.Wait for one to arrive. No message and no error means the wait
	// passed (or ended early). The group stays locked until the Tx ends.
	Receive(ctx context.Context, p *ReceiveParams) ([]Message, error)
	End(ctx context.Context, p *EndParams) error
	// BeginTimer arms this side's conversation timer; re-arming replaces it.
	BeginTimer(ctx context.Context, conversation ID, d time.Duration) error
	// Savepoint marks a point that RollbackTo returns to (SAVE TRANSACTION).
	Savepoint(ctx context.Context, name string) error
	// RollbackTo undoes everything since the savepoint, including receives
	// (their messages return to the queue), without ending the transaction
	// and without counting toward the poison rule. Whether the group stays
	// locked depends on the backend: SQL Server releases the locks taken
	// after the savepoint (ROLLBACK TRANSACTION, "Locking behavior"), so
	// another receiver may take those messages; callers must not count on
	// receiving them again in this transaction.
	RollbackTo(ctx context.Context, name string) error
	// SQL returns the transaction's own connection, for the caller's state
	// writes that must commit with the queue operations.
	SQL(ctx context.Context) (Querier, error)
	Commit() error
	Rollback() error
}

// InTx runs fn in a transaction of its own and commits it; an error from fn
// (or from the commit) rolls it back and is returned. fn gets the
// transaction's SQL connection for the caller's state writes. The
// transaction runs to its end even if ctx is cancelled midway.
func InTx(ctx context.Context, b Broker, fn func(tx Tx, q Querier) error) error {
	ctx = context.WithoutCancel(ctx)
	tx, err := b.Begin(ctx)
	if err != nil {
		return err
	}
	q, err := tx.SQL(ctx)
	if err == nil {
		err = fn(tx, q)
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
