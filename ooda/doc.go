// Package ooda is the domain of the daemon: the message envelope, the four
// stages (Observe, Orient, Decide, Act), the rules, the policy, validation
// and learning, and what-if replay. It depends only on the broker and store
// contracts (and on ooda/anomaly for the latency outliers).
//
// # One transaction per stage step, or two around slow work
//
// A stage step receives one message, runs the stage's handler, records what
// it concluded (state and outbox events) and sends the next message, all in
// one broker transaction. A step that changes the target (Act with actions
// to run) — or, for a target with slow sensors, reads it (Observe, and the
// validation after an action) — is split
// around the work (DESIGN §5): the first transaction records a durable intent
// and ends the message, the work runs outside any transaction, and the second
// transaction takes the intent and records the result. Intents left by a crash
// are resumed (intent.go); a failing one is dead-lettered after MaxAttempts.
//
// # Failures
//
// A handler error rolls back to a savepoint taken after the receive and is
// counted durably; below MaxAttempts the message returns to the queue (a
// rollback to the savepoint before the receive), at MaxAttempts it goes to
// the dead letters with its reason and its conversation ends with an error.
// An error that aborts the whole transaction is counted in a transaction of
// its own, and the next delivery dead-letters the message before any work. A
// malformed message (bad JSON, unknown version or kind, over the size limit)
// goes to the dead letters at once. A message that crashes the process every
// time is caught by the broker's poison rule: the queue is disabled after
// five deliveries, and the engine heals it by moving the head message to the
// dead letters, with an alert.
//
// # Judgement
//
// Orient applies the target's rules to an observation (pure). Decide applies
// the policy (pure): tiers, the tier-2 threshold from each action type's
// validated history, never-automatic actions, windows, budgets, cooldowns,
// dry-run. After the validation window an action is classified against the
// value before it and the noise band of its reading's history, and undone when
// it regressed and its target can undo it. SetPolicy swaps the policy whole
// (SIGHUP); WhatIf runs Orient and Decide on a recorded observation and
// changes nothing.
package ooda
