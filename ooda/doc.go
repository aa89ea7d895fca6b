// Package ooda is the domain of the daemon: the message envelope, the four
// stages (Observe, Orient, Decide, Act), the rules and the policy. It depends
// only on the broker and store contracts.
//
// # One transaction per stage step
//
// A stage step receives one message, runs the stage's handler, records what
// it concluded (state and outbox events) and sends the next message, all in
// one broker transaction. Slow work on the target (sensors, actions) runs
// before the transaction's first write, so the writer is held only for the
// short write phase.
//
// # Failures
//
// A handler error rolls back to a savepoint taken before the receive: the
// message returns to the queue and the failure is counted durably. After
// MaxAttempts failures the message goes to the dead letters with its reason
// and its conversation is ended with an error. A malformed message (bad JSON,
// unknown version or kind, over the size limit) goes to the dead letters at
// once. A message that crashes the process every time is caught by the
// broker's poison rule: the queue is disabled after five deliveries, and the
// engine heals it by moving the head message to the dead letters.
package ooda
