package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/ooda"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestBadSettingsStopStartup(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string
		notWant string
	}{
		{"Cron", []string{"--schedule", "every tuesday"}, nil, []string{"--schedule (OODA_SCHEDULE)", `"every tuesday"`, "not a cron schedule"}, ""},
		{"CronFromEnv", nil, map[string]string{"OODA_SCHEDULE": "61 * * * *"}, []string{"--schedule (OODA_SCHEDULE)", `"61 * * * *"`}, ""},
		{"DryRun", nil, map[string]string{"OODA_DRY_RUN": "maybe"}, []string{"--dry-run (OODA_DRY_RUN)", `"maybe"`, "true or false"}, ""},
		{"LogLevel", []string{"--log-level", "loud"}, nil, []string{"--log-level", `"loud"`, "debug, info, warn or error"}, ""},
		{"HTTP", []string{"--http", "nowhere"}, nil, []string{"--http (OODA_HTTP_ADDR)", "host:port"}, ""},
		{"State", []string{"--state", "postgres://x/y"}, nil, []string{"--state (OODA_STATE_DSN)", "must be sqlite://DIR"}, ""},
		{"SQLServerPasswordRedacted", []string{"--state", "sqlserver://sa:hunter2@db:1433"}, nil, []string{"names no database", "xxxxx"}, "hunter2"},
		{"SQLServerPasswordInQuery", []string{"--state", "sqlserver://db:1433?user+id=sa&password=hunter2"}, nil, []string{"names no database", "xxxxx"}, "hunter2"},
		{"SQLServerUnparsablePassword", []string{"--state", "sqlserver://sa:hunter2%zz@db:1433?database=h"}, nil, []string{"not a URL", "not shown"}, "hunter2"},
		{"SQLServerConnectionTimeoutAnyCase", []string{"--state", "sqlserver://sa:hunter2@db:1433?Database=h&Connection+Timeout=30"}, nil, []string{"connection timeout=30"}, "hunter2"},
		{"SQLServerConnectionTimeout", []string{"--state", "sqlserver://sa:hunter2@db:1433?database=h&connection+timeout=30"}, nil, []string{"connection timeout=30", "WAITFOR", "xxxxx"}, "hunter2"},
		{"NATS", []string{"--nats", "http://example"}, nil, []string{"--nats (OODA_NATS_URL)", "nats://host:port"}, ""},
		{"StopTimeout", []string{"--stop-timeout", "0s"}, nil, []string{"--stop-timeout", "positive duration"}, ""},
		{"TargetNoHost", []string{"--target", "sqlserver://?database=x"}, nil, []string{"--target", "names no host"}, ""},
		{"TargetSQLite", []string{"--target", "sqlite:///tmp/x"}, nil, []string{"--target", "must be sqlserver://"}, ""},
		{"PolicyMissing", []string{"--policy", "/nonexistent/policy.json"}, nil, []string{"--policy (OODA_POLICY_FILE)", "/nonexistent/policy.json", "cannot read the policy file"}, ""},
		{"PolicyInvalid", []string{"--policy", "../../ooda/testdata/policy-bad-fraction.json"}, nil, []string{"--policy", "policy-bad-fraction.json", "thresholds.free_pages_fraction = 2: must be between 0 and 1"}, ""},
		{"ValidationWindow", nil, map[string]string{"OODA_VALIDATION_WINDOW": "10ms"}, []string{"--validation-window (OODA_VALIDATION_WINDOW)", `"10ms"`, "from 1s to 168h"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			_, err := parseConfig(c.args, env(c.env), &stderr)
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not name %q", err, w)
				}
			}
			if c.notWant != "" && strings.Contains(err.Error(), c.notWant) {
				t.Errorf("%q leaks %q", err, c.notWant)
			}
		})
	}
}

func TestSettingDefaultsAndPrecedence(t *testing.T) {
	t.Parallel()
	c, err := parseConfig(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir != "ooda-data" || c.NATSURL != "" || c.NATSListen != "127.0.0.1:4222" || c.HTTPAddr != "127.0.0.1:9464" || c.ScheduleRaw != "@hourly" || c.DryRun || c.StopTimeout != 20*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = parseConfig(nil, env(map[string]string{"STATE_DIRECTORY": "/var/lib/oodad", "OODA_DRY_RUN": "true"}), &bytes.Buffer{})
	if err != nil || c.StateDir != "/var/lib/oodad" || !c.DryRun {
		t.Fatalf("systemd state directory: %+v %v", c, err)
	}
	c, err = parseConfig([]string{"--dry-run=false", "--schedule", "none"}, env(map[string]string{"OODA_DRY_RUN": "true", "OODA_SCHEDULE": "@daily"}), &bytes.Buffer{})
	if err != nil || c.DryRun || c.Schedule != nil {
		t.Fatalf("flags over environment: %+v %v", c, err)
	}
	c, err = parseConfig([]string{"--dry-run", "--schedule", "none"}, env(nil), &bytes.Buffer{})
	if err != nil || !c.DryRun || c.Schedule != nil {
		t.Fatalf("a bare --dry-run: %+v %v", c, err)
	}
	c, err = parseConfig([]string{"--policy", "../../ooda/testdata/policy-good.json"}, env(nil), &bytes.Buffer{})
	if err != nil || c.Policy == nil || !c.Policy.DryRun {
		t.Fatalf("a good policy file: %+v %v", c.Policy, err)
	}
	var help bytes.Buffer
	parseConfig([]string{"--help"}, env(nil), &help)
	for _, s := range settings {
		if !strings.Contains(help.String(), "-"+s.flag) || !strings.Contains(help.String(), s.env) {
			t.Errorf("--help does not list --%s / %s", s.flag, s.env)
		}
	}
}

// TestSystemdNotify runs the daemon in-process against a real unixgram
// socket, as systemd would provide one.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan string, 64)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	vars := map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "200000"}
	go func() {
		done <- runDaemon(ctx, []string{"--state", "sqlite://" + filepath.Join(dir, "state"), "--nats", "none", "--http", "none", "--schedule", "none"}, env(vars), &bytes.Buffer{})
	}()
	expect := func(prefix string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case m := <-got:
				if strings.HasPrefix(m, prefix) {
					return
				}
			case err := <-done:
				t.Fatalf("daemon ended before %q: %v", prefix, err)
			case <-deadline:
				t.Fatalf("no %q from the daemon", prefix)
			}
		}
	}
	expect("READY=1")
	expect("WATCHDOG=1")
	cancel()
	expect("STOPPING=1")
	if err := <-done; err != nil {
		t.Fatalf("daemon stopped with %v", err)
	}
}

type fakeTriggers struct {
	mu      sync.Mutex
	calls   []string
	running bool
}

func (f *fakeTriggers) trigger(_ context.Context, p ooda.TriggerParams) (ooda.TriggerResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, p.Reason)
	if f.running {
		return ooda.TriggerResult{CycleID: "still-running"}, nil
	}
	return ooda.TriggerResult{CycleID: "new", Started: true}, nil
}

func (f *fakeTriggers) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.calls) }

func TestSchedulerHourly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sched, _ := cron.ParseStandard("@hourly")
		f := &fakeTriggers{}
		var logs bytes.Buffer
		var logMu sync.Mutex
		s := &scheduler{schedule: sched, spec: "@hourly", trigger: f.trigger, now: time.Now,
			log:     zerolog.New(zerolog.SyncWriter(&lockedWriter{&logs, &logMu})),
			lastRun: func(context.Context) (time.Time, bool, error) { return time.Time{}, false, nil }}
		ctx, cancel := context.WithCancel(context.Background())
		go s.Run(ctx)
		synctest.Wait()
		if f.count() != 0 {
			t.Fatalf("fired at start with no missed run: %v", f.calls)
		}
		// Inside the synctest bubble time is fake: Sleep advances it at once
		// when every goroutine is blocked. The clock starts at midnight, so
		// the first tick is at 01:00.
		time.Sleep(time.Hour + time.Second)
		synctest.Wait()
		if f.count() != 1 {
			t.Fatalf("after an hour: %d triggers", f.count())
		}
		// The next tick finds the previous scheduled cycle still running: skipped.
		f.mu.Lock()
		f.running = true
		f.mu.Unlock()
		time.Sleep(time.Hour)
		synctest.Wait()
		logMu.Lock()
		skipped := strings.Contains(logs.String(), "scheduled tick skipped")
		logMu.Unlock()
		if f.count() != 2 || !skipped {
			t.Fatalf("overlapping tick: %d triggers, skip logged %v", f.count(), skipped)
		}
		cancel()
		synctest.Wait()
	})
}

func TestSchedulerCatchesUpOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sched, _ := cron.ParseStandard("@hourly")
		f := &fakeTriggers{}
		start := time.Now()
		s := &scheduler{schedule: sched, spec: "@hourly", trigger: f.trigger, now: time.Now, log: zerolog.Nop(),
			// The last scheduled cycle ran three hours ago: several runs were missed.
			lastRun: func(context.Context) (time.Time, bool, error) { return start.Add(-3 * time.Hour), true, nil }}
		ctx, cancel := context.WithCancel(context.Background())
		go s.Run(ctx)
		synctest.Wait()
		if f.count() != 1 || !strings.Contains(f.calls[0], "catch-up") {
			t.Fatalf("catch-up: %v", f.calls)
		}
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if f.count() != 1 {
			t.Fatalf("more than one catch-up: %v", f.calls)
		}
		cancel()
		synctest.Wait()
	})
}

// TestSchedulerCatchesUpWhenItBecomesLeader: on SQL Server the election
// takes a moment after start; the catch-up of a missed run waits for it
// (and a daemon that takes over from a leader that went away catches up
// too), instead of being dropped because the first check said "follower".
func TestSchedulerCatchesUpWhenItBecomesLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sched, _ := cron.ParseStandard("@hourly")
		f := &fakeTriggers{}
		start := time.Now()
		var leading atomic.Bool
		s := &scheduler{schedule: sched, spec: "@hourly", trigger: f.trigger, now: time.Now, log: zerolog.Nop(), leading: leading.Load,
			lastRun: func(context.Context) (time.Time, bool, error) { return start.Add(-3 * time.Hour), true, nil }}
		ctx, cancel := context.WithCancel(context.Background())
		go s.Run(ctx)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if f.count() != 0 {
			t.Fatalf("a follower caught up: %v", f.calls)
		}
		leading.Store(true) // the election is won
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if f.count() != 1 || !strings.Contains(f.calls[0], "catch-up") {
			t.Fatalf("no catch-up on becoming leader: %v", f.calls)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if f.count() != 1 {
			t.Fatalf("more than one catch-up: %v", f.calls)
		}
		cancel()
		synctest.Wait()
	})
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestEnvironmentFileDocumentsEverySetting(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../systemd/oodad.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if !strings.Contains(string(b), "#"+s.env+"=") {
			t.Errorf("systemd/oodad.env.example does not document %s", s.env)
		}
	}
}

func TestSchedulerFiresOnlyWhenLeading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sched, _ := cron.ParseStandard("@every 1m")
		f := &fakeTriggers{}
		var leading atomic.Bool
		s := &scheduler{schedule: sched, spec: "@every 1m", trigger: f.trigger, now: time.Now, log: zerolog.Nop(), leading: leading.Load,
			lastRun: func(context.Context) (time.Time, bool, error) { return time.Time{}, false, nil }}
		ctx, cancel := context.WithCancel(context.Background())
		go s.Run(ctx)
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		if f.count() != 0 {
			t.Fatalf("a follower fired %d cycles", f.count())
		}
		leading.Store(true)
		time.Sleep(time.Minute)
		synctest.Wait()
		if f.count() != 1 {
			t.Fatalf("the leader fired %d cycles in a minute, want 1", f.count())
		}
		cancel()
		synctest.Wait()
	})
}
