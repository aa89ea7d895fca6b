package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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
	oodad, _ := binaries(t)
	natsAddr := freeAddr(t)
	args := append([]string{"run", "--state", "sqlite://" + dir, "--nats-listen", natsAddr, "--http", "none", "--schedule", "none", "--stop-timeout", "15s"}, extra...)
	cmd := exec.Command(oodad, args...)
	cmd.Env = append(os.Environ(), "OODA_LOG_LEVEL=info")
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
	nc, err := nats.Connect(d.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	events := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe("hartonomous.ooda.evt.>", events)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

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
