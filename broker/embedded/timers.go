package embedded

import (
	"context"
	"database/sql"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/hartonomous/ooda/broker"
)

// timerLoop turns due conversation timers into DialogTimer messages. It
// sleeps until the earliest due time or until a commit that armed a timer
// pokes it; it never polls.
type timerLoop struct {
	b    *Broker
	kick chan struct{}
}

func newTimerLoop(b *Broker) *timerLoop {
	return &timerLoop{b: b, kick: make(chan struct{}, 1)}
}

func (l *timerLoop) poke() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *timerLoop) run() {
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval = 100 * time.Millisecond
	retry.MaxInterval = 30 * time.Second
	retry.MaxElapsedTime = 0 // never give up while the broker is open
	for {
		next, err := l.fire()
		var wait <-chan time.Time
		switch {
		case err != nil:
			d := retry.NextBackOff()
			l.b.log.Error().Err(err).Dur("retry_in", d).Msg("conversation timers: could not fire due timers")
			wait = time.After(d)
		case next.IsZero():
			retry.Reset()
		default:
			retry.Reset()
			wait = time.After(time.Until(next))
		}
		select {
		case <-l.kick:
		case <-wait:
		case <-l.b.closing:
			return
		}
	}
}

// fire delivers every due timer and returns the next due time (zero: none).
func (l *timerLoop) fire() (time.Time, error) {
	ctx := context.Background()
	now := time.Now().UnixNano()
	var next sql.NullInt64
	l.b.reads.Add(1)
	if err := l.b.rdb.QueryRowContext(ctx, "SELECT MIN(due_at) FROM broker_timer").Scan(&next); err != nil {
		return time.Time{}, translate(err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	if next.Int64 > now {
		return time.Unix(0, next.Int64), nil
	}
	woken := map[*queueState]int{}
	err := l.b.writeOp(ctx, func(ctx context.Context, c *sql.Conn) error {
		// The timer's message goes to the queue of the side that set it,
		// on that side's handle and group ("puts a message of type
		// DialogTimer on the local queue for the conversation").
		rows, err := c.QueryContext(ctx, `SELECT e.queue FROM broker_timer t JOIN broker_endpoint e ON e.handle = t.handle WHERE t.due_at <= ?`, now)
		if err != nil {
			return err
		}
		for rows.Next() {
			var q string
			if err := rows.Scan(&q); err != nil {
				rows.Close()
				return err
			}
			if qs := l.b.queues[q]; qs != nil {
				woken[qs]++
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO broker_message (queue, group_id, handle, seq, type, body, enqueued_at)
			SELECT e.queue, e.group_id, e.handle, 0, ?, x'', ? FROM broker_timer t JOIN broker_endpoint e ON e.handle = t.handle
			WHERE t.due_at <= ? ORDER BY t.due_at`, broker.MessageTypeDialogTimer, now, now); err != nil {
			return err
		}
		_, err = c.ExecContext(ctx, `DELETE FROM broker_timer WHERE due_at <= ?`, now)
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	for q, n := range woken {
		q.signal(n)
	}
	return l.fire()
}
