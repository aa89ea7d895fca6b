package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The judgement tests drive the policy and what-if paths of the real
// binaries: SIGHUP reloads, whatif against a live cycle, whatif on a
// hand-written SQL Server observation.

type hypothesisJSON struct {
	ID         string  `json:"id"`
	Rule       string  `json:"rule"`
	Object     string  `json:"object"`
	Evidence   string  `json:"evidence"`
	Confidence float64 `json:"confidence"`
	Action     string  `json:"action"`
	Tier       int     `json:"tier"`
}

type decisionJSON struct {
	Hypothesis hypothesisJSON `json:"hypothesis"`
	Verdict    string         `json:"verdict"`
	Reason     string         `json:"reason"`
}

type actionJSON struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Target string `json:"target"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

type cycleDetailJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Steps  []struct {
		Stage   string          `json:"stage"`
		Payload json.RawMessage `json:"payload"`
	} `json:"steps"`
	Actions []actionJSON `json:"actions"`
}

// step decodes the payload of the cycle's step of stage into v.
func (c cycleDetailJSON) step(t *testing.T, stage string, v any) {
	t.Helper()
	for _, s := range c.Steps {
		if s.Stage == stage {
			if err := json.Unmarshal(s.Payload, v); err != nil {
				t.Fatalf("cycle %s: %s step: %v\n%s", c.ID, stage, err, s.Payload)
			}
			return
		}
	}
	t.Fatalf("cycle %s has no %s step", c.ID, stage)
}

func (c cycleDetailJSON) decisions(t *testing.T) []decisionJSON {
	t.Helper()
	var ds []decisionJSON
	c.step(t, "decide", &ds)
	return ds
}

func (c cycleDetailJSON) hypotheses(t *testing.T) []hypothesisJSON {
	t.Helper()
	var hs []hypothesisJSON
	c.step(t, "orient", &hs)
	return hs
}

// showCycle is oodactl --json show ID, decoded.
func (d *daemon) showCycle(t *testing.T, id string) cycleDetailJSON {
	t.Helper()
	out, err := d.oodactl(t, "--json", "show", id)
	if err != nil {
		t.Fatalf("oodactl --json show %s: %v\n%s", id, err, out)
	}
	var c cycleDetailJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("oodactl --json show %s: %v\n%s", id, err, out)
	}
	return c
}

// triggerWait runs oodactl --json trigger --wait and returns the cycle id
// once the cycle has completed.
func (d *daemon) triggerWait(t *testing.T, reason string) string {
	t.Helper()
	out, err := d.oodactl(t, "--json", "trigger", "--wait", "--reason", reason)
	if err != nil {
		t.Fatalf("oodactl trigger --wait: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var r struct {
		CycleID string `json:"cycle_id"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil || r.CycleID == "" {
		t.Fatalf("trigger --wait answered %q", out)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `"kind":"cycle.completed"`) {
		t.Fatalf("trigger --wait ended on %q, want cycle.completed\n%s", last, out)
	}
	return r.CycleID
}

// policy is oodactl --json policy: the raw answer and its fields.
func (d *daemon) policy(t *testing.T) (string, map[string]any) {
	t.Helper()
	out, err := d.oodactl(t, "--json", "policy")
	if err != nil {
		t.Fatalf("oodactl policy: %v\n%s", err, out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("oodactl policy: %v\n%s", err, out)
	}
	return out, m
}

// waitLog waits until the daemon's logs contain s at least n times.
func (d *daemon) waitLog(t *testing.T, s string, n int) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for strings.Count(d.logs.String(), s) < n {
		select {
		case <-tick.C:
		case err := <-d.exited:
			t.Fatalf("oodad exited (%v) while waiting for %q in its logs\n%s", err, s, d.logs.String())
		case <-deadline:
			t.Fatalf("%q not %d times in the logs after 20s\n%s", s, n, d.logs.String())
		}
	}
}

// logLine returns the log text from the line holding the last occurrence
// of s to the end of that line.
func (d *daemon) logLine(s string) string {
	logs := d.logs.String()
	i := strings.LastIndex(logs, s)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(logs[:i], "\n") + 1
	end := strings.Index(logs[i:], "\n")
	if end < 0 {
		return logs[start:]
	}
	return logs[start : i+end]
}

func (d *daemon) hup(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func (d *daemon) outboxDrained(t *testing.T) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for {
		out, err := d.oodactl(t, "--json", "status")
		if err == nil && strings.Contains(out, `"outbox_depth":0`) {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("outbox not drained after 20s: %v %s", err, out)
		}
	}
}

// count runs an oodactl --json listing and returns how many entries it has:
// a JSON array's length, or for events, the number of lines.
func (d *daemon) count(t *testing.T, args ...string) int {
	t.Helper()
	out, err := d.oodactl(t, append([]string{"--json"}, args...)...)
	if err != nil {
		t.Fatalf("oodactl %v: %v\n%s", args, err, out)
	}
	if args[0] == "events" {
		if strings.TrimSpace(out) == "" {
			return 0
		}
		return len(strings.Split(strings.TrimSpace(out), "\n"))
	}
	var xs []json.RawMessage
	if err := json.Unmarshal([]byte(out), &xs); err != nil {
		t.Fatalf("oodactl %v: %v\n%s", args, err, out)
	}
	return len(xs)
}

type whatIfJSON struct {
	Observation struct {
		Target string `json:"target"`
	} `json:"observation"`
	Hypotheses []hypothesisJSON `json:"hypotheses"`
	Decisions  []decisionJSON   `json:"decisions"`
	Policy     map[string]any   `json:"policy"`
}

func (d *daemon) whatIf(t *testing.T, file string) whatIfJSON {
	t.Helper()
	out, err := d.oodactl(t, "whatif", "--observation", file)
	if err != nil {
		t.Fatalf("oodactl whatif: %v\n%s", err, out)
	}
	var w whatIfJSON
	if err := json.Unmarshal([]byte(out), &w); err != nil {
		t.Fatalf("oodactl whatif: %v\n%s", err, out)
	}
	return w
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSIGHUPReloadsPolicyForTheNextCycle: SIGHUP applies the policy file
// from the next step on; a step already decided keeps its decision; an
// invalid or unreadable file leaves the policy in force.
func TestSIGHUPReloadsPolicyForTheNextCycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pol := filepath.Join(t.TempDir(), "policy.json")
	writeFile(t, pol, `{"dry_run": false}`)
	d := startDaemon(t, dir, "--policy", pol)

	first, p := d.policy(t)
	if p["dry_run"] != false {
		t.Fatalf("policy at start: dry_run = %v, want false\n%s", p["dry_run"], first)
	}
	// Rewriting the file changes nothing until SIGHUP. The new file also
	// lowers the WAL threshold to its minimum, so that later cycles have a
	// tier-1 hypothesis on an object other than the one cycle 1 acts on
	// (statistics, then in its 6h cooldown, and no longer stale).
	writeFile(t, pol, `{"dry_run": true, "thresholds": {"wal_bytes": 1048576}}`)
	if now, _ := d.policy(t); now != first {
		t.Fatalf("policy changed without SIGHUP:\n%s\nwas:\n%s", now, first)
	}

	// Cycle 1: SIGHUP the moment its decision is published, i.e. after its
	// Decide step committed under dry_run false. Its action must still
	// execute: a reload applies to steps not yet decided.
	nc, err := nats.Connect(d.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	hupped := make(chan error, 1)
	completed := make(chan string, 64)
	var once sync.Once
	sub, err := nc.Subscribe("hartonomous.ooda.evt.>", func(m *nats.Msg) {
		switch strings.TrimPrefix(m.Subject, "hartonomous.ooda.evt.") {
		case "decision":
			once.Do(func() { hupped <- d.cmd.Process.Signal(syscall.SIGHUP) })
		case "cycle.completed":
			completed <- m.Header.Get("ce-subject")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	id1 := d.trigger(t, "before the reload")
	select {
	case err := <-hupped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no decision event of cycle %s", id1)
	}
	for done := false; !done; {
		select {
		case id := <-completed:
			done = id == id1
		case <-time.After(30 * time.Second):
			t.Fatalf("cycle %s did not complete", id1)
		}
	}
	_ = sub.Unsubscribe()
	d.waitLog(t, "policy reloaded", 1)

	c1 := d.showCycle(t, id1)
	ds := c1.decisions(t)
	if len(ds) != 1 || ds[0].Hypothesis.Action != "optimize" || ds[0].Verdict != "execute" {
		t.Fatalf("cycle %s decided %+v, want one optimize, execute", id1, ds)
	}
	if len(c1.Actions) != 1 || c1.Actions[0].Type != "optimize" || c1.Actions[0].Status != "executed" {
		t.Fatalf("cycle %s (decided before the reload) acted %+v, want optimize executed", id1, c1.Actions)
	}
	// Whether the reload lands before Act loads the policy is up to the
	// scheduler; in practice Act has loaded it by then, so this cycle alone
	// does not show that a decided step keeps its decision under a new
	// policy: TestSIGHUPPolicyChangeSparesADecidedCycle does.

	reloaded, p := d.policy(t)
	th, _ := p["thresholds"].(map[string]any)
	if p["dry_run"] != true || th["wal_bytes"] != float64(1<<20) {
		t.Fatalf("policy after SIGHUP: dry_run %v, thresholds.wal_bytes %v; want true, 1048576\n%s", p["dry_run"], th["wal_bytes"], reloaded)
	}

	// Cycles after the reload execute nothing. Each adds to the WAL (nothing
	// checkpoints it under dry-run) until it passes the reloaded 1 MiB
	// threshold: then Orient proposes wal_checkpoint (tier 1, not in any
	// cooldown) and Decide says dry_run, which only the reloaded file asks for.
	for i := 0; ; i++ {
		if i == 15 {
			t.Fatalf("15 cycles after the reload, still no wal_checkpoint hypothesis (WAL threshold 1 MiB)")
		}
		id := d.triggerWait(t, "after the reload")
		c := d.showCycle(t, id)
		for _, a := range c.Actions {
			if a.Status == "executed" {
				t.Fatalf("cycle %s after the dry-run reload executed %+v", id, a)
			}
		}
		var wal *decisionJSON
		for _, d := range c.decisions(t) {
			if d.Hypothesis.Action == "optimize" {
				t.Fatalf("cycle %s proposes optimize again right after it ran: %+v", id, d)
			}
			if d.Hypothesis.Tier >= 1 && d.Verdict == "execute" {
				t.Fatalf("cycle %s after the dry-run reload decided %+v", id, d)
			}
			if d.Hypothesis.Action == "wal_checkpoint" {
				wal = &d
			}
		}
		if wal == nil {
			continue
		}
		if wal.Verdict != "dry_run" || !strings.Contains(wal.Reason, "dry-run is on") || !strings.Contains(wal.Hypothesis.Evidence, "threshold 1048576") {
			t.Fatalf("cycle %s decided %+v, want dry_run (dry-run is on) against the reloaded threshold", id, wal)
		}
		var act *actionJSON
		for _, a := range c.Actions {
			if a.Type == "wal_checkpoint" {
				act = &a
			}
		}
		if act == nil || act.Status != "dry_run" || !strings.HasPrefix(act.Detail, "would run: ") {
			t.Fatalf("cycle %s acted %+v, want wal_checkpoint dry_run", id, c.Actions)
		}
		t.Logf("wal_checkpoint proposed (and dry-run) in cycle %d after the reload", i+1)
		break
	}

	// An invalid file: the policy in force stays, the error names the field.
	writeFile(t, pol, `{"budget_per_cycle": -1}`)
	d.hup(t)
	d.waitLog(t, "the policy file is invalid", 1)
	if l := d.logLine("the policy file is invalid"); !strings.Contains(l, "budget_per_cycle = -1") || !strings.Contains(l, `"level":"error"`) {
		t.Fatalf("the invalid-policy log line does not name budget_per_cycle = -1 at level error: %s", l)
	}
	if now, _ := d.policy(t); now != reloaded {
		t.Fatalf("an invalid policy file changed the policy:\n%s\nwas:\n%s", now, reloaded)
	}
	// An unreadable file: the same.
	if err := os.Remove(pol); err != nil {
		t.Fatal(err)
	}
	d.hup(t)
	d.waitLog(t, "cannot read the policy file", 1)
	if now, _ := d.policy(t); now != reloaded {
		t.Fatalf("a missing policy file changed the policy:\n%s\nwas:\n%s", now, reloaded)
	}
	if n := strings.Count(d.logs.String(), "policy reloaded"); n != 1 {
		t.Fatalf("%d reload lines, want 1 (only the first SIGHUP loaded a file)", n)
	}
	// The daemon goes on: it answers, and a cycle completes under the policy
	// in force.
	select {
	case err := <-d.exited:
		t.Fatalf("oodad exited after SIGHUPs: %v", err)
	default:
	}
	id := d.triggerWait(t, "after the failed reloads")
	for _, a := range d.showCycle(t, id).Actions {
		if a.Status == "executed" {
			t.Fatalf("cycle %s after the failed reloads executed %+v: the dry-run policy was lost", id, a)
		}
	}
	d.stop(t)
}

// TestSIGHUPPolicyChangeSparesADecidedCycle: a policy change applies to
// steps not yet decided. A cycle killed right after its Decide step
// committed (under dry_run false) resumes under a daemon whose policy says
// dry_run true, and still executes what was decided.
//
// The SIGHUP test cannot make this case deterministic: Act loads the
// policy a few milliseconds after Decide commits, before a signal sent on
// the decision event lands. A kill on the decision event can leave the
// act message in the queue; the restarted daemon (policy file rewritten)
// then runs Act under the new policy, which its logs show. Whether the kill
// lands before Act commits is up to the scheduler, so the test tries a few
// fresh daemons and says how many exercised the case.
func TestSIGHUPPolicyChangeSparesADecidedCycle(t *testing.T) {
	t.Parallel()
	exercised := 0
	const attempts = 5
	for range attempts {
		if decidedCycleAcrossRestart(t) {
			exercised++
		}
	}
	t.Logf("%d of %d attempts resumed Act under the new policy", exercised, attempts)
}

// decidedCycleAcrossRestart reports whether the cycle's Act step ran in the
// restarted daemon, under the new policy.
func decidedCycleAcrossRestart(t *testing.T) bool {
	t.Helper()
	dir := t.TempDir()
	pol := filepath.Join(t.TempDir(), "policy.json")
	writeFile(t, pol, `{"dry_run": false}`)
	d := startDaemon(t, dir, "--policy", pol)
	writeFile(t, pol, `{"dry_run": true}`)
	nc, err := nats.Connect(d.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	killed := make(chan string, 1)
	var once sync.Once
	if _, err := nc.Subscribe("hartonomous.ooda.evt.decision", func(m *nats.Msg) {
		once.Do(func() { _ = d.cmd.Process.Signal(syscall.SIGKILL); killed <- m.Header.Get("ce-subject") })
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	go d.oodactl(t, "trigger", "--reason", "decided, then killed") // the kill may land before the answer
	var id string
	select {
	case id = <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("no decision event to kill on")
	}
	<-d.exited

	d2 := startDaemon(t, dir, "--policy", pol)
	if _, p := d2.policy(t); p["dry_run"] != true {
		t.Fatalf("restarted daemon's policy: dry_run %v, want true", p["dry_run"])
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	var c cycleDetailJSON
	for c = d2.showCycle(t, id); c.Status != "completed"; c = d2.showCycle(t, id) {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("cycle %s not completed after the restart: %+v", id, c)
		}
	}
	ds := c.decisions(t)
	if len(ds) != 1 || ds[0].Hypothesis.Action != "optimize" || ds[0].Verdict != "execute" {
		t.Fatalf("cycle %s decided %+v, want one optimize, execute", id, ds)
	}
	if len(c.Actions) != 1 || c.Actions[0].Type != "optimize" || c.Actions[0].Status != "executed" {
		t.Fatalf("cycle %s, decided under dry_run false, acted %+v under dry_run true; want optimize executed", id, c.Actions)
	}
	resumed := false
	for _, l := range strings.Split(d2.logs.String(), "\n") {
		if strings.Contains(l, `"stage":"act"`) && strings.Contains(l, id) && strings.Contains(l, "stage step done") {
			resumed = true
		}
	}
	d2.stop(t)
	return resumed
}

// TestWhatIfMatchesTheLiveCycle: whatif on a cycle's own observation
// reaches the cycle's decisions, and records nothing.
func TestWhatIfMatchesTheLiveCycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Dry-run: the live cycle executes nothing, so nothing it does changes
	// what Decide sees (cooldowns, budgets, history).
	d := startDaemon(t, dir, "--dry-run=true")
	id := d.triggerWait(t, "live")
	live := d.showCycle(t, id)
	liveDs := live.decisions(t)
	if len(liveDs) == 0 {
		t.Fatalf("cycle %s decided nothing: nothing to compare with\n%+v", id, live)
	}

	out, err := d.oodactl(t, "show", "--json", id)
	if err != nil {
		t.Fatalf("oodactl show --json: %v\n%s", err, out)
	}
	obs := filepath.Join(t.TempDir(), "observation.json")
	writeFile(t, obs, out)

	d.outboxDrained(t)
	cycles, events, approvals := d.count(t, "cycles", "--limit", "1000"), d.count(t, "events", "--last", "100000"), d.count(t, "approvals", "--limit", "1000")
	if cycles != 1 || events == 0 {
		t.Fatalf("before whatif: %d cycles, %d events; want 1 cycle and its events", cycles, events)
	}

	evs := d.subscribeEvents(t, 256)

	w := d.whatIf(t, obs)
	if !reflect.DeepEqual(w.Hypotheses, live.hypotheses(t)) {
		t.Fatalf("whatif hypotheses differ from the live orient step:\nwhatif %+v\nlive   %+v", w.Hypotheses, live.hypotheses(t))
	}
	type key struct{ ID, Verdict, Reason string }
	keys := func(ds []decisionJSON) []key {
		var ks []key
		for _, d := range ds {
			ks = append(ks, key{d.Hypothesis.ID, d.Verdict, d.Reason})
		}
		return ks
	}
	if got, want := keys(w.Decisions), keys(liveDs); !reflect.DeepEqual(got, want) {
		t.Fatalf("whatif decisions differ from the live decide step:\nwhatif %+v\nlive   %+v", got, want)
	}
	if w.Policy["dry_run"] != true {
		t.Fatalf("whatif reports policy dry_run %v, want true (--dry-run)", w.Policy["dry_run"])
	}

	// No trace: no cycle, no event, no approval, nothing left to publish.
	if n := d.count(t, "cycles", "--limit", "1000"); n != cycles {
		t.Fatalf("whatif changed the cycles: %d, was %d", n, cycles)
	}
	if n := d.count(t, "events", "--last", "100000"); n != events {
		t.Fatalf("whatif changed the events: %d, was %d", n, events)
	}
	if n := d.count(t, "approvals", "--limit", "1000"); n != approvals {
		t.Fatalf("whatif changed the approvals: %d, was %d", n, approvals)
	}
	// The relay publishes the outbox in order: had whatif recorded an event,
	// it would reach the subscriber before anything of the next cycle.
	id2 := d.trigger(t, "after whatif")
	for {
		select {
		case m := <-evs:
			if s := m.Header.Get("ce-subject"); s != id2 {
				t.Fatalf("event %s of %q after whatif, before the next cycle's: %s", m.Subject, s, m.Data)
			}
			if m.Subject == "hartonomous.ooda.evt.cycle.completed" {
				d.stop(t)
				return
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("cycle %s did not complete", id2)
		}
	}
}

// TestWhatIfOnASQLServerObservation: the embedded daemon applies the SQL
// Server rules to a SQL Server observation, and refuses malformed ones
// saying what is wrong.
func TestWhatIfOnASQLServerObservation(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, t.TempDir())
	files := t.TempDir()
	obs := filepath.Join(files, "sqlserver.json")
	writeFile(t, obs, `{
  "target": "sqlserver",
  "taken_at": "2026-12-04T10:00:00Z",
  "readings": [
    {"name": "index_fragmentation_percent", "object": "dbo.Orders.IX_Orders_Date", "value": 45, "unit": "%"},
    {"name": "index_pages", "object": "dbo.Orders.IX_Orders_Date", "value": 5000},
    {"name": "index_fragmentation_percent", "object": "dbo.Customers.IX_Customers_Name", "value": 12, "unit": "%"},
    {"name": "index_pages", "object": "dbo.Customers.IX_Customers_Name", "value": 5000},
    {"name": "index_fragmentation_percent", "object": "dbo.Customers.IX_Customers_Email", "value": 3, "unit": "%"},
    {"name": "index_pages", "object": "dbo.Customers.IX_Customers_Email", "value": 5000},
    {"name": "index_fragmentation_percent", "object": "dbo.Tiny.IX_Tiny_Code", "value": 45, "unit": "%"},
    {"name": "index_pages", "object": "dbo.Tiny.IX_Tiny_Code", "value": 500},
    {"name": "index_fragmentation_percent", "object": "dbo.BillingRecords.IX_BillingRecords_At", "value": 60, "unit": "%"},
    {"name": "index_pages", "object": "dbo.BillingRecords.IX_BillingRecords_At", "value": 9000},
    {"name": "stats_modifications", "object": "dbo.Orders.ST_Orders_Date", "value": 800},
    {"name": "stats_rows", "object": "dbo.Orders.ST_Orders_Date", "value": 1000},
    {"name": "stats_age_seconds", "object": "dbo.Orders.ST_Orders_Date", "value": 3600},
    {"name": "stats_modifications", "object": "dbo.Events.ST_Events_At", "value": 10},
    {"name": "stats_rows", "object": "dbo.Events.ST_Events_At", "value": 1000000},
    {"name": "stats_age_seconds", "object": "dbo.Events.ST_Events_At", "value": 691200},
    {"name": "stats_modifications", "object": "dbo.Fresh.ST_Fresh_Id", "value": 0},
    {"name": "stats_rows", "object": "dbo.Fresh.ST_Fresh_Id", "value": 1000000},
    {"name": "stats_age_seconds", "object": "dbo.Fresh.ST_Fresh_Id", "value": 1e18}
  ]
}`)
	w := d.whatIf(t, obs)
	if w.Observation.Target != "sqlserver" {
		t.Fatalf("whatif read target %q", w.Observation.Target)
	}
	type hyp struct {
		Action string
		Tier   int
	}
	got := map[string]hyp{}
	for _, h := range w.Hypotheses {
		got[h.ID] = hyp{h.Action, h.Tier}
	}
	want := map[string]hyp{
		"fragmented_index:dbo.Orders.IX_Orders_Date":               {"rebuild_index", 2},     // 45 % > 30 %
		"fragmented_index:dbo.Customers.IX_Customers_Name":         {"reorganize_index", 1},  // 5 % ≤ 12 % ≤ 30 %
		"fragmented_index:dbo.BillingRecords.IX_BillingRecords_At": {"rebuild_index", 2},     // 60 %
		"stale_statistics:dbo.Orders.ST_Orders_Date":               {"update_statistics", 1}, // 800 ≥ max(500, 20 % of 1000)
		"stale_statistics:dbo.Events.ST_Events_At":                 {"update_statistics", 1}, // modified, 8 days old
	} // not: IX_Customers_Email (3 %), IX_Tiny_Code (500 pages), ST_Fresh_Id (no modifications)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("whatif hypotheses:\n%v\nwant\n%v", got, want)
	}
	verdicts := map[string]decisionJSON{}
	for _, d := range w.Decisions {
		verdicts[d.Hypothesis.ID] = d
	}
	for id, v := range map[string]struct{ verdict, reason string }{
		"fragmented_index:dbo.Orders.IX_Orders_Date":               {"needs_approval", "no validated history for rebuild_index"},
		"fragmented_index:dbo.Customers.IX_Customers_Name":         {"execute", "tier 1: automatic"},
		"fragmented_index:dbo.BillingRecords.IX_BillingRecords_At": {"needs_approval", "protected table"},
		"stale_statistics:dbo.Orders.ST_Orders_Date":               {"execute", "tier 1: automatic"},
		"stale_statistics:dbo.Events.ST_Events_At":                 {"execute", "tier 1: automatic"},
	} {
		if d := verdicts[id]; d.Verdict != v.verdict || !strings.Contains(d.Reason, v.reason) {
			t.Errorf("%s: decided %q (%s), want %q (%s)", id, d.Verdict, d.Reason, v.verdict, v.reason)
		}
	}
	if len(w.Decisions) != len(w.Hypotheses) {
		t.Errorf("%d decisions for %d hypotheses", len(w.Decisions), len(w.Hypotheses))
	}
	// Needs-approval decisions of a whatif open no approval; no cycle ran.
	if n := d.count(t, "approvals", "--limit", "100"); n != 0 {
		t.Errorf("whatif opened %d approvals", n)
	}
	if n := d.count(t, "cycles", "--limit", "100"); n != 0 {
		t.Errorf("whatif recorded %d cycles", n)
	}

	for _, c := range []struct {
		name, body string
		code       int
		want       []string
	}{
		{"unknown-field", `{"target": "sqlserver", "taken_at": "2026-12-04T10:00:00Z", "readings": [], "severity": "high"}`, 1, []string{`unknown field "severity"`}},
		{"unknown-reading-field", `{"target": "sqlserver", "taken_at": "2026-12-04T10:00:00Z", "readings": [{"name": "index_pages", "object": "dbo.T.IX", "valeu": 5000}]}`, 1, []string{`unknown field "valeu"`}},
		{"no-target", `{"taken_at": "2026-12-04T10:00:00Z", "readings": [{"name": "index_pages", "object": "dbo.T.IX", "value": 5000}]}`, 1, []string{"target is required"}},
		{"no-time", `{"target": "sqlserver", "readings": []}`, 1, []string{"taken_at is required"}},
		{"unnamed-reading", `{"target": "sqlserver", "taken_at": "2026-12-04T10:00:00Z", "readings": [{"object": "dbo.T.IX", "value": 5000}]}`, 1, []string{"readings[0]: name is required"}},
		{"not-json", `{"target": "sqlserver",`, 2, []string{"is not valid JSON"}},
	} {
		f := filepath.Join(files, c.name+".json")
		writeFile(t, f, c.body)
		out, err := d.oodactl(t, "whatif", "--observation", f)
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != c.code {
			t.Errorf("%s: oodactl whatif exited with %v, want status %d\n%s", c.name, err, c.code, out)
			continue
		}
		for _, s := range c.want {
			if !strings.Contains(out, s) {
				t.Errorf("%s: oodactl whatif said %q, want it to name %q", c.name, out, s)
			}
		}
	}
	if n := d.count(t, "cycles", "--limit", "100"); n != 0 {
		t.Errorf("the refused whatifs recorded %d cycles", n)
	}
	d.stop(t)
}

// TestSIGHUPWithoutPolicyFileKeepsRunning: systemctl reload sends SIGHUP;
// a daemon without a policy file says there is nothing to reload and goes
// on, instead of dying of the signal's default action.
func TestSIGHUPWithoutPolicyFileKeepsRunning(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, t.TempDir())
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(d.logs.String(), "no policy file") {
		select {
		case err := <-d.exited:
			t.Fatalf("oodad died of SIGHUP: %v\n%s", err, d.logs.String())
		case <-deadline:
			t.Fatalf("no log line about the SIGHUP\n%s", d.logs.String())
		case <-tick.C:
		}
	}
	if out, err := d.oodactl(t, "status"); err != nil {
		t.Fatalf("status after SIGHUP: %v\n%s", err, out)
	}
	d.stop(t)
}
