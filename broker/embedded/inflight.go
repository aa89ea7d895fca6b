package embedded

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// inflight notes which queues have a receive in an unfinished transaction, so
// that a transaction cut short by the process dying still counts toward the
// poison rule (SQL Server counts a dropped connection's rollback the same way).
//
// The file is an array of fixed slots: byte 0 is 1 while the slot is in use,
// byte 1 the queue name's length, then the name. Writes are plain pwrite with
// no fsync: a process that is killed leaves its writes in the page cache, and
// after a power loss there is no poison message to catch anyway.
type inflight struct {
	mu   sync.Mutex
	f    *os.File
	free []int
	next int
}

const (
	slotSize        = 64
	maxQueueNameLen = slotSize - 2
)

func openInflight(path string) (*inflight, map[string]int, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded: inflight file: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("embedded: inflight file: %w", err)
	}
	crashed := map[string]int{}
	for off := 0; off+slotSize <= len(b); off += slotSize {
		s := b[off : off+slotSize]
		if s[0] != 1 || int(s[1]) > maxQueueNameLen {
			continue
		}
		crashed[string(s[2:2+int(s[1])])]++
	}
	return &inflight{f: f}, crashed, nil
}

// reset empties the file once the crashed receives are counted.
func (in *inflight) reset() error {
	if err := in.f.Truncate(0); err != nil {
		return fmt.Errorf("embedded: inflight file: %w", err)
	}
	return nil
}

func (in *inflight) acquire(queue string) (int, error) {
	in.mu.Lock()
	var slot int
	if n := len(in.free); n > 0 {
		slot = in.free[n-1]
		in.free = in.free[:n-1]
	} else {
		slot = in.next
		in.next++
	}
	in.mu.Unlock()
	var rec [slotSize]byte
	rec[0] = 1
	rec[1] = byte(len(queue))
	copy(rec[2:], queue)
	if _, err := in.f.WriteAt(rec[:], int64(slot*slotSize)); err != nil {
		in.release(slot)
		return -1, fmt.Errorf("embedded: inflight file: %w", err)
	}
	return slot, nil
}

func (in *inflight) release(slot int) {
	if slot < 0 {
		return
	}
	// A failed clear leaves a slot that the next Open counts as one crashed
	// receive: one count too many toward the poison rule, never one too few.
	_, _ = in.f.WriteAt([]byte{0}, int64(slot*slotSize))
	in.mu.Lock()
	in.free = append(in.free, slot)
	in.mu.Unlock()
}

func (in *inflight) close() error {
	return errors.Join(in.f.Close())
}
