package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/brokerbench"
	"github.com/hartonomous/ooda/broker/embedded"
	"github.com/hartonomous/ooda/broker/natsbus"
	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
	"github.com/hartonomous/ooda/store/sqlite"
)

// runNATSServer is the reference process of benchmark B5: the embedded NATS
// server alone (JetStream on), as oodad runs it, and nothing else.
func runNATSServer(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return usageError{fmt.Errorf("nats-server LISTEN STOREDIR")}
	}
	ns, _, err := natsbus.StartEmbedded(natsbus.EmbeddedOptions{Listen: args[0], StoreDir: args[1]})
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, `{"message":"ready"}`)
	<-ctx.Done()
	ns.Shutdown()
	ns.WaitForShutdown()
	return nil
}

func localAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// child is an oodad process started by a benchmark.
type child struct {
	cmd     *exec.Cmd
	startup time.Duration // from its "ready" log line
	http    string
}

// spawn starts this binary with args and waits for its "ready" line.
func spawn(ctx context.Context, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var line struct {
			Message string  `json:"message"`
			Startup float64 `json:"startup"` // milliseconds
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "ready" {
			go io.Copy(io.Discard, stderr)
			return &child{cmd: cmd, startup: time.Duration(line.Startup * float64(time.Millisecond))}, nil
		}
	}
	_ = cmd.Wait()
	return nil, fmt.Errorf("%s %s exited before it was ready", filepath.Base(self), strings.Join(args, " "))
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.cmd.Wait()
}

// cpuAndRSS reads a process's CPU time so far and its resident memory.
func cpuAndRSS(pid int) (time.Duration, int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	rssPages, _ := strconv.ParseInt(f[21], 10, 64)
	// USER_HZ is 100 on Linux.
	return time.Duration(utime+stime) * 10 * time.Millisecond, rssPages * int64(os.Getpagesize()), nil
}

func scrape(addr, metric string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == metric {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", metric)
}

// benchIdle is B5: the daemon idle for d with its embedded NATS, against a
// bare embedded nats-server process over the same time.
func benchIdle(ctx context.Context, root string, d time.Duration) ([]brokerbench.Result, error) {
	natsAddr, err := localAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := localAddr()
	if err != nil {
		return nil, err
	}
	daemon, err := spawn(ctx, "run", "--state", "sqlite://"+filepath.Join(root, "b5-daemon"), "--nats-listen", natsAddr, "--http", httpAddr, "--schedule", "none")
	if err != nil {
		return nil, err
	}
	defer daemon.stop()
	refAddr, err := localAddr()
	if err != nil {
		return nil, err
	}
	ref, err := spawn(ctx, "nats-server", refAddr, filepath.Join(root, "b5-nats"))
	if err != nil {
		return nil, err
	}
	defer ref.stop()
	time.Sleep(2 * time.Second) // let both finish starting before measuring
	sql0, err := scrape(httpAddr, "ooda_sql_statements_total")
	if err != nil {
		return nil, err
	}
	cpuD0, _, err := cpuAndRSS(daemon.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	cpuR0, _, err := cpuAndRSS(ref.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(d):
	}
	cpuD1, rssD, err := cpuAndRSS(daemon.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	cpuR1, rssR, err := cpuAndRSS(ref.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	sql1, err := scrape(httpAddr, "ooda_sql_statements_total")
	if err != nil {
		return nil, err
	}
	pct := func(cpu time.Duration) float64 { return 100 * cpu.Seconds() / d.Seconds() }
	met := func(b bool) *bool { return &b }
	cpuD, cpuR := pct(cpuD1-cpuD0), pct(cpuR1-cpuR0)
	perMin := (sql1 - sql0) / d.Minutes()
	return []brokerbench.Result{
		{ID: "B5", Arm: fmt.Sprintf("idle CPU over %s", d), Value: cpuD, Unit: "% of a core", Reference: "bare embedded nats-server process", ReferenceValue: cpuR, Ratio: ratio(cpuD, cpuR), Target: "≤ 0.1 %", Met: met(cpuD <= 0.1)},
		{ID: "B5", Arm: "idle SQL statements", Value: perMin, Unit: "per minute", Reference: "none (absolute)", Target: "0", Met: met(perMin == 0)},
		{ID: "B5", Arm: "idle RSS", Value: float64(rssD) / (1 << 20), Unit: "MiB", Reference: "bare embedded nats-server process", ReferenceValue: float64(rssR) / (1 << 20), Ratio: ratio(float64(rssD), float64(rssR)), Target: "≤ 1.5", Met: met(ratio(float64(rssD), float64(rssR)) <= 1.5)},
	}, nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// benchStart is B7: ready time on an empty state (median of 5 starts) and
// with a backlog of n queued triggers, and the rate at which the daemon
// drains that backlog in its first seconds.
func benchStart(ctx context.Context, root string, n int, window time.Duration) ([]brokerbench.Result, error) {
	var empties []time.Duration
	for i := range 5 {
		c, err := spawn(ctx, "run", "--state", fmt.Sprintf("sqlite://%s/b7-empty-%d", root, i), "--nats", "none", "--http", "none", "--schedule", "none")
		if err != nil {
			return nil, err
		}
		empties = append(empties, c.startup)
		c.stop()
	}
	slices.Sort(empties)
	empty := empties[len(empties)/2]

	dir := filepath.Join(root, "b7-backlog")
	if err := preloadTriggers(ctx, dir, n); err != nil {
		return nil, fmt.Errorf("preload %d triggers: %w", n, err)
	}
	c, err := spawn(ctx, "run", "--state", "sqlite://"+dir, "--nats", "none", "--http", "none", "--schedule", "none")
	if err != nil {
		return nil, err
	}
	backlog := c.startup
	select {
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	case <-time.After(window):
	}
	c.stop()
	st, err := sqlite.Open(filepath.Join(dir, embedded.DatabaseFile))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	cs, err := st.Cycles(ctx, n)
	if err != nil {
		return nil, err
	}
	done := 0
	for _, cy := range cs {
		if cy.Status != store.StatusRunning {
			done++
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	met := func(b bool) *bool { return &b }
	return []brokerbench.Result{
		{ID: "B7", Arm: "ready, empty state (median of 5)", Value: ms(empty), Unit: "ms", Reference: "target", ReferenceValue: 100, Ratio: ms(empty) / 100, Target: "≤ 1", Met: met(ms(empty) <= 100)},
		{ID: "B7", Arm: fmt.Sprintf("ready, %d triggers queued", n), Value: ms(backlog), Unit: "ms", Reference: "target", ReferenceValue: 200, Ratio: ms(backlog) / 200, Target: "≤ 1", Met: met(ms(backlog) <= 200)},
		{ID: "B7", Arm: fmt.Sprintf("drain of full cycles (sensors and actions included), first %s", window), Value: float64(done) / window.Seconds(), Unit: "cycles/s", Reference: "none here (B2 measures the broker alone)"},
	}, nil
}

// preloadTriggers queues n trigger messages, as n operators' triggers would,
// a few thousand per transaction.
func preloadTriggers(ctx context.Context, dir string, n int) error {
	b, err := embedded.Open(ctx, embedded.Options{Dir: dir, Topology: ooda.Topology()})
	if err != nil {
		return err
	}
	defer b.Close()
	st, err := sqlite.Open(filepath.Join(dir, embedded.DatabaseFile))
	if err != nil {
		return err
	}
	defer st.Close()
	for sent := 0; sent < n; {
		tx, err := b.Begin(ctx)
		if err != nil {
			return err
		}
		q, err := tx.SQL(ctx)
		if err != nil {
			return err
		}
		for j := 0; j < 5000 && sent < n; j, sent = j+1, sent+1 {
			id := broker.NewID().String()
			if _, _, err := st.StartCycle(ctx, q, store.Cycle{ID: id, Source: "bench", Reason: "backlog", StartedAt: time.Now()}); err != nil {
				_ = tx.Rollback()
				return err
			}
			h, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: ooda.TriggerService, To: ooda.ObserveService, Contract: ooda.ContractFor(ooda.KindTrigger)})
			if err != nil {
				_ = tx.Rollback()
				return err
			}
			body, _ := ooda.Encode(ooda.Envelope{CycleID: id, Kind: ooda.KindTrigger, CreatedAt: time.Now(), Payload: []byte(`{"source":"bench","reason":"backlog"}`)})
			if err := tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: ooda.KindTrigger.MessageType(), Body: body}); err != nil {
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

// benchFanout is B6: the batch-10 pipeline with one outbox event per message
// per stage, published by the relay to nowhere (events off), to core NATS,
// and to JetStream, each against events off; then a count that every event
// arrived.
func benchFanout(ctx context.Context, root string, messages int) ([]brokerbench.Result, error) {
	body := make([]byte, 200)
	var offRate float64
	var out []brokerbench.Result
	for _, arm := range []string{"events off", "core NATS", "JetStream"} {
		dir := filepath.Join(root, "b6-"+strings.ReplaceAll(arm, " ", "-"))
		rate, delivered, err := fanoutArm(ctx, dir, arm, messages, body)
		if err != nil {
			return nil, fmt.Errorf("B6 %s: %w", arm, err)
		}
		if arm == "events off" {
			offRate = rate
			out = append(out, brokerbench.Result{ID: "B6", Arm: "batch 10, events off", Value: rate, Unit: "cycles/s", Reference: "itself", ReferenceValue: rate, Ratio: 1})
			continue
		}
		target := map[string]float64{"core NATS": 0.95, "JetStream": 0.85}[arm]
		met := rate/offRate >= target
		out = append(out, brokerbench.Result{ID: "B6", Arm: "batch 10, events to " + arm, Value: rate, Unit: "cycles/s", Reference: "events off", ReferenceValue: offRate,
			Ratio: rate / offRate, Target: fmt.Sprintf("≥ %g", target), Met: &met})
		want := 4 * messages
		all := delivered == want
		out = append(out, brokerbench.Result{ID: "B6", Arm: arm + ": events delivered", Value: float64(delivered), Unit: "events", Reference: "events committed", ReferenceValue: float64(want),
			Ratio: float64(delivered) / float64(want), Target: "= 1", Met: &all})
	}
	return out, nil
}

func fanoutArm(ctx context.Context, dir, arm string, messages int, body []byte) (rate float64, delivered int, err error) {
	b, err := embedded.Open(ctx, embedded.Options{Dir: dir, Topology: brokerbench.Topology()})
	if err != nil {
		return 0, 0, err
	}
	defer b.Close()
	st, err := sqlite.Open(filepath.Join(dir, embedded.DatabaseFile))
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	p := brokerbench.PipelineParams{Messages: messages, Batch: 10, Workers: 1, Body: body}
	var (
		relay *natsbus.Relay
		count func() (int, error)
	)
	if arm != "events off" {
		addr, err := localAddr()
		if err != nil {
			return 0, 0, err
		}
		store := ""
		if arm == "JetStream" {
			store = filepath.Join(dir, "nats")
		}
		ns, url, err := natsbus.StartEmbedded(natsbus.EmbeddedOptions{Listen: addr, StoreDir: store})
		if err != nil {
			return 0, 0, err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		nc, err := nats.Connect(url)
		if err != nil {
			return 0, 0, err
		}
		defer nc.Close()
		var js jetstream.JetStream
		if arm == "JetStream" {
			if js, err = jetstream.New(nc); err != nil {
				return 0, 0, err
			}
			if err := natsbus.EnsureStream(ctx, js); err != nil {
				return 0, 0, err
			}
			count = func() (int, error) {
				s, err := js.Stream(ctx, natsbus.StreamName)
				if err != nil {
					return 0, err
				}
				info, err := s.Info(ctx)
				if err != nil {
					return 0, err
				}
				return int(info.State.Msgs), nil
			}
		} else {
			// A subscriber that counts as events arrive (one that read only at
			// the end would be cut off by the server as a slow consumer).
			var n atomic.Int64
			sub, err := nc.Subscribe(natsbus.EventPrefix+">", func(*nats.Msg) { n.Add(1) })
			if err != nil {
				return 0, 0, err
			}
			if err := sub.SetPendingLimits(-1, -1); err != nil {
				return 0, 0, err
			}
			if err := nc.Flush(); err != nil {
				return 0, 0, err
			}
			count = func() (int, error) {
				_ = nc.Flush() // the last events are through the server
				return int(n.Load()), nil
			}
		}
		relay = natsbus.NewRelay(natsbus.Relay{NC: nc, JetStream: js, Reader: st, Source: "oodad/bench", Logger: newLogger(os.Stderr, zerolog.WarnLevel),
			Trim: func(ctx context.Context, seqs []int64) error {
				return broker.InTx(ctx, b, func(_ broker.Tx, q broker.Querier) error { return st.DeleteEvents(ctx, q, seqs) })
			}})
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = relay.Run(rctx) }()
		defer func() { stop(); <-done }()
		p.PerMessage = func(ctx context.Context, q broker.Querier, stage int, m broker.Message) error {
			return st.AddEvent(ctx, q, storeEvent(stage))
		}
		p.AfterCommit = relay.Kick
	}
	res, err := brokerbench.Pipeline(ctx, brokerbench.Target{Broker: b,
		StateDDL:    "CREATE TABLE IF NOT EXISTS bench_state (id INTEGER PRIMARY KEY, stage INTEGER NOT NULL, body BLOB NOT NULL)",
		InsertState: "INSERT INTO bench_state (stage, body) VALUES (@stage, @body)"}, p)
	if err != nil || count == nil {
		return res.PerSecond, 0, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, err := st.OutboxDepth(ctx)
		if err != nil {
			return 0, 0, err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("outbox still holds %d events after 2 minutes", n)
		}
		relay.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	delivered, err = count()
	return res.PerSecond, delivered, err
}

func storeEvent(stage int) store.Event {
	return store.Event{ID: broker.NewID().String(), Kind: "bench.stage" + strconv.Itoa(stage), CreatedAt: time.Now(), Data: []byte(`{}`)}
}
