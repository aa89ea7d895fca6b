package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/hartonomous/ooda/broker/brokerbench"
	"github.com/hartonomous/ooda/broker/embedded"
)

func benchTarget(b *testing.B) brokerbench.Target {
	eb, err := embedded.Open(context.Background(), embedded.Options{Dir: b.TempDir(), Topology: brokerbench.Topology()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = eb.Close() })
	return brokerbench.Target{
		Broker:          eb,
		StateDDL:        "CREATE TABLE IF NOT EXISTS bench_state (id INTEGER PRIMARY KEY, stage INTEGER NOT NULL, body BLOB NOT NULL)",
		InsertState:     "INSERT INTO bench_state (stage, body) VALUES (@stage, @body)",
		PhysicalCommits: func() int64 { return eb.Stats().PhysicalCommits },
	}
}

// BenchmarkPipeline pushes messages through the four stages (B2/B3 shape).
func BenchmarkPipeline(b *testing.B) {
	for _, c := range []struct {
		name                     string
		messages, batch, workers int
	}{
		{"Batch100", 5000, 100, 1},
		{"Batch1", 300, 1, 1},
		{"Batch1InFlight64", 300, 1, 64},
	} {
		b.Run(c.name, func(b *testing.B) {
			var perSec, fsyncs float64
			for b.Loop() {
				res, err := brokerbench.Pipeline(context.Background(), benchTarget(b), brokerbench.PipelineParams{
					Messages: c.messages, Batch: c.batch, Workers: c.workers, Body: make([]byte, 200)})
				if err != nil {
					b.Fatal(err)
				}
				perSec, fsyncs = res.PerSecond, float64(res.PhysicalCommits)/float64(res.Messages)
			}
			b.ReportMetric(perSec, "cycles/s")
			b.ReportMetric(fsyncs, "fsync/cycle")
		})
	}
}

// BenchmarkStageTx is B1: one stage transaction at a time.
func BenchmarkStageTx(b *testing.B) {
	var rate float64
	for b.Loop() {
		r, err := brokerbench.StageTx(context.Background(), benchTarget(b), 300*time.Millisecond, make([]byte, 200))
		if err != nil {
			b.Fatal(err)
		}
		rate = r
	}
	b.ReportMetric(rate, "tx/s")
}
