// Package brokerbench measures the queue engine: benchmarks B1–B3 of
// BENCHMARKS.md. Every figure is reported as a ratio against a reference
// measured in the same run on the same machine (raw fdatasync, raw SQLite
// commits, goqite), because machines here are shared and noisy.
//
// The workloads are written against broker.Broker, so the same arms can run
// over SQL Server (B8) once that backend exists.
package brokerbench

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hartonomous/ooda/broker"
)

// Stage names of the benchmark pipeline: a trigger source and four stages.
var (
	Queues   = []string{"BenchTrigger", "BenchObserve", "BenchOrient", "BenchDecide", "BenchAct"}
	Services = []string{"//Bench/Trigger", "//Bench/Observe", "//Bench/Orient", "//Bench/Decide", "//Bench/Act"}
)

const (
	msgType  = "//Bench/Msg"
	contract = "//Bench/Stage"
)

// Topology is the pipeline the workloads drive.
func Topology() broker.Topology {
	t := broker.Topology{
		MessageTypes: []string{msgType},
		Contracts:    []broker.Contract{{Name: contract, Messages: map[string]broker.SentBy{msgType: broker.SentByAny}}},
		Queues:       Queues,
	}
	for i, s := range Services {
		t.Services = append(t.Services, broker.Service{Name: s, Queue: Queues[i], Contracts: []string{contract}})
	}
	return t
}

// Target is one backend under test.
type Target struct {
	Broker broker.Broker
	// StateDDL creates bench_state (stage int, body blob-like) if missing.
	StateDDL string
	// InsertState inserts one row: parameters @stage and @body.
	InsertState string
	// PhysicalCommits counts durable commits (fsyncs), if the backend knows.
	PhysicalCommits func() int64
}

func (tg Target) setup(ctx context.Context) error {
	err := broker.InTx(ctx, tg.Broker, func(_ broker.Tx, q broker.Querier) error {
		_, err := q.ExecContext(ctx, tg.StateDDL)
		return err
	})
	if err != nil {
		return fmt.Errorf("create bench_state: %w", err)
	}
	return nil
}

// dialogs opens n dialogs from service i to service i+1.
func dialogs(ctx context.Context, b broker.Broker, i, n int) ([]broker.ID, error) {
	tx, err := b.Begin(ctx)
	if err != nil {
		return nil, err
	}
	var hs []broker.ID
	for range n {
		h, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: Services[i], To: Services[i+1], Contract: contract})
		if err != nil {
			_ = tx.Rollback()
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, tx.Commit()
}

// preload puts n messages into the first stage's queue, a few thousand per
// transaction, in runs of run consecutive messages per dialog (one RECEIVE
// returns one conversation group, so the run is the largest batch a stage can
// take), dialogs in turn.
func preload(ctx context.Context, b broker.Broker, hs []broker.ID, n, run int, body []byte) error {
	for sent := 0; sent < n; {
		tx, err := b.Begin(ctx)
		if err != nil {
			return err
		}
		for j := 0; j < 2000 && sent < n; j, sent = j+1, sent+1 {
			h := hs[(sent/run)%len(hs)]
			if err := tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: msgType, Body: body}); err != nil {
				_ = tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// PipelineParams shape one pipeline run.
type PipelineParams struct {
	Messages int // messages pushed through all four stages
	Batch    int // RECEIVE TOP (Batch)
	Workers  int // concurrent transactions per stage ("in flight")
	Body     []byte
	// PerMessage, if set, runs in each stage transaction for each message
	// (B6 writes an outbox event there).
	PerMessage func(ctx context.Context, q broker.Querier, stage int, m broker.Message) error
	// AfterCommit, if set, runs after each stage transaction commits.
	AfterCommit func()
}

// PipelineResult is what one run measured.
type PipelineResult struct {
	Messages        int
	Elapsed         time.Duration
	PerSecond       float64 // cycles (messages through all 4 stages) per second
	StageTxs        int64
	PhysicalCommits int64 // -1 if unknown
}

// Pipeline pushes p.Messages through the four stages. Each stage step is one
// transaction: receive a batch, write one state row per message, send each
// message on to the next stage, commit. The last stage only records state.
func Pipeline(ctx context.Context, tg Target, p PipelineParams) (PipelineResult, error) {
	if err := tg.setup(ctx); err != nil {
		return PipelineResult{}, err
	}
	pool := max(8, p.Workers)
	var hops [][]broker.ID
	for i := 0; i < len(Services)-1; i++ {
		hs, err := dialogs(ctx, tg.Broker, i, pool)
		if err != nil {
			return PipelineResult{}, err
		}
		hops = append(hops, hs)
	}
	if err := preload(ctx, tg.Broker, hops[0], p.Messages, p.Batch, p.Body); err != nil {
		return PipelineResult{}, fmt.Errorf("preload: %w", err)
	}
	var before int64 = -1
	if tg.PhysicalCommits != nil {
		before = tg.PhysicalCommits()
	}
	var (
		done     atomic.Int64
		stageTxs atomic.Int64
		finished = make(chan struct{})
		once     sync.Once
		errOnce  sync.Once
		runErr   error
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for stage := 1; stage < len(Queues); stage++ {
		for w := range p.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := w
				for ctx.Err() == nil {
					n, err := step(ctx, tg, stage, p, hops, &next)
					if err != nil {
						if ctx.Err() == nil {
							errOnce.Do(func() { runErr = fmt.Errorf("stage %d: %w", stage, err) })
							cancel()
						}
						return
					}
					if n > 0 {
						stageTxs.Add(1)
					}
					if stage == len(Queues)-1 && done.Add(int64(n)) >= int64(p.Messages) {
						once.Do(func() { close(finished) })
					}
				}
			}()
		}
	}
	select {
	case <-finished:
	case <-ctx.Done():
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	if runErr != nil {
		return PipelineResult{}, runErr
	}
	res := PipelineResult{Messages: p.Messages, Elapsed: elapsed, PerSecond: float64(p.Messages) / elapsed.Seconds(), StageTxs: stageTxs.Load(), PhysicalCommits: -1}
	if tg.PhysicalCommits != nil {
		res.PhysicalCommits = tg.PhysicalCommits() - before
	}
	return res, nil
}

// step is one stage transaction; it returns how many messages it handled.
func step(ctx context.Context, tg Target, stage int, p PipelineParams, hops [][]broker.ID, next *int) (int, error) {
	batch := p.Batch
	tx, err := tg.Broker.Begin(ctx)
	if err != nil {
		return 0, err
	}
	msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: Queues[stage], Max: batch, Wait: 200 * time.Millisecond})
	if err != nil || len(msgs) == 0 {
		_ = tx.Rollback()
		return 0, err
	}
	q, err := tx.SQL(ctx)
	if err != nil {
		_ = tx.Rollback()
		return 0, err
	}
	var h broker.ID
	if stage < len(hops) {
		h = hops[stage][*next%len(hops[stage])]
		*next++
	}
	for _, m := range msgs {
		if _, err := q.ExecContext(ctx, tg.InsertState, namedArgs(stage, m.Body)...); err != nil {
			_ = tx.Rollback()
			return 0, err
		}
		if p.PerMessage != nil {
			if err := p.PerMessage(ctx, q, stage, m); err != nil {
				_ = tx.Rollback()
				return 0, err
			}
		}
		if stage < len(hops) {
			if err := tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: msgType, Body: m.Body}); err != nil {
				_ = tx.Rollback()
				return 0, err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	if p.AfterCommit != nil {
		p.AfterCommit()
	}
	return len(msgs), nil
}

// StageTx measures B1: one stage transaction at a time (receive 1, write
// state, send 1), for the given duration. It returns transactions per second.
func StageTx(ctx context.Context, tg Target, d time.Duration, body []byte) (float64, error) {
	if err := tg.setup(ctx); err != nil {
		return 0, err
	}
	in, err := dialogs(ctx, tg.Broker, 0, 1)
	if err != nil {
		return 0, err
	}
	out, err := dialogs(ctx, tg.Broker, 1, 1)
	if err != nil {
		return 0, err
	}
	hops := [][]broker.ID{in, out}
	n, start, feeding := 0, time.Now(), time.Duration(0)
	for time.Since(start)-feeding < d {
		// Keep the input fed; the feeding time is not part of the figure.
		if n%500 == 0 {
			t0 := time.Now()
			if err := preload(ctx, tg.Broker, in, 500, 1, body); err != nil {
				return 0, err
			}
			feeding += time.Since(t0)
		}
		next := 0
		k, err := step(ctx, tg, 1, PipelineParams{Batch: 1}, hops, &next)
		if err != nil {
			return 0, err
		}
		n += k
	}
	return float64(n) / (time.Since(start) - feeding).Seconds(), nil
}

func namedArgs(stage int, body []byte) []any {
	return []any{sql.Named("stage", stage), sql.Named("body", body)}
}
