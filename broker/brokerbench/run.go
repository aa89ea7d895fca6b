package brokerbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Config shapes a benchmark run. Zero values take the defaults shown.
type Config struct {
	// Dir holds the databases; each arm gets a fresh subdirectory.
	Dir string
	// Open opens a fresh engine in dir; poll > 0 asks for the polling
	// variant (B4's reference). close is called when the arm ends.
	Open func(ctx context.Context, dir string, poll time.Duration) (t Target, close func() error, err error)
	// LatencyDuration is how long each B4 arm offers load. Default 5s.
	LatencyDuration time.Duration
	// Synchronous is the engine's SQLite setting, used for the references too.
	Synchronous string // FULL
	// Duration of each time-bound arm (fsync, raw commits, goqite, B1). Default 2s.
	Duration time.Duration
	// Messages through the pipeline at batch 10 and 100. Default 100000.
	Messages int
	// Messages through the pipeline at batch 1 (B2 batch-1 and B3). Default 3000.
	Batch1Messages int
	// BodyBytes is the size of each message body. Default 200.
	BodyBytes int
	// Only, if set, runs only these benchmark ids (B1–B4); the environment
	// (fdatasync, versions) is measured always.
	Only []string
	// Progress receives a line as each arm starts. Default: discarded.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	if c.Synchronous == "" {
		c.Synchronous = "FULL"
	}
	if c.Duration == 0 {
		c.Duration = 2 * time.Second
	}
	if c.Messages == 0 {
		c.Messages = 100_000
	}
	if c.Batch1Messages == 0 {
		c.Batch1Messages = 3000
	}
	if c.BodyBytes == 0 {
		c.BodyBytes = 200
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.LatencyDuration == 0 {
		c.LatencyDuration = 5 * time.Second
	}
	return c
}

// Result is one arm: its value, the same-run reference and their ratio.
type Result struct {
	ID             string  `json:"id"`
	Arm            string  `json:"arm"`
	Value          float64 `json:"value"`
	Unit           string  `json:"unit"`
	Reference      string  `json:"reference"`
	ReferenceValue float64 `json:"reference_value"`
	Ratio          float64 `json:"ratio"`
	Target         string  `json:"target,omitempty"`
	Met            *bool   `json:"met,omitempty"`
}

// Env is the machine line every run prints.
type Env struct {
	GoVersion     string  `json:"go"`
	OS            string  `json:"os"`
	CPUs          int     `json:"cpus"`
	Driver        string  `json:"driver"`
	SQLiteVersion string  `json:"sqlite"`
	JournalMode   string  `json:"journal_mode"`
	Synchronous   string  `json:"synchronous"`
	FsyncPerSec   float64 `json:"fdatasync_per_sec"`
	FsyncP50      string  `json:"fdatasync_p50"`
	Date          string  `json:"date"`
}

func (e Env) String() string {
	return fmt.Sprintf("%s %s, %d CPUs, %s (SQLite %s), journal_mode=%s synchronous=%s, fdatasync %.0f/s (p50 %s), %s",
		e.GoVersion, e.OS, e.CPUs, e.Driver, e.SQLiteVersion, e.JournalMode, e.Synchronous, e.FsyncPerSec, e.FsyncP50, e.Date)
}

// Run runs the selected arms and returns the environment and the results.
func Run(ctx context.Context, cfg Config) (Env, []Result, error) {
	cfg = cfg.withDefaults()
	want := func(id string) bool { return len(cfg.Only) == 0 || slices.Contains(cfg.Only, id) }
	env := Env{GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, CPUs: runtime.NumCPU(),
		Driver: "modernc.org/sqlite " + moduleVersion("modernc.org/sqlite"), JournalMode: "wal", Synchronous: cfg.Synchronous,
		Date: time.Now().UTC().Format(time.RFC3339)}
	arm := 0
	fresh := func(name string) (string, error) {
		arm++
		fmt.Fprintf(cfg.Progress, "running %s\n", name)
		d := filepath.Join(cfg.Dir, fmt.Sprintf("%02d-%s", arm, name))
		return d, os.MkdirAll(d, 0o700)
	}

	dir, err := fresh("fdatasync")
	if err != nil {
		return env, nil, err
	}
	fsyncRate, p50, err := Fsync(dir, cfg.Duration)
	if err != nil {
		return env, nil, fmt.Errorf("fdatasync reference: %w", err)
	}
	env.FsyncPerSec, env.FsyncP50 = fsyncRate, p50.String()
	if env.SQLiteVersion, err = sqliteVersion(dir); err != nil {
		return env, nil, err
	}
	body := make([]byte, cfg.BodyBytes)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}

	var results []Result
	add := func(r Result, target float64, atLeast bool) {
		if r.ReferenceValue > 0 {
			r.Ratio = r.Value / r.ReferenceValue
		}
		if target > 0 {
			met := (atLeast && r.Ratio >= target) || (!atLeast && r.Ratio <= target)
			r.Met = &met
			op := "≥"
			if !atLeast {
				op = "≤"
			}
			r.Target = fmt.Sprintf("%s %g", op, target)
		}
		results = append(results, r)
	}
	withEngine := func(name string, poll time.Duration, fn func(Target) error) error {
		dir, err := fresh(name)
		if err != nil {
			return err
		}
		tg, closeFn, err := cfg.Open(ctx, dir, poll)
		if err != nil {
			return fmt.Errorf("%s: open engine: %w", name, err)
		}
		err = fn(tg)
		if cerr := closeFn(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	pipeline := func(name string, p PipelineParams) (PipelineResult, error) {
		var res PipelineResult
		err := withEngine(name, 0, func(tg Target) error {
			var err error
			res, err = Pipeline(ctx, tg, p)
			return err
		})
		return res, err
	}

	if want("B1") {
		dir, err := fresh("sqlite-commits")
		if err != nil {
			return env, results, err
		}
		raw, err := SQLiteCommits(ctx, dir, cfg.Synchronous, cfg.Duration)
		if err != nil {
			return env, results, fmt.Errorf("raw SQLite commits: %w", err)
		}
		var stageRate float64
		if err := withEngine("stage-tx", 0, func(tg Target) error {
			var err error
			stageRate, err = StageTx(ctx, tg, cfg.Duration, body)
			return err
		}); err != nil {
			return env, results, err
		}
		add(Result{ID: "B1", Arm: "stage-tx", Value: stageRate, Unit: "tx/s", Reference: "fdatasync", ReferenceValue: fsyncRate}, 0.6, true)
		add(Result{ID: "B1", Arm: "stage-tx", Value: stageRate, Unit: "tx/s", Reference: "raw SQLite single-row commit", ReferenceValue: raw}, 0, true)
	}

	var batch1 float64
	if want("B2") || want("B3") {
		res, err := pipeline("pipeline-batch-1", PipelineParams{Messages: cfg.Batch1Messages, Batch: 1, Workers: 1, Body: body})
		if err != nil {
			return env, results, err
		}
		batch1 = res.PerSecond
	}
	if want("B2") {
		dir, err := fresh("goqite")
		if err != nil {
			return env, results, err
		}
		gq, err := Goqite(ctx, dir, cfg.Synchronous, cfg.Duration, body)
		if err != nil {
			return env, results, fmt.Errorf("goqite reference: %w", err)
		}
		add(Result{ID: "B2", Arm: "goqite send+receive+delete", Value: gq, Unit: "msg/s", Reference: "fdatasync", ReferenceValue: fsyncRate}, 0, true)
		add(Result{ID: "B2", Arm: "4-stage batch 1", Value: batch1, Unit: "cycles/s", Reference: "fdatasync", ReferenceValue: fsyncRate}, 0.25, true)
		for _, batch := range []int{10, 100} {
			res, err := pipeline(fmt.Sprintf("pipeline-batch-%d", batch), PipelineParams{Messages: cfg.Messages, Batch: batch, Workers: 1, Body: body})
			if err != nil {
				return env, results, err
			}
			target := 0.0
			if batch == 100 {
				target = 5
			}
			add(Result{ID: "B2", Arm: fmt.Sprintf("4-stage batch %d", batch), Value: res.PerSecond, Unit: "cycles/s", Reference: "goqite", ReferenceValue: gq}, target, true)
		}
	}
	if want("B3") {
		for _, inflight := range []int{1, 8, 64} {
			res, err := pipeline(fmt.Sprintf("inflight-%d", inflight), PipelineParams{Messages: cfg.Batch1Messages, Batch: 1, Workers: inflight, Body: body})
			if err != nil {
				return env, results, err
			}
			target := 0.0
			if inflight == 64 {
				target = 2
			}
			add(Result{ID: "B3", Arm: fmt.Sprintf("batch 1, %d in flight", inflight), Value: res.PerSecond, Unit: "cycles/s", Reference: "B2 4-stage batch 1", ReferenceValue: batch1}, target, true)
			if res.PhysicalCommits >= 0 {
				perCycle := float64(res.PhysicalCommits) / float64(res.Messages)
				r := Result{ID: "B3", Arm: fmt.Sprintf("batch 1, %d in flight: commits per cycle", inflight), Value: perCycle, Unit: "fsync/cycle", Reference: "none (absolute)", ReferenceValue: 1}
				if inflight == 64 {
					add(r, 0.5, false)
				} else {
					add(r, 0, false)
				}
			}
		}
	}
	if want("B4") {
		const workers = 4
		capRes, err := pipeline("b4-capacity", PipelineParams{Messages: cfg.Batch1Messages, Batch: 1, Workers: workers, Body: body})
		if err != nil {
			return env, results, err
		}
		capacity := capRes.PerSecond
		target50 := 4*p50 + time.Millisecond
		for _, load := range []float64{0.1, 0.5, 0.8} {
			var push, poll LatencyResult
			for _, arm := range []struct {
				poll time.Duration
				into *LatencyResult
			}{{0, &push}, {10 * time.Millisecond, &poll}} {
				name := fmt.Sprintf("b4-load-%.0f-poll-%s", load*100, arm.poll)
				if err := withEngine(name, arm.poll, func(tg Target) error {
					var err error
					*arm.into, err = Latency(ctx, tg, load*capacity, cfg.LatencyDuration, workers)
					return err
				}); err != nil {
					return env, results, err
				}
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			label := fmt.Sprintf("%.0f %% load (%.0f cycles/s)", load*100, load*capacity)
			p50Target, p99Target := 0.0, 0.0
			if load == 0.5 {
				p50Target, p99Target = 1, 1
			}
			add(Result{ID: "B4", Arm: label + ", p50 push", Value: ms(push.P50), Unit: "ms", Reference: "10 ms polling variant p50", ReferenceValue: ms(poll.P50)}, 0, true)
			add(Result{ID: "B4", Arm: label + ", p99 push", Value: ms(push.P99), Unit: "ms", Reference: "10 ms polling variant p99", ReferenceValue: ms(poll.P99)}, 0, true)
			if load == 0.5 {
				add(Result{ID: "B4", Arm: label + ", p50 push vs 4 × fdatasync p50 + 1 ms", Value: ms(push.P50), Unit: "ms", Reference: "4 × fdatasync p50 + 1 ms", ReferenceValue: ms(target50)}, p50Target, false)
				add(Result{ID: "B4", Arm: label + ", p99 push vs 10 ms", Value: ms(push.P99), Unit: "ms", Reference: "10 ms", ReferenceValue: 10}, p99Target, false)
			}
		}
	}
	return env, results, nil
}

func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "(unknown version)"
}

func sqliteVersion(dir string) (string, error) {
	db, err := openSQLite(filepath.Join(dir, "version.db"), "FULL")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	if err := db.QueryRow("SELECT sqlite_version()").Scan(&v); err != nil {
		return "", fmt.Errorf("sqlite version: %w", err)
	}
	return v, nil
}

// WriteTable prints the human table.
func WriteTable(w io.Writer, env Env, rs []Result) error {
	fmt.Fprintf(w, "machine: %s\n\n", env)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "id\tarm\tvalue\treference\tratio\ttarget\t")
	for _, r := range rs {
		met := ""
		if r.Met != nil {
			met = map[bool]string{true: "met", false: "NOT MET"}[*r.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s (%s)\t%.2f\t%s %s\t\n", r.ID, r.Arm, num(r.Value), r.Unit, r.Reference, num(r.ReferenceValue), r.Ratio, r.Target, met)
	}
	return tw.Flush()
}

func num(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// WriteJSON prints the environment, then one JSON object per arm, one a line.
func WriteJSON(w io.Writer, env Env, rs []Result) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(map[string]Env{"env": env}); err != nil {
		return err
	}
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
