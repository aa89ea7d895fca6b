package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hartonomous/ooda/broker/embedded"
	"github.com/hartonomous/ooda/store/sqlite"
)

// The end-to-end tests run the real binaries, built once.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t *testing.T) (oodad, oodactl string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ooda-bin-")
		if buildErr != nil {
			return
		}
		for _, name := range []string{"oodad", "oodactl"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "github.com/hartonomous/ooda/cmd/"+name).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "oodad"), filepath.Join(binDir, "oodactl")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := localAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// daemon is a running oodad process.
type daemon struct {
	cmd     *exec.Cmd
	natsURL string
	dir     string
	logs    *syncBuffer
	exited  chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startDaemon(t *testing.T, dir string, extra ...string) *daemon {
	t.Helper()
	return startDaemonOn(t, "sqlite://"+dir, dir, extra...)
}

// startDaemonOn starts oodad on a state backend, with dir for its local
// files (the embedded NATS store).
func startDaemonOn(t *testing.T, state, dir string, extra ...string) *daemon {
	t.Helper()
	oodad, _ := binaries(t)
	natsAddr := freeAddr(t)
	args := append([]string{"run", "--state", state, "--nats-listen", natsAddr, "--http", "none", "--schedule", "none", "--stop-timeout", "15s"}, extra...)
	cmd := exec.Command(oodad, args...)
	cmd.Env = append(os.Environ(), "OODA_LOG_LEVEL=info", "STATE_DIRECTORY="+dir)
	d := &daemon{cmd: cmd, natsURL: "nats://" + natsAddr, dir: dir, logs: &syncBuffer{}, exited: make(chan error, 1)}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			d.logs.Write(append(sc.Bytes(), '\n'))
			if strings.Contains(sc.Text(), `"message":"ready"`) {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { err := cmd.Wait(); pw.Close(); d.exited <- err }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("oodad logs:\n%s", d.logs.String())
		}
	})
	select {
	case <-ready:
	case err := <-d.exited:
		t.Fatalf("oodad exited before ready: %v\n%s", err, d.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("oodad not ready after 30s\n%s", d.logs.String())
	}
	return d
}

// subscribeEvents subscribes to every event of the daemon, as a plain NATS
// client; the subscription is in place when it returns and ends with t.
func (d *daemon) subscribeEvents(t *testing.T, buffer int) chan *nats.Msg {
	t.Helper()
	nc, err := nats.Connect(d.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	events := make(chan *nats.Msg, buffer)
	if _, err := nc.ChanSubscribe("hartonomous.ooda.evt.>", events); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return events
}

func (d *daemon) oodactl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	_, ctl := binaries(t)
	cmd := exec.Command(ctl, append([]string{"--nats", d.natsURL}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("oodad exited with %v after SIGTERM\n%s", err, d.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("oodad still running 20s after SIGTERM")
	}
}

func TestEndToEndCycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDaemon(t, dir)

	// A plain NATS subscriber, as another service would be.
	events := d.subscribeEvents(t, 64)

	out, err := d.oodactl(t, "trigger", "--wait", "--reason", "end-to-end")
	if err != nil {
		t.Fatalf("oodactl trigger --wait: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	cycleID := strings.Fields(lines[0])[1]
	var kinds []string
	for _, l := range lines[1:] {
		kinds = append(kinds, strings.Fields(l)[1])
	}
	want := "cycle.started observation orientation decision action cycle.completed"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("oodactl followed %q, want %q\n%s", kinds, want, out)
	}

	// The subscriber saw the same events in stage order, as CloudEvents.
	var seen []string
	deadline := time.After(10 * time.Second)
	for len(seen) < 6 {
		select {
		case m := <-events:
			if m.Header.Get("ce-subject") != cycleID {
				continue
			}
			if m.Header.Get("ce-specversion") != "1.0" || m.Header.Get("ce-id") == "" || m.Header.Get("ce-id") != m.Header.Get(nats.MsgIdHdr) ||
				m.Header.Get("ce-type") != "hartonomous.ooda."+strings.TrimPrefix(m.Subject, "hartonomous.ooda.evt.") || m.Header.Get("ce-time") == "" || m.Header.Get("ce-source") == "" {
				t.Fatalf("event %s lacks CloudEvents headers: %v", m.Subject, m.Header)
			}
			if !json.Valid(m.Data) {
				t.Fatalf("event %s data is not JSON: %q", m.Subject, m.Data)
			}
			seen = append(seen, strings.TrimPrefix(m.Subject, "hartonomous.ooda.evt."))
		case <-deadline:
			t.Fatalf("subscriber saw only %v", seen)
		}
	}
	if strings.Join(seen, " ") != want {
		t.Fatalf("subscriber saw %v, want %s", seen, want)
	}

	out, err = d.oodactl(t, "show", cycleID)
	if err != nil || !strings.Contains(out, "completed") || !strings.Contains(out, "optimize") || !strings.Contains(out, "executed") {
		t.Fatalf("oodactl show: %v\n%s", err, out)
	}
	out, err = d.oodactl(t, "show", "no-such-cycle")
	if err == nil || !strings.Contains(out, `no cycle "no-such-cycle"`) {
		t.Fatalf("oodactl show of an unknown cycle: %v\n%s", err, out)
	}
	out, err = d.oodactl(t, "events", "--last", "100")
	if err != nil || strings.Count(out, cycleID) != 6 || !strings.Contains(out, "cycle.completed") {
		t.Fatalf("oodactl events: %v\n%s", err, out)
	}
	out, err = d.oodactl(t, "approve", "no-such-approval", "--reason", "test")
	if err == nil || !strings.Contains(out, `no approval "no-such-approval"`) {
		t.Fatalf("oodactl approve of an unknown id: %v\n%s", err, out)
	}
	out, err = d.oodactl(t, "approve", "some-id")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(out, "needs an approval id and a reason") {
		t.Fatalf("oodactl approve without a reason: %v\n%s", err, out)
	}
	out, err = d.oodactl(t, "redrive", "4242")
	if err == nil || !strings.Contains(out, "no dead letter 4242") {
		t.Fatalf("oodactl redrive of an unknown id: %v\n%s", err, out)
	}
	out, err = d.oodactl(t, "--json", "status")
	if err != nil || !strings.Contains(out, `"outbox_depth":0`) {
		t.Fatalf("oodactl status: %v\n%s", err, out)
	}

	d.stop(t)
	// Nothing left in the outbox after a clean stop.
	st, err := sqlite.Open(filepath.Join(dir, embedded.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.OutboxDepth(context.Background()); err != nil || n != 0 {
		t.Fatalf("outbox after SIGTERM: %d events, %v", n, err)
	}
	if !strings.Contains(d.logs.String(), `"message":"stopped"`) {
		t.Fatalf("no stop line in the logs:\n%s", d.logs.String())
	}
}

func TestSecondDaemonOnSameDirectoryRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startDaemon(t, dir)
	oodad, _ := binaries(t)
	out, err := exec.Command(oodad, "run", "--state", "sqlite://"+dir, "--nats", "none", "--http", "none").CombinedOutput()
	if err == nil {
		t.Fatal("a second daemon started on the same directory")
	}
	if want := fmt.Sprintf("in use by process %d", first.cmd.Process.Pid); !strings.Contains(string(out), want) {
		t.Fatalf("second daemon said %q, want it to name %q", out, want)
	}
	first.stop(t)
}

func TestOodactlWithoutDaemon(t *testing.T) {
	t.Parallel()
	_, ctl := binaries(t)
	out, err := exec.Command(ctl, "--nats", "nats://"+freeAddr(t), "--timeout", "2s", "status").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot reach NATS") {
		t.Fatalf("oodactl with nothing listening: %v\n%s", err, out)
	}
	out, err = exec.Command(ctl, "frobnicate").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %v\n%s", err, out)
	}
}

func (d *daemon) kill9(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

type cycleJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func (d *daemon) trigger(t *testing.T, reason string) string {
	t.Helper()
	out, err := d.oodactl(t, "--json", "trigger", "--reason", reason)
	if err != nil {
		t.Fatalf("trigger: %v\n%s", err, out)
	}
	var r struct {
		CycleID string `json:"cycle_id"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.CycleID == "" {
		t.Fatalf("trigger answered %q", out)
	}
	return r.CycleID
}

// TestKillNineDuringCycles kills the daemon at arbitrary moments while
// cycles run, restarts it, and checks that every triggered cycle completed
// exactly once and that its events reached the JetStream stream once each.
func TestKillNineDuringCycles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var ids []string
	for round, delay := range []time.Duration{0, 3 * time.Millisecond, 8 * time.Millisecond, 20 * time.Millisecond} {
		d := startDaemon(t, dir)
		for i := range 3 {
			ids = append(ids, d.trigger(t, fmt.Sprintf("round %d, cycle %d", round, i)))
		}
		<-time.After(delay) // the kill lands wherever the cycles are
		d.kill9(t)
	}
	verifyAfterRestart(t, startDaemon(t, dir), ids)
}

// verifyAfterRestart waits until every triggered cycle has completed (none
// failed, none extra) and the outbox has drained, then checks that each
// cycle's events are in the JetStream stream exactly once.
func verifyAfterRestart(t *testing.T, d *daemon, ids []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := d.oodactl(t, "--json", "cycles", "--limit", "100")
		if err != nil {
			t.Fatalf("cycles: %v\n%s", err, out)
		}
		var cs []cycleJSON
		if err := json.Unmarshal([]byte(out), &cs); err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, c := range cs {
			switch c.Status {
			case "completed":
				done++
			case "failed":
				t.Fatalf("cycle %s failed", c.ID)
			}
		}
		if done == len(ids) && len(cs) == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restarts %d of %d cycles completed: %s", done, len(ids), out)
		}
		<-time.After(50 * time.Millisecond)
	}
	for {
		out, _ := d.oodactl(t, "--json", "status")
		if strings.Contains(out, `"outbox_depth":0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox not drained: %s", out)
		}
		<-time.After(50 * time.Millisecond)
	}
	nc, err := nats.Connect(d.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	byCycle := readStream(t, nc)
	for _, id := range ids {
		for _, k := range []string{"cycle.started", "observation", "orientation", "decision", "cycle.completed"} {
			if n := len(byCycle[id][k]); n != 1 {
				t.Errorf("cycle %s: %d distinct %s events in the stream, want exactly 1", id, n, k)
			}
		}
	}
}

// readStream returns, per cycle and kind, the distinct event ids in the stream.
func readStream(t *testing.T, nc *nats.Conn) map[string]map[string]map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, "HARTONOMOUS_OODA")
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]map[string]bool{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream message %d: %v", seq, err)
		}
		cycle, kind := m.Header.Get("ce-subject"), strings.TrimPrefix(m.Subject, "hartonomous.ooda.evt.")
		if out[cycle] == nil {
			out[cycle] = map[string]map[string]bool{}
		}
		if out[cycle][kind] == nil {
			out[cycle][kind] = map[string]bool{}
		}
		out[cycle][kind][m.Header.Get("ce-id")] = true
	}
	return out
}

// TestKillNineAtEachStage aims each kill at one stage: a subscriber kills the
// daemon the moment it sees the event that ends the previous stage, so the
// kill lands while the next one runs (or just after). Every cycle still
// completes exactly once, with each of its events once in the stream.
func TestKillNineAtEachStage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var ids []string
	for _, after := range []string{"cycle.started", "observation", "orientation", "decision"} {
		d := startDaemon(t, dir)
		nc, err := nats.Connect(d.natsURL)
		if err != nil {
			t.Fatal(err)
		}
		// Earlier rounds' cycles resume first and publish too: the kill waits
		// for this round's cycle, known by its reason.
		reason := "killed after " + after
		killed := make(chan string, 1)
		var (
			mu   sync.Mutex
			mine string
			once sync.Once
		)
		sub, err := nc.Subscribe("hartonomous.ooda.evt.>", func(m *nats.Msg) {
			kind, cycle := strings.TrimPrefix(m.Subject, "hartonomous.ooda.evt."), m.Header.Get("ce-subject")
			mu.Lock()
			defer mu.Unlock()
			if kind == "cycle.started" && strings.Contains(string(m.Data), `"reason":"`+reason+`"`) {
				mine = cycle
			}
			if kind == after && cycle == mine && mine != "" {
				once.Do(func() { _ = d.cmd.Process.Signal(syscall.SIGKILL); killed <- cycle })
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		// The kill may land before the daemon answers the trigger.
		go d.oodactl(t, "trigger", "--reason", reason)
		select {
		case id := <-killed:
			ids = append(ids, id)
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s event of this round's cycle to kill on", after)
		}
		<-d.exited
		_ = sub.Unsubscribe()
		nc.Close()
	}
	verifyAfterRestart(t, startDaemon(t, dir), ids)
}
