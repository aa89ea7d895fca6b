package brokerbench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/hartonomous/ooda/broker"
)

// LatencyResult is one open-loop run.
type LatencyResult struct {
	Rate     float64 // offered cycles per second
	Cycles   int
	P50, P99 time.Duration
}

// Latency offers cycles at Poisson arrivals of rate per second for d, each
// on a dialog of its own (batch 1, as triggers arrive), through the four
// stages with workers transactions in flight per stage, and measures each
// cycle from its enqueue to the commit of its last stage.
func Latency(ctx context.Context, tg Target, rate float64, d time.Duration, workers int) (LatencyResult, error) {
	if err := tg.setup(ctx); err != nil {
		return LatencyResult{}, err
	}
	pool := max(8, workers)
	var hops [][]broker.ID
	for i := 1; i < len(Services)-1; i++ {
		hs, err := dialogs(ctx, tg.Broker, i, pool)
		if err != nil {
			return LatencyResult{}, err
		}
		hops = append(hops, hs)
	}
	hops = append([][]broker.ID{nil}, hops...) // the trigger hop uses a dialog per cycle
	var (
		mu     sync.Mutex
		lat    []time.Duration
		runErr error
		wg     sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		mu.Lock()
		if runErr == nil && ctx.Err() == nil {
			runErr = err
		}
		mu.Unlock()
		cancel()
	}
	for stage := 1; stage < len(Queues); stage++ {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := w
				for ctx.Err() == nil {
					sent, err := latencyStep(ctx, tg, stage, hops, &next)
					if err != nil {
						fail(fmt.Errorf("stage %d: %w", stage, err))
						return
					}
					if !sent.IsZero() {
						mu.Lock()
						lat = append(lat, time.Since(sent))
						mu.Unlock()
					}
				}
			}()
		}
	}
	// Open loop: arrivals do not wait for completions.
	start, offered := time.Now(), 0
	rng := rand.New(rand.NewPCG(1, 2))
	for at := time.Duration(0); at < d; at += time.Duration(rng.ExpFloat64() / rate * float64(time.Second)) {
		if wait := time.Until(start.Add(at)); wait > 0 {
			time.Sleep(wait)
		}
		if err := enqueueCycle(ctx, tg.Broker); err != nil {
			fail(err)
			break
		}
		offered++
	}
	// Let the last cycles finish (bounded), then stop.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= offered {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if runErr != nil {
		return LatencyResult{}, runErr
	}
	if len(lat) == 0 {
		return LatencyResult{}, fmt.Errorf("no cycle completed")
	}
	slices.Sort(lat)
	return LatencyResult{Rate: rate, Cycles: len(lat), P50: lat[len(lat)/2], P99: lat[len(lat)*99/100]}, nil
}

// enqueueCycle starts one cycle: a dialog of its own into the first stage,
// carrying its enqueue time.
func enqueueCycle(ctx context.Context, b broker.Broker) error {
	return broker.InTx(ctx, b, func(tx broker.Tx, _ broker.Querier) error {
		h, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: Services[0], To: Services[1], Contract: contract})
		if err != nil {
			return err
		}
		body := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
		return tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: msgType, Body: body})
	})
}

// latencyStep is one stage transaction; the last stage returns the cycle's
// enqueue time once its commit is durable.
func latencyStep(ctx context.Context, tg Target, stage int, hops [][]broker.ID, next *int) (time.Time, error) {
	tx, err := tg.Broker.Begin(ctx)
	if err != nil {
		return time.Time{}, err
	}
	msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: Queues[stage], Max: 1, Wait: 200 * time.Millisecond})
	if err != nil || len(msgs) == 0 {
		_ = tx.Rollback()
		if ctx.Err() != nil {
			return time.Time{}, nil
		}
		return time.Time{}, err
	}
	m := msgs[0]
	q, err := tx.SQL(ctx)
	if err == nil {
		_, err = q.ExecContext(ctx, tg.InsertState, namedArgs(stage, m.Body)...)
	}
	if err == nil && stage < len(hops) {
		h := hops[stage][*next%len(hops[stage])]
		*next++
		err = tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: msgType, Body: m.Body})
	}
	if err == nil && stage == 1 {
		err = tx.End(ctx, &broker.EndParams{Conversation: m.Conversation}) // the per-cycle dialog
	}
	if err != nil {
		_ = tx.Rollback()
		return time.Time{}, err
	}
	if err := tx.Commit(); err != nil {
		return time.Time{}, err
	}
	if stage == len(Queues)-1 {
		return time.Unix(0, int64(binary.BigEndian.Uint64(m.Body))), nil
	}
	return time.Time{}, nil
}
