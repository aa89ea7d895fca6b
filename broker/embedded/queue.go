package embedded

import (
	"slices"
	"sync"

	"github.com/hartonomous/ooda/broker"
)

// queueState is the in-memory side of a queue: which conversation groups
// open transactions hold, the poison rule's mirror of the durable row, and the
// receivers waiting for a message.
//
// Waking is one receiver per message made receivable, not all of them: with
// many receivers on a queue, a broadcast would have every one of them query
// for each message. A receiver that gets messages wakes the next waiter (a
// chain), since more may be receivable; one that finds nothing waits again.
type queueState struct {
	name string

	mu        sync.Mutex
	enabled   bool
	rollbacks int
	locked    map[broker.ID]*tx
	waiters   []chan struct{} // FIFO; each has room for one wake-up
	gen       uint64          // raised by every change that may make a message receivable
	emptyGen  uint64          // gen at which a receive last found nothing
	emptyOK   bool            // emptyGen is meaningful
}

func newQueueState(name string) *queueState {
	return &queueState{name: name, enabled: true, locked: map[broker.ID]*tx{}}
}

// signalLocked records a change and wakes up to n waiters (mu held).
func (q *queueState) signalLocked(n int) {
	q.gen++
	for ; n > 0 && len(q.waiters) > 0; n-- {
		ch := q.waiters[0]
		q.waiters = q.waiters[1:]
		ch <- struct{}{}
	}
}

// signal wakes up to n waiters; n < 0 wakes all of them.
func (q *queueState) signal(n int) {
	q.mu.Lock()
	if n < 0 {
		n = len(q.waiters)
	}
	q.signalLocked(n)
	q.mu.Unlock()
}

// waitLocked registers a waiter (mu held).
func (q *queueState) waitLocked() chan struct{} {
	ch := make(chan struct{}, 1)
	q.waiters = append(q.waiters, ch)
	return ch
}

// cancelWait withdraws a waiter that stops waiting. If it was woken in the
// meantime, the wake-up passes to the next waiter instead of being lost.
func (q *queueState) cancelWait(ch chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i := slices.Index(q.waiters, ch); i >= 0 {
		q.waiters = slices.Delete(q.waiters, i, i+1)
		return
	}
	q.signalLocked(1)
}

// unlockGroups releases the groups t holds: their messages (returned by a
// rollback, or sent while the group was locked) may now be receivable.
func (q *queueState) unlockGroups(t *tx) {
	q.mu.Lock()
	for g, owner := range q.locked {
		if owner == t {
			delete(q.locked, g)
		}
	}
	q.signalLocked(1)
	q.mu.Unlock()
}
