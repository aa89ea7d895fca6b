package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hartonomous/ooda/broker/embedded"
	"github.com/hartonomous/ooda/store/sqlite"
)

// natsServer runs Debian's nats-server binary (installed by .ci/run), so
// that the test can kill it like an outage would.
func natsServer(t *testing.T, addr, storeDir string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Fatalf("nats-server is not installed (.ci/run installs Debian's package): %v", err)
	}
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(bin, "-a", host, "-p", port, "-js", "-sd", storeDir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		nc, err := nats.Connect("nats://"+addr, nats.Timeout(time.Second))
		if err == nil {
			nc.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server on %s did not start: %v", addr, err)
		}
		<-time.After(50 * time.Millisecond)
	}
}

type readyz struct {
	NATS        string `json:"nats"`
	OutboxDepth int64  `json:"outbox_depth"`
}

func getReadyz(t *testing.T, addr string) readyz {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readyz
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %s", what)
		}
		<-time.After(50 * time.Millisecond)
	}
}

// TestNATSOutageLosesNoEvents: events produced while NATS is down wait in
// the outbox and reach the stream, each once, when it is back.
func TestNATSOutageLosesNoEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	jsDir := filepath.Join(t.TempDir(), "js")
	srv := natsServer(t, natsAddr, jsDir)
	d := startDaemon(t, dir, "--nats", "nats://"+natsAddr, "--http", httpAddr, "--schedule", "@every 1s")
	st, err := sqlite.Open(filepath.Join(dir, embedded.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	completed := func() int {
		cs, err := st.Cycles(context.Background(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range cs {
			if c.Status == "completed" {
				n++
			}
		}
		return n
	}
	waitFor(t, "a first scheduled cycle", func() bool { return completed() >= 1 })

	// The outage: cycles go on, their events wait.
	_ = srv.Process.Kill()
	_ = srv.Wait()
	before := completed()
	waitFor(t, "cycles during the outage", func() bool { return completed() >= before+2 })
	if r := getReadyz(t, httpAddr); r.OutboxDepth == 0 || r.NATS == "CONNECTED" {
		t.Fatalf("during the outage /readyz says %+v; want events waiting and NATS not connected", r)
	}
	if m := getMetrics(t, httpAddr); !strings.Contains(m, "ooda_nats_connected 0") || strings.Contains(m, "ooda_outbox_events 0\n") {
		t.Fatalf("during the outage /metrics does not show it:\n%s", grepLines(m, "ooda_nats_connected", "ooda_outbox_events"))
	}

	natsServer(t, natsAddr, jsDir)
	waitFor(t, "the outbox to drain after NATS came back", func() bool {
		r := getReadyz(t, httpAddr)
		return r.NATS == "CONNECTED" && r.OutboxDepth == 0
	})
	m := getMetrics(t, httpAddr)
	for _, want := range []string{"ooda_nats_connected 1", "ooda_outbox_events 0", `ooda_cycles_total{result="completed"}`,
		`ooda_stage_step_duration_seconds_count{outcome="ok",stage="act"}`, `ooda_queue_depth{queue="ooda.ObserveQueue"}`,
		`ooda_actions_total{outcome="executed",type="optimize"} 1`, "process_resident_memory_bytes"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	d.stop(t)

	cs, err := st.Cycles(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	byCycle := readStream(t, nc)
	checked := 0
	for _, c := range cs {
		if c.Status != "completed" {
			continue
		}
		for _, k := range []string{"cycle.started", "observation", "orientation", "decision", "cycle.completed"} {
			if n := len(byCycle[c.ID][k]); n != 1 {
				t.Errorf("cycle %s: %d %s events in the stream, want 1", c.ID, n, k)
			}
		}
		checked++
	}
	if checked < before+2 {
		t.Fatalf("checked %d cycles", checked)
	}
	t.Logf("%d cycles, every event delivered once across the outage", checked)
}

func getMetrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func grepLines(text string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
