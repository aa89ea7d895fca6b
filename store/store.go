// Package store is the state contract of the OODA loop: cycles and their
// steps, actions, the event outbox, dead letters, delivery attempts and
// settings. Writes take the stage transaction's own connection
// (broker.Tx.SQL), so that they commit with the queue operations or not at
// all; reads for operators go through a Reader that never blocks the writer.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf16"

	"github.com/hartonomous/ooda/broker"
)

// ErrNotFound is returned for an unknown cycle, approval or dead letter.
var ErrNotFound = errors.New("not found")

// ErrApprovalClosed is returned when deciding an approval that was already
// decided or has expired.
var ErrApprovalClosed = errors.New("approval closed")

// ErrIntentExists is returned (wrapped, with the id) by RecordIntent when an
// intent with that id is already recorded.
var ErrIntentExists = errors.New("intent already recorded")

// Cycle statuses.
const (
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
)

// Cycle is one pass of the loop, from trigger to outcome.
type Cycle struct {
	ID         string     `json:"id"`
	Key        string     `json:"key,omitempty"`
	Source     string     `json:"source"`
	Reason     string     `json:"reason"`
	Status     string     `json:"status"`
	Stage      string     `json:"stage"`
	Error      string     `json:"error,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Step is what one stage concluded.
type Step struct {
	Stage     string          `json:"stage"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
}

// Action is one decision carried out (or not).
type Action struct {
	ID        string          `json:"id"`
	CycleID   string          `json:"cycle_id"`
	Type      string          `json:"type"`
	Target    string          `json:"target"`
	Tier      int             `json:"tier"`
	Status    string          `json:"status"`
	Detail    string          `json:"detail,omitempty"`
	Before    json.RawMessage `json:"before,omitempty"`
	After     json.RawMessage `json:"after,omitempty"`
	Undo      string          `json:"undo,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	// Result is set by validation: improved, neutral, regressed or failed.
	Result      string     `json:"result,omitempty"`
	ValidatedAt *time.Time `json:"validated_at,omitempty"`
}

// ActionStats counts validation results of one action type.
type ActionStats struct {
	Type      string `json:"type"`
	Improved  int    `json:"improved"`
	Neutral   int    `json:"neutral"`
	Regressed int    `json:"regressed"`
	// Failed counts actions whose validation found them failed (the
	// action or its check did not complete).
	Failed int `json:"failed"`
}

// Validation results, as RecordResult accepts them.
const (
	ResultImproved  = "improved"
	ResultNeutral   = "neutral"
	ResultRegressed = "regressed"
	ResultFailed    = "failed"
)

// MaxIntentID is the longest intent id, in UTF-16 code units: SQL Server's
// key column is nvarchar(450). Every store refuses longer ids, so that both
// engines agree, and SQL Server's before the statement would fail (and,
// with XACT_ABORT ON, the transaction with it).
const MaxIntentID = 450

// CheckIntentID refuses an empty intent id or one longer than MaxIntentID.
func CheckIntentID(id string) error {
	n := 0
	for _, r := range id {
		n += utf16.RuneLen(r)
	}
	switch {
	case id == "":
		return errors.New("store: record intent: empty id")
	case n > MaxIntentID:
		return fmt.Errorf("store: record intent %.40q…: id of %d UTF-16 code units, at most %d", id, n, MaxIntentID)
	}
	return nil
}

// ValidResult reports whether r is one of the four validation results.
func ValidResult(r string) bool {
	switch r {
	case ResultImproved, ResultNeutral, ResultRegressed, ResultFailed:
		return true
	}
	return false
}

// ReadingSample is one recorded reading: the history that baselines are
// computed from.
type ReadingSample struct {
	Name   string    `json:"name"`
	Object string    `json:"object"`
	Value  float64   `json:"value"`
	At     time.Time `json:"at"`
}

// Event is one outbox row: published to NATS after commit.
type Event struct {
	Seq       int64           `json:"-"`
	ID        string          `json:"id"`
	Kind      string          `json:"kind"`
	CycleID   string          `json:"cycle_id"`
	CreatedAt time.Time       `json:"time"`
	Data      json.RawMessage `json:"data"`
}

// DeadLetter is a message the loop gave up on, with why.
type DeadLetter struct {
	ID           int64      `json:"id"`
	Queue        string     `json:"queue"`
	MessageType  string     `json:"message_type"`
	Conversation string     `json:"conversation"`
	Body         []byte     `json:"body"`
	Reason       string     `json:"reason"`
	Attempts     int        `json:"attempts"`
	CreatedAt    time.Time  `json:"created_at"`
	RedrivenAt   *time.Time `json:"redriven_at,omitempty"`
}

// Approval statuses. An approval past its expiry is reported as expired.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
	ApprovalExpired  = "expired"
)

// Approval is a decision waiting for (or given) an operator's word.
type Approval struct {
	ID             string          `json:"id"`
	CycleID        string          `json:"cycle_id"`
	Action         string          `json:"action"`
	Object         string          `json:"object"`
	Tier           int             `json:"tier"`
	Hypothesis     json.RawMessage `json:"hypothesis"`
	Reason         string          `json:"reason"`
	Status         string          `json:"status"`
	RequestedAt    time.Time       `json:"requested_at"`
	ExpiresAt      time.Time       `json:"expires_at"`
	DecidedBy      string          `json:"decided_by,omitempty"`
	DecidedAt      *time.Time      `json:"decided_at,omitempty"`
	DecisionReason string          `json:"decision_reason,omitempty"`
}

// Intent is slow work on the target that a stage has decided to do and not
// yet finished (DESIGN.md §5): recorded in a short transaction before the
// work starts, taken (deleted) in the transaction that records its result.
// An intent still present after its owner is gone (a crash) is resumed from
// its envelope.
type Intent struct {
	// ID is unique, e.g. "conversation/sequence" of the message that
	// carried the work: not empty, at most 450 UTF-16 code units (SQL
	// Server's key); RecordIntent refuses other ids on both engines.
	ID      string `json:"id"`
	CycleID string `json:"cycle_id"`
	Stage   string `json:"stage"`
	// Envelope is the message body to resume from, byte for byte.
	Envelope  []byte    `json:"envelope"`
	CreatedAt time.Time `json:"created_at"`
}

// CycleDetail is a cycle with everything recorded about it.
type CycleDetail struct {
	Cycle
	Steps   []Step   `json:"steps"`
	Actions []Action `json:"actions"`
}

// Writer writes inside a stage transaction (q is broker.Tx.SQL).
type Writer interface {
	// StartCycle records a new running cycle. If c.Key is set and a cycle
	// with that key is still running, it returns that one and started=false.
	StartCycle(ctx context.Context, q broker.Querier, c Cycle) (got Cycle, started bool, err error)
	// AdvanceCycle records that stage finished; status is running, completed or failed.
	AdvanceCycle(ctx context.Context, q broker.Querier, id, stage, status, errText string, now time.Time) error
	RecordStep(ctx context.Context, q broker.Querier, cycleID, stage string, payload json.RawMessage, now time.Time) error
	// RecordAction records an action, or updates it (an approved one that
	// ran): an action that acts (executed, failed) takes a.CreatedAt as
	// when it acted, which cooldowns and budgets count from.
	RecordAction(ctx context.Context, q broker.Querier, a Action) error
	AddEvent(ctx context.Context, q broker.Querier, e Event) error
	// FailedAttempt counts one failed delivery of a message and returns the count.
	FailedAttempt(ctx context.Context, q broker.Querier, key, errText string) (int, error)
	ClearAttempts(ctx context.Context, q broker.Querier, key string) error
	AddDeadLetter(ctx context.Context, q broker.Querier, d DeadLetter) (int64, error)
	MarkRedriven(ctx context.Context, q broker.Querier, id int64, now time.Time) (DeadLetter, error)
	SetSetting(ctx context.Context, q broker.Querier, name, value string) error
	// RequestApproval records a pending approval (again: no change).
	RequestApproval(ctx context.Context, q broker.Querier, a Approval) error
	// DecideApproval moves a pending, unexpired approval to approved or
	// rejected and returns it; ErrNotFound for an unknown id,
	// ErrApprovalClosed if it is no longer pending or has expired.
	DecideApproval(ctx context.Context, q broker.Querier, id, status, by, reason string, now time.Time) (Approval, error)
	// AwaitValidation records what to check when the timer of conversation
	// handle fires; TakeValidation returns and removes it (ok=false: none).
	AwaitValidation(ctx context.Context, q broker.Querier, handle, cycleID string, items json.RawMessage, now time.Time) error
	TakeValidation(ctx context.Context, q broker.Querier, handle string) (cycleID string, items json.RawMessage, ok bool, err error)
	// RecordResult stores an action's validation result (improved,
	// neutral, regressed or failed; anything else is an error naming it)
	// and counts it for its type; a non-empty revertDetail also marks the
	// action reverted.
	RecordResult(ctx context.Context, q broker.Querier, actionID, actionType, result, revertDetail string, now time.Time) error
	// DeleteEvents removes exactly the outbox events with these seqs (the
	// ones published), not a range: on SQL Server an IDENTITY seq is taken
	// before its row commits, so an event with a smaller seq than a
	// published one may still be on its way.
	DeleteEvents(ctx context.Context, q broker.Querier, seqs []int64) error
	// RecordReadings stores one row per reading (name, object, value) of
	// cycle cycleID, taken at at. Readings whose value is NaN or infinite
	// are skipped (neither engine stores them). Recording the same
	// (cycle, name, object, at) again changes nothing: the first value
	// stays, so a retried stage does not count a reading twice.
	RecordReadings(ctx context.Context, q broker.Querier, cycleID string, at time.Time, rs []Reading) error
	// PruneReadings deletes the readings taken before before and returns
	// how many it deleted. It deletes in the caller's transaction: prune
	// often (each cycle) so that each prune stays small.
	PruneReadings(ctx context.Context, q broker.Querier, before time.Time) (int64, error)
	// RecordIntent records an intent before its slow work starts. An
	// intent with the same id already recorded is an error naming the id
	// (wrapping ErrIntentExists) and changes nothing; on both engines it
	// leaves the caller's transaction usable.
	RecordIntent(ctx context.Context, q broker.Querier, in Intent) error
	// TakeIntent deletes the intent id and reports whether there was one:
	// of two transactions taking the same intent, one gets true (and
	// records the result), the other false.
	TakeIntent(ctx context.Context, q broker.Querier, id string) (bool, error)
}

// Reader answers operators without taking the writer.
type Reader interface {
	Cycle(ctx context.Context, id string) (CycleDetail, error)
	Cycles(ctx context.Context, limit int) ([]Cycle, error)
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	Setting(ctx context.Context, name string) (string, bool, error)
	OutboxDepth(ctx context.Context) (int64, error)
	// DeadLetterCount counts the dead letters not yet redriven.
	DeadLetterCount(ctx context.Context) (int64, error)
	// Attempts returns how many failed deliveries of a message are counted
	// and committed (0: none), with the last error. It reads apart from the
	// writer: a stage reads it before its work without taking the write
	// lock that the target's own actions may need.
	Attempts(ctx context.Context, key string) (n int, lastError string, err error)
	Approvals(ctx context.Context, limit int, now time.Time) ([]Approval, error)
	// ActionStats counts validation results per action type over all time,
	// ordered by type.
	ActionStats(ctx context.Context) ([]ActionStats, error)
	// ActionStatsSince counts validation results per action type of the
	// actions validated at or after since, ordered by type; types with no
	// validation in the window are absent.
	ActionStatsSince(ctx context.Context, since time.Time) ([]ActionStats, error)
	// ActionsSince returns the actions created at or after since, whatever
	// their status, oldest first (ties by id): what budgets and cooldowns
	// count.
	ActionsSince(ctx context.Context, since time.Time) ([]Action, error)
	// ActedSince returns the actions created at or after since that acted
	// on the target (status executed, reverted or failed), oldest first:
	// what the policy's cooldowns and budgets count.
	ActedSince(ctx context.Context, since time.Time) ([]Action, error)
	// ReadingHistory returns the readings taken at or after since, at most
	// maxPerKey (> 0, else an error) of each (name, object), the newest of
	// each; ordered by name, then object (byte order, case-sensitive), then
	// newest first. It reads every reading of the window: keep the window
	// to what the baselines need.
	ReadingHistory(ctx context.Context, since time.Time, maxPerKey int) ([]ReadingSample, error)
	// LastStart is when the newest cycle from source started (ok=false: never).
	LastStart(ctx context.Context, source string) (t time.Time, ok bool, err error)
	// PendingValidation returns what awaits validation on conversation handle
	// (ok=false: nothing).
	PendingValidation(ctx context.Context, handle string) (items json.RawMessage, ok bool, err error)
	// Events returns up to n outbox events in order.
	Events(ctx context.Context, n int) ([]Event, error)
	// Intents returns the intents created before before (exclusive),
	// oldest first (ties by id, in the engine's collation): those whose
	// owner must be gone are resumed. An intent being taken by a
	// transaction not yet committed may still be listed; TakeIntent
	// decides who resumes it.
	Intents(ctx context.Context, before time.Time) ([]Intent, error)
}
