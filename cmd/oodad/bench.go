package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hartonomous/ooda/broker/brokerbench"
	"github.com/hartonomous/ooda/broker/embedded"
)

func runBench(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("oodad bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dir         = fs.String("dir", "", "directory for the benchmark databases (default: a temporary directory under the current one, removed afterwards; the fdatasync reference is measured there too)")
		asJSON      = fs.Bool("json", false, "print the environment and one JSON object per arm (id, arm, value, unit, reference, ratio, ...) instead of a table")
		only        = fs.String("only", "", "comma-separated benchmark ids to run (B1,B2,B3,B4,B5,B6,B7); default all")
		fanout      = fs.Int("fanout-messages", 20_000, "B6: messages through the pipeline per arm")
		idle        = fs.Duration("idle", 10*time.Minute, "B5: how long the daemon idles while measured")
		latencyDur  = fs.Duration("latency-duration", 5*time.Second, "B4: how long each load level is offered")
		backlog     = fs.Int("backlog", 100_000, "B7: triggers queued before the backlog start")
		duration    = fs.Duration("duration", 2*time.Second, "length of each time-bound arm (fdatasync, raw commits, goqite, B1)")
		messages    = fs.Int("messages", 100_000, "messages through the 4-stage pipeline at batch 10 and 100")
		batch1      = fs.Int("batch1-messages", 3000, "messages through the pipeline at batch 1 (B2 batch-1 arm, B3)")
		synchronous = fs.String("synchronous", "FULL", "SQLite synchronous setting for the engine and the references: FULL, EXTRA or NORMAL")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: oodad bench [flags]\n\nRuns benchmarks B1–B7 of BENCHMARKS.md in one run; every figure is a\nratio against a reference measured in the same run (B5 and B7 start this binary as the daemon).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))}
	}
	var ids []string
	if *only != "" {
		for _, id := range strings.Split(*only, ",") {
			id = strings.ToUpper(strings.TrimSpace(id))
			if id != "B1" && id != "B2" && id != "B3" && id != "B4" && id != "B5" && id != "B6" && id != "B7" {
				return usageError{fmt.Errorf("bench: --only: %q is not one of B1, B2, B3, B4, B5, B6, B7", id)}
			}
			ids = append(ids, id)
		}
	}
	for name, v := range map[string]int{"--messages": *messages, "--batch1-messages": *batch1, "--backlog": *backlog, "--fanout-messages": *fanout} {
		if v < 1 {
			return usageError{fmt.Errorf("bench: %s: %d must be at least 1", name, v)}
		}
	}
	if *duration <= 0 {
		return usageError{fmt.Errorf("bench: --duration: %s must be positive", *duration)}
	}
	sync := strings.ToUpper(*synchronous)
	if sync != "FULL" && sync != "EXTRA" && sync != "NORMAL" {
		return usageError{fmt.Errorf("bench: --synchronous: %q is not one of FULL, EXTRA, NORMAL", *synchronous)}
	}
	root := *dir
	if root == "" {
		tmp, err := os.MkdirTemp(".", ".oodad-bench-")
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(tmp)
		root = tmp
	}
	cfg := brokerbench.Config{
		Dir: root, Synchronous: sync, Duration: *duration, LatencyDuration: *latencyDur, Messages: *messages, Batch1Messages: *batch1, Only: ids, Progress: stderr,
		Open: func(ctx context.Context, dir string, poll time.Duration) (brokerbench.Target, func() error, error) {
			b, err := embedded.Open(ctx, embedded.Options{Dir: dir, Topology: brokerbench.Topology(), Synchronous: sync, PollInterval: poll})
			if err != nil {
				return brokerbench.Target{}, nil, err
			}
			return brokerbench.Target{
				Broker:          b,
				StateDDL:        "CREATE TABLE IF NOT EXISTS bench_state (id INTEGER PRIMARY KEY, stage INTEGER NOT NULL, body BLOB NOT NULL)",
				InsertState:     "INSERT INTO bench_state (stage, body) VALUES (@stage, @body)",
				PhysicalCommits: func() int64 { return b.Stats().PhysicalCommits },
			}, b.Close, nil
		},
	}
	want := func(id string) bool { return len(ids) == 0 || slices.Contains(ids, id) }
	// brokerbench runs B1–B4 and always measures the environment; B5–B7
	// start this binary as the daemon and run here. With only those chosen,
	// brokerbench gets an id it does not know, so it runs no arm of its own.
	cfg.Only = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "B5" || id == "B6" || id == "B7" })
	if len(ids) > 0 && len(cfg.Only) == 0 {
		cfg.Only = []string{"environment only"}
	}
	env, results, err := brokerbench.Run(ctx, cfg)
	for _, arm := range []struct {
		id string
		fn func() ([]brokerbench.Result, error)
	}{
		{"B5", func() ([]brokerbench.Result, error) { return benchIdle(ctx, root, *idle) }},
		{"B6", func() ([]brokerbench.Result, error) { return benchFanout(ctx, root, *fanout) }},
		{"B7", func() ([]brokerbench.Result, error) { return benchStart(ctx, root, *backlog, 5*time.Second) }},
	} {
		if err != nil || !want(arm.id) {
			continue
		}
		fmt.Fprintf(stderr, "running %s\n", arm.id)
		var rs []brokerbench.Result
		if rs, err = arm.fn(); err == nil {
			results = append(results, rs...)
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("bench: interrupted")
		}
		return fmt.Errorf("bench: %w", err)
	}
	if *asJSON {
		return brokerbench.WriteJSON(stdout, env, results)
	}
	return brokerbench.WriteTable(stdout, env, results)
}
