package embedded

import (
	"sync"

	"github.com/hartonomous/ooda/broker"
)

// queueState is the in-memory side of a queue: which conversation groups
// open transactions hold, the poison rule's mirror of the durable row, and
// the signal that wakes waiting receivers.
type queueState struct {
	name string

	mu        sync.Mutex
	enabled   bool
	rollbacks int
	locked    map[broker.ID]*tx
	gen       uint64 // raised by every change that may make a message receivable
	emptyGen  uint64 // gen at which a receive last found nothing
	emptyOK   bool   // emptyGen is meaningful
	wake      chan struct{}
}

func newQueueState(name string) *queueState {
	return &queueState{name: name, enabled: true, locked: map[broker.ID]*tx{}, wake: make(chan struct{})}
}

// bumpLocked records a change and wakes every waiting receiver (mu held).
func (q *queueState) bumpLocked() {
	q.gen++
	close(q.wake)
	q.wake = make(chan struct{})
}

func (q *queueState) bump() {
	q.mu.Lock()
	q.bumpLocked()
	q.mu.Unlock()
}

// unlockGroups releases the groups t holds and wakes receivers.
func (q *queueState) unlockGroups(t *tx) {
	q.mu.Lock()
	for g, owner := range q.locked {
		if owner == t {
			delete(q.locked, g)
		}
	}
	q.bumpLocked()
	q.mu.Unlock()
}
